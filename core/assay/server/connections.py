"""Guards below HTTP, where a request has not begun yet: at most `max_connections_per_client` open
connections from one address, and a deadline for a request's headers.

uvicorn waits without limit for the headers of a request that never finishes them, and accepts any number
of connections from one address; a few hundred idle sockets would then hold the server's file descriptors.
The body of a request has its own deadline in the ASGI layer (`assay.server.middleware.LimitsMiddleware`), which
can still answer with a status.
"""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import threading
from collections import Counter
from typing import Any

import orjson
from fastapi import FastAPI

from assay.server.settings import ServerSettings


def _refusal(status: int, reason: str, detail: str) -> bytes:
    body = orjson.dumps({"detail": detail})
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
        "retry-after: 1\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class ConnectionGuard:
    """Open connections per client address, shared by every connection of one server."""

    def __init__(self, max_per_client: int, read_timeout_s: float) -> None:
        self.max_per_client = max_per_client
        self.read_timeout_s = read_timeout_s
        self.open: Counter[str] = Counter()
        self.refusal = _refusal(
            429,
            "Too Many Requests",
            f"more than {max_per_client} open connections from this address; close some and retry",
        )

    def admit(self, host: str) -> bool:
        if self.max_per_client and self.open[host] >= self.max_per_client:
            return False
        self.open[host] += 1
        return True

    def release(self, host: str) -> None:
        self.open[host] -= 1
        if self.open[host] <= 0:
            del self.open[host]


def guarded_protocol(base: type[asyncio.Protocol], guard: ConnectionGuard) -> type[asyncio.Protocol]:
    """A subclass of uvicorn's HTTP protocol class `base` that applies `guard` to each connection.

    It relies on what uvicorn's HTTP protocols (h11 and httptools) share: `loop`, `transport`, `cycle` (the
    request being answered, replaced when the next one begins) and `on_response_complete`.
    """

    class GuardedProtocol(base):  # type: ignore[valid-type,misc]
        _guarded_host: str | None = None
        _read_deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            peer = transport.get_extra_info("peername")
            host = str(peer[0]) if isinstance(peer, tuple) and peer else ""
            if not guard.admit(host):
                # Refused before uvicorn sees it: connection_lost below then has nothing to undo.
                transport.write(guard.refusal)
                transport.close()
                return
            self._guarded_host = host
            super().connection_made(transport)
            self._arm_read_deadline()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._guarded_host is None:
                return
            guard.release(self._guarded_host)
            self._guarded_host = None
            if self._read_deadline is not None:
                self._read_deadline.cancel()
                self._read_deadline = None
            super().connection_lost(exc)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm_read_deadline()

        def _arm_read_deadline(self) -> None:
            if self._read_deadline is not None:
                self._read_deadline.cancel()
            self._read_deadline = self.loop.call_later(guard.read_timeout_s, self._read_timed_out, self.cycle)

        def _read_timed_out(self, armed: Any) -> None:
            self._read_deadline = None
            # Close only when no request has begun since the deadline was armed (a request being answered
            # is the body deadline's and the request time limit's business, not this one's).
            idle = self.cycle is armed and (armed is None or armed.response_complete)
            if idle and not self.transport.is_closing():
                self.transport.close()

    GuardedProtocol.__name__ = GuardedProtocol.__qualname__ = f"Guarded{base.__name__}"
    return GuardedProtocol


#: Threads of the server's pools (`assay.server.pools`) are named so; their forks are verifier workers.
_POOL_THREAD_PREFIX = "assay-pool-"


def _close_inherited_sockets() -> None:
    """In a worker process just forked by a pool, close the TCP sockets inherited from the server (the
    listening socket, clients' connections): otherwise a connection the server closes stays open for the
    client, held by every worker forked while it was open."""
    if not threading.current_thread().name.startswith(_POOL_THREAD_PREFIX):
        return
    try:
        descriptors = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:  # no /proc: nothing this can do cheaply
        return
    for fd in descriptors:
        try:
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            sock = socket.socket(fileno=fd)
        except OSError:
            continue
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.close()
        else:
            sock.detach()  # a pipe to the parent (AF_UNIX) and the like: leave it open


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_inherited_sockets)


def uvicorn_config(app: FastAPI, settings: ServerSettings, **options: Any) -> Any:
    """The uvicorn.Config that serves `app` with the connection guards of `settings`; `options` go to
    uvicorn.Config as they are (host, port, log_level, ...)."""
    import uvicorn
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    guard = ConnectionGuard(settings.max_connections_per_client, settings.read_timeout_s)
    return uvicorn.Config(
        app,
        http=guarded_protocol(AutoHTTPProtocol, guard),
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
        **options,
    )
