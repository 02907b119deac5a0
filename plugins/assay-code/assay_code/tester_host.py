"""A long-lived tester that judges one candidate after another.

`run_python_pair` forks a tester for every sample. For tests that come with the task (the
`function` style), one sandboxed tester can judge every sample of a task instead: the candidate of
each sample still runs in a fresh sandboxed process (`run_python_interactive`), and the socket to it is
handed over to the tester as a file descriptor. Only bytes cross that socket, as in a pair; the
tester runs as its own uid, forked from its own server (never the candidates'); each job gets a
fresh namespace. It is replaced when the task changes, when it fails to answer in time, and when it dies.

Generated tests are model output, not trusted code: they keep one tester per sample (a pair).
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from assay import ExecResult, Limits, PythonProgram, PythonSandbox
from assay_code import harness
from assay_code.harness.channel import frame

#: How long a tester may live: it is replaced per task long before this.
_LIFETIME_S = 24 * 3600.0
_START_TIMEOUT_S = 30.0


class TesterUnavailable(RuntimeError):
    """The tester could not be started, or died; `result` says how it ended when known."""

    def __init__(self, message: str, result: ExecResult | None = None) -> None:
        super().__init__(message)
        self.result = result


class TesterHost:
    """One long-lived tester in its own sandbox, and the control socket to it."""

    def __init__(self, make_sandbox: Callable[[], PythonSandbox], memory_mb: int, python: str | None) -> None:
        self._make_sandbox = make_sandbox
        self._memory_mb = memory_mb
        self._python = python
        self._sandbox: PythonSandbox | None = None
        self._control: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._result: ExecResult | None = None
        self.key: object = None

    # -- life ------------------------------------------------------------------------------------------

    def _start(self, key: object) -> socket.socket:
        if self._sandbox is None:
            self._sandbox = self._make_sandbox()
        sandbox = self._sandbox
        started = threading.Event()
        self._stop = threading.Event()
        stop = self._stop
        self._result = None
        box: dict[str, socket.socket] = {}

        def hold(sock: socket.socket) -> None:
            box["control"] = sock
            started.set()
            stop.wait()

        def run() -> None:
            program = PythonProgram(
                source=harness.BOOTSTRAP,
                stdin=harness.bundle("tester", {"serve": True}, self._python),
                filename="tests_harness.py",
            )
            limits = Limits(wall_time_s=_LIFETIME_S, cpu_time_s=_LIFETIME_S, memory_mb=self._memory_mb)
            result, _ = sandbox.run_python_interactive(program, hold, limits=limits)
            self._result = result
            started.set()

        self._thread = threading.Thread(target=run, name="assay-code-tester", daemon=True)
        self._thread.start()
        if not started.wait(_START_TIMEOUT_S) or "control" not in box:
            self.stop()
            raise TesterUnavailable("the tester did not start", self._result)
        self._control = box["control"]
        self.key = key
        return self._control

    def stop(self) -> ExecResult | None:
        """End the tester (if any) and return how its run ended."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(_START_TIMEOUT_S)
        self._thread = None
        self._control = None
        self.key = None
        return self._result

    def close(self) -> None:
        self.stop()
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None

    # -- testing ---------------------------------------------------------------------------------------

    def prepare(self, key: object) -> None:
        """Have a tester for `key` running, started now if there is none: called before a
        candidate's run starts, so that the tests' start-up is never counted in a candidate's time."""
        if self.key != key or self._control is None or self._thread is None or not self._thread.is_alive():
            self.stop()
            self._start(key)

    def run_tests(self, key: object, candidate: socket.socket, job: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """The outcome of `job` against the candidate at the other end of `candidate`. Raises
        TesterUnavailable when the tester dies; TimeoutError when it gives no answer in time (it is
        replaced either way)."""
        self.prepare(key)
        control = self._control
        assert control is not None
        message = frame(json.dumps(job).encode())
        try:
            sent = socket.send_fds(control, [message], [candidate.fileno()])
            if sent < len(message):
                control.sendall(message[sent:])
        except OSError as exc:
            raise TesterUnavailable(f"cannot reach the tester: {exc}", self.stop()) from None
        # The tester holds the candidate's socket now; with ours closed, the candidate sees the end
        # of the conversation as soon as the tests are done with it, and exits while the outcome travels.
        candidate.close()
        reply = self._read_frame(control, timeout_s)
        try:
            outcome = json.loads(reply)
        except ValueError:
            raise TesterUnavailable("the tester sent a broken reply", self.stop()) from None
        if not isinstance(outcome, dict):
            raise TesterUnavailable("the tester sent a broken reply", self.stop())
        return outcome

    def _read_frame(self, control: socket.socket, timeout_s: float) -> bytes:
        buffer = b""
        size: int | None = None
        poller = select.poll()
        poller.register(control, select.POLLIN | select.POLLHUP | select.POLLERR)
        deadline = time.monotonic() + timeout_s
        while size is None or len(buffer) < 4 + size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not poller.poll(remaining * 1000):
                self.stop()
                raise TimeoutError(f"the tests gave no outcome within {timeout_s:.1f}s")
            chunk = control.recv(1 << 16)
            if not chunk:
                raise TesterUnavailable("the tester ended", self.stop())
            buffer += chunk
            if size is None and len(buffer) >= 4:
                size = int.from_bytes(buffer[:4], "big")
        return buffer[4 : 4 + size]
