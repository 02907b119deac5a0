"""A time budget that works in any thread and any process: no signals.

Cheap work (tokenising, parsing, exact arithmetic) checks the budget itself and never builds values that would
take long to compute (huge powers and factorials stay unevaluated). Open-ended sympy work (simplify, solving an
inequality) runs under `Budget.enforce()`, which installs a trace function on the current thread only: on every
Python call it checks the clock and raises `DeadlineExceeded`, a BaseException, so that sympy's own
`except Exception` blocks cannot swallow it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any


class DeadlineExceeded(BaseException):
    """The verdict's time budget is spent."""


class Budget:
    def __init__(self, seconds: float) -> None:
        self.started = time.monotonic()
        self.deadline = self.started + seconds

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            raise DeadlineExceeded()

    @contextmanager
    def enforce(self) -> Iterator[None]:
        """Run the body under a per-thread trace function that raises once the budget is spent."""
        self.check()
        deadline = self.deadline
        previous = sys.gettrace()
        calls = 0

        def tracer(frame: FrameType, event: str, arg: Any) -> None:
            nonlocal calls
            calls += 1
            if calls & 31 == 0 and time.monotonic() > deadline:
                raise DeadlineExceeded()
            return None  # no line events: only calls are counted, which keeps the overhead small

        sys.settrace(tracer)
        try:
            yield
        finally:
            sys.settrace(previous)
        self.check()
