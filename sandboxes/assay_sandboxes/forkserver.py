"""The fork-server: a pre-warmed interpreter that forks one isolated child per run.

It runs as its own interpreter (`python3 -I -S -B forkserver.py FD`, standard library only, never importing
assay) so that nothing of the calling process (its memory, its environment, its open files) is inherited
by a run. The caller speaks to it over the Unix socket FD: every message is a 4-byte big-endian length and
a `marshal` dump of plain data (marshal, not pickle: it costs the server no module, and every KiB the
server holds is copied at each fork), with file descriptors alongside (SCM_RIGHTS).

The server never holds what a run is made of or what it prints, because every child forked later would
inherit a copy of it. A run request carries only what supervision needs (limits, the names of files to
collect, which descriptors come with it); the program, its files, argv and environment come in a memfd,
and stdin in another, that the server hands on unread and only the run's own child reads, after the
fork. The run's stdout, stderr and set-up message are read into a mapping that no child gets
(MADV_DONTFORK) and sent from there; collected files go from the work dir to the caller's socket by
`sendfile`, without passing through this process.

Start-up (once): become a child subreaper (orphans of a run come back here and are reaped here, not by a
slow PID 1), leave the host's network namespace (the runs share an empty one: not even loopback is up),
enter a private mount namespace and mount a size-capped tmpfs on the work dir, build the Landlock
rulesets, import the modules runs commonly need. Each run: fork; the child starts its own session, gets
pipes for stdout/stderr, drops to the worker's unprivileged uid, sets rlimits, restricts itself with
Landlock, installs the seccomp filter, reads its request, and then either execs the command or, in Python
mode, runs the source in this already-warm interpreter (no exec: that is the fast path). The server
enforces the wall clock and the output cap, kills every process the run left behind, reaps them,
collects files, and empties the work dir.

A layer that cannot be set up on this machine is reported as off, with its reason, in the hello message
and in every reply; it is never skipped silently.
"""

# ruff: noqa: SIM105 - try/except/pass on purpose: the hot path imports and calls as little as it can

from __future__ import annotations

import ctypes
import fcntl
import gc
import io
import marshal
import math
import mmap
import os
import resource
import select
import signal
import socket
import stat
import struct
import sys
import time
import types
from typing import Any

# -- the kernel interfaces Python's os module lacks --------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_SECCOMP = 22
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_MODE_FILTER = 2
CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_REMOUNT = 0x20
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MNT_DETACH = 2

# Landlock (the syscall numbers are the same on every architecture: they came after the tables were unified).
SYS_LANDLOCK_CREATE_RULESET = 444
SYS_LANDLOCK_ADD_RULE = 445
SYS_LANDLOCK_RESTRICT_SELF = 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_TRUNCATE = 1 << 14
FS_IOCTL_DEV = 1 << 15
NET_BIND_TCP = 1 << 0
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
SCOPE_SIGNAL = 1 << 1
#: File rights a rule may grant on a single file (not a directory).
FS_FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV

#: Exit status of a child whose sandbox set-up failed (the reason goes through the status pipe).
SETUP_FAILED = 125
PEER_FD = 3
DRAIN_S = 0.5
READ_CHUNK = 1 << 16
#: The set-up failure message a child may report is cut there.
STATUS_CAP = 4096
#: An output buffer's pages are handed back after a run that used more than this of them.
RELEASE_ABOVE = 1 << 20


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def prctl(option: int, arg: int = 0) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), f"prctl({option})")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(fd, nstype), "setns")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    def enc(value: str | None) -> bytes | None:
        return None if value is None else value.encode()

    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), "mount")


def landlock_abi() -> int:
    result = _libc.syscall(SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), LANDLOCK_CREATE_RULESET_VERSION)
    return int(result) if result > 0 else 0


def landlock_ruleset(abi: int, read_paths: list[str], rw_paths: list[str], deny_tcp: bool) -> int:
    """A ruleset fd: read (and execute) beneath `read_paths`, everything beneath `rw_paths`, nothing else;
    with `deny_tcp`, no TCP bind or connect at all; signals and abstract Unix sockets scoped to the run."""
    fs_all = (1 << 13) - 1  # ABI 1: execute .. make_sym
    if abi >= 2:
        fs_all |= 1 << 13  # refer
    if abi >= 3:
        fs_all |= FS_TRUNCATE
    if abi >= 5:
        fs_all |= FS_IOCTL_DEV
    net = (NET_BIND_TCP | NET_CONNECT_TCP) if (abi >= 4 and deny_tcp) else 0
    scoped = (SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if abi >= 6 else 0
    if abi >= 6:
        attr = struct.pack("=QQQ", fs_all, net, scoped)
    elif abi >= 4:
        attr = struct.pack("=QQ", fs_all, net)
    else:
        attr = struct.pack("=Q", fs_all)
    buffer = ctypes.create_string_buffer(attr, len(attr))
    ruleset = _check(
        _libc.syscall(SYS_LANDLOCK_CREATE_RULESET, buffer, ctypes.c_size_t(len(attr)), 0),
        "landlock_create_ruleset",
    )
    read_rights = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
    for paths, rights in ((read_paths, read_rights), (rw_paths, fs_all)):
        for path in paths:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # a path this machine lacks grants nothing
            try:
                allowed = rights
                if not stat.S_ISDIR(os.fstat(fd).st_mode):
                    allowed &= FS_FILE_RIGHTS
                rule = ctypes.create_string_buffer(struct.pack("=Qi", allowed, fd), 12)
                _check(_libc.syscall(SYS_LANDLOCK_ADD_RULE, ruleset, LANDLOCK_RULE_PATH_BENEATH, rule, 0), path)
            finally:
                os.close(fd)
    return int(ruleset)


def landlock_restrict(ruleset: int) -> None:
    _check(_libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0), "landlock_restrict_self")


