"""Messages between the engine and a local worker over a socket pair, framed and pickled.

The engine's end never blocks: a message that does not fit in the socket's buffer waits in the end's own
buffer and is written as the worker reads (`flush` when the socket is writable), and reading takes what
has arrived, whole messages only. So a worker that hangs inside C code, stops reading or closes its end
can never stop the engine from enforcing deadlines. The worker's end blocks, as a worker should.
"""

from __future__ import annotations

import pickle
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

_HEADER = 8  # bytes of little-endian length before each pickled message
_READ_CHUNK = 1 << 18


def channel_pair() -> tuple[EngineEnd, WorkerEnd]:
    engine_sock, worker_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    return EngineEnd(engine_sock), WorkerEnd(worker_sock)


def _frame(message: Any) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return len(body).to_bytes(_HEADER, "little") + body


class EngineEnd:
    """The engine's end: buffered, non-blocking. `closed` once the worker's end is gone."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._out: deque[memoryview] = deque()
        self._in = bytearray()
        self.closed = False
        #: When the socket last took bytes of a message: a worker that reads is not stalled.
        self.accepted_at = time.monotonic()

    def fileno(self) -> int:
        return self._sock.fileno()

    @property
    def unsent(self) -> bool:
        """True while some message is not yet wholly in the socket."""
        return bool(self._out)

    def send(self, message: Any) -> None:
        """Queue a message and write what the socket takes now; never blocks, never raises."""
        if self.closed:
            return
        self._out.append(memoryview(_frame(message)))
        self.flush()

    def flush(self) -> None:
        while self._out and not self.closed:
            head = self._out[0]
            try:
                written = self._sock.send(head)
            except BlockingIOError:
                return
            except OSError:  # the worker closed its end (or died)
                self._close_quietly()
                return
            if written:
                self.accepted_at = time.monotonic()
            if written == len(head):
                self._out.popleft()
            else:
                self._out[0] = head[written:]

    def receive(self) -> list[Any]:
        """Every whole message that has arrived; never blocks."""
        while not self.closed:
            try:
                chunk = self._sock.recv(_READ_CHUNK)
            except BlockingIOError:
                break
            except OSError:
                self._close_quietly()
                break
            if not chunk:
                self._close_quietly()
                break
            self._in += chunk
            if len(chunk) < _READ_CHUNK:
                break
        messages = []
        view = memoryview(self._in)
        start = 0
        while len(view) - start >= _HEADER:
            size = int.from_bytes(view[start : start + _HEADER], "little")
            end = start + _HEADER + size
            if end > len(view):
                break
            messages.append(pickle.loads(view[start + _HEADER : end]))
            start = end
        view.release()
        if start:
            del self._in[:start]
        return messages

    def _close_quietly(self) -> None:
        self.closed = True
        self._out.clear()

    def close(self) -> None:
        self._close_quietly()
        self._sock.close()


class WorkerEnd:
    """The worker's end: blocking; `send` may be called from several threads."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._lock = threading.Lock()

    def __getstate__(self) -> socket.socket:  # for the spawn start method: the lock is made afresh
        return self._sock

    def __setstate__(self, sock: socket.socket) -> None:
        self.__init__(sock)  # type: ignore[misc]

    def recv(self, on_arrival: Callable[[], None] | None = None) -> Any:
        """The next message; EOFError when the engine's end is gone. `on_arrival` is called once the
        message has begun to arrive, before the (possibly large) rest of it is read and unpickled."""
        size = int.from_bytes(self._read_exactly(_HEADER), "little")
        if on_arrival is not None:
            on_arrival()
        return pickle.loads(self._read_exactly(size))

    def _read_exactly(self, size: int) -> bytearray:
        data = bytearray(size)
        view = memoryview(data)
        got = 0
        while got < size:
            n = self._sock.recv_into(view[got:])
            if n == 0:
                raise EOFError("the engine closed the channel")
            got += n
        return data

    def send(self, message: Any) -> None:
        frame = _frame(message)
        with self._lock:
            self._sock.sendall(frame)

    def close(self) -> None:
        self._sock.close()
