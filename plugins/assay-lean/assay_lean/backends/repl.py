"""A pool of Lean REPL processes (leanprover-community/repl JSON protocol) with header reuse.

Each process loads a header once (`{"cmd": header}` gives an environment id) and checks every proof with
that header against the saved environment (`{"cmd": body, "env": id}`): Kimina Lean Server's trick, which
turns seconds of `import Mathlib` per proof into once per process. Processes are recycled after
`max_uses` proofs or when their memory passes `max_memory_mb` (environments accumulate), and a process
that overruns a proof's time limit is killed with its whole process group and replaced.

Protocol (upstream README and `REPL/Main.lean`): one JSON object per line, then a blank line; replies are
pretty-printed JSON followed by a blank line. A request-level failure replies `{"message": ...}`; bad JSON
makes the REPL exit. The REPL has no timeout of its own, so the client enforces wall time.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay_lean.assemble import Assembly
from assay_lean.backends import CheckResult
from assay_lean.diagnostics import LeanMessage


class ReplError(RuntimeError):
    """The REPL process misbehaved: it died, answered garbage, or refused a request."""


class ReplTimeout(ReplError):
    """No reply within the time limit (the process is killed)."""


@dataclass
class ReplReply:
    """A command reply: `env`, `messages`, `sorries` (REPL shape), or a request-level `message`."""

    raw: dict[str, Any]

    @property
    def env(self) -> int | None:
        value = self.raw.get("env")
        return value if isinstance(value, int) else None

    @property
    def failure(self) -> str | None:
        """The request-level error (`Unknown environment.`, `Lean error: ...`), if this is one."""
        if "env" not in self.raw and "proofState" not in self.raw and isinstance(self.raw.get("message"), str):
            return str(self.raw["message"])
        return None

    @property
    def messages(self) -> list[LeanMessage]:
        return [LeanMessage.from_json(item) for item in self.raw.get("messages", []) if isinstance(item, dict)]

    @property
    def sorries(self) -> list[dict[str, Any]]:
        return [item for item in self.raw.get("sorries", []) if isinstance(item, dict)]


def encode_request(request: Mapping[str, Any]) -> bytes:
    """One line of JSON and the blank line that ends a request (raw newlines are escaped by JSON)."""
    return json.dumps(request, ensure_ascii=False).encode() + b"\n\n"


class ReplyReader:
    """Splits a REPL's stdout into replies: JSON texts each followed by a blank line."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        self._buffer += data
        replies: list[dict[str, Any]] = []
        while True:
            cut = self._buffer.find(b"\n\n")
            if cut < 0:
                return replies
            chunk, rest = self._buffer[:cut], self._buffer[cut + 2 :]
            text = chunk.decode("utf-8", errors="replace").strip()
            if not text:
                self._buffer = rest
                continue
            try:
                value = json.loads(text)
            except ValueError:
                # JSON escapes newlines inside strings, so a reply never holds a blank line: this is garbage.
                raise ReplError(f"REPL reply is not JSON: {text[:300]!r}") from None
            if not isinstance(value, dict):
                raise ReplError(f"REPL reply is not an object: {text[:300]!r}")
            replies.append(value)
            self._buffer = rest


def process_tree_rss(pid: int) -> int:
    """Resident bytes of a process and its descendants (Linux /proc; 0 where unavailable)."""
    total = 0
    stack = [pid]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{current}/task"):
                children = Path(f"/proc/{current}/task/{task}/children").read_text().split()
                stack.extend(int(child) for child in children)
    return total


class ReplProcess:
    """One REPL process and the headers it has loaded (header text -> environment id)."""

    def __init__(self, command: Sequence[str], cwd: str | None = None, env: Mapping[str, str] | None = None) -> None:
        self.command = list(command)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            start_new_session=True,  # its own process group, so a kill takes every child with it
        )
        self.reader = ReplyReader()
        self.headers: dict[str, int] = {}
        self.uses = 0
        self.dead = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def request(self, request: Mapping[str, Any], timeout_s: float) -> ReplReply:
        """Send one request and wait for its reply; kills the process on timeout or death."""
        if self.dead or self.proc.poll() is not None:
            self.dead = True
            raise ReplError(f"REPL process {self.pid} is not running")
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(encode_request(request))
            self.proc.stdin.flush()
        except OSError as exc:
            self.kill()
            raise ReplError(f"REPL process {self.pid} closed its input: {exc}") from exc
        deadline = time.monotonic() + timeout_s
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.kill()
                    raise ReplTimeout(f"no reply within {timeout_s:.1f}s")
                if not selector.select(remaining):
                    continue
                data = os.read(fd, 1 << 16)
                if not data:
                    self.kill()
                    raise ReplError(f"REPL process {self.pid} exited (status {self.proc.poll()})")
                try:
                    replies = self.reader.feed(data)
                except ReplError:
                    self.kill()
                    raise
                if replies:
                    if len(replies) > 1:
                        self.kill()  # out of step with its requests: nothing it says can be trusted now
                        raise ReplError("REPL sent more replies than requests")
                    return ReplReply(replies[0])

    def rss_bytes(self) -> int:
        return 0 if self.dead else process_tree_rss(self.pid)

    def kill(self) -> None:
        if self.dead:
            return
        self.dead = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.proc.kill()
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(Exception):
                if stream is not None:
                    stream.close()


@dataclass
class PoolResult:
    """What one proof got: REPL messages (lines relative to the body) or how it ended otherwise."""

    status: str  # ok | time_limit | header_error | repl_error
    messages: list[LeanMessage] = field(default_factory=list)
    sorries: list[dict[str, Any]] = field(default_factory=list)
    header_messages: list[LeanMessage] = field(default_factory=list)
    message: str | None = None
    header_reused: bool = False
    pid: int | None = None


