"""The caller's side of a fork-server: start it, send runs, turn its replies into `ExecResult`s.

Both backends use this: `local` starts the server as a child process; `docker` starts it as the main
process of a warm container and connects to it over a Unix socket in a shared folder.

What a run is made of (program, files, argv, environment, stdin) never goes to the server itself: it is
written to memfds whose descriptors the server hands on unread to the run's child (see `forkserver`).
"""

from __future__ import annotations

import contextlib
import fcntl
import marshal
import os
import select
import signal
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.sandbox import ExecResult, ExecStatus, Limits
from assay_sandboxes import forkserver

FORKSERVER_PATH = Path(forkserver.__file__).resolve()

#: Standard-library modules imported once by the server, so that a Python run finds them loaded. Kept
#: short on purpose: every KiB the server holds is copied (page tables) at each fork and paid for again
#: at each exit; `unittest` alone would add 2.8 MiB and ~1 ms per run on a small VM.
DEFAULT_PRELOAD = (
    "typing",
    "collections",
    "re",
    "math",
    "itertools",
    "functools",
    "heapq",
    "bisect",
    "string",
    "copy",
    "random",
    "json",
    "fractions",
)

#: Substrings of a failed run's stderr that name what ran out (checked on the last few KiB only).
_MEMORY_MARKERS = (b"MemoryError", b"std::bad_alloc", b"Cannot allocate memory", b"out of memory")
_FILE_MARKERS = (b"File too large", b"No space left on device", b"Disk quota exceeded")
_PROCESS_MARKERS = (b"Resource temporarily unavailable", b"can't start new thread", b"fork: retry")


_SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


class SandboxUnavailable(RuntimeError):
    """The backend cannot start here (no daemon, no interpreter, ...); the message says what to do."""


@dataclass(frozen=True)
class RunRequest:
    """One run, split by who may see what: the server gets `limits` and `collect` (to supervise and collect);
    `payload` (a marshal dump of the files, environment and program) and `stdin` go to the run's child
    alone."""

    limits: dict[str, Any]
    collect: list[str]
    payload: bytes
    stdin: bytes | None


class ForkServerConnection:
    """One fork-server and the socket to it. Not thread-safe: a backend holds one per worker."""

    def __init__(self, sock: socket.socket, on_close: Callable[[], None] | None = None) -> None:
        self.sock = sock
        self._on_close = on_close
        self.hello: dict[str, Any] = {}
        self.lock = threading.Lock()

    def start(self, config: Mapping[str, Any]) -> dict[str, Any]:
        forkserver.send_message(self.sock, dict(config))
        hello, _ = forkserver.recv_message(self.sock)
        if hello.get("op") != "hello":
            raise SandboxUnavailable(f"the fork-server could not set up: {hello.get('message')}")
        self.hello = dict(hello)
        return self.hello

    def send(self, request: RunRequest, peer: int | None = None) -> None:
        """Start a run: the server gets its header, and the descriptors of a memfd holding the payload,
        of one holding stdin (when there is one) and of the `peer` socket."""
        fds = [_memfd("assay-run", request.payload, sealed=False)]  # closed before the run's code starts
        try:
            if request.stdin is not None:
                fds.append(_memfd("assay-stdin", request.stdin, sealed=True))
            header = {
                "op": "run",
                "limits": request.limits,
                "collect": request.collect,
                "stdin": request.stdin is not None,
                "peer": peer is not None,
            }
            forkserver.send_message(self.sock, header, fds if peer is None else [*fds, peer])
        finally:
            for fd in fds:
                os.close(fd)

    def receive(self) -> dict[str, Any]:
        """A run's reply: the server's header with the bytes that follow it put in (stdout, stderr, the
        set-up error, the collected files)."""
        reply, fds = forkserver.recv_message(self.sock)
        for fd in fds:
            os.close(fd)
        reply = dict(reply)
        files = reply.get("files", ())
        sizes = [reply.get(f"{part}_size", 0) for part in ("stdout", "stderr", "setup_message")]
        sizes += [size for _name, size in files]
        data = memoryview(forkserver.recv_exact(self.sock, sum(sizes)) if sum(sizes) else b"")
        sections, offset = [], 0
        for size in sizes:  # in the order the server sent them
            sections.append(bytes(data[offset : offset + size]))
            offset += size
        reply["stdout"], reply["stderr"], setup_message = sections[:3]
        if reply.get("setup_failed"):
            reply["setup_error"] = setup_message.decode("utf-8", "replace") or None
        reply["files"] = {name: content for (name, _size), content in zip(files, sections[3:], strict=True)}
        return reply

    def cancel(self, reason: str) -> None:
        forkserver.send_message(self.sock, {"op": "cancel", "reason": reason})

    def reply_within(self, seconds: float) -> bool:
        """Whether the server's reply (the run has ended) arrives within `seconds`."""
        return bool(select.select([self.sock], [], [], seconds)[0])

    def close(self) -> None:
        with contextlib.suppress(OSError):
            forkserver.send_message(self.sock, {"op": "stop"})
        self.sock.close()
        if self._on_close is not None:
            self._on_close()


