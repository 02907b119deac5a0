"""The tests' side: run the trusted tests against a stand-in that forwards every call to the candidate.

Runs in its own sandboxed process, apart from the candidate. The tests' namespace holds the task's prompt
(its helpers, e.g. HumanEval's `poly` and `encode_cyclic`, in their trusted form) and, under the entry
point's name, a `Remote` that sends the call's arguments to the candidate and rebuilds its answer from
plain data. No object of the candidate's ever exists here, so no rigged `__eq__`, `__hash__` or
subclass can reach an assertion, and nothing the candidate does can touch this process's state.

The outcome is written to this run's own stdout, which only this process holds: one line per event,
each `ASSAY-RESULT <json>`.

Standard library only (bundled into the sandbox with `assay_code.wire` and `.channel`).
"""

from __future__ import annotations

import builtins
import io
import json
import os
import sys
import types
from typing import Any

from assay_code import wire
from assay_code.harness.channel import Channel, ChannelClosed, ChannelError, traceback_frames

RESULT_MARK = b"ASSAY-RESULT "
#: What the tests may print in one job when the caller does not say (the sandbox's default output limit).
DEFAULT_OUTPUT_BYTES = 1 << 20
TESTS_FILE = "<tests>"
PROMPT_FILE = "<prompt>"
REPR_CHARS = 300

#: Builtin exceptions the candidate may raise and the tests may catch by their own type.
_EXCEPTIONS: dict[str, type[BaseException]] = {
    name: value
    for name, value in vars(builtins).items()
    if isinstance(value, type)
    and issubclass(value, Exception)
    # Raised inside map()/filter()/zip() these would end the tests' iteration early, silently: a
    # `StopIteration` from the candidate must read as the error it is.
    and not issubclass(value, StopIteration | StopAsyncIteration)
}


class CandidateFault(BaseException):
    # the tests must not swallow it
    """The candidate broke the rules of the conversation (exited, hung up, sent what is not plain data)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class CandidateError(Exception):
    """An exception the candidate raised whose type the tests cannot have (not a builtin one)."""


class OutputLimitExceeded(BaseException):
    # the tests must not swallow it
    """The tests printed more than a run may: the same limit, and the same verdict, as the sandbox gives a
    process that writes too much to its stdout or stderr."""


class CappedOutput(io.StringIO):
    """Where the tests' prints go: counted (in UTF-8 bytes, as the sandbox counts a stream) and dropped,
    never onto this run's stdout, which carries the outcome. Past `limit` every write raises
    `OutputLimitExceeded`, so that a printing loop stops at once, and the outcome is `output_limit`
    whatever the tests did with the exception."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.size = 0
        self.exceeded = False

    def write(self, text: str) -> int:
        size = len(text) if text.isascii() else len(str(text).encode("utf-8", "surrogatepass"))
        self.size += size
        if self.size > self.limit:
            self.exceeded = True
        if self.exceeded:
            raise OutputLimitExceeded(f"the tests printed more than the {self.limit}-byte output limit")
        return len(text)

    def reset(self) -> None:
        self.size = 0
        self.exceeded = False

    def fault(self) -> dict[str, Any] | None:
        """The outcome when the limit was passed, else None."""
        if not self.exceeded:
            return None
        return {"outcome": "fail", "reason": "output_limit", "message": f"more than {self.limit} bytes of output"}


class TestSetupError(Exception):
    """The tests cannot run here (an argument that is not plain data, ...): not the sample's fault."""


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= REPR_CHARS else text[: REPR_CHARS - 3] + "..."


