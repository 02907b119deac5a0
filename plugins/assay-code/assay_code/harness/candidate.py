"""The candidate side: load the sample's program, then answer the tests' calls with plain data.

Runs alone in its own sandboxed process, with the socket to the tests as its only channel out. It never
sees the tests: it gets the program, then one request at a time (`["call", target, args, kwargs]`,
`["get", target, name]`, `["name", name]` for a module-level name), and answers each with
`["ok", value]`, `["handle", id, type, kind]` (an object that is not plain data, in modes that allow it),
or `["raise", type, module, message]`.

Nothing here needs to resist the program: it runs in the program's own process, so the program can
rewrite any of it. That is by design. All the program can ever do is send bytes down the socket, and the
tests rebuild only plain data from them (`assay_code.wire`); a tampered harness is no more powerful than
a function returning whatever value it likes.

Standard library only (bundled into the sandbox with `assay_code.wire` and `.channel`).
"""

from __future__ import annotations

import builtins
import io
import os
import sys
from typing import Any

from assay_code import wire
from assay_code.harness.channel import Channel, ChannelClosed, ChannelError, traceback_frames


def _own_streams() -> tuple[Any, ...]:
    """Point `sys.stdout` and `sys.stderr` at the run's own stdout and stderr, for what the program
    prints, and return every stream to flush. They are the sandbox's pipes, where every byte counts
    against the run's output limit, whichever way it was written (`print`, `sys.stdout`, its buffer,
    `os.write`, a child process): a flood ends the run with `output_limit`. Fresh wrappers, because the
    interpreter's own were made for the server's descriptors (a pipe is not seekable, a log file is);
    text that cannot be encoded is escaped, not raised, as a test runner that captures output would."""
    made = []
    for fd in (1, 2):
        stream = io.TextIOWrapper(
            io.BufferedWriter(io.FileIO(fd, "w", closefd=False)), encoding="utf-8", errors="backslashreplace"
        )
        made.append(stream)
    sys.stdout, sys.stderr = made
    return (*made, sys.__stdout__, sys.__stderr__)


def _flush(streams: tuple[Any, ...]) -> None:
    """Push what the program printed into the pipes: it then counts against the limit before the tests
    see an answer, and is in the verdict's details even when the run is ended early."""
    for stream in streams:
        try:  # noqa: SIM105 - contextlib is one more import for every sandboxed run
            stream.flush()
        except BaseException:
            pass


def _describe(exc: BaseException) -> list[Any]:
    kind = type(exc)
    try:
        message = str(exc)[:2000]
    except BaseException:  # a message whose __str__ raises or exits
        message = "<unprintable>"
    # Keep only the program's own frames: the tests need to know where the program failed, not how the
    # harness called it.
    frames = traceback_frames(exc.__traceback__)
    where = [f"line {line}, in {name}" for filename, line, name in frames if filename == PROGRAM_FILE][-3:]
    return ["raise", kind.__name__, kind.__module__, message, where]


PROGRAM_FILE = "solution.py"


