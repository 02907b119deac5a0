"""No run can read an earlier run out of its own memory.

Every run is a child forked from a long-lived server, and a child inherits a copy of all the server's
memory, freed memory included. So earlier runs' programs, files, stdin, argv, environment and output
must never have been in the server's memory. Here earlier runs of every kind carry secrets (each one
unique), then a run reads every readable page of its own address space and reports every secret it sees.

The search must be able to succeed, or the test would prove nothing: the reader has to find its own
secrets, and one that the server holds in its configuration (so it is in the memory every child
inherits), and must run in the very server that ran the earlier runs. These sandboxes let runs read
`/proc` (for `/proc/self/maps`); every layer is otherwise as shipped.
"""

from __future__ import annotations

import json
import socket
import textwrap
import uuid
from collections.abc import Callable
from typing import Any

from assay.sandbox import ExecResult, PythonProgram

#: Every secret is this prefix and 32 hex digits; the reader's own source holds the prefix, never a digit
#: after it, so it cannot find a secret in itself by accident.
PREFIX = "mem-secret-"

#: Lists every readable mapping (/proc/self/maps) and copies it through a pipe (the kernel copies; an
#: address that cannot be read gives EFAULT, never a crash), looking for secrets.
READER = textwrap.dedent(
    r"""
    import ctypes, json, os, re

    PATTERN = re.compile(rb"@PREFIX@([0-9a-f]{32})")
    OWN = "@PREFIX@" + "@OWN@"
    found, scanned, regions = set(), 0, []
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            start, end = (int(part, 16) for part in fields[0].split("-"))
            name = fields[5] if len(fields) > 5 else ""
            if fields[1].startswith("r") and not name.startswith(("[vvar", "[vsyscall")):
                regions.append((start, end))
    read_end, write_end = os.pipe()
    for start, end in regions:
        address, tail = start, b""
        while address < end:
            size = min(1 << 16, end - address)
            try:
                count = os.write(write_end, (ctypes.c_char * size).from_address(address))
            except OSError:
                break
            data = tail + os.read(read_end, count)
            found.update(match.decode() for match in PATTERN.findall(data))
            tail = data[-64:]
            address += count
            scanned += count
    print(json.dumps({"found": sorted(found), "scanned": scanned, "own": OWN}))
    """
).replace("@PREFIX@", PREFIX)


def new_id() -> str:
    return uuid.uuid4().hex


def secret(key: str) -> str:
    return PREFIX + key


def produced(key: str) -> str:
    """Python for the secret `key`, built at run time: the source holds its digits reversed, so that the
    secret itself exists only in the run and in what it prints or writes."""
    return f"({PREFIX!r} + {key[::-1]!r}[::-1])"


class Secrets:
    """Secrets handed to earlier runs, by key, with where each went."""

    def __init__(self) -> None:
        self.where: dict[str, str] = {}

    def new(self, where: str) -> str:
        key = new_id()
        self.where[key] = where
        return key


def ok(result: ExecResult, *expected: str) -> None:
    """The run really ran and saw (or made) its secrets."""
    assert result.status == "ok", result
    for key in expected:
        assert secret(key).encode() in result.stdout + result.stderr, (key, result)


def earlier_program(secrets: Secrets, kind: str) -> tuple[PythonProgram, list[str]]:
    """A program whose source, files, stdin, argv and environment each carry a secret; it prints them all,
    prints one more that it makes (to stdout and to stderr), and writes another to a file collected."""
    keys = {part: secrets.new(f"{kind} {part}") for part in ("source", "file", "stdin", "argv", "env", "out", "err")}
    collected = secrets.new(f"{kind} collected file")
    source = textwrap.dedent(
        f"""
        import os, sys
        print({secret(keys["source"])!r})
        print(open("data.txt").read(), sys.stdin.read(), sys.argv[1], os.environ["SECRET"])
        print({produced(keys["out"])})
        print({produced(keys["err"])}, file=sys.stderr)
        open("out.txt", "w").write({produced(collected)})
        """
    )
    program = PythonProgram(
        source=source,
        files={"data.txt": secret(keys["file"])},
        stdin=secret(keys["stdin"]).encode(),
        argv=[secret(keys["argv"])],
        env={"SECRET": secret(keys["env"])},
        collect=["out.txt"],
    )
    return program, [*keys.values()]