class SeccompProgram:
    """A BPF program ready to install: built once in the server, so that a child only makes the call."""

    def __init__(self, bpf: bytes) -> None:
        self.buffer = ctypes.create_string_buffer(bpf, len(bpf))
        self.prog = _SockFprog(len(bpf) // 8, ctypes.addressof(self.buffer))
        self.pointer = ctypes.byref(self.prog)

    def install(self) -> None:
        _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, self.pointer, 0, 0), "seccomp")


# -- messages ----------------------------------------------------------------------------------------------


def send_message(sock: socket.socket, obj: Any, fds: list[int] | None = None) -> None:
    data = marshal.dumps(obj)
    frame = struct.pack(">I", len(data)) + data
    if fds:  # they arrive with the frame's first bytes read
        sent = socket.send_fds(sock, [frame], fds)
        if sent < len(frame):
            sock.sendall(frame[sent:])
    else:
        sock.sendall(frame)


def recv_exact(sock: socket.socket, size: int) -> bytes:
    buffer = bytearray(size)
    view = memoryview(buffer)
    while view:
        count = sock.recv_into(view, min(len(view), 1 << 20))
        if not count:
            raise EOFError("control socket closed")
        view = view[count:]
    return bytes(buffer)


def recv_message(sock: socket.socket) -> tuple[Any, list[int]]:
    head, fds, _flags, _addr = socket.recv_fds(sock, 4, 4)
    if not head:
        raise EOFError("control socket closed")
    if len(head) < 4:
        head += recv_exact(sock, 4 - len(head))
    (size,) = struct.unpack(">I", head)
    return marshal.loads(recv_exact(sock, size)), list(fds)


def send_reply(
    sock: socket.socket, header: dict[str, Any], sections: list[memoryview], files: list[tuple[str, int, int]]
) -> None:
    """A run's reply: its header message, then the bytes of each section and of each file (name, fd, size)
    in turn, as the header's sizes say. Files go by `sendfile`: from the file to the socket, in the kernel."""
    data = marshal.dumps(header)
    buffers = [memoryview(struct.pack(">I", len(data)) + data), *sections]
    while buffers:
        sent = sock.sendmsg(buffers)
        while buffers and sent >= len(buffers[0]):
            sent -= len(buffers.pop(0))
        if sent:
            buffers[0] = buffers[0][sent:]
    for _name, fd, size in files:
        offset = 0
        while offset < size:
            count = os.sendfile(sock.fileno(), fd, offset, size - offset)
            if not count:
                break
            offset += count
        if offset < size:  # it shrank: the frame still has the length the header gave
            sock.sendall(bytes(size - offset))


# -- the server --------------------------------------------------------------------------------------------


