"""Inspect AI scorer: `Task(..., scorer=assay_scorer("math"))`.

The sample's `target` is the reference answer (`{reference_field: target.text}`; a JSON object target is
used as the whole reference), or `metadata["assay_reference"]` when the sample carries a full reference.
The model's final completion is judged; the Score is CORRECT or INCORRECT (`value`), with the verifier's
canonical answer (`answer`), its reason (`explanation`) and the whole verdict (`metadata["verdict"]`).
A sample the verifier cannot decide (an `error` verdict) scores INCORRECT with the reason explained.

Needs `inspect-ai` (`pip install inspect-ai`).
"""

from __future__ import annotations

from typing import Any

from inspect_ai.scorer import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
    CORRECT,
    INCORRECT,
    Score,
    Scorer,
    Target,
    accuracy,
    scorer,
    stderr,
)
from inspect_ai.solver import TaskState  # type: ignore[import-untyped,import-not-found,unused-ignore]

from assay.integrations.convert import as_reference, passed_of
from assay.integrations.grader import get_grader
from assay.models import Sample, Task


@scorer(metrics=[accuracy(), stderr()], name="assay")
def assay_scorer(
    verifier: str = "math",
    config: dict[str, Any] | None = None,
    reference_field: str = "answer",
    url: str | None = None,
    token: str | None = None,
) -> Scorer:
    """Score each sample's completion with an assay verifier (warm in this process, or on a server at
    `url`)."""
    grader = get_grader(verifier, config, url=url, token=token)

    async def score(state: TaskState, target: Target) -> Score:
        metadata = state.metadata or {}
        reference = metadata.get("assay_reference") or as_reference(target.text, reference_field) or {}
        task = Task(id=str(state.sample_id), prompt=state.input_text, reference=reference)
        sample = Sample(task_id=task.id, index=state.epoch, text=state.output.completion)
        verdict = (await grader.averify([(task, sample)]))[0]
        return Score(
            value=CORRECT if passed_of(verdict) else INCORRECT,
            answer=verdict.answer,
            explanation=verdict.reason or verdict.status,
            metadata={"verdict": verdict.model_dump(mode="json")},
        )

    return score
