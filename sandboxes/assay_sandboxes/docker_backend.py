"""`docker`: a warm container per worker (and role), with the same fork-server inside it.

A fresh container per sample costs ~250 ms and `exec_run` ~70 ms; so each worker starts one long-lived
container whose main process (PID 1) is the fork-server, and talks to it over a Unix socket in a folder
shared with the container. Every run is then a fork inside the container, isolated twice: by the
container (no network, read-only root, a size-capped tmpfs work dir, all capabilities dropped,
no-new-privileges, an unprivileged user of its own, memory and pids caps) and by the fork-server's own
layers inside it (rlimits, Landlock, seccomp; kill of every process a run leaves).

Images come from the offline recipes in `images/` (`assay sandbox build`); the default `host` image is
built on first use when missing (it takes ~0.1 s: an empty root with this machine's /usr bind-mounted).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from assay.sandbox import WALL_TIME_STRETCH, Limits
from assay_sandboxes.base import ForkServerSandbox, ServerHandle, kernel_layers, protections
from assay_sandboxes.client import DEFAULT_PRELOAD, FORKSERVER_PATH, ForkServerConnection, SandboxUnavailable
from assay_sandboxes.images import DEFAULT_RECIPE, RECIPES, build_image, image_labels
from assay_sandboxes.local import DEFAULT_READ_PATHS, DEFAULT_WRITE_PATHS, UidLease
from assay_sandboxes.seccomp import SeccompUnavailable, compile_filter

CONTAINER_WORK_DIR = "/work"
CONTAINER_SOCKET_DIR = "/run/assay"
CONTAINER_FORKSERVER = "/opt/assay/forkserver.py"
#: Memory the container holds besides a run's own (the server, page cache of the tmpfs is counted apart).
SERVER_MEMORY_MB = 128
START_TIMEOUT_S = 30.0


def _docker_module() -> Any:
    try:
        import docker  # type: ignore[import-untyped]
    except ImportError as exc:
        raise SandboxUnavailable(
            "the docker backend needs the Docker SDK: pip install 'assay-sandboxes[docker]'"
        ) from exc
    return docker


def docker_client(base_url: str | None = None) -> Any:
    """A client for `base_url`, else `$DOCKER_HOST`, else the default socket; raises when none answers."""
    docker = _docker_module()
    try:
        client = docker.DockerClient(base_url=base_url) if base_url else docker.from_env()
        client.ping()
    except Exception as exc:
        where = base_url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        raise SandboxUnavailable(
            f"no Docker daemon answers at {where} ({type(exc).__name__}: {exc}); start one or set DOCKER_HOST"
        ) from exc
    return client


class _Container(ServerHandle):
    """One warm container whose PID 1 is a fork-server."""

    def __init__(self, sandbox: DockerSandbox, role: str, limits: Limits) -> None:
        self.capacity = limits
        self.broken = False
        self.lease = UidLease()
        uid = self.lease.uid
        self.socket_dir = Path(tempfile.mkdtemp(prefix=f"assay-docker-{role}-"))
        if os.geteuid() == 0:
            os.chown(self.socket_dir, uid, uid)
        else:
            self.socket_dir.chmod(0o777)
        self.container: Any = None
        try:
            self._start(sandbox, role, limits, uid)
        except BaseException:
            self.close()
            raise

    def _start(self, sandbox: DockerSandbox, role: str, limits: Limits, uid: int) -> None:
        labels = sandbox.image_labels()
        python = labels.get("assay.sandbox.python") or "/usr/bin/python3"
        volumes: dict[str, dict[str, str]] = {
            str(FORKSERVER_PATH): {"bind": CONTAINER_FORKSERVER, "mode": "ro"},
            str(self.socket_dir): {"bind": CONTAINER_SOCKET_DIR, "mode": "rw"},
        }
        for folder in filter(None, labels.get("assay.sandbox.bind", "").split(",")):
            volumes[folder] = {"bind": folder, "mode": "ro"}
        memory_mb = limits.memory_mb + limits.disk_mb + SERVER_MEMORY_MB
        self.container = sandbox.client().containers.run(
            sandbox.image,
            command=[
                python,
                "-I",
                "-S",
                "-B",
                CONTAINER_FORKSERVER,
                f"unix:{CONTAINER_SOCKET_DIR}/control.sock",
            ],
            detach=True,
            network_mode="none",
            user=f"{uid}:{uid}",
            read_only=True,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            mem_limit=f"{memory_mb}m",
            memswap_limit=f"{memory_mb}m",
            pids_limit=limits.processes + 4,
            tmpfs={
                # `exec`: a compiled program runs from the work dir, as it does in `local` (docker mounts a tmpfs
                # noexec unless told).
                CONTAINER_WORK_DIR: f"rw,exec,nosuid,nodev,size={limits.disk_mb}m,mode=0700,uid={uid},gid={uid}",
                "/tmp": "rw,nosuid,nodev,size=1m,mode=1777",
            },
            volumes=volumes,
            environment={"LANG": "C.UTF-8", "PATH": "/usr/local/bin:/usr/bin:/bin"},
            labels={"assay.sandbox": "docker", "assay.sandbox.role": role},
            # The server exits when its caller goes away (its socket closes); the container goes with it.
            auto_remove=True,
            working_dir="/",
        )
        path = self.socket_dir / "control.sock"
        deadline = time.monotonic() + START_TIMEOUT_S
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        while True:
            try:
                sock.connect(str(path))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.container.reload()
                if self.container.status not in ("created", "running") or time.monotonic() > deadline:
                    sock.close()
                    logs = self.container.logs().decode(errors="replace")[-4000:]
                    raise SandboxUnavailable(
                        f"the fork-server in container {self.container.short_id} did not start "
                        f"(status {self.container.status}):\n{logs}"
                    ) from None
                time.sleep(0.02)
        self.connection = ForkServerConnection(sock)
        self.container.reload()
        self.pid = int(self.container.attrs["State"]["Pid"]) or None
        config: dict[str, Any] = {
            "container": True,
            "work_dir": CONTAINER_WORK_DIR,
            "uid": None,
            "read_paths": sandbox.read_paths,
            "rw_paths": list(DEFAULT_WRITE_PATHS),
            **sandbox._preload_config(),
            "wall_time_stretch": WALL_TIME_STRETCH,
            # The server itself and the helper that kills leftovers share the run's uid.
            "extra_processes": 2,
        }
        try:
            config["seccomp_bpf"] = compile_filter(network=False)
            config["seccomp_bpf_network"] = compile_filter(network=True)
        except SeccompUnavailable as exc:
            config["seccomp_reason"] = str(exc)
        self.hello = self.connection.start(config)

    def alive(self) -> bool:
        return not self.broken and self.container is not None

    def log(self) -> str:
        with contextlib.suppress(Exception):
            return str(self.container.logs().decode(errors="replace")[-4000:])
        return ""

    def close(self) -> None:
        self.broken = True
        connection = getattr(self, "connection", None)
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.close()
        if self.container is not None:
            with contextlib.suppress(Exception):
                self.container.remove(force=True)
            self.container = None
        self.lease.release()
        shutil.rmtree(self.socket_dir, ignore_errors=True)


class DockerSandbox(ForkServerSandbox):
    """Runs untrusted programs in a warm Docker container per worker (see the module docs)."""

    name: ClassVar[str] = "docker"

    def __init__(
        self,
        *,
        limits: Limits | None = None,
        image: str | None = None,
        docker_host: str | None = None,
        read_paths: Sequence[str] = (),
        preload: Sequence[str] = DEFAULT_PRELOAD,
        preload_sources: Mapping[str, str] | None = None,
    ) -> None:
        """
        :param limits: the default limits of a run; a run asking for more memory, processes or disk than
            the container was started with gets a new container.
        :param image: an image from `assay sandbox build` (default `assay-sandbox:host`, built when missing).
        :param docker_host: the daemon (default `$DOCKER_HOST`, else the local socket).
        :param read_paths: more folders or files runs may read and execute inside the container.
        :param preload: modules the warm interpreter imports once.
        :param preload_sources: modules given as source (name -> source, in order; an empty source makes
            an empty package) that the warm interpreter runs once and keeps in `sys.modules`, so that every
            run finds them imported: a harness that every run needs, paid for once instead of per run.
        """
        super().__init__(limits, preload, preload_sources)
        self.image = image or RECIPES[DEFAULT_RECIPE].tag
        self.docker_host = docker_host
        self.read_paths = [*DEFAULT_READ_PATHS, *read_paths]
        self._client: Any = None
        self._labels: dict[str, str] | None = None

    def client(self) -> Any:
        if self._client is None:
            self._client = docker_client(self.docker_host)
        return self._client

    def image_labels(self) -> dict[str, str]:
        if self._labels is None:
            labels = image_labels(self.client(), self.image)
            if labels is None:
                if self.image != RECIPES[DEFAULT_RECIPE].tag:
                    raise SandboxUnavailable(
                        f"no image {self.image!r} in the Docker daemon: build it with `assay sandbox build`"
                    )
                build_image(self.client(), DEFAULT_RECIPE)
                labels = image_labels(self.client(), self.image) or {}
            self._labels = labels
        return self._labels

    def _start_server(self, role: str, limits: Limits) -> ServerHandle:
        # Size the container for the larger of the defaults and this run, so that it is seldom replaced.
        capacity = Limits(
            **{
                **self.limits.model_dump(),
                "memory_mb": max(self.limits.memory_mb, limits.memory_mb),
                "processes": max(self.limits.processes, limits.processes),
                "disk_mb": max(self.limits.disk_mb, limits.disk_mb),
            }
        )
        try:
            return _Container(self, role, capacity)
        except SandboxUnavailable:
            raise
        except Exception as exc:
            raise SandboxUnavailable(f"cannot start a sandbox container: {type(exc).__name__}: {exc}") from exc

    def _fits(self, server: ServerHandle, limits: Limits) -> bool:
        capacity = server.capacity
        return capacity is None or (
            limits.memory_mb <= capacity.memory_mb
            and limits.processes <= capacity.processes
            and limits.disk_mb <= capacity.disk_mb
        )

    def _refusal(self, limits: Limits) -> str | None:
        if limits.network:
            return "the docker backend never grants network (its containers have none): use `local`"
        return None

    def isolation(self) -> dict[str, Any]:
        with self._lock:
            hello = self._server("candidate", self.limits).hello
        return {
            "layers": dict(hello["layers"]),
            "off": dict(hello["reasons"]),
            "protections": protections(hello["layers"]),
            "python": hello["python"],
            "image": self.image,
        }

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """What this backend would give here, without asking the daemon (`assay plugins` calls it)."""
        layers: dict[str, bool] = {}
        off: dict[str, str] = {}
        sdk = importlib.util.find_spec("docker") is not None
        host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        reachable = (host.startswith("unix://") and Path(host[len("unix://") :]).is_socket()) or (
            not host.startswith("unix://")
        )
        layers["container"] = sdk and reachable
        if not sdk:
            off["container"] = "the Docker SDK is not installed: pip install 'assay-sandboxes[docker]'"
        elif not reachable:
            off["container"] = f"no Docker daemon socket at {host} (start dockerd or set DOCKER_HOST)"
        for layer in ("network", "user", "disk_quota", "rlimits"):
            layers[layer] = layers["container"]
            if not layers[layer]:
                off[layer] = "needs the container: " + off["container"]
        kernel_layers(layers, off)
        return {
            "layers": layers,
            "off": off,
            "protections": protections(layers),
            "docker_host": host,
            "image": RECIPES[DEFAULT_RECIPE].tag,
            "fast_path": "run_python, run_python_pair",
        }