class Server:
    def __init__(self, control: socket.socket, config: dict[str, Any]) -> None:
        self.control = control
        self.config = config
        self.work_dir: str = config["work_dir"]
        self.uid: int | None = config.get("uid")
        self.gid: int | None = config.get("gid", self.uid)
        self.layers: dict[str, bool] = {}
        self.reasons: dict[str, str] = {}
        self.host_netns: int | None = None
        self.rulesets: dict[bool, int] = {}  # network allowed -> ruleset fd
        self.seccomp: dict[bool, SeccompProgram] = {}
        self.tmpfs_options = ""
        self.current_disk_mb: int | None = None
        self.landlock_abi = 0
        self.stopping = False
        self.spare: Spare | None = None
        self.devnull = -1  # a run's stdin when it has none
        self.output = OutputBuffer()

    def _layer(self, name: str, on: bool, reason: str | None = None) -> None:
        self.layers[name] = on
        if not on and reason:
            self.reasons[name] = reason

    def set_up(self) -> None:
        config = self.config
        privileged = os.geteuid() == 0
        try:
            prctl(PR_SET_CHILD_SUBREAPER, 1)
        except OSError as exc:
            self.reasons["reaper"] = str(exc)
        # Same-uid processes (a run inside a container shares the server's uid) must not ptrace this one
        # or read its memory through /proc.
        prctl(PR_SET_DUMPABLE, 0)

        if config.get("container"):
            self._layer("container", True)
            self._layer("network", True)
        elif privileged:
            try:
                self.host_netns = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
                unshare(CLONE_NEWNET)
                self._layer("network", True)
            except OSError as exc:
                self._layer("network", False, f"cannot leave the host network namespace: {exc}")
        else:
            self._layer("network", False, "a network namespace needs root (run as root, or use the docker backend)")

        os.makedirs(self.work_dir, mode=0o700, exist_ok=True)
        quota_mb = config.get("disk_mb")
        if config.get("container"):
            self._layer("disk_quota", True)
        elif privileged and quota_mb:
            try:
                unshare(CLONE_NEWNS)
                mount(None, "/", None, MS_REC | MS_PRIVATE, None)
                owner = f",uid={self.uid},gid={self.gid}" if self.uid is not None else ""
                self.tmpfs_options = f"nr_inodes={config.get('disk_inodes', 4096)},mode=0700{owner}"
                mount(
                    "tmpfs",
                    self.work_dir,
                    "tmpfs",
                    MS_NOSUID | MS_NODEV,
                    f"size={quota_mb}m,{self.tmpfs_options}",
                )
                self.current_disk_mb = quota_mb
                self._layer("disk_quota", True)
            except OSError as exc:
                self._layer("disk_quota", False, f"cannot mount a size-capped tmpfs on the work dir: {exc}")
        else:
            self._layer("disk_quota", False, "a size-capped work dir needs root (or the docker backend's tmpfs)")
        if self.uid is not None:
            os.chown(self.work_dir, self.uid, self.gid if self.gid is not None else self.uid)
        os.chmod(self.work_dir, 0o700)

        if self.uid is not None and privileged:
            self._layer("user", True)
        elif config.get("container"):
            self._layer("user", True)  # the container's own unprivileged user, cap_drop ALL
        else:
            self._layer("user", False, config.get("uid_reason") or "dropping to another uid needs root")
        self._layer("rlimits", True)

        abi = landlock_abi()
        if abi <= 0:
            self._layer("landlock", False, "the kernel has no Landlock (Linux >= 5.13 with the LSM enabled)")
        else:
            try:
                read_paths = list(config.get("read_paths", []))
                rw_paths = [self.work_dir, *config.get("rw_paths", [])]
                for network in (False, True):
                    ruleset = landlock_ruleset(abi, read_paths, rw_paths, deny_tcp=not network)
                    self.rulesets[network] = fcntl_dupfd_high(ruleset)
                self._layer("landlock", True)
                if abi < 6:
                    self.reasons["landlock_scope"] = f"Landlock ABI {abi} < 6: signals are not scoped to the run"
            except OSError as exc:
                self._layer("landlock", False, f"Landlock failed: {exc}")
        self.landlock_abi = abi

        bpf_off, bpf_on = config.get("seccomp_bpf"), config.get("seccomp_bpf_network")
        if bpf_off:
            self.seccomp = {False: SeccompProgram(bpf_off), True: SeccompProgram(bpf_on or bpf_off)}
            self._layer("seccomp", True)
        else:
            self._layer("seccomp", False, config.get("seccomp_reason") or "no seccomp filter was supplied")

        for module in config.get("preload", ()):
            try:
                __import__(module)
            except Exception:
                pass
        for name, source in config.get("preload_sources", ()):
            try:
                _load_module(name, source)
            except Exception as exc:  # unlike the names above, these were asked for: a failure is fatal
                raise RuntimeError(f"preloading module {name!r} failed: {type(exc).__name__}: {exc}") from exc
        sys.dont_write_bytecode = True
        # What every run's environment starts from; the server needs none of the caller's.
        os.environ.clear()
        os.environ.update(
            {
                "PATH": "/usr/local/bin:/usr/bin:/bin",
                "HOME": self.work_dir,
                "TMPDIR": self.work_dir,
                "LANG": "C.UTF-8",
                "PYTHONDONTWRITEBYTECODE": "1",
            }
        )
        self.devnull = fcntl_dupfd_high(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
        self.output.reset(1 << 20)
        if self.uid is not None and privileged:
            _kill_as(self.uid)  # a uid leased before may have been left processes by a server that died
        _warm_up()
        _libc.malloc_trim(0)  # hand freed heap back: what the server maps, every fork copies
        # Every object so far goes to the permanent generation: a run's garbage collections never walk
        # (and so never copy-on-write) the server's heap. That is most of what a fork costs here.
        gc.freeze()

    # -- one run -----------------------------------------------------------------------------------------

    def serve(self) -> None:
        send_message(
            self.control,
            {
                "op": "hello",
                "pid": os.getpid(),
                "layers": self.layers,
                "reasons": self.reasons,
                "python": sys.version.split()[0],
                "landlock_abi": self.landlock_abi,
            },
        )
        try:
            while True:
                self.prefork()
                try:
                    request, fds = recv_message(self.control)
                except (EOFError, ConnectionError):
                    return
                op = request.get("op")
                if op != "run":
                    for fd in fds:
                        _close(fd)
                    if op == "stop":
                        return
                    continue  # a cancel for a run that has already ended
                header, files = self.run(request, fds)
                try:
                    send_reply(self.control, header, self.output.sections(), files)
                except OSError:
                    return  # the caller is gone
                finally:
                    for _name, fd, _size in files:
                        _close(fd)
                    self.output.release()
                if self.stopping:
                    return
        finally:
            if self.spare is not None:
                self.spare.discard()
            self._kill_leftovers()

    def run(self, request: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[tuple[str, int, int]]]:
        """One run; returns the reply's header and the collected files (name, open fd, size). The run's
        descriptors (`fds`: its request, then stdin and the peer socket where `request` says so) are
        handed to its child and closed here: this process never reads them."""
        limits = request["limits"]
        network = bool(limits.get("network"))
        layers = dict(self.layers)
        if network:
            layers["network"] = False
        self.output.reset(int(limits["output_bytes"]))
        try:
            want = 1 + bool(request.get("stdin")) + bool(request.get("peer"))
            if len(fds) != want:
                return self._error(f"a run request needs {want} descriptor(s), got {len(fds)}", layers), []
            try:
                self._resize_disk(int(limits.get("disk_mb") or 0))
            except OSError as exc:
                return self._error(f"cannot resize the work dir: {exc}", layers), []
            spare = self.spare
            if not network and spare is not None:
                self.spare = None
                started = time.monotonic()
                if spare.dispatch(request, fds):
                    return self._supervise(
                        spare.pid,
                        started,
                        limits,
                        layers,
                        spare.out_r,
                        spare.err_r,
                        spare.status_r,
                        request,
                        spare.pidfd,
                    )
                spare.discard()
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            status_r, status_w = os.pipe()
            started = time.monotonic()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child never returns
                try:
                    _close(out_r), _close(err_r), _close(status_r)
                    self.control.close()
                    status_w, request_fd = self._prepare(network, out_w, err_w, status_w, request, fds)
                    self._finish(limits, request_fd, status_w, bool(request.get("peer")))
                except BaseException as exc:
                    _report_setup_failure(status_w, exc)
            for fd in (out_w, err_w, status_w):
                _close(fd)
            return self._supervise(pid, started, limits, layers, out_r, err_r, status_r, request, os.pidfd_open(pid))
        finally:
            for fd in fds:
                _close(fd)

    def _error(self, message: str, layers: dict[str, bool]) -> dict[str, Any]:
        return {"status": "sandbox_error", "message": message, "isolation": layers}

    def prefork(self) -> None:
        """Fork and set up the next run's child now, while the caller reads the last reply: the fork and
        every layer are then already in place when the next request comes (runs with network excepted)."""
        if self.spare is not None or not self.config.get("prefork", True):
            return
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        status_r, status_w = os.pipe()
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns
            try:
                _close(out_r), _close(err_r), _close(status_r)
                self.control.close()
                parent_end.close()
                link = fcntl_dupfd_high(child_end.detach(), 20)
                status_w, _ = self._prepare(False, out_w, err_w, status_w, None, [], keep=(link,))
                link_socket = socket.socket(fileno=link)
                request, fds = recv_message(link_socket)
                link_socket.close()
                request_fd = _place_run_fds(request, fds)
                self._finish(request["limits"], request_fd, status_w, bool(request.get("peer")))
            except BaseException as exc:
                _report_setup_failure(status_w, exc)
        for fd in (out_w, err_w, status_w):
            _close(fd)
        child_end.close()
        self.spare = Spare(pid, parent_end, out_r, err_r, status_r)

    def _resize_disk(self, disk_mb: int) -> None:
        if not self.tmpfs_options or not disk_mb or disk_mb == self.current_disk_mb:
            return
        mount("tmpfs", self.work_dir, "tmpfs", MS_REMOUNT | MS_NOSUID | MS_NODEV, f"size={disk_mb}m")
        self.current_disk_mb = disk_mb

    def _prepare(
        self,
        network: bool,
        out_fd: int,
        err_fd: int,
        status_fd: int,
        request: dict[str, Any] | None,
        fds: list[int],
        keep: tuple[int, ...] = (),
    ) -> tuple[int, int]:
        """In the child, everything that does not depend on what the run is: session, fds, uid, Landlock,
        seccomp. With `request` (a child forked for it), its descriptors `fds` are put in place too.
        Returns the status pipe's new fd and the request memfd's (-1 without `request`)."""
        os.setsid()
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        # The fds the run sees: 0-2, the peer socket as 3, the status pipe (close-on-exec) above them.
        status_fd = fcntl_dupfd_high(status_fd, 10)
        os.dup2(self.devnull, 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        request_fd = _place_run_fds(request, fds) if request is not None else -1
        if network and self.host_netns is not None:
            setns(self.host_netns, CLONE_NEWNET)
        try:  # the kernel's OOM killer takes a run before anything else on the machine
            oom = os.open("/proc/self/oom_score_adj", os.O_WRONLY)
            os.write(oom, b"1000")
            os.close(oom)
        except OSError:
            pass
        os.chdir(self.work_dir)
        if self.uid is not None and os.geteuid() == 0:
            gid = self.gid if self.gid is not None else self.uid
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(self.uid, self.uid, self.uid)
        prctl(PR_SET_NO_NEW_PRIVS, 1)
        os.umask(0o077)
        ruleset = self.rulesets.get(network)
        if ruleset is not None:
            landlock_restrict(ruleset)
        peer = [PEER_FD] if request is not None and request.get("peer") else []
        _close_fds_except([0, 1, 2, status_fd, request_fd, *keep, *peer])
        program = self.seccomp.get(network)
        if program is not None:
            program.install()
        return status_fd, request_fd

    def _finish(self, limits: dict[str, Any], request_fd: int, status_fd: int, has_peer: bool) -> None:
        """In the child, what depends on the run: read its request (files, environment, the program) from
        `request_fd`, set the rlimits; then run or exec."""
        payload = marshal.loads(_read_all(request_fd))
        os.close(request_fd)
        files = payload.pop("files", {})
        if payload.get("source") is not None:  # on disk too, so that tracebacks show its lines
            files[payload.get("filename", "main.py")] = payload["source"].encode()
        for name, content in files.items():
            directory = os.path.dirname(name)
            if directory:
                os.makedirs(directory, exist_ok=True)
            _write_file(name, content)
        del files

        memory = int(limits["memory_mb"]) << 20
        cpu = max(1, math.ceil(float(limits["cpu_time_s"])))
        nproc = int(limits["processes"]) + int(self.config.get("extra_processes", 0))
        file_size = int(limits["file_size_mb"]) << 20
        open_files = int(limits["open_files"])
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
        resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (0, 0))

        # os.environ already holds the run's defaults (set once in the server); only what differs is set.
        extra = dict(payload.get("env", {}))
        if has_peer:
            extra["ASSAY_PEER_FD"] = str(PEER_FD)
        for key, value in extra.items():
            os.environ[key] = value
        if payload.get("source") is not None:
            _close(status_fd)
            _run_python(payload["source"], payload.get("filename", "main.py"), payload.get("argv", []))
        env = dict(os.environ)
        command = payload["command"]
        executable = command[0]
        if "/" not in executable:
            executable = _which(executable, env.get("PATH", "")) or executable
        try:
            os.execve(executable, command, env)
        except OSError as exc:
            os.write(status_fd, f"cannot execute {command[0]!r}: {exc.strerror}".encode())
            os._exit(SETUP_FAILED)

    def _supervise(
        self,
        pid: int,
        started: float,
        limits: dict[str, Any],
        layers: dict[str, bool],
        out_r: int,
        err_r: int,
        status_r: int,
        request: dict[str, Any],
        pidfd: int,
    ) -> tuple[dict[str, Any], list[tuple[str, int, int]]]:
        output = self.output
        output.attach(out_r, err_r, status_r)
        # The run's clock is the real time since it started less the time its process waited for a CPU
        # (runnable, but another process had the core): what the run would have taken on an idle machine.
        # So a run's time limit, and whether it is reached, do not depend on the machine's load; a run
        # that loops spends its limit in CPU time, one that sleeps in real time. The kernel's count of that
        # wait (`/proc/PID/schedstat`) is read only when the plain deadline has passed, and counts only
        # while the run is one process of one thread: a run whose own threads or processes keep it from a
        # CPU (a fork bomb) has the plain wall clock.
        wall_limit = float(limits["wall_time_s"])
        waited_at_start = _cpu_wait_s(pid)
        waited = 0.0
        alone = True
        deadline = started + wall_limit
        hard_deadline = started + wall_limit * float(self.config.get("wall_time_stretch", 1.0))
        poller = select.poll()
        for fd in (out_r, err_r, status_r):
            poller.register(fd, select.POLLIN)
        poller.register(pidfd, select.POLLIN)
        control_fd = self.control.fileno()
        poller.register(control_fd, select.POLLIN)
        control_registered = True
        killed_for: str | None = None
        message: str | None = None
        exited = False
        open_streams = {out_r, err_r, status_r}
        while not exited:
            now = time.monotonic()
            remaining = deadline - now
            if remaining <= 0:
                alone = alone and _runs_alone(pid, self.spare.pid if self.spare is not None else None)
                if alone:
                    waited = max(waited, _cpu_wait_s(pid) - waited_at_start)
                deadline = min(started + wall_limit + waited, hard_deadline)
                remaining = deadline - now
                if remaining <= 0:
                    killed_for = "time_limit"
                    break
            for fd, _event in poller.poll(remaining * 1000):
                if fd == pidfd:
                    exited = True
                elif fd == control_fd:
                    try:
                        note, fds = recv_message(self.control)
                        for extra in fds:
                            _close(extra)
                    except (EOFError, ConnectionError):
                        note = {"op": "stop"}
                    if note.get("op") == "cancel":
                        killed_for = "cancelled"
                        message = note.get("reason")
                    elif note.get("op") == "stop":
                        killed_for = "cancelled"
                        message = "the sandbox was closed"
                        self.stopping = True
                    poller.unregister(control_fd)
                    control_registered = False
                elif fd in open_streams:
                    more, over = output.take(fd)
                    if not more:
                        poller.unregister(fd)
                        open_streams.discard(fd)
                    if over:
                        killed_for = killed_for or "output_limit"
            if killed_for:
                break
        processes_at_kill = 0
        if killed_for == "time_limit":
            # A run that used every process it may have when time ran out was most likely a fork bomb.
            processes_at_kill = len(_descendants(os.getpid())) - (self.spare is not None)
            if processes_at_kill >= int(limits["processes"]):
                killed_for = "process_limit"
        if killed_for:
            _kill_group(pid)
        if alone:  # read before the process is reaped
            waited = max(waited, _cpu_wait_s(pid) - waited_at_start)
        _, wait_status, usage = os.wait4(pid, 0)
        wall = time.monotonic() - started
        poller.unregister(pidfd)
        _close(pidfd)
        if control_registered:
            poller.unregister(control_fd)
        leftovers = self._kill_leftovers()
        # What the run wrote before it ended is still in the pipes; every writer is dead by now.
        drain_until = time.monotonic() + DRAIN_S
        while open_streams and time.monotonic() < drain_until:
            for fd, _event in poller.poll(max(1.0, (drain_until - time.monotonic()) * 1000)):
                if fd not in open_streams:
                    continue
                more, over = output.take(fd)
                if not more:
                    poller.unregister(fd)
                    open_streams.discard(fd)
                if over:
                    killed_for = killed_for or "output_limit"
        for fd in (out_r, err_r, status_r):
            _close(fd)
        files, collect_error = self._collect(request.get("collect", ()), limits)
        self._empty_work_dir()
        reaped = _reap_all()

        returncode: int | None
        signal_number: int | None = None
        if os.WIFSIGNALED(wait_status):
            signal_number = os.WTERMSIG(wait_status)
            returncode = -signal_number
        else:
            returncode = os.WEXITSTATUS(wait_status)
        header = {
            "status_hint": killed_for,
            "setup_failed": returncode == SETUP_FAILED,
            "returncode": returncode,
            "signal": signal_number,
            # The streams' bytes follow the header in this order, then each file's.
            "stdout_size": output.used[0],
            "stderr_size": output.used[1],
            "setup_message_size": output.used[2],
            "stdout_truncated": output.truncated[0],
            "stderr_truncated": output.truncated[1],
            "files": [(name, size) for name, _fd, size in files],
            "wall_s": wall,
            "cpu_wait_s": waited,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "max_rss_kb": usage.ru_maxrss,
            "minor_faults": usage.ru_minflt,
            "collect_error": collect_error,
            "message": message,
            "leftover_processes": leftovers,
            "processes_at_kill": processes_at_kill,
            "reaped": reaped,
            "isolation": layers,
        }
        return header, files

    def _kill_leftovers(self) -> int:
        """Kill every process the run left behind (daemons that left its session included)."""
        spare = self.spare.pid if self.spare is not None else None
        children = [child for child in _children() if child != spare]
        if not children:
            return 0
        count = len(children)
        if self.uid is not None and os.geteuid() == 0 and self.layers.get("user"):
            _kill_as(self.uid)  # every process of the worker's uid, however it got there
        elif os.getpid() == 1:
            _kill_as(None)  # in a container: everything but this server
        else:
            for _ in range(50):
                targets = _descendants(os.getpid())
                if not targets:
                    break
                for target in targets:
                    try:
                        os.kill(target, signal.SIGKILL)
                    except OSError:
                        pass
                _reap_all()
        return count

    def _collect(self, names: list[str], limits: dict[str, Any]) -> tuple[list[tuple[str, int, int]], str | None]:
        """Open the files to collect: (name, fd, size to send). Their bytes go from these fds to the caller's
        socket by `sendfile`, never through this process's memory."""
        files: list[tuple[str, int, int]] = []
        if not names:
            return files, None
        problems = []
        root = os.path.realpath(self.work_dir)
        cap = max(int(limits["file_size_mb"]) << 20, 1)
        for name in names:
            path = os.path.realpath(os.path.join(root, name))
            if not path.startswith(root + os.sep):
                problems.append(f"{name}: outside the work dir")
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError as exc:
                problems.append(f"{name}: {exc.strerror}")
                continue
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                os.close(fd)
                problems.append(f"{name}: not a regular file")
                continue
            files.append((name, fd, min(info.st_size, cap)))
        return files, "; ".join(problems) or None

    def _empty_work_dir(self) -> None:
        _remove_entries(self.work_dir)


class Spare:
    """A child forked and set up ahead of its request, waiting on `link` for it."""

    def __init__(self, pid: int, link: socket.socket, out_r: int, err_r: int, status_r: int) -> None:
        self.pid = pid
        self.link = link
        self.out_r = out_r
        self.err_r = err_r
        self.status_r = status_r
        self.pidfd = os.pidfd_open(pid)

    def dispatch(self, request: dict[str, Any], fds: list[int]) -> bool:
        """Hand the child its request's descriptors; False when it is gone (it is then discarded and a fresh
        one forked)."""
        if select.select([self.pidfd], [], [], 0)[0]:
            return False
        message = {"limits": request["limits"], "stdin": bool(request.get("stdin")), "peer": bool(request.get("peer"))}
        try:
            send_message(self.link, message, fds)
        except OSError:
            return False
        self.link.close()
        return True

    def discard(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        self.link.close()
        for fd in (self.out_r, self.err_r, self.status_r, self.pidfd):
            _close(fd)


class OutputBuffer:
    """Where the server reads a run's stdout, stderr and set-up message, and sends them from: an anonymous
    mapping that fork leaves out of every child (MADV_DONTFORK), so that no later run's memory holds what
    an earlier one printed. One region per stream, each its cap plus one read (an overflow is seen, then
    cut)."""

    def __init__(self) -> None:
        self.map: mmap.mmap | None = None
        self.view = memoryview(b"")
        self.reserved = -1
        self.starts = (0, 0, 0)
        self.caps = (0, 0, 0)
        self.used = [0, 0, 0]
        self.truncated = [False, False, False]
        self.index: dict[int, int] = {}

    def reset(self, cap: int) -> None:
        """Ready for a run whose stdout and stderr may hold `cap` bytes each."""
        if cap > self.reserved:
            region = _page_round(cap + READ_CHUNK)
            self.view.release()
            if self.map is not None:
                try:
                    self.map.close()
                except BufferError:  # a view of it is still alive: it goes when that does
                    pass
            self.map = mmap.mmap(-1, 2 * region + _page_round(STATUS_CAP + READ_CHUNK), flags=mmap.MAP_PRIVATE)
            self.map.madvise(mmap.MADV_DONTFORK)
            self.view = memoryview(self.map)
            self.starts = (0, region, 2 * region)
            self.reserved = cap
        self.caps = (cap, cap, STATUS_CAP)
        self.used = [0, 0, 0]
        self.truncated = [False, False, False]

    def attach(self, out_r: int, err_r: int, status_r: int) -> None:
        self.index = {out_r: 0, err_r: 1, status_r: 2}

    def take(self, fd: int) -> tuple[bool, bool]:
        """Read what `fd` has: (not at its end, stdout or stderr went past the cap)."""
        index = self.index[fd]
        used = self.used[index]
        start = self.starts[index] + used
        try:
            count = os.readv(fd, [self.view[start : start + READ_CHUNK]])
        except OSError:
            count = 0
        if not count:
            return False, False
        used += count
        over = used > self.caps[index]
        if over:
            used = self.caps[index]
            self.truncated[index] = True
        self.used[index] = used
        return True, over and index < 2

    def sections(self) -> list[memoryview]:
        """What the reply carries after its header: stdout, stderr, the set-up message."""
        return [self.view[start : start + used] for start, used in zip(self.starts, self.used, strict=True)]

    def release(self) -> None:
        """Give back to the kernel the pages a large output used (they would stay resident otherwise)."""
        if self.map is None:
            return
        for start, used in zip(self.starts, self.used, strict=True):
            if used > RELEASE_ABOVE:
                self.map.madvise(mmap.MADV_DONTNEED, start, _page_round(used))
        self.used = [0, 0, 0]


def _report_setup_failure(status_fd: int, exc: BaseException) -> None:
    try:
        os.write(status_fd, f"sandbox set-up failed: {type(exc).__name__}: {exc}".encode()[:4000])
    finally:
        os._exit(SETUP_FAILED)


# -- Python mode: run source in this warm interpreter ------------------------------------------------------


def _run_python(source: str, filename: str, argv: list[str]) -> None:
    """Run `source` as `__main__` in this process (forked from the warm server) and exit like Python does."""
    import builtins
    import types

    # sys.stdin already wraps fd 0, now the run's stdin (a file, as it was in the server). stdout and
    # stderr get wrappers of their own, made as the interpreter makes them for pipes: the server's were
    # made for its log file, and a program's `sys.stdout.reconfigure()` would try to seek a pipe.
    sys.stdin = sys.__stdin__
    sys.stdout = sys.__stdout__ = _std_stream(1, "strict", line_buffering=False)  # type: ignore[misc]
    sys.stderr = sys.__stderr__ = _std_stream(2, "backslashreplace", line_buffering=True)  # type: ignore[misc]
    sys.argv = [filename, *argv]
    sys.path.insert(0, os.getcwd())
    main = types.ModuleType("__main__")
    main.__file__ = os.path.join(os.getcwd(), filename)
    main.__builtins__ = builtins  # type: ignore[attr-defined]
    sys.modules["__main__"] = main
    code = 0
    try:
        # Compiled under its name in the work dir (the cwd, where tracebacks find its lines): a traceback
        # shows `File "main.py"`, not where the work dir is on the host.
        exec(compile(source, filename, "exec"), main.__dict__)
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except BaseException as exc:
        import traceback

        # The program's own frames only: the first is this function's, in this file on the host.
        traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next if exc.__traceback__ else None)
        code = 1
    try:
        if "threading" in sys.modules:  # wait for non-daemon threads, as the interpreter would
            sys.modules["threading"]._shutdown()
        if "atexit" in sys.modules and sys.modules["atexit"]._ncallbacks():
            sys.modules["atexit"]._run_exitfuncs()
    except BaseException:
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except BaseException:
            pass
    os._exit(code)


def _std_stream(fd: int, errors: str, line_buffering: bool) -> io.TextIOWrapper:
    raw = io.FileIO(fd, "w", closefd=False)
    return io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8", errors=errors, line_buffering=line_buffering)


def _write_file(name: str, content: bytes) -> None:
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _read_all(fd: int) -> bytes:
    """All of the memfd `fd` (a run's request), from its start."""
    size = os.fstat(fd).st_size
    data = os.pread(fd, size, 0)
    while len(data) < size:
        more = os.pread(fd, size - len(data), len(data))
        if not more:
            break
        data += more
    return data


def _place_run_fds(request: dict[str, Any], fds: list[int]) -> int:
    """In a run's child: its stdin memfd becomes fd 0, its peer socket PEER_FD, and its request's memfd stays
    (or goes) above them. Returns the request's fd."""
    request_fd = fds[0] if fds[0] > PEER_FD else fcntl_dupfd_high(fds[0], 10)
    rest = list(fds[1:])
    if request.get("stdin"):
        stdin = rest.pop(0)
        os.dup2(stdin, 0)
        os.close(stdin)
    if request.get("peer"):
        peer = rest.pop(0)
        if peer != PEER_FD:
            os.dup2(peer, PEER_FD)
            os.close(peer)
    return request_fd


def _page_round(size: int) -> int:
    return -(-size // mmap.PAGESIZE) * mmap.PAGESIZE


def _load_module(name: str, source: str) -> None:
    """Run `source` as module `name` and keep it in `sys.modules` (an empty source: an empty package)."""
    module = types.ModuleType(name)
    if not source:
        module.__path__ = []
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent in sys.modules:
        setattr(sys.modules[parent], child, module)
    exec(compile(source, f"<{name}>", "exec", dont_inherit=True), module.__dict__)


def _warm_up() -> None:
    """Run once, in the server, what every child runs, so that lazy initialisation (ctypes function
    lookups, the compiler, marshal) happens before the fork instead of in every child."""
    _libc.prctl(PR_SET_DUMPABLE + 0, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: already so
    marshal.loads(marshal.dumps({"files": {"a": b""}, "source": "", "argv": [], "env": {}}))
    exec(compile("def f(x):\n    return [x for _ in range(3)]\nf(1)\n", "<warm-up>", "exec"), {})
    os.path.join(os.getcwd(), "main.py")
    _libc.syscall(SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), LANDLOCK_CREATE_RULESET_VERSION)


def _read_small(path: str) -> bytes:
    """A small file of /proc, read with the bare system calls: these are read at every run, and `open()`
    would also make a buffered reader and ask whether the file is a terminal."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, 4096)
    finally:
        os.close(fd)


def _cpu_wait_s(pid: int) -> float:
    """Seconds the main thread of process `pid` has spent runnable but waiting for a CPU (0 when unknown:
    the run's clock is then the plain wall clock)."""
    try:
        return int(_read_small(f"/proc/{pid}/schedstat").split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


def _runs_alone(pid: int, spare: int | None) -> bool:
    """Whether the run whose main process is `pid` is that one process, with one thread: no child of its
    own, and no orphan of it handed back to this server."""
    try:
        if int(_read_small(f"/proc/{pid}/stat").rsplit(b")", 1)[1].split()[17]) > 1:
            return False
        if _read_small(f"/proc/{pid}/task/{pid}/children").split():
            return False
    except (OSError, ValueError, IndexError):
        return False
    return not set(_children()) - {pid, spare}


def _exit_code(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    try:
        print(value, file=sys.stderr)
    except BaseException:
        pass
    return 1


# -- processes ---------------------------------------------------------------------------------------------


def _close(fd: int) -> int:
    if fd is not None and fd >= 0:
        try:
            os.close(fd)
        except OSError:
            pass
    return -1


def fcntl_dupfd_high(fd: int, floor: int = 100) -> int:
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor)
    os.close(fd)
    return high


def _close_fds_except(keep: list[int]) -> None:
    low = 0
    for fd in sorted(set(keep)):
        if fd > low:
            os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 1 << 16)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _kill_as(uid: int | None) -> None:
    """Fork a helper that becomes `uid` and sends SIGKILL to every process it may signal (kill(-1)), until
    none is left: no process of that uid survives, whatever session or group it moved to."""
    helper = os.fork()
    if helper == 0:  # pragma: no cover - child
        code = 0
        try:
            if uid is not None:
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
            for _ in range(1000):
                try:
                    os.kill(-1, signal.SIGKILL)
                except ProcessLookupError:
                    break
        except BaseException:
            code = 1
        os._exit(code)
    os.waitpid(helper, 0)
    _reap_all()


def _children() -> list[int]:
    pid = os.getpid()
    try:
        # At most a run's process limit of them (its orphans come back here), each a few bytes.
        data = b""
        fd = os.open(f"/proc/{pid}/task/{pid}/children", os.O_RDONLY | os.O_CLOEXEC)
        try:
            while chunk := os.read(fd, 1 << 16):
                data += chunk
        finally:
            os.close(fd)
        return [int(part) for part in data.split()]
    except OSError:
        return _descendants(pid)


def _descendants(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry))
    found, stack = [], [root]
    while stack:
        for child in parents.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _reap_all() -> int:
    reaped = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped += 1


def _remove_tree(path: str) -> None:
    """Remove a folder the run left, whatever modes it set; symlinks are removed, never followed."""
    try:
        os.chmod(path, 0o700)
    except OSError:
        pass
    _remove_entries(path)
    try:
        os.rmdir(path)
    except OSError:
        pass


def _remove_entries(folder: str) -> None:
    """Remove everything in `folder` (not the folder itself)."""
    try:
        with os.scandir(folder) as listing:
            entries = list(listing)
    except OSError:
        return
    for entry in entries:
        try:
            # The directory entry's own type (no stat call, links are never followed).
            if entry.is_dir(follow_symlinks=False):
                _remove_tree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            pass


def _which(program: str, path: str) -> str | None:
    for folder in path.split(os.pathsep):
        candidate = os.path.join(folder, program)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    return None


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[1].startswith("unix:"):
        # In a container: listen on a Unix socket in a shared folder and serve one caller at a time.
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        path = argv[1][len("unix:") :]
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        listener.bind(path)
        listener.listen(1)
        control, _ = listener.accept()
        listener.close()
    else:
        control = socket.socket(fileno=int(argv[1]))
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    config, _ = recv_message(control)
    server = Server(control, config)
    try:
        server.set_up()
    except BaseException as exc:
        send_message(control, {"op": "fatal", "message": f"{type(exc).__name__}: {exc}"})
        return 1
    server.serve()
    # A caller that died cannot clean up after us: the folder it made for this server goes with it.
    owned = config.get("remove_on_exit")
    if owned:
        _libc.umount2(server.work_dir.encode(), MNT_DETACH)
        _remove_tree(owned)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