def _memfd(name: str, data: bytes, *, sealed: bool) -> int:
    """An anonymous file holding `data`, read from its start (its offset stays there); `sealed`: no one can
    change or grow it any more (a run's stdin)."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        view = memoryview(data)
        while view:
            view = view[os.pwrite(fd, view, len(data) - len(view)) :]
        if sealed:
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
    except BaseException:
        os.close(fd)
        raise
    return fd


def run_request(
    *,
    command: Sequence[str] | None = None,
    source: str | None = None,
    files: Mapping[str, str | bytes] | None,
    stdin: bytes | None,
    limits: Limits,
    env: Mapping[str, str] | None,
    collect: Sequence[str],
    argv: Sequence[str] = (),
    filename: str = "main.py",
) -> RunRequest:
    """One run's request. Misuse of the API (a bad file name, no command) raises ValueError here."""
    if source is None and not command:
        raise ValueError("run: empty command")
    encoded: dict[str, bytes] = {}
    for name, content in (files or {}).items():
        encoded[_safe_name(name)] = content.encode() if isinstance(content, str) else bytes(content)
    for name in collect:
        _safe_name(name)
    environment = {str(key): str(value) for key, value in (env or {}).items()}
    for key, value in environment.items():
        if not key or "=" in key or "\0" in key or "\0" in value:
            raise ValueError(f"environment variable {key!r}: names need no '=' and neither may hold NUL")
    payload: dict[str, Any] = {"files": encoded, "env": environment}
    if source is not None:
        payload.update(source=source, filename=_safe_name(filename), argv=[str(a) for a in argv])
    else:
        payload["command"] = [str(part) for part in command or ()]
    return RunRequest(
        limits=limits.model_dump(),
        collect=list(collect),
        payload=marshal.dumps(payload),
        stdin=None if stdin is None else bytes(stdin),
    )


def _safe_name(name: str) -> str:
    parts = Path(name).parts
    if not name or Path(name).is_absolute() or ".." in parts or name.startswith("~"):
        raise ValueError(f"file name {name!r} must be a relative path inside the work dir")
    return name


def to_exec_result(reply: Mapping[str, Any], limits: Limits) -> ExecResult:
    """Turn a fork-server reply into an ExecResult, naming the limit that ended the run."""
    if reply.get("status") == "sandbox_error":
        return ExecResult(status="sandbox_error", message=reply.get("message"), isolation=reply.get("isolation", {}))
    stderr: bytes = reply["stderr"]
    returncode = reply["returncode"]
    signal_number = reply["signal"]
    cpu_s = float(reply["cpu_s"])
    message = reply.get("message")
    tail = stderr[-4096:]
    status: ExecStatus
    if reply.get("setup_error"):
        status, message = "sandbox_error", reply["setup_error"]
    elif reply["status_hint"] in ("time_limit", "output_limit", "cancelled", "process_limit"):
        status = reply["status_hint"]
        if status == "process_limit":
            message = f"out of time with all {reply.get('processes_at_kill')} processes it may have running"
    elif signal_number == signal.SIGXCPU or (signal_number == signal.SIGKILL and cpu_s >= limits.cpu_time_s - 0.05):
        status = "cpu_limit"
    elif signal_number == signal.SIGXFSZ or (returncode and any(m in tail for m in _FILE_MARKERS)):
        status = "file_limit"
    elif returncode and any(marker in tail for marker in _MEMORY_MARKERS):
        status = "memory_limit"
    elif returncode and any(marker in tail for marker in _PROCESS_MARKERS):
        status = "process_limit"
    elif signal_number:
        status = "signaled"
    else:
        status = "ok" if returncode == 0 else "exit_nonzero"
    notes = [message] if message else []
    if reply.get("collect_error"):
        notes.append(f"not collected: {reply['collect_error']}")
    if reply.get("leftover_processes"):
        notes.append(f"killed {reply['leftover_processes']} process(es) left running after the run")
    return ExecResult(
        status=status,
        returncode=returncode,
        stdout=reply["stdout"],
        stderr=stderr,
        wall_s=float(reply["wall_s"]),
        cpu_s=cpu_s,
        cpu_wait_s=float(reply.get("cpu_wait_s") or 0.0),
        files=reply.get("files") or {},
        isolation=reply.get("isolation") or {},
        message="; ".join(notes) or None,
        truncated=bool(reply.get("stdout_truncated") or reply.get("stderr_truncated")),
        peak_memory_mb=float(reply["max_rss_kb"]) / 1024 if reply.get("max_rss_kb") else None,
    )
