"""`numeric`: passes a sample whose last number equals the task's reference number.

The example plugin of the README's "Writing a plugin". A task's reference is `{"answer": 51.0}` (a number,
or a string holding one); a sample passes when the last number in its text is equal within a tolerance
(`51`, `51.0` and `The answer is 51.` all pass). Verdicts carry `answer=` (the number, written one way, so
that equal answers vote together) and `score=` (1 or 0, for best-of-n).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

import assay

#: A decimal number: an optional sign, digits with optional thousands commas, a fraction, an exponent.
NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][-+]?\d+)?")


class NumericConfig(assay.VerifierConfig):
    """`assay verify --set rel_tol=1e-4` sets these; a wrong name or type is refused before any work."""

    rel_tol: float = Field(default=1e-6, ge=0, description="Relative tolerance of the comparison.")
    abs_tol: float = Field(default=1e-6, ge=0, description="Absolute tolerance of the comparison.")


class NumericReference(BaseModel):
    """What `task.reference` must hold; anything else is a `bad_reference` error verdict naming the field."""

    model_config = ConfigDict(extra="ignore")

    answer: float

    @field_validator("answer")
    @classmethod
    def finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


def last_number(text: str) -> float | None:
    """The last finite number written in `text`, or None."""
    for match in reversed([m for m in NUMBER.finditer(text) if any(c.isdigit() for c in m.group())]):
        try:
            value = float(match.group().replace(",", ""))
        except ValueError:
            continue
        if math.isfinite(value):
            return value
    return None


def canonical(value: float) -> str:
    """One way to write a number: `51.0` and `51` are both `51`."""
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


class NumericVerifier(assay.Verifier):
    name = "numeric"
    version = "0.1.0"  # raise it whenever a verdict could change: cached verdicts are keyed by it
    kind = "symbolic"
    Config = NumericConfig
    config: NumericConfig

    def verify(self, task: assay.Task, sample: assay.Sample) -> assay.Verdict:
        reference = self.parse_reference(task, NumericReference)  # bad reference: an error verdict, not a crash
        value = last_number(sample.text)
        if value is None:
            return self.verdict(task, sample, "fail", score=0.0, reason="no_answer")
        passed = math.isclose(value, reference.answer, rel_tol=self.config.rel_tol, abs_tol=self.config.abs_tol)
        return self.verdict(
            task,
            sample,
            "pass" if passed else "fail",
            score=1.0 if passed else 0.0,
            answer=canonical(value),
            reason=None if passed else "wrong_answer",
        )

    def answer_key(self, task: assay.Task, sample: assay.Sample) -> str | None:
        value = last_number(sample.text)
        return None if value is None else canonical(value)


@assay.hookimpl
def register_verifiers(register: Callable[[type[Any]], None]) -> None:
    register(NumericVerifier)
