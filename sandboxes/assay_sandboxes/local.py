"""`local`: the embedded sandbox. No daemon: a pre-warmed fork-server per worker, one forked child per run.

Layers (each reported on or off, with the reason, by `describe()` and in every `ExecResult.isolation`):

- `network`: the server leaves the host's network namespace; runs share an empty one (loopback down).
- `user`: runs drop to an unprivileged uid of their own (one per server, leased machine-wide), so that
  `RLIMIT_NPROC` is enforced and every process of a run can be found and killed by its uid.
- `rlimits`: address space, CPU seconds, file size, open files, processes; no core dumps.
- `disk_quota`: the work dir is a size-capped tmpfs in the server's private mount namespace.
- `landlock`: reads only beneath the system's read-only folders, writes only in the work dir, no TCP,
  signals and abstract Unix sockets scoped to the run.
- `seccomp`: ptrace, mount, kexec, modules, keyrings, BPF, io_uring, namespaces and every socket family
  but AF_UNIX are denied, and so are connect() and datagram Unix sockets (no Unix socket of the host can
  be reached by its name); syscalls of another ABI kill the process.

`network`, `user` and `disk_quota` need root; `landlock` needs Linux >= 5.13 with the LSM on; `seccomp`
needs libseccomp (Debian's libseccomp2) for `pyseccomp`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from assay.sandbox import WALL_TIME_STRETCH, Limits
from assay_sandboxes.base import ForkServerSandbox, ServerHandle, kernel_layers, protections
from assay_sandboxes.client import DEFAULT_PRELOAD, FORKSERVER_PATH, ForkServerConnection, SandboxUnavailable
from assay_sandboxes.seccomp import SeccompUnavailable, compile_filter

#: Read-only (and executable) for every run; paths this machine lacks are skipped.
DEFAULT_READ_PATHS = (
    "/usr",
    "/lib",
    "/lib64",
    "/lib32",
    "/libx32",
    "/bin",
    "/sbin",
    "/opt",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/alternatives",
    # OpenSSL's configuration, read when a program linked with it starts (node fails without it).
    "/etc/ssl/openssl.cnf",
    "/dev/zero",
    "/dev/urandom",
    "/dev/random",
)
#: Readable and writable besides the work dir.
DEFAULT_WRITE_PATHS = ("/dev/null",)
#: The first uid leased to servers (`ASSAY_SANDBOX_UID_BASE`); far above any real account.
DEFAULT_UID_BASE = 1_900_000_000
UID_SLOTS = 4096


def default_interpreter() -> str:
    """Debian's `/usr/bin/python3` where there is one: it starts in ~10 ms with `-I -S` and any user may
    read its standard library (a pyenv build under /root is unreadable once a run drops its uid)."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(candidate, os.X_OK):
            return candidate
    return sys.executable


