"""The `Verifier` base class every verifier plugin subclasses.

A verifier never raises on a bad sample or a bad reference: `verify` is wrapped (see `__init_subclass__`)
so that any exception becomes a Verdict with `status="error"`. It raises only for misuse of the API:
passing something that is not a `Task` and a `Sample`.

The same wrapper gives every verdict its `feedback` (see `Verifier.feedback`), as far as the task's
switch `task.metadata["feedback"]` allows: that switch is applied here and nowhere else.
"""

from __future__ import annotations

import functools
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assay.models import FEEDBACK_MODES, FeedbackMode, Sample, Status, Task, Verdict

VerifierKind = Literal["execution", "proof", "symbolic", "learned"]
ReferenceT = TypeVar("ReferenceT", bound=BaseModel)


class VerifierConfig(BaseModel):
    """Settings every verifier has; plugins subclass it to add their own."""

    model_config = ConfigDict(extra="forbid")

    time_limit_s: float = Field(
        default=10.0, gt=0, description="Wall-clock budget for one sample, enforced by the verifier."
    )


class BadReference(Exception):
    """The task's reference cannot be used by this verifier (raised inside `verify`, becomes an error verdict)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Verifier:
    """Base class for verifiers.

    Subclasses set `name`, `version`, `kind`, optionally a `Config` subclass, and implement `verify`.
    `verify_batch` maps `verify` by default; override it when batching pays (a reward model on an
    accelerator). `answer_key` returns a canonical answer so that equivalent answers vote together.
    """

    name: ClassVar[str]
    version: ClassVar[str] = "0"
    kind: ClassVar[VerifierKind]
    Config: ClassVar[type[VerifierConfig]] = VerifierConfig
    #: True when the same (task, sample) always gives the same verdict; the conformance suite checks it.
    deterministic: ClassVar[bool] = True
    #: The most samples the engine hands to one `verify_batch` call (when it is overridden).
    batch_size: ClassVar[int] = 64
    #: How many units one engine worker may have inside `verify_batch` at once, each on its own thread.
    #: Above 1 for verifiers that mostly wait on other processes (sandboxes, servers): a unit held up by
    #: one slow sample then leaves the worker free for the next unit. Such a verifier must be thread-safe.
    concurrent_units: ClassVar[int] = 1

    def __init__(self, config: VerifierConfig | dict[str, Any] | None = None) -> None:
        if config is None:
            config = self.Config()
        elif isinstance(config, dict):
            config = self.Config.model_validate(config)
        elif not isinstance(config, self.Config):
            raise TypeError(f"{type(self).__name__} expects a {self.Config.__name__}, got {type(config).__name__}")
        self.config = config

    # -- identity ------------------------------------------------------------------------------------

    @property
    def id(self) -> str:
        """`name@version`, the value of `Verdict.verifier`."""
        return verifier_id(type(self))

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "verify" in cls.__dict__:
            cls.verify = _guarded(cls.__dict__["verify"])  # type: ignore[method-assign,assignment]
        if "verify_batch" in cls.__dict__:
            cls.verify_batch = _with_batch_feedback(cls.__dict__["verify_batch"])  # type: ignore[method-assign,assignment]

    # -- the contract ----------------------------------------------------------------------------------

    def verify(self, task: Task, sample: Sample) -> Verdict:
        """Judge one sample. Never raises for bad input: returns an error verdict instead."""
        raise NotImplementedError(f"{type(self).__name__} must implement verify()")

    def verify_batch(self, task: Task, samples: Sequence[Sample]) -> list[Verdict]:
        """Judge several samples of one task, in order. Override when batching pays."""
        return [self.verify(task, sample) for sample in samples]

    def answer_key(self, task: Task, sample: Sample) -> str | None:
        """A canonical form of the sample's answer for voting, or None when there is no answer."""
        return None

    def feedback(self, task: Task, verdict: Verdict, *, show_tests: bool) -> str | None:
        """What the verdict means, written for the model that produced the sample: the input of a refine
        loop. Plugins override it to name the first failing test, the Lean error, the missing answer.

        `show_tests` is False when the task keeps its tests secret (`feedback: "hidden"`): then say what
        kind of failure it was, never a test's input, expected value or the program's output on it.
        """
        return generic_feedback(verdict, show_tests=show_tests)

    def close(self) -> None:
        """Release warm resources (processes, pools, models). Called once when a worker stops."""

    def __enter__(self) -> Verifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers for implementations ---------------------------------------------------------------------

    def verdict(
        self,
        task: Task,
        sample: Sample,
        status: Status,
        *,
        passed: bool | None = None,
        score: float | None = None,
        answer: str | None = None,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
        elapsed_s: float = 0.0,
    ) -> Verdict:
        """Build a Verdict for this verifier; `passed` follows from `status` unless given."""
        if passed is None and status in ("pass", "fail"):
            passed = status == "pass"
        if passed is None and status == "timeout":
            passed = False
        return Verdict(
            task_id=task.id,
            sample_index=sample.index,
            verifier=self.id,
            status=status,
            passed=passed,
            score=score,
            answer=answer,
            reason=reason,
            details=details or {},
            elapsed_s=elapsed_s,
        )

    def error(self, task: Task, sample: Sample, reason: str, message: str, **details: Any) -> Verdict:
        """An error verdict: nothing was decided about the sample."""
        return self.verdict(task, sample, "error", reason=reason, details={"message": message, **details})

    def parse_reference(self, task: Task, model: type[ReferenceT]) -> ReferenceT:
        """Validate `task.reference` with a plugin's pydantic model; raises BadReference naming the field."""
        try:
            return model.model_validate(task.reference)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in ("reference", *first["loc"]))
            raise BadReference(f"task {task.id!r}: {field}: {first['msg']}", field=field) from None


