"""What both backends share: a warm fork-server per role, and the three ways to run (`run`, `run_python`,
`run_python_pair`). A backend only says how to start a server (a child process, a container)."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from assay.sandbox import ExecResult, Limits, PairResult, PythonProgram
from assay_sandboxes import forkserver
from assay_sandboxes.client import (
    DEFAULT_PRELOAD,
    ForkServerConnection,
    RunRequest,
    SandboxUnavailable,
    run_request,
    to_exec_result,
)
from assay_sandboxes.seccomp import HOST_UNIX_SOCKETS_LAYER, SeccompUnavailable, compile_filter

T = TypeVar("T")
#: How long a candidate may take to end by itself once its tester is done, before it is cancelled.
CANDIDATE_GRACE_S = 0.1

#: The server that forks untrusted runs, and the one that forks testers. They are separate processes (and
#: users) so that a candidate is never forked from memory that once held a tester's data.
ROLES = ("candidate", "tester")


class ServerHandle(ABC):
    """A started fork-server: its connection, and how to tell it is alive and to stop it."""

    connection: ForkServerConnection
    hello: dict[str, Any]
    #: The `Limits` bounds the server was started with, where its host fixes some (a container's caps).
    capacity: Limits | None = None
    #: The server's process id on this machine (for accounting: its CPU time includes its runs').
    pid: int | None = None

    @abstractmethod
    def alive(self) -> bool: ...

    @abstractmethod
    def close(self) -> None: ...

    def log(self) -> str:
        return ""


class ForkServerSandbox(ABC):
    """A sandbox backed by fork-servers. One instance serves one worker: calls are serialised.

    `run` execs a command; `run_python` runs Python source in the warm interpreter without exec (the fast
    path); `run_python_pair` runs a candidate and its tester connected by a socket.
    """

    name: ClassVar[str]

    def __init__(
        self,
        limits: Limits | None = None,
        preload: Sequence[str] = DEFAULT_PRELOAD,
        preload_sources: Mapping[str, str] | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self.preload = tuple(preload)
        self.preload_sources = dict(preload_sources or {})
        self._servers: dict[str, ServerHandle] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._finalizer = weakref.finalize(self, ForkServerSandbox._close_servers, self._servers)

    def _preload_config(self) -> dict[str, Any]:
        """What a server loads once, before its first fork (part of every backend's server config)."""
        return {"preload": list(self.preload), "preload_sources": list(self.preload_sources.items())}

    @abstractmethod
    def _start_server(self, role: str, limits: Limits) -> ServerHandle:
        """Start the fork-server for `role`, able to serve runs under `limits`."""

    def _refusal(self, limits: Limits) -> str | None:
        """Why this backend cannot honour `limits` at all, or None."""
        return None

    def _fits(self, server: ServerHandle, limits: Limits) -> bool:
        """Whether `server` can serve a run under `limits` (a container's caps are fixed when it starts)."""
        return True

    # -- the contract --------------------------------------------------------------------------------------

    def run(
        self,
        command: Sequence[str],
        *,
        files: Mapping[str, str | bytes] | None = None,
        stdin: bytes | None = None,
        limits: Limits | None = None,
        env: Mapping[str, str] | None = None,
        collect: Sequence[str] = (),
    ) -> ExecResult:
        if isinstance(command, str | bytes):
            raise TypeError("command must be a sequence of arguments, not a string")
        limits = limits or self.limits
        request = run_request(command=command, files=files, stdin=stdin, limits=limits, env=env, collect=collect)
        return self._run("candidate", request, limits)

    def run_python(
        self,
        source: str,
        *,
        files: Mapping[str, str | bytes] | None = None,
        stdin: bytes | None = None,
        limits: Limits | None = None,
        env: Mapping[str, str] | None = None,
        collect: Sequence[str] = (),
        argv: Sequence[str] = (),
        filename: str = "main.py",
    ) -> ExecResult:
        limits = limits or self.limits
        request = run_request(
            source=source,
            files=files,
            stdin=stdin,
            limits=limits,
            env=env,
            collect=collect,
            argv=argv,
            filename=filename,
        )
        return self._run("candidate", request, limits)

    def run_python_pair(
        self,
        candidate: PythonProgram,
        tester: PythonProgram,
        *,
        limits: Limits | None = None,
        tester_limits: Limits | None = None,
    ) -> PairResult:
        candidate_limits = limits or self.limits
        tester_limits = tester_limits or candidate_limits
        requests = {
            role: _program_request(program, role_limits)
            for role, program, role_limits in (
                ("candidate", candidate, candidate_limits),
                ("tester", tester, tester_limits),
            )
        }
        refusal = self._refusal(candidate_limits) or self._refusal(tester_limits)
        if refusal:
            return PairResult(candidate=_broken(refusal), tester=_broken(refusal))
        with self._lock:
            try:
                servers = {
                    "candidate": self._server("candidate", candidate_limits),
                    "tester": self._server("tester", tester_limits),
                }
            except SandboxUnavailable as exc:
                error = _broken(str(exc))
                return PairResult(candidate=error, tester=error)
            candidate_end, tester_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                servers["candidate"].connection.send(requests["candidate"], candidate_end.fileno())
                servers["tester"].connection.send(requests["tester"], tester_end.fileno())
            except OSError as exc:
                self._drop_servers()
                error = _broken(str(exc))
                return PairResult(candidate=error, tester=error)
            finally:
                candidate_end.close()
                tester_end.close()
            tester_result = self._receive(servers["tester"], "tester", tester_limits)
            with contextlib.suppress(OSError):
                if not servers["candidate"].connection.reply_within(CANDIDATE_GRACE_S):
                    servers["candidate"].connection.cancel("the tester had finished")
            candidate_result = self._receive(servers["candidate"], "candidate", candidate_limits)
        return PairResult(candidate=candidate_result, tester=tester_result)

    def run_python_interactive(
        self,
        program: PythonProgram,
        talk: Callable[[socket.socket], T],
        *,
        limits: Limits | None = None,
    ) -> tuple[ExecResult, T | None]:
        """Run `program` and hand `talk` this process's end of a socket to it (the run's
        `ASSAY_PEER_FD`): the caller is the tester. When `talk` returns (or raises, which is re-raised
        once the run is over) the socket is closed, the run gets `CANDIDATE_GRACE_S` to end by itself,
        and is cancelled after that. Returns the run's result and what `talk` returned (None when the
        sandbox could not start the run, which the result then says)."""
        limits = limits or self.limits
        request = _program_request(program, limits)
        refusal = self._refusal(limits)
        if refusal:
            return _broken(refusal), None
        with self._lock:
            try:
                server = self._server("candidate", limits)
            except SandboxUnavailable as exc:
                return _broken(str(exc)), None
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                server.connection.send(request, theirs.fileno())
            except OSError as exc:
                ours.close()
                self._drop_servers()
                return _broken(f"the fork-server is gone: {exc}"), None
            finally:
                theirs.close()
            try:
                outcome = talk(ours)
            finally:
                ours.close()
                with contextlib.suppress(OSError):
                    if not server.connection.reply_within(CANDIDATE_GRACE_S):
                        server.connection.cancel("the caller had finished")
                result = self._receive(server, "candidate", limits)
        return result, outcome

    def server_pids(self) -> dict[str, int]:
        """The running fork-servers' process ids on this machine, by role (started ones only)."""
        with self._lock:
            return {role: server.pid for role, server in self._servers.items() if server.pid is not None}

    def close(self) -> None:
        with self._lock:
            self._drop_servers()

    def __enter__(self) -> ForkServerSandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------------------------

    def _server(self, role: str, limits: Limits) -> ServerHandle:
        if os.getpid() != self._pid:  # forked: the servers belong to the parent; start our own
            self._servers.clear()
            self._pid = os.getpid()
        server = self._servers.get(role)
        if server is None or not server.alive() or not self._fits(server, limits):
            if server is not None:
                self._servers.pop(role, None)
                server.close()
            server = self._servers[role] = self._start_server(role, limits)
        return server

    def _run(self, role: str, request: RunRequest, limits: Limits) -> ExecResult:
        refusal = self._refusal(limits)
        if refusal:
            return _broken(refusal)
        with self._lock:
            try:
                server = self._server(role, limits)
                server.connection.send(request)
            except SandboxUnavailable as exc:
                return _broken(str(exc))
            except OSError as exc:
                self._drop_servers()
                return _broken(f"the fork-server is gone: {exc}")
            return self._receive(server, role, limits)

    def _receive(self, server: ServerHandle, role: str, limits: Limits) -> ExecResult:
        try:
            reply = server.connection.receive()
        except (EOFError, OSError) as exc:
            log = server.log()
            server.close()
            self._servers.pop(role, None)
            return _broken(f"the fork-server died during the run: {exc}\n{log}".strip())
        return to_exec_result(reply, limits)

    def _drop_servers(self) -> None:
        ForkServerSandbox._close_servers(self._servers)

    @staticmethod
    def _close_servers(servers: dict[str, ServerHandle]) -> None:
        for server in servers.values():
            with contextlib.suppress(Exception):
                server.close()
        servers.clear()


def kernel_layers(layers: dict[str, bool], off: dict[str, str]) -> int:
    """Fill in the layers this kernel gives every backend's runs (Landlock, seccomp); returns Landlock's ABI."""
    abi = forkserver.landlock_abi()
    layers["landlock"] = abi > 0
    if not abi:
        off["landlock"] = "the kernel has no Landlock (Linux >= 5.13 with the LSM enabled)"
    try:
        compile_filter(network=False)
        layers["seccomp"] = True
    except SeccompUnavailable as exc:
        layers["seccomp"] = False
        off["seccomp"] = str(exc)
    return abi


def protections(layers: Mapping[str, bool]) -> dict[str, dict[str, Any]]:
    """Protections that rest on one layer alone, each with that layer and whether it holds here (what
    `describe()` reports, so that `assay plugins` says what is open when a layer is off)."""
    return {
        "host_unix_sockets": {"layer": HOST_UNIX_SOCKETS_LAYER, "on": bool(layers.get(HOST_UNIX_SOCKETS_LAYER))},
    }


def _program_request(program: PythonProgram, limits: Limits) -> RunRequest:
    """The run request of a `PythonProgram`."""
    return run_request(
        source=program.source,
        files=program.files,
        stdin=program.stdin,
        limits=limits,
        env=program.env,
        collect=program.collect,
        argv=program.argv,
        filename=program.filename,
    )


def _broken(message: str) -> ExecResult:
    return ExecResult(status="sandbox_error", message=message)
