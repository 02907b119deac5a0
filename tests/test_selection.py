"""Selectors: the built-ins through the registry, their tie rules, and `assay select` on real verdicts."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay import Sample, Task
from assay.cli import main
from assay.jsonl import load_jsonl, write_jsonl
from assay.plugins import UnknownComponent, get_registry
from assay.selection import (
    BaseSelector,
    Candidate,
    Choice,
    SelectionError,
    Selector,
    candidates_for,
    get_selector,
    select,
)
from assay.selection.builtin import BUILTIN_SELECTORS
from assay.testing.echo import EchoVerifier

BUILTINS = ("majority", "weighted_majority", "best_of_n", "verified_majority", "oracle", "ensemble")


def test_builtins_are_registered_through_the_hook() -> None:
    registry = get_registry()
    for name in BUILTINS:
        assert isinstance(registry.selector(name), Selector)
    owner = next(p for p in registry.plugins if "majority" in p.selectors)
    assert owner.name.endswith("builtin") and owner.hooks == ["register_selectors"]
    assert owner.selectors == list(BUILTINS)


def test_unknown_selector_names_what_exists() -> None:
    with pytest.raises(UnknownComponent, match=r"unknown selector 'mode'.*majority"):
        get_selector("mode")


def test_majority_counts_votes_and_picks_the_first_sample_of_the_winner() -> None:
    candidates = [Candidate(0, "7"), Candidate(1, "3"), Candidate(2, "3"), Candidate(3, None), Candidate(4, "7")]
    candidates.append(Candidate(5, "3"))
    assert select("majority", candidates) == Choice(index=1, answer="3", support=3.0)


def test_majority_tie_goes_to_the_answer_seen_first() -> None:
    # Index order, not list order: "b" appears at index 0.
    candidates = [Candidate(3, "a"), Candidate(1, "a"), Candidate(0, "b"), Candidate(2, "b")]
    assert select("majority", candidates) == Choice(index=0, answer="b", support=2.0)


def test_majority_without_answers_chooses_nothing() -> None:
    assert select("majority", [Candidate(0), Candidate(1)]) is None
    assert select("majority", []) is None


def test_weighted_majority_sums_scores() -> None:
    candidates = [
        Candidate(0, "x", score=0.9),
        Candidate(1, "y", score=0.3),
        Candidate(2, "y", score=0.4),
        Candidate(3, "y", score=None),  # weighs nothing
    ]
    choice = select("weighted_majority", candidates)
    assert choice is not None and choice.answer == "x" and choice.support == pytest.approx(0.9)
    assert select("majority", candidates).answer == "y"  # type: ignore[union-attr]


def test_best_of_n_ranks_by_score_then_by_pass_then_index() -> None:
    assert select("best_of_n", [Candidate(0, score=0.2), Candidate(1, score=0.8), Candidate(2, score=0.8)]) == Choice(
        index=1, answer=None, support=0.8
    )
    # No scores: pass counts 1, fail 0, undecided below both.
    choice = select("best_of_n", [Candidate(0), Candidate(1, passed=False), Candidate(2, passed=True)])
    assert choice is not None and choice.index == 2
    choice = select("best_of_n", [Candidate(4), Candidate(2)])
    assert choice is not None and choice.index == 2 and choice.support == -math.inf


def test_verified_majority_votes_among_passed_samples() -> None:
    candidates = [
        Candidate(0, "wrong", passed=False),
        Candidate(1, "wrong", passed=False),
        Candidate(2, "wrong", passed=False),
        Candidate(3, "right", passed=True),
        Candidate(4, "other", passed=True),
    ]
    choice = select("verified_majority", candidates)
    # "right" and "other" tie on one verified vote each; "right" appears first.
    assert choice == Choice(index=3, answer="right", support=1.0)


def test_verified_majority_tie_order_counts_unverified_appearances() -> None:
    # "late" is verified first (index 3) but "early" appears first among all candidates (index 0).
    candidates = [
        Candidate(0, "early", passed=False),
        Candidate(3, "late", passed=True),
        Candidate(5, "early", passed=True),
    ]
    assert select("verified_majority", candidates) == Choice(index=5, answer="early", support=1.0)


def test_verified_majority_falls_back_to_a_plain_vote() -> None:
    choice = select("verified_majority", [Candidate(0, "a", passed=False), Candidate(1, "b"), Candidate(2, "b")])
    assert choice == Choice(index=1, answer="b", support=2.0, fallback=True)


def test_oracle_needs_labels() -> None:
    assert select("oracle", [Candidate(0, label=False), Candidate(1, label=True)]) == Choice(1, None, 1.0)
    assert select("oracle", [Candidate(0, label=False)]) == Choice(0, None, 0.0)
    with pytest.raises(SelectionError, match="oracle needs a ground-truth label"):
        select("oracle", [Candidate(0, label=True), Candidate(1)])


candidate_lists = st.lists(
    st.builds(
        Candidate,
        index=st.integers(0, 40),
        answer=st.one_of(st.none(), st.sampled_from(["1", "2", "3", "1/2"])),
        passed=st.one_of(st.none(), st.booleans()),
        score=st.one_of(st.none(), st.sampled_from([0.0, 0.25, 0.5, 1.0])),
        label=st.booleans(),
    ),
    max_size=12,
    unique_by=lambda c: c.index,
)


@settings(max_examples=200, deadline=None)
@given(candidates=candidate_lists, seed=st.randoms(use_true_random=False))
def test_every_builtin_is_deterministic_and_order_free(candidates: list[Candidate], seed: object) -> None:
    shuffled = list(candidates)
    seed.shuffle(shuffled)  # type: ignore[attr-defined]
    for selector in BUILTIN_SELECTORS:
        first = selector.select(candidates)
        assert first == selector.select(shuffled)
        if first is not None:
            assert first.index in {c.index for c in candidates}
        else:
            assert selector.name in ("majority", "weighted_majority", "verified_majority") or not candidates


def test_a_plugin_selector_is_selectable_by_name(assay_plugin) -> None:  # type: ignore[no-untyped-def]
    class Shortest(BaseSelector):
        name = "shortest"
        description = "the shortest answer"

        def select(self, candidates):  # type: ignore[no-untyped-def]
            usable = [c for c in candidates if c.answer is not None]
            if not usable:
                return None
            best = min(usable, key=lambda c: (len(c.answer), c.index))
            return Choice(best.index, best.answer, 1.0)

    class Plugin:
        from assay import hookimpl

        @hookimpl
        def register_selectors(self, register):  # type: ignore[no-untyped-def]
            register(Shortest())

    assay_plugin(Plugin())
    assert select("shortest", [Candidate(0, "1/2"), Candidate(1, "1")]) == Choice(1, "1", 1.0)


def test_candidates_for_uses_the_verifiers_answer_key() -> None:
    task = Task(id="t", reference={"answer": "Yes"})
    samples = [Sample(task_id="t", index=i, text=text) for i, text in enumerate([" yes", "YES ", "no", "no"])]
    verifier = EchoVerifier({"casefold": True})
    verdicts = [verifier.verify(task, s) for s in samples]
    candidates = candidates_for(task, samples, verdicts, verifier)
    assert [c.answer for c in candidates] == ["yes", "yes", "no", "no"]
    assert [c.passed for c in candidates] == [True, True, False, False]
    assert select("majority", candidates) == Choice(0, "yes", 2.0)
    # Without verdicts or a verifier the stripped text votes.
    assert [c.answer for c in candidates_for(task, samples)] == ["yes", "YES", "no", "no"]
    with pytest.raises(SelectionError, match="given with task"):
        candidates_for(Task(id="other"), samples, verdicts)


def test_assay_select_on_real_verdicts(
    echo_installed: Path,
    echo_data: tuple[Path, Path],
    store_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tasks, samples = echo_data
    # Labels: sample j of task i is right when j % 4 == 0 (see the echo_data fixture).
    labelled = write_jsonl(
        tmp_path / "labelled.jsonl", [{**s, "label": s["index"] % 4 == 0} for s in load_jsonl(samples)]
    )
    verdicts = tmp_path / "verdicts.jsonl"
    assert (
        main(["verify", str(tasks), str(labelled), "--verifier", "echo", "-o", str(verdicts), "--jobs", "0", "-q"]) == 0
    )
    out = tmp_path / "chosen.jsonl"
    assert (
        main(
            [
                "select",
                str(tasks),
                str(labelled),
                "--verdicts",
                str(verdicts),
                "-s",
                "verified_majority",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    chosen = load_jsonl(out)
    assert len(chosen) == 10
    assert all(row["label"] is True and row["sample_index"] % 4 == 0 for row in chosen)
    assert "100.0% correct" in capsys.readouterr().err
    # Plain majority: the right answer and "wrong 0/1/2" have 5 votes each; the tie goes to sample 0's answer.
    assert main(["select", str(tasks), str(labelled), "--verdicts", str(verdicts), "-o", str(out)]) == 0
    assert all(row["sample_index"] == 0 and row["support"] == 5.0 for row in load_jsonl(out))
    assert main(["select", str(tasks), str(labelled), "-s", "nonesuch"]) == 2
    assert "unknown selector 'nonesuch'" in capsys.readouterr().err


def test_assay_select_without_labels_refuses_the_oracle(
    echo_data: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    tasks, samples = echo_data
    assert main(["select", str(tasks), str(samples), "-s", "oracle"]) == 2
    assert "oracle needs a ground-truth label" in capsys.readouterr().err
    assert main(["select", str(tasks), str(samples), "-s", "majority"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["answer"] for line in lines][:3] == ["0", "1", "2"]
    assert all("label" not in line for line in lines)