class Session:
    """The tests' end of the conversation. Faults are sticky: once the candidate has broken the rules,
    every later call fails and the outcome is a failure whatever the tests did with the exception."""

    def __init__(self, channel: Channel, call_time_limit_s: float | None = None) -> None:
        self.channel = channel
        self.call_time_limit_s = call_time_limit_s
        self.fault: CandidateFault | None = None
        self.calls = 0
        self.last_call: str | None = None
        self.last_result: str | None = None
        self.raised: BaseException | None = None

    def _break(self, reason: str, message: str) -> CandidateFault:
        if self.fault is None:
            self.fault = CandidateFault(reason, message)
        return self.fault

    def receive(self, limit: float | None = None) -> list[Any]:
        if self.fault is not None:
            raise self.fault
        if limit is not None and not self.channel.readable(limit):
            raise self._break("time_limit", f"the candidate gave no answer within {limit:g}s")
        try:
            reply = self.channel.recv()
        except ChannelClosed:
            raise self._break("early_exit", "the candidate's process ended before the tests did") from None
        except ChannelError as exc:
            raise self._break("protocol_violation", f"the candidate sent a broken message: {exc}") from None
        if type(reply) is not list or not reply or type(reply[0]) is not str:
            raise self._break("protocol_violation", "the candidate sent a message of the wrong shape")
        return reply

    def wait_ready(self) -> None:
        reply = self.receive()
        if reply[0] == "ready":
            return
        if reply[0] == "load_error" and len(reply) == 5:
            raise self._loaded_badly(reply)
        raise self._break("protocol_violation", f"the candidate sent {reply[0]!r} instead of 'ready'")

    def _loaded_badly(self, reply: list[Any]) -> CandidateFault:
        _, name, _module, message, where = reply
        name, message = str(name)[:100], str(message)[:2000]
        if name == "SystemExit":
            return self._break("early_exit", f"the program exited while loading (SystemExit: {message})")
        if name == "NameError" and "in the program" in message:
            return self._break("missing_entry_point", message)
        where_text = f" ({'; '.join(map(str, where))})" if isinstance(where, list) and where else ""
        reason = "memory_limit" if name == "MemoryError" else "runtime_error"
        return self._break(reason, f"the program raised while loading: {name}: {message}{where_text}")

    def request(self, message: list[Any], described: str) -> Any:
        if self.fault is not None:
            raise self.fault
        self.calls += 1
        self.last_call, self.last_result = described, None
        try:
            self.channel.send(message)
        except ChannelClosed:
            raise self._break("early_exit", "the candidate's process ended before the tests did") from None
        reply = self.receive(self.call_time_limit_s)
        kind = reply[0]
        if kind == "ok" and len(reply) == 2:
            try:
                value = wire.from_json(reply[1])
            except wire.WireError as exc:
                raise self._break("protocol_violation", f"the candidate's answer is not plain data: {exc}") from None
            self.last_result = _short(value)
            return value
        if kind == "handle" and len(reply) == 4 and type(reply[1]) is int:
            label = (
                described if reply[3] in ("class", "callable") and len(described) < 80 else f"<{str(reply[2])[:80]}>"
            )
            self.last_result = f"<{str(reply[2])[:80]} object>"
            return Remote(self, ["handle", reply[1]], label, str(reply[3]))
        if kind == "raise" and len(reply) == 5:
            raise self._raised(reply)
        raise self._break("protocol_violation", f"the candidate answered {kind!r}")

    def _raised(self, reply: list[Any]) -> BaseException:
        _, name, module, message, where = reply
        name, message = str(name)[:100], str(message)[:2000]
        self.last_result = f"raised {name}: {message[:200]}"
        if name in ("SystemExit", "KeyboardInterrupt", "GeneratorExit") and module == "builtins":
            return self._break("early_exit", f"the candidate raised {name} in a call ({message})")
        cls = _EXCEPTIONS.get(name) if module == "builtins" else None
        exc: BaseException
        try:
            exc = cls(message) if cls is not None else CandidateError(f"{name}: {message}")
        except Exception:  # exception types that need more arguments than a message
            exc = CandidateError(f"{name}: {message}")
        exc.__notes__ = [f"raised by the candidate ({'; '.join(map(str, where)) or 'in a call'})"]
        self.raised = exc
        return exc


class Remote:
    """The stand-in the tests call. Equal only to itself; every call crosses to the candidate as data."""

    __slots__ = ("_kind", "_label", "_session", "_target")

    def __init__(self, session: Session, target: list[Any], label: str, kind: str = "callable") -> None:
        self._session = session
        self._target = target
        self._label = label
        self._kind = kind

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        shown = [*map(_short, args), *(f"{k}={_short(v)}" for k, v in kwargs.items())]
        described = f"{self._label}({', '.join(shown)})"
        try:
            message = [
                "call",
                self._target,
                wire.to_json(list(args), strict=True),
                wire.to_json(kwargs, strict=True),
            ]
        except wire.WireError as exc:
            if _holds_opaque([args, kwargs]):
                # A value the candidate returned, handed back to it: not plain data because of the candidate.
                raise TypeError(f"{self._label} was given back a value that is not plain data: {exc}") from None
            raise TestSetupError(
                f"the tests call {self._label} with an argument that is not plain data: {exc}"
            ) from None
        return self._session.request(message, described)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._session.request(["get", self._target, name], f"{self._label}.{name}")

    def __repr__(self) -> str:
        return f"<candidate {self._label}>"


