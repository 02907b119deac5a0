"""The `reward` verifier's configuration: which backend scores, with which model, and how; read by the
verifier and by every backend."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from assay import VerifierConfig
from assay_reward.encoders import EncoderName


def default_head_path() -> Path:
    """The head shipped with the plugin (trained on HumanEval and SVAMP samples; see the README)."""
    return Path(__file__).resolve().parent / "heads" / "default.npz"


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
    encoder: EncoderName | None = Field(
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