def run_earlier_samples(sandbox: Any, secrets: Secrets, count: int) -> None:
    for _ in range(count):
        # `run`: an exec'd command, with files, stdin and environment.
        keys = [secrets.new(f"run {part}") for part in ("file", "stdin", "env", "argv")]
        result = sandbox.run(
            ["/bin/sh", "-c", 'cat data.txt; echo; cat; echo; echo "$SECRET" "$0"', secret(keys[3])],
            files={"data.txt": secret(keys[0])},
            stdin=secret(keys[1]).encode(),
            env={"SECRET": secret(keys[2])},
            collect=["data.txt"],
        )
        ok(result, *keys)
        assert result.files["data.txt"] == secret(keys[0]).encode()

        # `run_python`
        program, keys = earlier_program(secrets, "run_python")
        result = sandbox.run_python(
            program.source,
            files=program.files,
            stdin=program.stdin,
            argv=program.argv,
            env=program.env,
            collect=program.collect,
        )
        ok(result, *keys)
        assert result.files["out.txt"].startswith(PREFIX.encode())

        # `run_python_pair`: both sides carry secrets.
        candidate, candidate_keys = earlier_program(secrets, "pair candidate")
        tester, tester_keys = earlier_program(secrets, "pair tester")
        pair = sandbox.run_python_pair(candidate, tester)
        ok(pair.candidate, *candidate_keys)
        ok(pair.tester, *tester_keys)

        # `run_python_interactive`: the caller sends a secret over the socket too, and it comes back.
        program, keys = earlier_program(secrets, "interactive")
        talked = secrets.new("interactive socket")
        program = program.model_copy(
            update={
                "source": program.source
                + 'import socket\npeer = socket.socket(fileno=int(os.environ["ASSAY_PEER_FD"]))\n'
                + "peer.sendall(peer.recv(100))\n"
            }
        )

        def talk(sock: socket.socket, key: str = talked) -> bytes:
            sock.sendall(secret(key).encode())
            return sock.recv(100)

        result, echoed = sandbox.run_python_interactive(program, talk)
        ok(result, *keys)
        assert echoed == secret(talked).encode()


def read_memory(run: Callable[[PythonProgram], ExecResult]) -> set[str]:
    """Run the reader (with `run`); what it found (its own secrets among it, or it could find nothing)."""
    own, env = new_id(), new_id()
    reader = PythonProgram(source=READER.replace("@OWN@", own), env={"READER_SECRET": secret(env)})
    result = run(reader)
    assert result.status == "ok", result
    report = json.loads(result.stdout)
    assert report["scanned"] > 1 << 20, report["scanned"]
    found = set(report["found"])
    assert own in found and env in found, "the reader cannot find its own secrets: it would find no other"
    return found


def test_no_run_finds_an_earlier_run_in_its_memory(new_sandbox: Callable[..., Any]) -> None:
    configured = new_id()  # held by the servers for their whole life: in every child's memory
    sandbox = new_sandbox(read_paths=["/proc", f"/nonexistent/{secret(configured)}"])
    secrets = Secrets()
    run_earlier_samples(sandbox, secrets, count=3)
    servers = sandbox.server_pids()
    # More time than the default, nothing else: a run asking for more memory could get a fresh container.
    limits = sandbox.limits.model_copy(update={"wall_time_s": 30.0, "cpu_time_s": 20.0, "output_bytes": 1 << 20})

    def ahead(reader: PythonProgram) -> ExecResult:  # a run forked ahead of its request (the usual way)
        return sandbox.run_python(reader.source, env=reader.env, limits=limits)

    def tester(reader: PythonProgram) -> ExecResult:  # forked from the server that ran the earlier testers
        return sandbox.run_python_pair(PythonProgram(source="pass"), reader, limits=limits, tester_limits=limits).tester

    def interactive(reader: PythonProgram) -> ExecResult:  # the caller waits for the run to close its end
        return sandbox.run_python_interactive(reader, lambda sock: sock.recv(1), limits=limits)[0]

    def on_request(reader: PythonProgram) -> ExecResult:  # a run with network is forked once its request came
        return sandbox.run_python(reader.source, env=reader.env, limits=limits.model_copy(update={"network": True}))

    readers = {"run_python": ahead, "tester": tester, "interactive": interactive}
    if sandbox.name == "local":  # the docker backend never grants network
        readers["forked on request"] = on_request
    leaks = {}
    for name, run in readers.items():
        found = read_memory(run)
        assert configured in found, f"{name}: the server's own memory is not where the reader looked"
        assert sandbox.server_pids() == servers, f"{name} ran in a server that never saw the earlier runs"
        leaks[name] = sorted({secrets.where[key] for key in found if key in secrets.where})
    assert leaks == {name: [] for name in readers}, f"earlier runs' secrets read in a later run's memory: {leaks}"
