"""The ASGI layer under the routes: the token, the body's size and deadline, work slots, and clients that
leave (see `LimitsMiddleware`)."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from assay.server.state import ServerState

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Routes that do work (verify or run code): counted against `max_concurrent`.
WORK_ROUTES = frozenset({"/v1/verify", "/v1/answer_key", "/get_reward", "/run_code"})
#: Where /docs's own files (Swagger UI) are served.
DOCS_ASSETS = "/docs/assets"
#: Routes that answer without the token: health, and the API's description (the same for every server:
#: nothing in it depends on what is installed here, unlike `/v1/verifiers`).
PUBLIC_ROUTES = frozenset({"/healthz", "/openapi.json", "/docs"})


def is_public(path: str) -> bool:
    return path in PUBLIC_ROUTES or path.startswith(DOCS_ASSETS + "/")


class LimitsMiddleware:
    """What is decided before a route runs, in this order, so that a client without the token, or one
    that never sends its body, costs no work slot:

    1. the bearer token, from the headers alone (401, and the connection is closed unread);
    2. the body, read whole within `read_timeout_s` (408) and `max_body_bytes` (413);
    3. for routes that do work, a slot among `max_concurrent` (429), held until the response is sent;
    4. while a route works, the client is watched: when it disconnects, the route is cancelled, and with
       it the request's samples not yet handed to a worker.
    """

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app = app
        self.state = state
        token = state.settings.token
        self.token = token.encode() if token is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = self.state.settings
        path: str = scope["path"]
        if self.token is not None and not is_public(path) and not self._authorized(scope):
            await _send_error(
                send, 401, "missing or wrong bearer token", close=True, extra=[(b"www-authenticate", b"Bearer")]
            )
            return
        limit = settings.max_body_bytes
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = limit + 1
                if declared > limit:
                    await _send_error(send, 413, f"request body over {limit} bytes", close=True)
                    return
        work = path in WORK_ROUTES and scope.get("method") == "POST"
        if work and self.state.draining:
            await _send_error(send, 503, "the server is shutting down", retry_after=5, close=True)
            return
        body = await self._read_body(receive, send, limit, settings.read_timeout_s)
        if body is None:
            return
        if not work:
            await self.app(scope, _replay(body, receive), send)
            return
        if self.state.in_flight >= settings.max_concurrent:
            await _send_error(send, 429, "too many requests in flight; retry later", retry_after=1)
            return
        self.state.in_flight += 1
        try:
            await self._run_watched(scope, body, receive, send)
        finally:
            self.state.in_flight -= 1

    def _authorized(self, scope: Scope) -> bool:
        assert self.token is not None
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, given = bytes(value).partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self.token)
        return False

    async def _read_body(self, receive: Receive, send: Send, limit: int, timeout_s: float) -> bytes | None:
        """The whole body, or None once the client is answered (408, 413) or gone."""
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        await _send_error(send, 413, f"request body over {limit} bytes", close=True)
                        return None
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            await _send_error(send, 408, f"the request body did not arrive within {timeout_s:g}s", close=True)
            return None

    async def _run_watched(self, scope: Scope, body: bytes, receive: Receive, send: Send) -> None:
        """Run the route; cancel it if the client disconnects first (its queued samples are then dropped)."""
        route = asyncio.current_task()
        assert route is not None
        gone = asyncio.Event()
        answered = False

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            if not answered:  # after the answer, a disconnect is the end of the exchange, not a client leaving
                gone.set()
                route.cancel()

        async def receive_after_body() -> Message:
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send_watched(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                answered = True
            await send(message)

        watcher = asyncio.create_task(watch())
        try:
            await self.app(scope, _replay(body, receive_after_body), send_watched)
        except asyncio.CancelledError:
            if not gone.is_set():
                raise
            route.uncancel()  # the client left: nothing to answer, and nothing went wrong here
        finally:
            watcher.cancel()


def _replay(body: bytes, then: Receive) -> Receive:
    """A receive that hands the app the body already read, then defers to `then`."""
    pending = True

    async def receive() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await then()

    return receive


async def _send_error(
    send: Send,
    status: int,
    detail: str,
    retry_after: int | None = None,
    close: bool = False,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """An error answered by the ASGI layer; `close` for one sent before the body was read whole (the
    connection cannot carry another request)."""
    body = orjson.dumps({"detail": detail})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    if close:
        headers.append((b"connection", b"close"))
    headers.extend(extra or [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