@dataclass
class PoolStats:
    started: int = 0
    recycled_uses: int = 0
    recycled_memory: int = 0
    killed_timeouts: int = 0
    replaced_errors: int = 0
    header_loads: int = 0
    header_reuses: int = 0


class ReplPool:
    """Up to `size` REPL processes; thread-safe (`run` from several threads checks proofs concurrently)."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        size: int = 1,
        max_uses: int = 200,
        max_memory_mb: int = 8192,
        header_timeout_s: float = 300.0,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("pool size must be at least 1")
        self.command = list(command)
        self.size = size
        self.max_uses = max_uses
        self.max_memory_bytes = max_memory_mb * 1024 * 1024
        self.header_timeout_s = header_timeout_s
        self.cwd = cwd
        self.env = env
        self.stats = PoolStats()
        self._idle: list[ReplProcess] = []
        self._busy = 0
        self._cond = threading.Condition()
        self._closed = False

    def _acquire(self, header: str) -> ReplProcess:
        with self._cond:
            while True:
                if self._closed:
                    raise ReplError("the REPL pool is closed")
                if self._idle:
                    # Prefer a process that already holds this header; else the least used.
                    warm = [p for p in self._idle if header in p.headers]
                    chosen = warm[0] if warm else min(self._idle, key=lambda p: p.uses)
                    self._idle.remove(chosen)
                    self._busy += 1
                    return chosen
                if self._busy < self.size:
                    self._busy += 1
                    break
                self._cond.wait()
        try:
            process = ReplProcess(self.command, self.cwd, self.env)
        except OSError as exc:
            with self._cond:
                self._busy -= 1
                self._cond.notify()
            raise ReplError(f"cannot start the REPL {self.command}: {exc}") from exc
        self.stats.started += 1
        return process

    def _release(self, process: ReplProcess) -> None:
        keep = not process.dead
        if keep and process.uses >= self.max_uses:
            self.stats.recycled_uses += 1
            keep = False
        if keep and self.max_memory_bytes and process.rss_bytes() > self.max_memory_bytes:
            self.stats.recycled_memory += 1
            keep = False
        if not keep:
            process.kill()
        with self._cond:
            self._busy -= 1
            if keep and not self._closed:
                self._idle.append(process)
            self._cond.notify()

    def run(self, header: str, body: str, timeout_s: float) -> PoolResult:
        """Check `body` in the environment of `header` (loaded once per process)."""
        process = self._acquire(header)
        try:
            return self._run_on(process, header, body, timeout_s)
        finally:
            process.uses += 1
            self._release(process)

    def _run_on(self, process: ReplProcess, header: str, body: str, timeout_s: float) -> PoolResult:
        env = process.headers.get(header)
        reused = env is not None
        try:
            if env is None:
                reply = process.request({"cmd": header}, self.header_timeout_s)
                if reply.failure or reply.env is None:
                    self.stats.replaced_errors += 1
                    process.kill()
                    return PoolResult("repl_error", message=f"header: {reply.failure}", pid=process.pid)
                header_messages = reply.messages
                if any(m.severity == "error" for m in header_messages):
                    return PoolResult("header_error", header_messages=header_messages, pid=process.pid)
                env = reply.env
                process.headers[header] = env
                self.stats.header_loads += 1
            else:
                self.stats.header_reuses += 1
            reply = process.request({"cmd": body, "env": env}, timeout_s)
        except ReplTimeout as exc:
            self.stats.killed_timeouts += 1
            return PoolResult("time_limit", message=str(exc), header_reused=reused, pid=process.pid)
        except ReplError as exc:
            self.stats.replaced_errors += 1
            process.kill()
            return PoolResult("repl_error", message=str(exc), header_reused=reused, pid=process.pid)
        if reply.failure is not None:
            # `Unknown environment.` means the process lost its state: do not trust it with the next proof.
            process.kill()
            self.stats.replaced_errors += 1
            return PoolResult("repl_error", message=reply.failure, header_reused=reused, pid=process.pid)
        return PoolResult("ok", reply.messages, reply.sorries, header_reused=reused, pid=process.pid)

    def processes(self) -> list[ReplProcess]:
        with self._cond:
            return list(self._idle)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for process in idle:
            process.kill()


class ReplBackend:
    """Checks assembled files on a `ReplPool`: the header once per process, then each body in its env."""

    name = "repl"

    def __init__(self, pool: ReplPool) -> None:
        self.pool = pool

    def check(self, assembly: Assembly, time_limit_s: float) -> CheckResult:
        header = assembly.header.rstrip("\n")
        outcome = self.pool.run(header, assembly.body, time_limit_s)
        # Whether the header was already loaded is a matter of speed, not of the verdict: kept with timings.
        details: dict[str, Any] = {"timing": {"header_reused": outcome.header_reused}}
        if outcome.status == "ok":
            return CheckResult("ok", outcome.messages, outcome.sorries, details=details)
        if outcome.status == "header_error":
            # Header lines map to lines <= 0 of the body, which `decide` reads as the header's.
            shift = -assembly.header_lines - 1
            return CheckResult(
                "header_error",
                [m.shifted(shift) for m in outcome.header_messages],
                message="the task's header does not elaborate",
                details=details,
            )
        if outcome.status == "time_limit":
            return CheckResult("time_limit", message=outcome.message, details=details)
        return CheckResult("backend_error", message=outcome.message, details=details)

    def close(self) -> None:
        self.pool.close()
