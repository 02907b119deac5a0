"""The data that crosses every boundary: tasks in, samples in, verdicts out.

Defined once here and used by every plugin, the engine, the CLI, the server and the adapters.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer, model_validator

Status = Literal["pass", "fail", "error", "timeout", "skipped"]
#: How much a verdict's `feedback` may reveal, set per task in `task.metadata["feedback"]` (default
#: "public"): "public" shows the failing test's content, "hidden" only what kind of failure it was (the
#: tests stay secret), "none" gives no feedback at all.
FeedbackMode = Literal["public", "hidden", "none"]
FEEDBACK_MODES: tuple[FeedbackMode, ...] = ("public", "hidden", "none")
STATUSES: tuple[Status, ...] = ("pass", "fail", "error", "timeout", "skipped")


class Task(BaseModel):
    """One problem. `reference` is what a verifier checks against; each plugin validates its own shape.

    Unknown keys in an input line are ignored, so that files carrying extra columns load as they are.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(min_length=1)
    prompt: str = ""
    reference: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)


class Sample(BaseModel):
    """One model output for a task. `label` is the ground truth when it is known (used by audits only).

    Verifiers judge `text` against the task; `metadata` and `label` never change a verdict (the verdict
    cache is keyed by the text alone). `index` is an integer from 0 to 2**63 - 1 and nothing else: a
    boolean, a string of digits or a float (even `3.0`) is rejected, not converted, so that one sample
    has one key.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    task_id: str = Field(min_length=1)
    index: int = Field(ge=0, le=2**63 - 1, strict=True)
    text: str
    label: bool | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class Verdict(BaseModel):
    """A verifier's judgement of one sample.

    `passed` is None when nothing was decided (the verifier itself failed, or it skipped the sample).
    `reason` is machine-readable (`wrong_answer`, `runtime_error`, `time_limit`, `sorry`, ...); `details`
    holds whatever a human needs to see why. `feedback` is the same account written for the model that
    produced the sample (the input of a refine loop); it is left out of the JSON when there is none.
    """

    model_config = ConfigDict(extra="forbid")

    task_id: str
    sample_index: int
    verifier: str = Field(pattern=r"^[A-Za-z0-9_.\-]+@[A-Za-z0-9_.+\-]+$")
    status: Status
    passed: bool | None = None
    score: float | None = None
    answer: str | None = None
    reason: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    elapsed_s: float = 0.0
    feedback: str | None = None

    @model_serializer(mode="wrap")
    def _without_empty_feedback(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        dumped: dict[str, Any] = handler(self)
        if dumped.get("feedback", "") is None:
            del dumped["feedback"]
        return dumped

    @model_validator(mode="after")
    def _passed_agrees_with_status(self) -> Verdict:
        if self.status == "pass" and self.passed is not True:
            raise ValueError("status 'pass' needs passed=True")
        if self.status == "fail" and self.passed is not False:
            raise ValueError("status 'fail' needs passed=False")
        if self.status in ("error", "skipped") and self.passed is not None:
            raise ValueError(f"status {self.status!r} needs passed=None (nothing was decided)")
        if self.status == "timeout" and self.passed is True:
            raise ValueError("status 'timeout' cannot have passed=True")
        return self