def _holds_opaque(value: Any, depth: int = 0) -> bool:
    if isinstance(value, wire.Opaque):
        return True
    if depth > wire.MAX_DEPTH:
        return False
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, list | tuple | set | frozenset):
        return any(_holds_opaque(item, depth + 1) for item in value)
    return False


class RemoteModule(types.ModuleType):
    """The candidate's module as the tests import it (`from solution import add`): every name is looked
    up in the candidate's process; plain data arrives as values, functions and classes as `Remote`s."""

    def __init__(self, name: str, session: Session) -> None:
        super().__init__(name)
        self.__session = session

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self.__session.request(["name", name], f"{self.__name__}.{name}")
        except NameError:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}") from None


# -- outcomes ---------------------------------------------------------------------------------------------


class Reporter:
    """Writes events to this run's stdout, which the candidate cannot reach."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def emit(self, event: dict[str, Any]) -> None:
        line = RESULT_MARK + json.dumps(event, ensure_ascii=True, default=str).encode("ascii") + b"\n"
        view = memoryview(line)
        while view:
            view = view[os.write(self.fd, view) :]


def _failing_line(exc: BaseException, sources: dict[str, str]) -> str | None:
    """`<tests>:12: assert candidate(3) == 4`: the deepest frame of the tests' own code."""
    found = None
    for filename, lineno, _name in traceback_frames(exc.__traceback__):
        source = sources.get(filename)
        if source is not None and lineno:
            lines = source.splitlines()
            text = lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""
            found = f"{filename}:{lineno}: {text}"
    return found


def classify(
    exc: BaseException | None, session: Session, sources: dict[str, str], output: CappedOutput
) -> dict[str, Any]:
    """The outcome of one run of the tests."""
    detail: dict[str, Any] = {"calls": session.calls}
    if session.last_call is not None:
        detail["last_call"] = session.last_call
        detail["last_result"] = session.last_result
    fault = session.fault
    if fault is not None:
        return {"outcome": "fail", "reason": fault.reason, "message": str(fault), **detail}
    flooded = output.fault()
    if flooded is not None:
        return {**flooded, **detail}
    if exc is None:
        return {"outcome": "pass", **detail}
    line = _failing_line(exc, sources)
    if line:
        detail["at"] = line
    if isinstance(exc, TestSetupError):
        return {"outcome": "error", "reason": "unsupported_test", "message": str(exc), **detail}
    message = f"{type(exc).__name__}: {str(exc)[:1000]}".rstrip(": ")
    if isinstance(exc, AssertionError):
        return {"outcome": "fail", "reason": "wrong_answer", "message": message, **detail}
    by_candidate = exc is session.raised
    if isinstance(exc, MemoryError) and by_candidate:
        return {"outcome": "fail", "reason": "memory_limit", "message": message, **detail}
    origin = "raised by the candidate" if by_candidate else "raised by the tests on the candidate's answer"
    return {"outcome": "fail", "reason": "runtime_error", "message": f"{message} ({origin})", **detail}


_COMPILED: dict[tuple[str, str], Any] = {}


def _compiled(source: str, filename: str) -> Any:
    """Compiled once per process: a long-lived tester sees the same tests sample after sample."""
    key = (source, filename)
    code = _COMPILED.get(key)
    if code is None:
        code = compile(source, filename, "exec", dont_inherit=True)
        if len(_COMPILED) >= 64:
            _COMPILED.clear()
        _COMPILED[key] = code
    return code


def _exec_prompt(prompt: str, namespace: dict[str, Any]) -> str | None:
    """Run the task's prompt for its helpers; a prompt that is not code (or fails) just adds nothing."""
    if not prompt.strip():
        return None
    try:
        exec(_compiled(prompt, PROMPT_FILE), namespace)
    except BaseException as exc:
        return f"{type(exc).__name__}: {str(exc)[:300]}"
    return None


