"""`run_python_pair`: a candidate and a tester that talk over a socket, each out of the other's reach."""

from __future__ import annotations

import socket
import textwrap
import uuid
from typing import Any

import pytest

from assay.sandbox import PythonProgram
from assay_sandboxes.forkserver import landlock_abi

SECRET = "tester-only-" + uuid.uuid4().hex

#: The candidate side of a tiny protocol: one line in (an expression), one line out (its value).
CANDIDATE_SERVER = textwrap.dedent(
    """
    import os, socket
    peer = socket.socket(fileno=int(os.environ["ASSAY_PEER_FD"]))
    stream = peer.makefile("rw")
    for line in stream:
        stream.write(repr(eval(line)) + "\\n")
        stream.flush()
    """
)


def as_tester(body: str) -> PythonProgram:
    prelude = 'import os, socket\npeer = socket.socket(fileno=int(os.environ["ASSAY_PEER_FD"]))\n'
    return PythonProgram(source=prelude + textwrap.dedent(body), filename="tester.py")


def test_the_tester_decides_from_plain_data(sandbox: Any) -> None:
    result = sandbox.run_python_pair(
        PythonProgram(source=CANDIDATE_SERVER),
        as_tester(
            """
            stream = peer.makefile("rw")
            answers = []
            for expression in ("2 + 3", "sorted([3, 1, 2])"):
                stream.write(expression + "\\n")
                stream.flush()
                answers.append(stream.readline().strip())
            print("pass" if answers == ["5", "[1, 2, 3]"] else f"fail {answers}")
            """
        ),
    )
    assert result.tester.status == "ok", result.tester
    assert result.tester.stdout == b"pass\n"
    # The candidate saw EOF once the tester was done, or was stopped for it.
    assert result.candidate.status in ("ok", "cancelled")


def test_a_candidate_still_running_when_the_tester_ends_is_cancelled(sandbox: Any) -> None:
    result = sandbox.run_python_pair(
        PythonProgram(source="import time\nwhile True:\n    time.sleep(1)"),
        as_tester("print('verdict given')"),
    )
    assert result.tester.stdout == b"verdict given\n"
    assert result.candidate.status == "cancelled"
    assert result.candidate.wall_s < sandbox.limits.wall_time_s


def test_a_candidate_that_exits_early_cannot_pass(sandbox: Any) -> None:
    result = sandbox.run_python_pair(
        PythonProgram(source="import sys\nsys.exit(0)"),
        as_tester(
            """
            try:
                peer.sendall(b"2 + 3\\n")
                reply = peer.recv(100)
            except OSError:
                reply = b""
            print("pass" if reply == b"5\\n" else "candidate gone")
            """
        ),
    )
    assert result.tester.stdout == b"candidate gone\n"


def test_the_candidate_cannot_signal_the_tester(sandbox: Any) -> None:
    layers = sandbox.isolation()["layers"]
    if not (layers["user"] or landlock_abi() >= 6):
        pytest.skip("candidate and tester share a uid here and Landlock cannot scope signals (ABI < 6)")
    result = sandbox.run_python_pair(
        PythonProgram(
            source=textwrap.dedent(
                """
                import os, signal, socket
                peer = socket.socket(fileno=int(os.environ["ASSAY_PEER_FD"]))
                tester_pid = int(peer.recv(100))
                try:
                    os.kill(tester_pid, signal.SIGKILL)
                    peer.sendall(b"killed")
                except OSError as exc:
                    peer.sendall(f"refused {exc.errno}".encode())
                """
            )
        ),
        as_tester("peer.sendall(str(os.getpid()).encode())\nprint(peer.recv(100).decode())"),
    )
    assert result.tester.status == "ok", result.tester
    # Refused; or, in a container, that pid was not the tester at all (pid namespaces differ).
    assert result.tester.stdout.startswith(b"refused") or result.candidate.status == "signaled"


