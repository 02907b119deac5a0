"""Canonical answers without judging, for `POST /v1/answer_key`: majority votes over HTTP (lm-eval's
`assay_majority_vote` with `url=`) need each response's answer key, and have no reference to judge with.

`AnswerKeys` wraps another verifier so that the server's pools run it like any verifier: in worker
processes, warm, under the same time-limit backstop (an `answer_key` that hangs costs a worker, never the
server).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from assay.models import Sample, Task, Verdict
from assay.plugins import get_registry
from assay.verifier import Verifier, VerifierConfig

#: The verdict reason of a key computed (`answer` holds it, or None when the sample has no answer).
KEYED = "answer_key"


class AnswerKeysConfig(VerifierConfig):
    verifier: str = Field(description="The verifier whose answer_key is wanted.")
    config: dict[str, Any] = Field(default_factory=dict, description="Its config.")


def has_answer_key(cls: type[Verifier]) -> bool:
    return cls.answer_key is not Verifier.answer_key


class AnswerKeys(Verifier):
    """`verify` returns a `skipped` verdict (nothing is judged) whose `answer` is the wrapped verifier's
    `answer_key(task, sample)`, with reason `answer_key`; an `answer_key` that raises gives an `error`
    verdict (`verifier_error`)."""

    name: ClassVar[str] = "answer_key"
    version: ClassVar[str] = "1"
    kind = "symbolic"
    Config = AnswerKeysConfig
    config: AnswerKeysConfig

    def __init__(self, config: AnswerKeysConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.inner = get_registry().verifier_class(self.config.verifier)(self.config.config)

    def verify(self, task: Task, sample: Sample) -> Verdict:
        try:
            key = self.inner.answer_key(task, sample)
        except Exception as exc:
            return self.error(task, sample, "verifier_error", f"answer_key raised {type(exc).__name__}: {exc}")
        return self.verdict(task, sample, "skipped", answer=key, reason=KEYED)

    def close(self) -> None:
        self.inner.close()


def answer_keys_config(cls: type[Verifier], config: dict[str, Any]) -> dict[str, Any]:
    """The `AnswerKeys` config for `cls` with `config`, with the same time limit (so the same backstop)."""
    limit = cls.Config.model_validate(config).time_limit_s
    return {"verifier": cls.name, "config": dict(config), "time_limit_s": limit}