VerifyMethod = Callable[[Verifier, Task, Sample], Verdict]
BatchMethod = Callable[[Verifier, Task, Sequence[Sample]], list[Verdict]]

_FAILURE_WORDS = {
    "fail": "The sample is wrong",
    "timeout": "The sample ran out of time",
    "error": "The sample could not be judged",
    "skipped": "The sample was not judged",
}


def generic_feedback(verdict: Verdict, *, show_tests: bool) -> str:
    """Feedback from the verdict's status and reason alone (plus `details.message` for a failure when
    tests may be shown): what a verifier without its own `feedback` says."""
    if verdict.status == "pass":
        return "Correct."
    text = _FAILURE_WORDS[verdict.status]
    if verdict.reason:
        text += f" ({verdict.reason.replace('_', ' ')})"
    message = verdict.details.get("message")
    if show_tests and verdict.status in ("fail", "timeout") and isinstance(message, str) and message:
        text += f": {message}"
    return text + "."


class BadFeedbackSwitch(ValueError):
    """`task.metadata["feedback"]` is not one of the known modes."""


def feedback_mode(task: Task) -> FeedbackMode:
    """The task's feedback switch, `task.metadata["feedback"]`; "public" when unset."""
    mode = task.metadata.get("feedback", "public")
    if mode not in FEEDBACK_MODES:
        known = ", ".join(repr(m) for m in FEEDBACK_MODES)
        raise BadFeedbackSwitch(f"task {task.id!r}: metadata.feedback must be one of {known}, got {mode!r}")
    return mode  # type: ignore[no-any-return]


def _apply_feedback(verifier: Verifier, task: Task, verdict: Verdict) -> Verdict:
    """Set `verdict.feedback` as the task's switch allows. The switch is part of the task's metadata, so
    it is part of the verdict cache's key: a cached verdict never carries feedback the switch forbids."""
    try:
        mode = feedback_mode(task)
    except BadFeedbackSwitch as exc:
        details = {"message": str(exc), "field": "metadata.feedback"}
        return Verdict(
            task_id=task.id,
            sample_index=verdict.sample_index,
            verifier=verifier.id,
            status="error",
            reason="bad_task",
            details=details,
            elapsed_s=verdict.elapsed_s,
        )
    if mode == "none":
        verdict.feedback = None
        return verdict
    try:
        verdict.feedback = verifier.feedback(task, verdict, show_tests=mode == "public")
    except Exception:  # a bug in the feedback text must not cost the verdict
        verdict.feedback = generic_feedback(verdict, show_tests=False)
    return verdict


def _with_batch_feedback(verify_batch: BatchMethod) -> BatchMethod:
    """Wrap an overridden `verify_batch` so that verdicts it builds without `verify` get feedback too."""

    @functools.wraps(verify_batch)
    def with_feedback(self: Verifier, task: Task, samples: Sequence[Sample]) -> list[Verdict]:
        verdicts = verify_batch(self, task, samples)
        if not isinstance(task, Task):
            return verdicts
        return [_apply_feedback(self, task, verdict) for verdict in verdicts]

    return with_feedback


def _guarded(verify: VerifyMethod) -> VerifyMethod:
    """Wrap a `verify` implementation so that it never raises for bad input and always times itself."""

    @functools.wraps(verify)
    def guarded(self: Verifier, task: Task, sample: Sample) -> Verdict:
        if not isinstance(task, Task) or not isinstance(sample, Sample):
            raise TypeError(
                f"{type(self).__name__}.verify(task, sample) takes a Task and a Sample, "
                f"got {type(task).__name__} and {type(sample).__name__}"
            )
        started = time.perf_counter()
        try:
            verdict = verify(self, task, sample)
        except BadReference as exc:
            verdict = self.error(task, sample, "bad_reference", str(exc), field=exc.field)
        except Exception as exc:  # a verifier bug must not take the batch down
            verdict = self.error(
                task,
                sample,
                "verifier_error",
                f"{type(exc).__name__}: {exc}",
                traceback=traceback.format_exc(limit=8),
            )
        verdict = _apply_feedback(self, task, verdict)
        if not verdict.elapsed_s:
            verdict.elapsed_s = time.perf_counter() - started
        return verdict

    return guarded


def verifier_id(cls: type[Verifier]) -> str:
    """`name@version`: the one way a verifier is named in verdicts, caches and responses."""
    return f"{cls.name}@{cls.version}"
