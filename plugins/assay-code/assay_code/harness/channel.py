"""Length-prefixed JSON frames over the socket between the candidate and the tests.

Each frame is a 4-byte big-endian length and that many bytes of JSON text. A frame over `MAX_FRAME`
bytes, a short read or bad JSON ends the conversation (`ChannelError`): the side that reads it treats
the other side as broken, it never guesses.

Runs inside the sandbox: standard library only.
"""

from __future__ import annotations

import json
import os
import select
from typing import Any

#: The largest frame either side accepts (a result of a few million list items fits).
MAX_FRAME = 64 << 20
_HEADER_SIZE = 4
_CHUNK = 1 << 16


def traceback_frames(tb: Any) -> list[tuple[str, int, str]]:
    """(file name, line, function) of each frame of a traceback, outermost first. Both roles use it
    instead of the `traceback` module, whose imports would cost every sandboxed run milliseconds."""
    frames = []
    while tb is not None:
        code = tb.tb_frame.f_code
        frames.append((code.co_filename, tb.tb_lineno, code.co_name))
        tb = tb.tb_next
    return frames


def frame(body: bytes) -> bytes:
    """`body` as one frame: its length (4 bytes, big-endian), then the bytes."""
    return len(body).to_bytes(_HEADER_SIZE, "big") + body


class ChannelError(Exception):
    """The other side closed the socket, or sent something that is not a frame."""


class ChannelClosed(ChannelError):
    """The other side closed the socket (it exited, or was killed)."""


class Channel:
    """One end of the conversation, over a connected socket's file descriptor."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = bytearray()

    def send(self, message: Any) -> None:
        self.send_raw(json.dumps(message, ensure_ascii=True, separators=(",", ":")).encode("ascii"))

    def send_raw(self, body: bytes) -> None:
        if len(body) > MAX_FRAME:
            raise ChannelError(f"message of {len(body)} bytes is over the {MAX_FRAME}-byte limit")
        view = memoryview(frame(body))
        while view:
            try:
                written = os.write(self.fd, view)
            except BrokenPipeError:
                raise ChannelClosed("the other side has gone") from None
            except OSError as exc:
                raise ChannelError(f"cannot send: {exc.strerror}") from None
            view = view[written:]

    def recv_raw(self) -> bytes:
        size = int.from_bytes(self._take(_HEADER_SIZE), "big")
        if size > MAX_FRAME:
            raise ChannelError(f"the other side announced a {size}-byte message (limit {MAX_FRAME})")
        return self._take(size)

    def readable(self, timeout_s: float) -> bool:
        """True when a message has started to arrive (or the other side hung up) within `timeout_s`."""
        if self._buffer:
            return True
        poller = select.poll()
        poller.register(self.fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        return bool(poller.poll(max(0, int(timeout_s * 1000))))

    def recv(self) -> Any:
        body = self.recv_raw()
        try:
            return json.loads(body)
        except (ValueError, RecursionError, MemoryError) as exc:
            raise ChannelError(f"not a JSON message: {type(exc).__name__}") from None

    def _take(self, size: int) -> bytes:
        while len(self._buffer) < size:
            try:
                chunk = os.read(self.fd, max(_CHUNK, size - len(self._buffer)))
            except ConnectionResetError:
                chunk = b""
            except OSError as exc:
                raise ChannelError(f"cannot read: {exc.strerror}") from None
            if not chunk:
                if self._buffer:
                    raise ChannelError("the other side stopped in the middle of a message")
                raise ChannelClosed("the other side has gone")
            self._buffer += chunk
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def close(self) -> None:
        try:  # noqa: SIM105 - contextlib is one more import for every sandboxed run
            os.close(self.fd)
        except OSError:
            pass
