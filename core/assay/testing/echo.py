"""`echo`: a tiny deterministic verifier that exercises the host end to end.

It passes a sample whose text, stripped, equals the task's `reference.answer`. It is the reference
implementation of a verifier plugin (compare it with your own) and the host's test double for the parts
of the pipeline that do not care what is being verified.

With `misbehave=True` a text that starts with `!hang`, `!block`, `!crash`, `!raise` or `!slow` makes it
hang, block inside C code holding the GIL (as a huge integer power does: no thread of the process runs
until it is killed), kill its own process, raise, or sleep `delay_s`: that is how executors are tested
against bad verifiers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from assay.hookspecs import hookimpl
from assay.models import Sample, Task, Verdict
from assay.verifier import Verifier, VerifierConfig


class EchoConfig(VerifierConfig):
    casefold: bool = Field(default=False, description="Compare case-insensitively.")
    misbehave: bool = Field(
        default=False, description="Obey `!hang`, `!block`, `!crash`, `!raise`, `!slow` prefixes."
    )
    delay_s: float = Field(default=0.0, ge=0, description="How long `!slow` sleeps.")


class EchoReference(BaseModel):
    model_config = ConfigDict(extra="ignore")

    answer: str


class EchoVerifier(Verifier):
    name = "echo"
    version = "1"
    kind = "symbolic"
    Config = EchoConfig
    config: EchoConfig

    def verify(self, task: Task, sample: Sample) -> Verdict:
        reference = self.parse_reference(task, EchoReference)
        if self.config.misbehave:
            self._misbehave(sample.text)
        answer = self._normalise(sample.text)
        passed = answer == self._normalise(reference.answer)
        return self.verdict(
            task,
            sample,
            "pass" if passed else "fail",
            score=1.0 if passed else 0.0,
            answer=answer,
            reason=None if passed else "wrong_answer",
        )

    def answer_key(self, task: Task, sample: Sample) -> str | None:
        return self._normalise(sample.text) or None

    def _normalise(self, text: str) -> str:
        text = text.strip()
        return text.casefold() if self.config.casefold else text

    def _misbehave(self, text: str) -> None:
        if text.startswith("!hang"):
            while True:
                time.sleep(3600)
        if text.startswith("!block"):
            import ctypes

            ctypes.PyDLL(None).sleep(3600)  # a C call that keeps the GIL: signals and threads wait too
        if text.startswith("!crash"):
            os._exit(13)
        if text.startswith("!raise"):
            raise RuntimeError("asked to raise")
        if text.startswith("!slow"):
            time.sleep(self.config.delay_s)


@hookimpl
def register_verifiers(register: Callable[[type[Any]], None]) -> None:
    register(EchoVerifier)
