"""Comparing a program's output with the expected output, token by token (stdin/stdout tasks).

Whitespace is not significant (tokens are split on any run of it). A token matches when it is the same
text, or when the expected token is a decimal number with a fraction or an exponent (`0.3333`, `1e-9`)
and the actual one is a number within the tolerance (absolute or relative). Integers are compared as
text: `12345678901234567891` is not `12345678901234567890`, and `2.0` is not `2`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_FLOAT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+(\.\d*)?[eE][+-]?\d+)$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class Mismatch:
    """Where two outputs first differ: the token index and both tokens (None past an end)."""

    index: int
    expected: str | None
    actual: str | None

    def __str__(self) -> str:
        return f"token {self.index}: expected {self.expected!r}, got {self.actual!r}"


def first_mismatch(actual: str, expected: str, tolerance: float = 1e-6) -> Mismatch | None:
    """None when the outputs match (see the module docs), else the first difference."""
    got, want = actual.split(), expected.split()
    for index, (a, e) in enumerate(zip(got, want, strict=False)):
        if a != e and not _numbers_close(a, e, tolerance):
            return Mismatch(index, e, a)
    if len(got) != len(want):
        index = min(len(got), len(want))
        return Mismatch(index, want[index] if index < len(want) else None, got[index] if index < len(got) else None)
    return None


def _numbers_close(actual: str, expected: str, tolerance: float) -> bool:
    if not _FLOAT.match(expected) or not _NUMBER.match(actual):
        return False
    try:
        a, e = float(actual), float(expected)
    except ValueError:
        return False
    if not math.isfinite(a):
        return False
    return math.isclose(a, e, rel_tol=tolerance, abs_tol=tolerance)