def run_function_tests(job: dict[str, Any], session: Session, output: CappedOutput) -> dict[str, Any]:
    entry_point: str = job["entry_point"]
    namespace: dict[str, Any] = {"__name__": "__tests__", "__builtins__": builtins}
    prompt_note = _exec_prompt(job.get("prompt") or "", namespace)
    candidate = Remote(session, ["name", entry_point], entry_point)
    namespace[entry_point] = candidate
    sources = {TESTS_FILE: job["tests"], PROMPT_FILE: job.get("prompt") or ""}
    error: BaseException | None = None
    try:
        code = _compiled(job["tests"], TESTS_FILE)
    except SyntaxError as exc:
        return {"outcome": "error", "reason": "bad_reference", "message": f"the tests do not compile: {exc}"}
    try:
        session.wait_ready()
        exec(code, namespace)
        check = namespace.get("check")
        if callable(check) and check is not candidate:
            check(candidate)
    except BaseException as exc:
        error = exc
    outcome = classify(error, session, sources, output)
    if prompt_note:
        outcome["prompt_note"] = prompt_note
    return outcome


def run_generated_tests(
    job: dict[str, Any], session: Session, reporter: Reporter, output: CappedOutput
) -> dict[str, Any]:
    """Each generated assertion on its own: an event per test, `passed` true or false (a test that prints
    more than the output limit fails)."""
    entry_point: str = job["entry_point"]
    namespace: dict[str, Any] = {"__name__": "__tests__", "__builtins__": builtins}
    _exec_prompt(job.get("prompt") or "", namespace)
    candidate = Remote(session, ["name", entry_point], entry_point)
    namespace[entry_point] = candidate
    try:
        session.wait_ready()
    except CandidateFault as fault:
        return {"outcome": "fail", "reason": fault.reason, "message": str(fault)}
    passed = 0
    for index, test in enumerate(job["tests"]):
        if session.fault is not None:
            break
        output.reset()
        try:
            exec(compile(test, f"<test {index}>", "exec", dont_inherit=True), dict(namespace))
            ok = True
        except CandidateFault:
            ok = False
        except BaseException:
            ok = False
        ok = ok and not output.exceeded
        passed += ok
        reporter.emit({"test": index, "passed": ok})
    outcome = {"outcome": "done", "passed": passed, "calls": session.calls}
    if session.fault is not None:
        outcome["reason"] = session.fault.reason
        outcome["message"] = str(session.fault)
    return outcome


class _PytestReport:
    """A pytest plugin that counts outcomes (setup errors count as failures)."""

    def __init__(self) -> None:
        self.passed: list[str] = []
        self.failed: list[dict[str, str]] = []

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when == "call" and report.passed:
            self.passed.append(report.nodeid)
        elif report.failed:
            text = str(getattr(report, "longreprtext", "") or "")
            self.failed.append({"test": report.nodeid, "when": report.when, "message": text[-800:]})

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed:
            text = str(getattr(report, "longreprtext", "") or "")
            self.failed.append({"test": report.nodeid or "<collection>", "when": "collect", "message": text[-800:]})


def run_pytest_tests(job: dict[str, Any], session: Session, output: CappedOutput) -> dict[str, Any]:
    """The task's pytest file against the candidate's module (a `RemoteModule` under its name)."""
    sys.path[:0] = [str(path) for path in job.get("sys_path") or []]
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the verifier's own pytest plugins stay out
    try:
        import pytest
    except ImportError as exc:
        return {"outcome": "error", "reason": "unsupported_test", "message": f"pytest is not available here: {exc}"}
    module_name = job["module"]
    sys.modules[module_name] = RemoteModule(module_name, session)
    try:
        session.wait_ready()
    except CandidateFault as fault:
        return {"outcome": "fail", "reason": fault.reason, "message": str(fault)}
    path = os.path.join(os.getcwd(), f"test_{module_name}_reference.py")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(job["tests"])
    report = _PytestReport()
    args = [path, "-q", "-s", "-p", "no:cacheprovider", "--rootdir", os.getcwd(), "-o", "addopts=", "--noconftest"]
    try:  # noqa: SIM105 - contextlib is one more import for every sandboxed run
        pytest.main(args, plugins=[report])
    except OutputLimitExceeded:
        pass  # pytest's own report went past the limit too: `output` says so below
    total = len(report.passed) + len(report.failed)
    detail: dict[str, Any] = {"tests_passed": len(report.passed), "tests": total, "calls": session.calls}
    if session.fault is not None:
        return {"outcome": "fail", "reason": session.fault.reason, "message": str(session.fault), **detail}
    flooded = output.fault()
    if flooded is not None:
        return {**flooded, **detail}
    if not report.failed and report.passed:
        return {"outcome": "pass", **detail}
    if not total:
        return {"outcome": "error", "reason": "bad_reference", "message": "the pytest file has no tests", **detail}
    first = report.failed[0]
    reason = (
        "wrong_answer" if "AssertionError" in first["message"] or "assert " in first["message"] else "runtime_error"
    )
    return {
        "outcome": "fail",
        "reason": reason,
        "message": f"{first['test']}: {first['message']}",
        "failures": report.failed[:5],
        **detail,
    }


