"""The Inspect AI scorer inside a real `inspect_ai.eval` run, with Inspect's own `mockllm` model provider
answering scripted completions (no network), and the real `math` verifier."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("inspect_ai")

from assay.integrations.grader import close_graders
from assay.integrations.inspect_ai import assay_scorer

pytestmark = pytest.mark.slow


def test_inspect_eval_scores_with_the_assay_scorer(math_installed: None, tmp_path: Path) -> None:
    from inspect_ai import Task
    from inspect_ai import eval as inspect_eval
    from inspect_ai.dataset import MemoryDataset, Sample
    from inspect_ai.model import ModelOutput, ModelUsage, get_model
    from inspect_ai.solver import generate

    dataset = MemoryDataset(
        [
            Sample(input="What is half of 1?", target="1/2"),
            Sample(input="What is 1+1?", target="2"),
            Sample(input="Name the interval.", target="ignored", metadata={"assay_reference": {"answer": "[0, 1)"}}),
            Sample(input="What is 2*3?", target="6"),
        ]
    )
    replies = ["The answer is \\boxed{0.5}", "3", "It is \\boxed{[0,1)}", "\\boxed{7}"]
    # Usage is given so that mockllm does not count tokens (which would fetch a tokenizer).
    usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
    outputs = [
        ModelOutput.from_content(model="mockllm/model", content=r).model_copy(update={"usage": usage}) for r in replies
    ]
    model = get_model("mockllm/model", custom_outputs=outputs)
    try:
        [log] = inspect_eval(
            Task(dataset=dataset, solver=[generate()], scorer=assay_scorer("math")),
            model=model, log_dir=str(tmp_path / "logs"), display="none", max_samples=1,
        )  # fmt: skip
    finally:
        close_graders()
    assert log.status == "success", log.error
    assert log.samples is not None
    scores = {sample.input: sample.scores["assay"] for sample in log.samples}
    assert [scores[s.input].value for s in dataset] == ["C", "I", "C", "I"]
    assert scores["What is 1+1?"].explanation == "wrong_answer"
    assert scores["What is half of 1?"].answer == "1/2"  # the verifier's canonical form of "0.5"
    assert scores["What is half of 1?"].metadata["verdict"]["verifier"].startswith("math@")
    assert log.results is not None
    assert log.results.scores[0].metrics["accuracy"].value == pytest.approx(0.5)
