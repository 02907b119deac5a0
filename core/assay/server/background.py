"""Run the server in a background thread of this process: for tests, notebooks and trainers that want a
verifier service next to them without a second command."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

from assay.server.app import create_app
from assay.server.connections import uvicorn_config
from assay.server.settings import ServerSettings


class BackgroundServer:
    """`with BackgroundServer(ServerSettings(...)) as url: ...` serves on a free loopback port.

    Leaving the block shuts down gracefully: requests in flight finish, then the workers stop.
    """

    def __init__(
        self, settings: ServerSettings | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        import uvicorn

        self.settings = settings or ServerSettings()
        self.app = create_app(self.settings)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        self.server = uvicorn.Server(uvicorn_config(self.app, self.settings, log_level="warning"))
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self._socket]}, name="assay-server", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 120.0) -> str:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the server stopped while starting (see the log above)")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the server did not start within {timeout:g}s")
            time.sleep(0.02)
        return self.url

    def stop(self, timeout: float | None = None) -> None:
        self.server.should_exit = True
        self._thread.join(timeout if timeout is not None else self.settings.shutdown_timeout_s + 30.0)
        self._socket.close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