def run_job(job: dict[str, Any], session: Session, reporter: Reporter) -> dict[str, Any]:
    """One run of the tests against the candidate behind `session`; never raises."""
    # What the tests print is not the outcome: keep it off the result stream, and within the output limit.
    output = CappedOutput(int(job.get("output_bytes") or DEFAULT_OUTPUT_BYTES))
    sys.stdout = sys.stderr = output
    try:
        style = job["style"]
        if style == "function":
            return run_function_tests(job, session, output)
        if style == "generated_tests":
            return run_generated_tests(job, session, reporter, output)
        if style == "pytest":
            return run_pytest_tests(job, session, output)
        return {"outcome": "error", "reason": "bad_reference", "message": f"unknown style {style!r}"}
    except BaseException as exc:  # a bug here must read as an error, never as a pass
        flooded = output.fault()
        if flooded is not None:
            return flooded
        return {"outcome": "error", "reason": "harness_error", "message": f"{type(exc).__name__}: {exc}"}


def main(job: dict[str, Any], peer_fd: int) -> None:
    """One job, against the candidate at the other end of `peer_fd` (a pair of runs)."""
    if job.get("serve"):
        serve(peer_fd)
    reporter = Reporter(os.dup(1))
    session = Session(Channel(peer_fd), job.get("call_time_limit_s"))
    try:
        # The candidate's program travels through this process, never through the candidates' server.
        session.channel.send({"program": job["candidate_program"]})
        outcome = run_job(job, session, reporter)
    except ChannelError:
        outcome = {"outcome": "fail", "reason": "early_exit", "message": "the candidate's process ended at once"}
    session.channel.close()
    reporter.emit(outcome)
    os._exit(0)


def serve(control_fd: int) -> None:
    """A long-lived tester: jobs arrive on `control_fd`, each with the socket of a candidate (passed
    as a file descriptor); the outcome of each goes back on `control_fd`. Every job gets a fresh namespace;
    the process holds nothing of one candidate when it judges the next but the plain data it was sent."""
    import socket

    control = socket.socket(fileno=control_fd)
    replies = Channel(control_fd)
    reporter = Reporter(os.dup(1))
    while True:
        received = _receive_job(control)
        if received is None:
            os._exit(0)
        job, fds = received
        if len(fds) != 1:
            for fd in fds:
                os.close(fd)
            replies.send({"outcome": "error", "reason": "harness_error", "message": "a job came without its candidate"})
            continue
        session = Session(Channel(fds[0]), job.get("call_time_limit_s"))
        outcome = run_job(job, session, reporter)
        session.channel.close()
        replies.send(outcome)


def _receive_job(control: Any) -> tuple[dict[str, Any], list[int]] | None:
    """A frame (4-byte length, JSON) and the descriptors that came with it; None when the caller hung up."""
    import socket

    buffer = bytearray()
    fds: list[int] = []
    size: int | None = None
    while size is None or len(buffer) < 4 + size:
        data, more, _flags, _addr = socket.recv_fds(control, 1 << 16, 4)
        fds.extend(more)
        if not data:
            return None
        buffer += data
        if size is None and len(buffer) >= 4:
            size = int.from_bytes(buffer[:4], "big")
    return json.loads(bytes(buffer[4 : 4 + size])), fds