def test_the_candidate_process_never_held_the_testers_data(sandbox: Any) -> None:
    # The tester's source and stdin carry a secret; the candidate searches every object and frame it can
    # reach. It is forked from a server that only ever saw candidates, so there is nothing to find.
    finder = textwrap.dedent(
        f"""
        import gc, os, socket, sys

        def search(needle):
            # Everything reachable from the collector's objects and from every frame, containers opened.
            found, seen = [], set()
            stack = list(gc.get_objects())
            frame = sys._getframe(1)
            while frame is not None:
                stack.append(dict(frame.f_locals))
                frame = frame.f_back
            while stack:
                obj = stack.pop()
                if id(obj) in seen or obj is needle:
                    continue
                seen.add(id(obj))
                if isinstance(obj, str) and needle in obj:
                    found.append(obj[:60])
                elif isinstance(obj, (bytes, bytearray)) and needle.encode() in obj:
                    found.append(repr(bytes(obj[:60])))
                elif isinstance(obj, dict):
                    stack.extend(obj.keys())
                    stack.extend(obj.values())
                elif isinstance(obj, (list, tuple, set, frozenset)):
                    stack.extend(obj)
            return found

        found = search({SECRET[::-1]!r}[::-1])
        peer = socket.socket(fileno=int(os.environ["ASSAY_PEER_FD"]))
        peer.sendall(repr(found).encode())
        """
    )
    # The finder's source holds the secret reversed only: a forward copy can come from the tester alone.
    result = sandbox.run_python_pair(
        PythonProgram(source=finder),
        as_tester(f"secret = {SECRET!r}\nprint(peer.recv(10000).decode())").model_copy(
            update={"stdin": SECRET.encode()}
        ),
    )
    assert result.tester.status == "ok", result.tester
    assert result.tester.stdout == b"[]\n"


def test_the_testers_own_limit_ends_the_pair(sandbox: Any) -> None:
    result = sandbox.run_python_pair(
        PythonProgram(source=CANDIDATE_SERVER),
        as_tester("import time\ntime.sleep(60)"),
        tester_limits=sandbox.limits.model_copy(update={"wall_time_s": 0.5}),
    )
    assert result.tester.status == "time_limit"
    # Stopped, or it saw the tester's end of the socket close first and ended by itself.
    assert result.candidate.status in ("cancelled", "ok")
    # and both servers are fine afterwards
    again = sandbox.run_python_pair(PythonProgram(source=CANDIDATE_SERVER), as_tester("print('ok')"))
    assert again.tester.stdout == b"ok\n"


# -- the caller as the tester -------------------------------------------------------------------------------


def ask(sock: socket.socket, expressions: list[str]) -> list[str]:
    stream = sock.makefile("rw")
    answers = []
    for expression in expressions:
        try:
            stream.write(expression + "\n")
            stream.flush()
            answers.append(stream.readline().strip())
        except OSError:  # the run died with our question unread
            answers.append("")
    return answers


def test_the_caller_talks_to_the_run_and_judges(sandbox: Any) -> None:
    result, answers = sandbox.run_python_interactive(
        PythonProgram(source=CANDIDATE_SERVER), lambda sock: ask(sock, ["2 + 3", "'ab' * 2", "max(4, 9)"])
    )
    assert answers == ["5", "'abab'", "9"]
    assert result.status == "ok", result  # it saw EOF and ended by itself within the grace period


def test_a_run_still_busy_when_the_caller_is_done_is_cancelled(sandbox: Any) -> None:
    result, outcome = sandbox.run_python_interactive(
        PythonProgram(source="while True:\n    pass"), lambda sock: "judged"
    )
    assert outcome == "judged"
    assert result.status == "cancelled"
    assert result.wall_s < sandbox.limits.wall_time_s
    assert sandbox.run_python("print('next')").stdout == b"next\n"


def test_a_run_that_dies_gives_the_caller_end_of_file(sandbox: Any) -> None:
    result, answers = sandbox.run_python_interactive(
        PythonProgram(source="x = bytearray(1 << 40)"), lambda sock: ask(sock, ["1 + 1"])
    )
    assert answers == [""]
    assert result.status == "memory_limit"


def test_what_the_caller_raises_comes_back_after_the_run_is_over(sandbox: Any) -> None:
    def talk(sock: socket.socket) -> None:
        raise LookupError("a bug in the tester")

    with pytest.raises(LookupError, match="a bug in the tester"):
        sandbox.run_python_interactive(PythonProgram(source="import time\ntime.sleep(30)"), talk)
    assert sandbox.run_python("print('fine')").stdout == b"fine\n"