class Server:
    """Answers requests against the program's namespace until the tests hang up."""

    def __init__(self, channel: Channel, namespace: dict[str, Any], handles: bool, streams: tuple[Any, ...]) -> None:
        self.channel = channel
        self.streams = streams
        self.namespace = namespace
        self.allow_handles = handles
        self.handles: dict[int, Any] = {}

    def resolve(self, target: Any) -> Any:
        kind, key = target
        if kind == "name":
            if key not in self.namespace:
                raise NameError(f"the program does not define {key!r}")
            return self.namespace[key]
        return self.handles[key]

    def answer(self, value: Any) -> list[Any]:
        if self.allow_handles:
            try:
                return ["ok", wire.to_json(value, strict=True)]
            except wire.WireError:
                handle = len(self.handles) + 1
                self.handles[handle] = value
                kind = "class" if isinstance(value, type) else "callable" if callable(value) else "object"
                return ["handle", handle, type(value).__name__, kind]
        return ["ok", wire.to_json(value)]

    def serve(self) -> None:
        while True:
            try:
                request = self.channel.recv()
            except ChannelError:
                return  # the tests are done (or gone): nothing left to answer
            op = request[0]
            try:
                if op == "call":
                    _, target, args, kwargs = request
                    function = self.resolve(target)
                    result = function(*wire.from_json(args), **wire.from_json(kwargs))
                elif op == "get":
                    _, target, name = request
                    result = getattr(self.resolve(target), name)
                elif op == "name":
                    result = self.resolve(["name", request[1]])
                else:
                    raise ValueError(f"unknown request {op!r}")
                reply = self.answer(result)
            except BaseException as exc:  # SystemExit and KeyboardInterrupt in a call are answers too
                reply = _describe(exc)
            _flush(self.streams)
            try:
                self.channel.send(reply)
            except ChannelClosed:
                return
            except (ChannelError, wire.WireError, ValueError, RecursionError) as exc:
                self.channel.send(_describe(exc))


def run_whole_program(channel: Channel) -> None:
    """stdin/stdout tasks: run `{"program", "input"}` from the socket as `__main__`, as `python3 solution.py`
    would (the sandbox's Python mode handles the exit code, tracebacks, threads and atexit)."""
    import types

    sent = _receive(channel, ("program", "input"))
    data = sent["input"].encode("utf-8", "surrogateescape")
    sys.stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="surrogateescape")
    main = types.ModuleType("__main__")
    main.__file__ = PROGRAM_FILE
    main.__builtins__ = builtins  # type: ignore[attr-defined]
    sys.modules["__main__"] = main
    sys.argv = [PROGRAM_FILE]
    # The socket stays open until the process ends: the caller waits for that to know the run is over.
    exec(compile(sent["program"], PROGRAM_FILE, "exec", dont_inherit=True), main.__dict__)


def main(job: dict[str, Any], peer_fd: int) -> None:
    channel = Channel(peer_fd)
    if job.get("whole_program"):
        run_whole_program(channel)
        return
    if "program" not in job:
        # The program comes down the socket, not through the sandbox's server: a server that forwarded it
        # would keep it in its memory, and every later candidate forked from that server would inherit it
        # (a wrong sample could find a right one there and copy it).
        job = {**job, "program": _receive(channel, ("program",))["program"]}
    streams = _own_streams()
    namespace: dict[str, Any] = {"__name__": job.get("module") or "__solution__", "__builtins__": builtins}
    entry_point = job.get("entry_point")
    try:
        code = compile(job["program"], PROGRAM_FILE, "exec", dont_inherit=True)
        # The program is kept under its file name so that tracebacks can show its lines.
        exec(code, namespace)
        if entry_point and not callable(namespace.get(entry_point)):
            missing = "is not defined" if entry_point not in namespace else "is not callable"
            raise NameError(f"{entry_point!r} {missing} in the program")
    except BaseException as exc:  # an exit at import time is a failure to load, like any other
        reply = _describe(exc)
        reply[0] = "load_error"
        _flush(streams)
        channel.send(reply)
        _finish(streams)
    _flush(streams)
    channel.send(["ready"])
    Server(channel, namespace, bool(job.get("handles")), streams).serve()
    _finish(streams)


def _receive(channel: Channel, fields: tuple[str, ...]) -> dict[str, str]:
    """A message of text fields from the caller; anything else ends this process (nothing to judge)."""
    try:
        sent = channel.recv()
    except ChannelError:
        _finish()
    if not isinstance(sent, dict) or not all(isinstance(sent.get(field), str) for field in fields):
        _finish()
    message: dict[str, str] = sent
    return message


def _finish(streams: tuple[Any, ...] = ()) -> None:
    # Exit at once, without running the program's atexit hooks or waiting for its threads (what it
    # printed is flushed first).
    _flush(streams)
    os._exit(0)
