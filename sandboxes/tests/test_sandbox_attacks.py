"""Hostile programs against both backends. Each must end in a failed or limited run with its cause named,
leave nothing behind outside the sandbox, and leave the next run as if nothing had happened."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import tempfile
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from assay.sandbox import ExecResult, Limits, PythonProgram
from assay_sandboxes.forkserver import landlock_abi

SECRET = "assay-test-secret-" + uuid.uuid4().hex


def assert_next_run_unaffected(sandbox: Any) -> None:
    """A plain run right after: it works, under the normal limits, in an empty work dir."""
    result = sandbox.run_python("import os\nprint(sorted(os.listdir('.')))")
    assert result.status == "ok", result
    assert result.stdout == b"['main.py']\n"


def run(sandbox: Any, source: str, **kwargs: Any) -> ExecResult:
    result: ExecResult = sandbox.run_python(textwrap.dedent(source), **kwargs)
    assert_next_run_unaffected(sandbox)
    return result


def require(sandbox: Any, layer: str, why: str) -> None:
    """Skip a test that would harm this machine without `layer` (a user without root has no tmpfs quota)."""
    if not sandbox.isolation()["layers"].get(layer):
        pytest.skip(f"the {layer} layer is off here, and without it {why}")


def require_signal_isolation(sandbox: Any) -> None:
    layers = sandbox.isolation()["layers"]
    if not (layers.get("user") or layers.get("container") or landlock_abi() >= 6):
        pytest.skip("runs share the caller's uid here and Landlock cannot scope signals (ABI < 6)")


def run_uid_processes(uid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                status = Path(f"/proc/{entry}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("Uid:") and int(line.split()[1]) == uid:
                    found.append(int(entry))
    return found


# -- the network -------------------------------------------------------------------------------------------


def test_no_connection_to_the_hosts_loopback(sandbox: Any) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        result = run(
            sandbox,
            f"""
            import socket
            s = socket.socket()
            s.settimeout(1)
            s.connect(("127.0.0.1", {port}))
            print("connected")
            """,
        )
        listener.settimeout(0.2)
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()
    assert result.status == "exit_nonzero"
    assert b"connected" not in result.stdout
    assert result.isolation["network"] is sandbox.isolation()["layers"]["network"]


@pytest.mark.parametrize(
    "address",
    [("192.0.2.1", 80), ("2001:db8::1", 443), ("pypi.org", 443)],
    ids=["ipv4", "ipv6", "by_name"],
)
def test_no_connection_to_an_outside_address(sandbox: Any, address: tuple[str, int]) -> None:
    # Refused at once by the sandbox (no socket, no name lookup), not left to time out on the network: a
    # time-out would mean a packet may have left.
    result = run(
        sandbox,
        f"""
        import socket, time
        started = time.monotonic()
        try:
            socket.create_connection({address!r}, timeout=5)
            print("connected")
        except OSError as exc:
            print(type(exc).__name__, round(time.monotonic() - started, 2))
        """,
    )
    assert result.status == "ok", result
    kind, seconds = result.stdout.decode().split()
    assert kind in ("PermissionError", "gaierror", "OSError"), result.stdout
    assert float(seconds) < 2.0


@pytest.mark.parametrize("family", ["AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET"])
def test_no_socket_but_unix_sockets(sandbox: Any, family: str) -> None:
    # No packet is ever sent to test this: creating the socket is what must fail.
    result = run(sandbox, f"import socket\nsocket.socket(socket.{family}, socket.SOCK_DGRAM)\nprint('made')")
    assert result.status == "exit_nonzero"
    assert b"made" not in result.stdout
    assert b"OSError" in result.stderr or b"PermissionError" in result.stderr


def test_unix_socket_pairs_still_work(sandbox: Any) -> None:
    result = sandbox.run_python("import socket\na, b = socket.socketpair()\na.send(b'x')\nprint(b.recv(1))")
    assert result.status == "ok" and result.stdout == b"b'x'\n"


@pytest.fixture
def host_unix_sockets() -> Any:
    """A stream and a datagram socket of the host's, world-writable, in a folder any uid may pass through
    (as a D-Bus system bus, an X server or a database socket is): what a run must not reach."""
    folder = Path(tempfile.mkdtemp(prefix="assay-host-sockets-"))
    folder.chmod(0o755)
    stream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stream.bind(str(folder / "stream.sock"))
    stream.listen(4)
    datagram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    datagram.bind(str(folder / "datagram.sock"))
    for name in ("stream.sock", "datagram.sock"):
        (folder / name).chmod(0o666)
    stream.settimeout(0.2)
    datagram.settimeout(0.2)
    try:
        yield folder, stream, datagram
    finally:
        stream.close()
        datagram.close()
        shutil.rmtree(folder, ignore_errors=True)


def test_no_unix_socket_of_the_host_is_reachable(sandbox: Any, host_unix_sockets: Any) -> None:
    folder, stream, datagram = host_unix_sockets
    result = run(
        sandbox,
        f"""
        import socket
        stream, datagram = {str(folder / "stream.sock")!r}, {str(folder / "datagram.sock")!r}
        attempts = {{
            "stream": lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).connect(stream),
            "seqpacket": lambda: socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET).connect(stream),
            "datagram connect": lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).connect(datagram),
            "datagram sendto": lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"in", datagram),
            "raw sendto": lambda: socket.socket(socket.AF_UNIX, socket.SOCK_RAW).sendto(b"in", datagram),
            "pair sendto": lambda: socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)[0].sendto(b"in", datagram),
            "pair sendmsg": lambda: socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)[0].sendmsg(
                [b"in"], [], 0, datagram
            ),
            "stream pair sendmsg": lambda: socket.socketpair()[0].sendmsg([b"in"], [], 0, datagram),
        }}
        for name, attempt in attempts.items():
            try:
                attempt()
                print(name, "reached")
            except OSError as exc:
                print(name, "refused", exc.errno)
        """,
    )
    assert result.status == "ok", result
    assert b"reached" not in result.stdout, result.stdout
    with pytest.raises(TimeoutError):
        stream.accept()
    with pytest.raises(TimeoutError):
        datagram.recv(16)


def test_a_run_cannot_connect_even_to_its_own_named_socket(sandbox: Any) -> None:
    # What closes the host's sockets (see above) is the seccomp filter, not the host's paths being out of
    # sight: shown where the path is certainly there, in the run's own work dir.
    if not sandbox.isolation()["layers"].get("seccomp"):
        pytest.skip("no seccomp filter here")
    result = run(
        sandbox,
        """
        import socket
        server = socket.socket(socket.AF_UNIX)
        server.bind("own.sock")
        server.listen(1)
        try:
            socket.socket(socket.AF_UNIX).connect("own.sock")
            print("connected")
        except PermissionError:
            print("refused")
        """,
    )
    assert result.status == "ok", result
    assert result.stdout == b"refused\n"
    assert sandbox.describe()["protections"]["host_unix_sockets"] == {"layer": "seccomp", "on": True}
    assert sandbox.isolation()["protections"]["host_unix_sockets"] == {"layer": "seccomp", "on": True}


# -- the host's files and environment ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/etc/shadow", "/root", "/proc/1/environ", "/proc/1/cmdline", "/etc/passwd"])
def test_host_files_cannot_be_read(sandbox: Any, path: str) -> None:
    result = run(
        sandbox,
        f"""
        import os
        path = {path!r}
        print(os.listdir(path) if os.path.isdir(path) else open(path, "rb").read())
        """,
    )
    assert result.status == "exit_nonzero"
    assert result.stdout == b""
    assert b"Error" in result.stderr


def test_the_callers_environment_does_not_reach_a_run(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_TEST_SECRET", SECRET)
    result = run(
        sandbox,
        f"""
        import os
        print(dict(os.environ))
        try:
            print(open("/proc/{os.getpid()}/environ", "rb").read())
        except OSError as exc:
            print("refused", exc.errno)
        """,
    )
    assert result.status == "ok"
    assert SECRET.encode() not in result.stdout
    assert b"refused" in result.stdout


def test_nothing_is_written_outside_the_work_dir(sandbox: Any, tmp_path: Path) -> None:
    target = tmp_path / "written-by-a-run"
    tmp_path.chmod(0o777)
    result = run(sandbox, f"open({str(target)!r}, 'w').write('x')")
    assert result.status == "exit_nonzero"
    assert not target.exists()
    result = run(sandbox, "open('/usr/assay-test-file', 'w').write('x')")
    assert result.status == "exit_nonzero"
    assert not Path("/usr/assay-test-file").exists()


# -- processes ---------------------------------------------------------------------------------------------


def test_fork_bomb(sandbox: Any) -> None:
    started = time.monotonic()
    result = run(
        sandbox,
        """
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
        """,
    )
    assert result.status in ("process_limit", "time_limit")
    assert time.monotonic() - started < sandbox.limits.wall_time_s + 5


def test_a_daemon_does_not_outlive_its_run(sandbox: Any) -> None:
    result = sandbox.run_python(
        textwrap.dedent(
            """
            import os, time
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    while True:          # writes into the work dir the next run gets
                        time.sleep(0.05)
                        open("daemon-was-here", "w").close()
                os._exit(0)
            print("started", flush=True)
            """
        )
    )
    assert result.status == "ok" and result.stdout == b"started\n"
    assert result.message and "left running" in result.message
    later = sandbox.run_python("import os, time\ntime.sleep(0.5)\nprint(sorted(os.listdir('.')))")
    assert later.stdout == b"['main.py']\n"


def test_no_process_of_a_run_survives_it(local_sandbox: Any) -> None:
    uid = local_sandbox.isolation()["uid"]
    if uid is None:
        pytest.skip("runs do not drop to their own uid here (not root)")
    result = local_sandbox.run_python(
        "import os, time\npid = os.fork()\nif pid == 0:\n    os.setsid()\n    time.sleep(60)\nprint(pid)"
    )
    daemon = int(result.stdout)
    assert not Path(f"/proc/{daemon}").exists()
    # At most the next run's child, forked ahead and waiting for its request, has the uid now.
    assert len(run_uid_processes(uid)) <= 1


def test_signalling_the_server_and_the_caller_is_refused(sandbox: Any) -> None:
    require_signal_isolation(sandbox)
    result = run(
        sandbox,
        f"""
        import os, signal
        refused = []
        for pid in (os.getppid(), {os.getpid()}, 1):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError as exc:
                refused.append(exc.errno)
        print(refused)
        """,
    )
    assert result.status == "ok"
    server, caller, init = eval(result.stdout)  # [errno, errno, errno]
    assert server == init == errno.EPERM
    assert caller in (errno.EPERM, errno.ESRCH)  # a container does not even see the caller


def test_killing_everything_it_may_spares_the_tester_and_the_server(sandbox: Any) -> None:
    # kill(-1) signals every process the caller may signal: with a uid of its own, only its own.
    require_signal_isolation(sandbox)
    candidate = PythonProgram(source="import os, signal\nos.kill(-1, signal.SIGKILL)\nprint('done')")
    tester = PythonProgram(
        source=textwrap.dedent(
            """
            import os, socket
            peer = socket.socket(fileno=int(os.environ["ASSAY_PEER_FD"]))
            peer.recv(1)   # returns once the candidate has ended
            print("tester alive")
            """
        )
    )
    result = sandbox.run_python_pair(candidate, tester)
    assert result.tester.status == "ok" and result.tester.stdout == b"tester alive\n"
    assert_next_run_unaffected(sandbox)


def test_ptrace_is_refused(sandbox: Any) -> None:
    result = run(
        sandbox,
        """
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.ptrace(16, os.getppid(), 0, 0) != 0:   # PTRACE_ATTACH
            raise PermissionError(ctypes.get_errno(), "ptrace refused")
        """,
    )
    assert result.status == "exit_nonzero"
    assert b"ptrace refused" in result.stderr


# -- resources ---------------------------------------------------------------------------------------------


def test_memory_bomb(sandbox: Any) -> None:
    result = run(sandbox, "chunks = []\nwhile True:\n    chunks.append(bytearray(1 << 20))")
    assert result.status == "memory_limit"


def test_cpu_loop(sandbox: Any) -> None:
    result = run(sandbox, "while True:\n    pass", limits=sandbox.limits.model_copy(update={"wall_time_s": 8.0}))
    assert result.status in ("cpu_limit", "time_limit")  # time_limit only on a machine too loaded to give 2 s
    assert result.cpu_s <= sandbox.limits.cpu_time_s + 1.5


def test_sleeping_forever(sandbox: Any) -> None:
    limits = sandbox.limits.model_copy(update={"wall_time_s": 1.0})
    started = time.monotonic()
    result = run(sandbox, "import time\ntime.sleep(3600)", limits=limits)
    assert result.status == "time_limit"
    assert time.monotonic() - started < 5


def test_200_mb_of_output(sandbox: Any) -> None:
    started = time.monotonic()
    result = run(sandbox, "import sys\nchunk = 'x' * (1 << 20)\nfor _ in range(200):\n    sys.stdout.write(chunk)")
    assert result.status == "output_limit"
    assert result.truncated
    assert len(result.stdout) == sandbox.limits.output_bytes
    assert time.monotonic() - started < 10


def test_a_huge_file(sandbox: Any) -> None:
    result = run(sandbox, "with open('big', 'wb') as f:\n    while True:\n        f.write(b'x' * (1 << 20))")
    assert result.status == "file_limit"


def test_filling_the_disk_with_many_files(sandbox: Any) -> None:
    require(sandbox, "disk_quota", "this test would fill the machine's disk")
    result = run(sandbox, "i = 0\nwhile True:\n    open(f'f{i}', 'wb').write(b'x' * (1 << 20))\n    i += 1")
    assert result.status == "file_limit"


def test_limits_per_run_override_the_defaults(sandbox: Any) -> None:
    tight = Limits(memory_mb=64, wall_time_s=3, cpu_time_s=2, processes=8)
    assert sandbox.run_python("x = bytearray(100 << 20)", limits=tight).status == "memory_limit"
    assert sandbox.run_python("x = bytearray(100 << 20)").status == "ok"
