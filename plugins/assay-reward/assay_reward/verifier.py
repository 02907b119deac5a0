"""The `reward` verifier: a learned score, `passed` when the score reaches a threshold."""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from assay import Sample, Task, Verdict, Verifier, VerifierConfig
from assay_reward.backends import Backend, ScoringError, build_backend, default_head_path

Backends = Literal["head", "hf", "remote"]


class RewardConfig(VerifierConfig):
    backend: Backends = Field(
        default="head",
        description="head: offline MiniLM encoder + learned head; hf: a transformers sequence-classification "
        "reward model; remote: an OpenRLHF-style HTTP reward server.",
    )
    model: str | None = Field(
        default=None,
        description="head: a model file from `assay reward train` (default: the shipped head); "
        "hf: a local path or a model id.",
    )
    threshold: float | None = Field(
        default=None,
        description="passed = score >= threshold (default: the head file's threshold, else 0.5).",
    )
    transform: Literal["auto", "sigmoid", "identity"] = Field(
        default="auto",
        description="How raw hf/remote scores become the verdict's score: sigmoid (logits to (0, 1)) or identity. "
        "auto: sigmoid for hf, identity for remote. Heads give probabilities already.",
    )
    encoder: Literal["onnx-int8", "st-fp32"] | None = Field(
        default=None, description="head backend: the MiniLM path (default: the one the head was trained with)."
    )
    threads: int | None = Field(default=None, ge=1, description="CPU threads for the model (default: the library's).")
    encode_tokens: int = Field(
        default=1024, ge=256, description="head backend: most padded tokens in one encoder micro-batch."
    )
    cache_entries: int = Field(default=100_000, ge=0, description="head backend: embeddings kept by text hash.")
    device: str = Field(default="auto", description="hf backend: torch device (auto: cuda when there is one).")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        default="auto", description="hf backend: weight dtype (auto: the checkpoint's on GPU, float32 on CPU)."
    )
    hf_batch_size: int = Field(default=16, ge=1, description="hf backend: sequences per forward pass.")
    max_tokens: int = Field(default=4096, ge=8, description="hf backend: longer conversations are truncated.")
    chat_template: bool = Field(
        default=True,
        description="hf backend: format (prompt, sample) with the tokenizer's chat template when it has one.",
    )
    url: str | None = Field(default=None, description="remote backend: the `/get_reward` endpoint.")
    score_key: str = Field(default="rewards", description="remote backend: the answer's field holding the scores.")
    remote_batch_size: int = Field(default=64, ge=1, description="remote backend: samples per request.")
    model_digest: str | None = Field(
        default=None,
        description="Filled in, not set: SHA-256 of the head file, so that cached verdicts change with the model.",
    )

    @model_validator(mode="after")
    def _digest_head(self) -> RewardConfig:
        if self.backend == "head":
            path = Path(self.model) if self.model else default_head_path()
            try:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError as exc:
                raise ValueError(f"model: cannot read head file {path}: {exc.strerror or exc}") from None
            object.__setattr__(self, "model_digest", digest)
        return self


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
                    task, sample, "pass" if passed else "fail", score=score,
                    reason=None if passed else "low_score", details=details, elapsed_s=elapsed,
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
