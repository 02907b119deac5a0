"""The `reward` verifier: a learned score, `passed` when the score reaches a threshold."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from assay import Sample, Task, Verdict, Verifier
from assay_reward.backends import Backend, ScoringError, build_backend
from assay_reward.config import RewardConfig


class RewardVerifier(Verifier):
    """Scores each sample with a learned model: `score` = P(correct), `passed` = score >= threshold.

    Reference-free: it judges the sample against the task's prompt, not its reference (the remote backend
    passes the reference on as OpenRLHF's `labels`).
    """

    name = "reward"
    version = "0.1.0"
    kind = "learned"
    Config = RewardConfig
    config: RewardConfig
    batch_size: ClassVar[int] = 64

    def __init__(self, config: RewardConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.backend: Backend = build_backend(self.config)
        self.threshold = self._threshold()
        self.transform = self.config.transform
        if self.transform == "auto":
            self.transform = "identity" if self.backend.probabilities or self.config.backend == "remote" else "sigmoid"

    def _threshold(self) -> float:
        if self.config.threshold is not None:
            return self.config.threshold
        head = getattr(self.backend, "head", None)
        return float(head.threshold) if head is not None else 0.5

    def describe(self) -> dict[str, Any]:
        return {**self.backend.describe(), "threshold": self.threshold, "transform": self.transform}

    def verify(self, task: Task, sample: Sample) -> Verdict:
        return self._judge(task, [sample])[0]

    def verify_batch(self, task: Task, samples: Sequence[Sample]) -> list[Verdict]:
        """One call into the model for the whole batch. A backend failure (server down) gives every sample
        the same error verdict; any other exception has each sample judged alone, so that only the culprit
        gets an error verdict."""
        if not isinstance(task, Task) or not all(isinstance(sample, Sample) for sample in samples):
            raise TypeError("verify_batch(task, samples) takes a Task and a sequence of Samples")
        if not samples:
            return []
        try:
            return self._judge(task, samples)
        except ScoringError as exc:
            return [self.error(task, sample, exc.reason, str(exc)) for sample in samples]
        except Exception:
            return [self.verify(task, sample) for sample in samples]

    def _judge(self, task: Task, samples: Sequence[Sample]) -> list[Verdict]:
        started = time.perf_counter()
        try:
            raw = self.backend.score(task, [sample.text for sample in samples])
        except ScoringError as exc:
            if len(samples) > 1:
                raise
            return [self.error(task, samples[0], exc.reason, str(exc))]
        if len(raw) != len(samples):
            raise RuntimeError(f"backend returned {len(raw)} scores for {len(samples)} samples")
        elapsed = (time.perf_counter() - started) / len(samples)
        verdicts = []
        for sample, value in zip(samples, raw, strict=True):
            score = _apply(self.transform, value)
            passed = score >= self.threshold
            details: dict[str, Any] = {"threshold": self.threshold}
            if self.transform != "identity":
                details["raw_score"] = value
            verdicts.append(
                self.verdict(
                    task,
                    sample,
                    "pass" if passed else "fail",
                    score=score,
                    reason=None if passed else "low_score",
                    details=details,
                    elapsed_s=elapsed,
                )
            )
        return verdicts

    def close(self) -> None:
        self.backend.close()


def _apply(transform: str, value: float) -> float:
    if transform == "sigmoid":
        if value >= 0:
            return 1.0 / (1.0 + math.exp(-value))
        exp = math.exp(value)
        return exp / (1.0 + exp)
    return value