class UidLease:
    """An unprivileged uid held by this process alone: a lock file per uid, flock'ed while held."""

    def __init__(self) -> None:
        self.base = int(os.environ.get("ASSAY_SANDBOX_UID_BASE", DEFAULT_UID_BASE))
        self.folder = Path(tempfile.gettempdir()) / "assay-sandbox-uids"
        self.folder.mkdir(mode=0o700, exist_ok=True)
        for slot in range(UID_SLOTS):
            fd = os.open(self.folder / f"{self.base + slot}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.fd = fd
            self.uid = self.base + slot
            return
        raise SandboxUnavailable(f"all {UID_SLOTS} sandbox uids from {self.base} are in use")

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class _Server(ServerHandle):
    """A fork-server child process of ours, with its uid and its work dir."""

    def __init__(self, sandbox: LocalSandbox, role: str) -> None:
        privileged = os.geteuid() == 0 and sandbox.drop_privileges
        self.lease = UidLease() if privileged else None
        uid = self.lease.uid if self.lease else None
        self.root = Path(tempfile.mkdtemp(prefix=f"assay-sandbox-{role}-"))
        self.root.chmod(0o711)  # the run's uid must be able to pass through to its work dir
        work_dir = self.root / "work"
        self.log_path = self.root / "server.log"
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with open(self.log_path, "wb") as log:
                self.process = subprocess.Popen(
                    [sandbox.interpreter, "-I", "-S", "-B", str(FORKSERVER_PATH), str(child_end.fileno())],
                    pass_fds=[child_end.fileno()],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    # Nothing of the caller's environment (API keys, tokens) reaches the server's memory.
                    env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                    start_new_session=True,
                    cwd="/",
                )
        except OSError as exc:  # no such interpreter: nothing of this server may be left behind
            parent_end.close()
            if self.lease is not None:
                self.lease.release()
            shutil.rmtree(self.root, ignore_errors=True)
            raise SandboxUnavailable(f"cannot start the local fork-server with {sandbox.interpreter}: {exc}") from exc
        finally:
            child_end.close()
        self.pid = self.process.pid
        self.connection = ForkServerConnection(parent_end)
        config: dict[str, Any] = {
            "work_dir": str(work_dir),
            "remove_on_exit": str(self.root),
            "uid": uid,
            "gid": uid,
            "uid_reason": None
            if privileged
            else (
                "dropping privileges was turned off"
                if not sandbox.drop_privileges
                else "dropping to another uid needs root"
            ),
            "read_paths": sandbox.read_paths,
            "rw_paths": list(DEFAULT_WRITE_PATHS),
            "disk_mb": sandbox.limits.disk_mb,
            **sandbox._preload_config(),
            "wall_time_stretch": WALL_TIME_STRETCH,
        }
        try:
            config["seccomp_bpf"] = compile_filter(network=False)
            config["seccomp_bpf_network"] = compile_filter(network=True)
        except SeccompUnavailable as exc:
            config["seccomp_reason"] = str(exc)
        try:
            self.hello = self.connection.start(config)
        except (EOFError, OSError, SandboxUnavailable) as exc:
            self.close()
            raise SandboxUnavailable(f"the local fork-server did not start: {exc}\n{self.log()}") from exc

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.lease is not None:
            self.lease.release()
        shutil.rmtree(self.root, ignore_errors=True)


class LocalSandbox(ForkServerSandbox):
    """Runs untrusted programs on this machine, isolated by a fork-server (see the module docs).

    One instance serves one worker: calls are serialised. `run` execs a command; `run_python` runs
    Python source in the warm interpreter without exec (the fast path); `run_python_pair` runs a
    candidate and its tester connected by a socket.
    """

    name: ClassVar[str] = "local"

    def __init__(
        self,
        *,
        limits: Limits | None = None,
        interpreter: str | None = None,
        read_paths: Sequence[str] = (),
        drop_privileges: bool = True,
        preload: Sequence[str] = DEFAULT_PRELOAD,
        preload_sources: Mapping[str, str] | None = None,
    ) -> None:
        """
        :param limits: the default limits of a run (each call may pass its own).
        :param interpreter: the Python that runs the fork-server and every Python run (default: Debian's).
        :param read_paths: more folders or files runs may read and execute (a toolchain under /opt, ...).
        :param drop_privileges: run as a leased unprivileged uid (needs root); turn off only to reach a
            program that only root can read, and see `user` reported off.
        :param preload: modules the warm interpreter imports once.
        :param preload_sources: modules given as source (name -> source, in order; an empty source makes
            an empty package) that the warm interpreter runs once and keeps in `sys.modules`, so that every
            run finds them imported: a harness that every run needs, paid for once instead of per run.
        """
        super().__init__(limits, preload, preload_sources)
        self.interpreter = interpreter or default_interpreter()
        prefix = str(Path(self.interpreter).resolve().parent.parent)
        self.read_paths = [*DEFAULT_READ_PATHS, prefix, *read_paths]
        self.drop_privileges = drop_privileges

    def isolation(self) -> dict[str, Any]:
        with self._lock:
            server = self._server("candidate", self.limits)
        assert isinstance(server, _Server)
        return {
            "layers": dict(server.hello["layers"]),
            "off": dict(server.hello["reasons"]),
            "protections": protections(server.hello["layers"]),
            "python": server.hello["python"],
            "interpreter": self.interpreter,
            "uid": server.lease.uid if server.lease else None,
        }

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """Which layers this machine gives, without starting anything (what `assay plugins` prints)."""
        layers: dict[str, bool] = {}
        off: dict[str, str] = {}
        root = os.geteuid() == 0
        for layer in ("network", "user", "disk_quota"):
            layers[layer] = root
            if not root:
                off[layer] = "needs root"
        layers["rlimits"] = True
        abi = kernel_layers(layers, off)
        return {
            "layers": layers,
            "off": off,
            "protections": protections(layers),
            "landlock_abi": abi,
            "interpreter": default_interpreter(),
            "fast_path": "run_python, run_python_pair",
        }

    def _start_server(self, role: str, limits: Limits) -> ServerHandle:
        return _Server(self, role)
