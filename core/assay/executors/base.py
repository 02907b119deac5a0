"""What the engine hands an executor, and what it gets back.

The engine reads, deduplicates, caches and orders; an executor only turns work units into verdicts. A unit
is some samples of one task, so that `verify_batch` sees a real batch. An executor must return exactly one
verdict per item it was given, whatever happens to its workers (a hung sample becomes a `timeout`
verdict, a crashed worker an `error` verdict).
"""

from __future__ import annotations

import functools
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from assay.models import Sample, Task, Verdict
from assay.store import verifier_key
from assay.verifier import Verifier, VerifierConfig, verifier_id

#: (engine sequence number, verdict as a JSON-ready dict)
ItemResult = tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class VerifierSpec:
    """Enough to build the same verifier anywhere: its class (importable by name) and its config."""

    cls: type[Verifier]
    config: dict[str, Any]

    @property
    def id(self) -> str:
        """`name@version`, as verdicts carry it."""
        return verifier_id(self.cls)

    @functools.cached_property
    def validated_config(self) -> VerifierConfig:
        """The config checked once (a config may read files to check them: the reward head's digest)."""
        return self.cls.Config.model_validate(self.config)

    @property
    def cache_key(self) -> str:
        """The verdict store's key for this verifier and config: a new version or config starts afresh."""
        return verifier_key(self.id, self.validated_config)

    def build(self) -> Verifier:
        return self.cls(self.validated_config)

    @property
    def time_limit_s(self) -> float:
        return float(self.validated_config.time_limit_s)

    @property
    def backstop_s(self) -> float:
        """How long one sample may hold a worker before the engine kills it: the verifier's own limit
        should always fire first; this catches verifiers that hang anyway."""
        limit = self.time_limit_s
        return limit + max(2.0, 0.5 * limit)


@dataclass
class WorkUnit:
    unit_id: int
    task_key: bytes
    task: Task
    items: list[tuple[int, Sample]] = field(default_factory=list)
    #: Judge this unit with no other beside it in its worker (see `Verifier.concurrent_units`): set for
    #: units that were in flight together when their worker died, so that the next death names its unit.
    alone: bool = False


class Executor(ABC):
    """Runs work units somewhere and hands back verdicts as they finish."""

    #: How many units the engine should keep in flight.
    capacity: int = 1

    @abstractmethod
    def submit(self, unit: WorkUnit) -> None: ...

    @abstractmethod
    def poll(self, timeout: float) -> list[ItemResult]:
        """Verdicts finished since the last call; waits up to `timeout` seconds for the first."""

    @abstractmethod
    def in_flight(self) -> int:
        """Units submitted whose verdicts have not all been returned."""

    @abstractmethod
    def close(self) -> None: ...


#: Builds an executor for a verifier and a number of jobs (`--jobs`).
ExecutorFactory = Callable[[VerifierSpec, int], Executor]


def uses_batching(cls: type[Verifier]) -> bool:
    """True when the verifier overrides `verify_batch` (the engine then hands it whole units)."""
    return cls.verify_batch is not Verifier.verify_batch


def units_at_once(cls: type[Verifier]) -> int:
    """How many units one worker may have inside `verify_batch` at once: the verifier's `concurrent_units`
    when it batches, else 1 (a verifier judged sample by sample has no unit-wide call to overlap)."""
    return max(1, cls.concurrent_units) if uses_batching(cls) else 1


#: A sample as it travels to a worker: the fields a verifier reads (`label` never reaches it).
WireItem = tuple[int, dict[str, Any]]


def to_wire(unit: WorkUnit) -> list[WireItem]:
    """A unit's samples in the form every executor sends them (plain data: pickles cheaply, and the
    label, which must never sway a verdict, stays behind)."""
    return [
        (seq, {"task_id": s.task_id, "index": s.index, "text": s.text, "metadata": s.metadata}) for seq, s in unit.items
    ]


def from_wire(fields: dict[str, Any]) -> Sample:
    """A sample back from its wire form (already validated where it was read)."""
    return Sample.model_construct(label=None, **fields)


def judge_wire(verifier: Verifier, task: Task, items: Sequence[WireItem]) -> list[ItemResult]:
    """Judge samples in their wire form, in a worker; one JSON-ready verdict per item, in order."""
    samples = [from_wire(fields) for _, fields in items]
    verdicts = run_unit(verifier, task, samples)
    return [(seq, v.model_dump(mode="json")) for (seq, _), v in zip(items, verdicts, strict=True)]


def run_unit(verifier: Verifier, task: Task, samples: Sequence[Sample]) -> list[Verdict]:
    """Verify a unit in this process, turning a raising `verify_batch` into error verdicts."""
    if not uses_batching(type(verifier)):
        return [verifier.verify(task, sample) for sample in samples]
    started = time.perf_counter()
    try:
        verdicts = list(verifier.verify_batch(task, samples))
        if len(verdicts) != len(samples):
            raise RuntimeError(f"verify_batch returned {len(verdicts)} verdicts for {len(samples)} samples")
        return verdicts
    except Exception as exc:
        elapsed = time.perf_counter() - started
        return [
            verifier.error(
                task,
                sample,
                "verifier_error",
                f"{type(exc).__name__}: {exc}",
                traceback=traceback.format_exc(limit=8),
            ).model_copy(update={"elapsed_s": elapsed})
            for sample in samples
        ]


def engine_verdict(
    spec: VerifierSpec, sample: Sample, status: str, reason: str, message: str, elapsed_s: float = 0.0
) -> dict[str, Any]:
    """A verdict the engine writes itself, when the verifier could not (hung, crashed)."""
    return {
        "task_id": sample.task_id,
        "sample_index": sample.index,
        "verifier": spec.id,
        "status": status,
        "passed": False if status == "timeout" else None,
        "score": None,
        "answer": None,
        "reason": reason,
        "details": {"message": message, "enforced_by": "engine"},
        "elapsed_s": elapsed_s,
    }


def unknown_task_verdict(spec: VerifierSpec, sample: Sample, message: str) -> dict[str, Any]:
    """The verdict for a sample whose task is not among the tasks given (a file's, a request's)."""
    return engine_verdict(spec, sample, "error", "unknown_task", message)
