"""The lm-evaluation-harness filter and `process_results` inside a real lm-eval evaluation: a task built
from a config (a local JSONL data set), a scripted LM (lm-eval's `LM` interface, answering from a
table), lm-eval's own `majority_vote` beside assay's, with the real `math` verifier."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("lm_eval")

from assay.integrations.lm_eval import AssayMajorityVote, majority_answer, process_results_for

pytestmark = pytest.mark.slow

#: Five samples per question; equivalent answers are written differently, so exact-string voting splits them.
SAMPLES = {
    "What is half of 1?": ["1/3", "\\boxed{0.5}", "\\frac{1}{2}", "1/3", "0.50"],
    "What is 1+1?": ["3", "\\boxed{2}", "2", "3", "2.0"],
    "What is 2*3?": ["6", "7", "6", "7", "\\boxed{6}"],
}
ANSWERS = {"What is half of 1?": "1/2", "What is 1+1?": "2", "What is 2*3?": "6"}


def test_equivalence_aware_vote_beats_exact_string_vote_in_a_real_evaluation(
    math_installed: None, lm_eval_vote: Any
) -> None:
    filter_list = [
        # Registered by name when assay.integrations.lm_eval is imported.
        {"name": "assay",
         "filter": [{"function": "assay_majority_vote", "verifier": "math"}, {"function": "take_first"}]},
        {"name": "exact", "filter": [{"function": "majority_vote"}, {"function": "take_first"}]},
    ]  # fmt: skip
    figures = lm_eval_vote(ANSWERS, SAMPLES, filter_list, process_results_for("math", reference="answer"))
    # assay: 1/2 (three ways of writing it) beats 1/3; 2 beats 3; 6 beats 7. Exact strings: "1/3" and "3"
    # are the only repeated strings in the first two questions, so they win there.
    assert figures["acc,assay"] == 1.0
    assert figures["acc,exact"] == pytest.approx(1 / 3)


def test_the_filter_alone_and_the_vote_rule(math_installed: None) -> None:
    vote = AssayMajorityVote(verifier="math")
    chosen = vote.apply([SAMPLES["What is half of 1?"], ["no answer here"], []], [{}, {}, {}])
    assert chosen[0] == ["\\boxed{0.5}"]  # first response of the winning group
    assert chosen[1] == ["no answer here"]
    assert chosen[2] == []
    assert majority_answer(["a", "b", "b", "a"]) == 0  # a tie goes to the group seen first
    assert majority_answer([None, "x", None]) == 1
    assert majority_answer([None, None]) is None


def test_process_results_scores_and_names_a_missing_reference(math_installed: None) -> None:
    process_results = process_results_for("math", reference=lambda doc: doc["target"], score_metric="score")
    assert process_results({"target": "2"}, ["\\boxed{2}"]) == {"acc": 1.0, "score": 1.0}
    assert process_results({"target": "2"}, [["5"]]) == {"acc": 0.0, "score": 0.0}
    with pytest.raises(KeyError, match="reference"):
        process_results_for("math")({"question": "q"}, ["1"])
