"""A time budget that works in any thread and any process: no signals.

Cheap work (tokenising, parsing, exact arithmetic) checks the budget between steps and never builds values that
take long to compute: the watchdog below cannot interrupt a single C call, so huge powers, factorials and roots
are bounded before sympy sees them (`assay_math.exact`). Open-ended sympy work (simplify,
solving an inequality, evaluating) runs under `Budget.enforce()`: a watchdog thread raises `DeadlineExceeded`
in the working thread when the budget is spent (`PyThreadState_SetAsyncExc`, the mechanism behind
`KeyboardInterrupt` for threads), and raises it again every 50 ms if some library code swallows it.
`DeadlineExceeded` is a BaseException, so sympy's own `except Exception` blocks let it through.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

RESEND_S = 0.05


class DeadlineExceeded(BaseException):
    """The verdict's time budget is spent."""


def _raise_in(thread_id: int, exception: type[BaseException] | None) -> None:
    target = ctypes.py_object(exception) if exception is not None else None
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), target)


class _Watchdog:
    """One daemon thread per process that interrupts threads whose enforced budget has run out."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.lock = threading.Lock()
        self.wake = threading.Condition(self.lock)
        self.active: dict[int, tuple[int, float]] = {}  # token -> (thread id, when to raise)
        self.fired: set[int] = set()
        self.tokens = itertools.count()
        self.thread: threading.Thread | None = None

    def start(self, deadline: float) -> int:
        with self.lock:
            token = next(self.tokens)
            self.active[token] = (threading.get_ident(), deadline)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="assay-math-watchdog", daemon=True)
                self.thread.start()
            self.wake.notify()
        return token

    def stop(self, token: int) -> None:
        with self.lock:
            entry = self.active.pop(token, None)
            if token in self.fired:
                self.fired.discard(token)
                if entry is not None:
                    _raise_in(entry[0], None)  # clear an interruption not yet delivered

    def _run(self) -> None:
        with self.lock:
            while True:
                now = time.monotonic()
                for token, (thread_id, when) in list(self.active.items()):
                    if now >= when:
                        _raise_in(thread_id, DeadlineExceeded)
                        self.fired.add(token)
                        self.active[token] = (thread_id, now + RESEND_S)
                upcoming = [when for _, when in self.active.values()]
                self.wake.wait(timeout=max(0.0, min(upcoming) - time.monotonic()) if upcoming else None)


_WATCHDOG = _Watchdog()
if hasattr(os, "register_at_fork"):  # a forked worker starts with no watchdog thread and fresh locks
    os.register_at_fork(after_in_child=_WATCHDOG._reset)


class Budget:
    def __init__(self, seconds: float) -> None:
        self.started = time.monotonic()
        self.deadline = self.started + seconds
        self._enforcing: set[int] = set()

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            raise DeadlineExceeded()

    @contextmanager
    def enforce(self) -> Iterator[None]:
        """Run the body so that it is interrupted once the budget is spent."""
        self.check()
        me = threading.get_ident()
        if me in self._enforcing:  # already enforced further up this thread's stack
            yield
            return
        self._enforcing.add(me)
        token = _WATCHDOG.start(self.deadline)
        try:
            yield
        finally:
            while True:
                try:
                    _WATCHDOG.stop(token)
                    break
                except DeadlineExceeded:
                    continue  # delivered while stopping: stop again, then report below
            self._enforcing.discard(me)
        self.check()
