"""`code`: decides whether a program sample is correct by running tests in a sandbox.

Task styles (see `assay_code.references` and the README): `function` (HumanEval/MBPP), `io` (stdin/stdout,
Python or C++), `pytest`, and `generated_tests` (CodeT's dual execution agreement, no ground truth).

For `function`, `pytest` and `generated_tests` the candidate's program and the tests run in two sandboxed
processes connected by a socket, and only plain data crosses it (`assay_code.wire`): the judgement is made
where the candidate cannot reach. For `io`, the program's output is compared here, outside the sandbox.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import Field

from assay import (
    WALL_TIME_STRETCH,
    ExecResult,
    Limits,
    PairResult,
    PythonProgram,
    PythonSandbox,
    Sample,
    Status,
    Task,
    Verdict,
    Verifier,
    VerifierConfig,
    open_sandbox,
    takes_option,
)
from assay.plugins import get_registry
from assay_code import harness
from assay_code.compare import first_mismatch
from assay_code.feedback import code_feedback
from assay_code.harness.channel import frame
from assay_code.harness.tester import RESULT_MARK
from assay_code.program import assemble, compile_error, extract_source, prompt_for_tests
from assay_code.references import (
    CodeReference,
    FunctionReference,
    GeneratedTestsReference,
    IOReference,
    PytestReference,
)
from assay_code.tester_host import TesterHost, TesterUnavailable

#: How much of a program's own output a verdict keeps (details.output).
_OUTPUT_CHARS = 1000
#: What a sandboxed process of a sample may print, stdout and stderr each: the sandbox ends a run that
#: writes more (`output_limit`), and the tester applies the same limit to what its tests print.
_OUTPUT_BYTES = Limits().output_bytes
#: Extra time the tester gets over the candidate's, so that a hung candidate is reported by the
#: tests (which are waiting for it) and not mistaken for slow tests.
_TESTER_GRACE_S = 0.5
#: Runs of the reference solution that calibrate a learned time limit at most (the least CPU time of them
#: counts; one is enough when it already puts the limit at the floor).
_CALIBRATION_RUNS = 3
#: Learned limits a verifier keeps (one per task it has judged lately).
_LEARNED_LIMITS_KEPT = 256


class CodeConfig(VerifierConfig):
    """Settings of the `code` verifier (`--set key=value`)."""

    time_limit_s: float = Field(
        default=10.0,
        gt=0,
        description="Time for one sample, all its runs and compilation included, on the sandbox's clock: real time "
        "less the time spent waiting for a CPU other work held (see Time limits).",
    )
    case_time_limit_s: float = Field(default=2.0, gt=0, description="io style: one case, on the same clock.")
    memory_mb: int = Field(default=1024, gt=0, description="Address space of the candidate's process, MiB.")
    tester_memory_mb: int = Field(default=2048, gt=0, description="Address space of the tester, MiB.")
    sandbox: str = Field(default="local", description="The sandbox backend (`assay plugins` lists them).")
    stop_sequences: list[str] = Field(
        default_factory=list,
        description="Cut samples at the first of these (HumanEval's: assay_code.humaneval.STOP_SEQUENCES).",
    )
    float_tolerance: float = Field(default=1e-6, ge=0, description="io style: absolute or relative tolerance.")
    call_time_limit_s: float = Field(
        default=1.0, gt=0, description="generated_tests: one call; a sample that hangs fails that test alone."
    )
    cpp_flags: list[str] = Field(default_factory=lambda: ["-O2", "-std=c++17"], description="io style, C++: g++ flags.")
    concurrency: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Samples judged at once by one worker (verify_batch), each in its own sandbox.",
    )
    shared_tester: bool = Field(
        default=True,
        description="function style: one long-lived tester per task and thread judges every candidate "
        "(each still in a fresh process); false: a fresh tester per sample (run_python_pair).",
    )
    compile_memory_mb: int = Field(default=2048, gt=0, description="io style, C++: address space of g++.")
    learned_time_limit: bool = Field(
        default=False,
        description="function style: each task's limit is learned from its reference solution "
        "(`reference.solution`): `learned_limit_factor` times the CPU time it needs, at least "
        "`learned_limit_floor_s`, at most `time_limit_s`; reported in `details.time_limit_s`.",
    )
    learned_limit_factor: float = Field(
        default=10.0, gt=0, description="A learned limit is this many times the reference solution's CPU time."
    )
    learned_limit_floor_s: float = Field(default=0.25, gt=0, description="A learned limit is never below this.")


@dataclass
class _Outcome:
    """What a run of the tests said: its last event and the events before it."""

    final: dict[str, Any] | None
    events: list[dict[str, Any]]


def _read_events(result: ExecResult) -> _Outcome:
    events = []
    for line in result.stdout.split(b"\n"):
        if line.startswith(RESULT_MARK):
            try:
                event = json.loads(line[len(RESULT_MARK) :])
            except ValueError:
                continue
            if isinstance(event, dict):
                events.append(event)
    final = events[-1] if events and "outcome" in events[-1] else None
    return _Outcome(final, events if final is None else events[:-1])


def _program_output(result: ExecResult) -> str:
    return result.stdout[:_OUTPUT_CHARS].decode("utf-8", "replace")


class CodeVerifier(Verifier):
    """Runs a program sample against its task's tests in a sandbox; see the module docs."""

    name = "code"
    version = "0.2.0"
    kind = "execution"
    Config = CodeConfig
    config: CodeConfig
    #: A whole task per unit where it fits: a sample that runs to its time limit then overlaps with more
    #: of its unit's other samples before the unit's last verdict is due.
    batch_size = 256
    #: A worker starts its next unit while a sample of the last one runs to its time limit: a program
    #: spends its time in sandboxed processes, so the worker's threads mostly wait.
    concurrent_units = 2

    def __init__(self, config: CodeConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        # One sandbox per thread: `verify_batch` judges several samples at once, each in its own.
        self._local = threading.local()
        self._sandboxes: list[PythonSandbox] = []
        self._preloaded: set[PythonSandbox] = set()  # the sandboxes whose servers hold the harness
        self._sandbox_python: str | None = None
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._tester_hosts: list[TesterHost] = []
        self._learned: dict[tuple[str, ...], tuple[float, dict[str, Any]]] = {}
        self._learn_lock = threading.Lock()

    # -- the sandbox -----------------------------------------------------------------------------------

    @property
    def sandbox(self) -> PythonSandbox:
        """This thread's sandbox, started on first use."""
        return self._thread_sandbox("sandbox", {})

    def _thread_sandbox(self, slot: str, optional: dict[str, Any]) -> PythonSandbox:
        sandbox: PythonSandbox | None = getattr(self._local, slot, None)
        if sandbox is None:
            # Where the backend can preload, every run finds the harness imported instead of loading it from stdin.
            preloaded = takes_option(get_registry().sandbox_class(self.config.sandbox), "preload_sources")
            sandbox = self._open_python_sandbox({**optional, "preload_sources": harness.preload_sources()})
            python = str(sandbox.isolation().get("python") or "") or None
            with self._lock:
                self._sandboxes.append(sandbox)
                if preloaded:
                    self._preloaded.add(sandbox)
                self._sandbox_python = python
            setattr(self._local, slot, sandbox)
        return sandbox

    def _open_python_sandbox(self, optional: dict[str, Any] | None = None) -> PythonSandbox:
        sandbox = open_sandbox(self.config.sandbox, optional=optional)
        if not isinstance(sandbox, PythonSandbox):
            raise TypeError(f"sandbox {self.config.sandbox!r} has no Python fast path (run_python_pair)")
        return sandbox

    def _pytest_sandbox(self) -> PythonSandbox:
        """A sandbox whose runs may also read where pytest is installed (the tester imports it); a
        backend that cannot add readable paths (docker) must have pytest in its image."""
        sandbox: PythonSandbox | None = getattr(self._local, "pytest_sandbox", None)
        if sandbox is None:  # decided once per thread, not per sample
            if takes_option(get_registry().sandbox_class(self.config.sandbox), "read_paths"):
                sandbox = self._thread_sandbox("pytest_sandbox", {"read_paths": _pytest_paths()})
            else:
                sandbox = self._local.pytest_sandbox = self.sandbox
        return sandbox

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
            for host in self._tester_hosts:
                host.close()
            self._tester_hosts.clear()
            for sandbox in self._sandboxes:
                sandbox.close()
            self._sandboxes.clear()
        self._local = threading.local()

    def feedback(self, task: Task, verdict: Verdict, *, show_tests: bool) -> str | None:
        """The first failing test with its input, expected and actual value, or the exception."""
        return code_feedback(task, verdict, show_tests=show_tests)

    def verify_batch(self, task: Task, samples: Sequence[Sample]) -> list[Verdict]:
        """Several samples at once (`concurrency` of them), each pair of runs in its own sandbox: a pair
        spends most of its time waiting on process start-up and exit, which another pair can fill."""
        if self.config.concurrency <= 1 or len(samples) <= 1:
            return [self.verify(task, sample) for sample in samples]
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.config.concurrency, thread_name_prefix="assay-code")
            pool = self._pool
        return list(pool.map(lambda sample: self.verify(task, sample), samples))

    def _limits(self, wall_s: float, memory_mb: int) -> Limits:
        wall_s = max(wall_s, 0.05)
        return Limits(wall_time_s=wall_s, cpu_time_s=wall_s, memory_mb=memory_mb, output_bytes=_OUTPUT_BYTES)

    def _program(self, role: str, job: dict[str, Any], sandbox: PythonSandbox) -> PythonProgram:
        preloaded = sandbox in self._preloaded
        return PythonProgram(
            source=harness.bootstrap(preloaded),
            stdin=harness.bundle(role, job, self._sandbox_python, preloaded=preloaded),
            filename=f"{role}_harness.py",
        )

    def _pair(
        self,
        candidate_job: dict[str, Any],
        tester_job: dict[str, Any],
        wall_s: float,
        sandbox: PythonSandbox | None = None,
    ) -> PairResult:
        sandbox = sandbox or self.sandbox
        return sandbox.run_python_pair(
            self._program("candidate", candidate_job, sandbox),
            self._program("tester", tester_job, sandbox),
            limits=self._limits(wall_s, self.config.memory_mb),
            # The candidate's limit bounds the pair: the tester waits for it, and a candidate that
            # waited for a CPU on a busy machine may take longer than its limit in real time.
            tester_limits=self._limits(wall_s * WALL_TIME_STRETCH + _TESTER_GRACE_S, self.config.tester_memory_mb),
        )

    # -- the contract --------------------------------------------------------------------------------------

    def verify(self, task: Task, sample: Sample) -> Verdict:
        reference = self.parse_reference(task, CodeReference).root
        if isinstance(reference, FunctionReference):
            return self._verify_function(task, sample, reference)
        if isinstance(reference, GeneratedTestsReference):
            return self._verify_generated(task, sample, reference)
        if isinstance(reference, IOReference):
            return self._verify_io(task, sample, reference)
        return self._verify_pytest(task, sample, reference)

    # -- function --------------------------------------------------------------------------------------------

    def _verify_function(self, task: Task, sample: Sample, reference: FunctionReference) -> Verdict:
        time_limit_s, notes = self._function_time_limit(task, reference)
        verdict, _ = self._run_function(task, sample, reference, time_limit_s)
        verdict.details.update({key: dict(value) if isinstance(value, dict) else value for key, value in notes.items()})
        return verdict

    def _run_function(
        self, task: Task, sample: Sample, reference: FunctionReference, time_limit_s: float
    ) -> tuple[Verdict, float | None]:
        """The verdict, and the CPU seconds the candidate's process used (None when none ran)."""
        program = assemble(task.prompt, sample.text, reference.entry_point, stop_sequences=self.config.stop_sequences)
        if not program.ok:
            verdict = self.verdict(
                task,
                sample,
                "fail",
                score=0.0,
                reason="syntax_error",
                details={"message": program.syntax_error, "program": program.how},
            )
            return verdict, None
        candidate_job = {"entry_point": reference.entry_point}
        tester_job = {
            "candidate_program": program.source,
            "style": "function",
            "output_bytes": _OUTPUT_BYTES,
            "prompt": prompt_for_tests(task.prompt, reference.entry_point),
            "tests": reference.tests,
            "entry_point": reference.entry_point,
        }
        details = {"program": program.how}
        if self.config.shared_tester and hasattr(self.sandbox, "run_python_interactive"):
            return self._judged_by_shared_tester(task, sample, candidate_job, tester_job, details, time_limit_s)
        pair = self._pair(candidate_job, tester_job, time_limit_s)
        outcome = _read_events(pair.tester).final
        verdict = self._judged(task, sample, outcome, pair.candidate, pair.tester, details, time_limit_s)
        return verdict, pair.candidate.cpu_s

    def _function_time_limit(self, task: Task, reference: FunctionReference) -> tuple[float, dict[str, Any]]:
        """The task's time limit, and what a verdict says about it when it is learned."""
        if not self.config.learned_time_limit:
            return self.config.time_limit_s, {}
        key = (task.id, task.prompt, reference.entry_point, reference.tests, reference.solution or "")
        # The threads of a worker judge one task at once: it is calibrated once, by the first of them.
        with self._learn_lock:
            learned = self._learned.get(key)
            if learned is None:
                learned = self._calibrate(task, reference)
                if len(self._learned) >= _LEARNED_LIMITS_KEPT:
                    del self._learned[next(iter(self._learned))]
                self._learned[key] = learned
        return learned

    def _calibrate(self, task: Task, reference: FunctionReference) -> tuple[float, dict[str, Any]]:
        """A limit learned from the reference solution's CPU time, the least of a few runs: CPU time, not
        wall time, and the reference, not other samples, so that no verdict depends on the machine's load
        or on which samples were judged before it."""
        ceiling = self.config.time_limit_s
        how: dict[str, Any] = {
            "from": "reference solution",
            "factor": self.config.learned_limit_factor,
            "floor_s": self.config.learned_limit_floor_s,
            "ceiling_s": ceiling,
        }
        if reference.solution is None:
            how.update({"from": None, "why": "the task has no reference solution: the fixed limit holds"})
            return ceiling, {"time_limit_s": ceiling, "time_limit_learned": how}
        solution = Sample(task_id=task.id, index=0, text=reference.solution)
        times: list[float] = []
        for _ in range(_CALIBRATION_RUNS):
            verdict, cpu_s = self._run_function(task, solution, reference, ceiling)
            if verdict.status != "pass" or cpu_s is None:
                why = f"the reference solution did not pass ({verdict.status}, {verdict.reason}): the fixed limit holds"
                how.update({"from": None, "why": why})
                return ceiling, {"time_limit_s": ceiling, "time_limit_learned": how}
            times.append(cpu_s)
            if self.config.learned_limit_factor * min(times) <= self.config.learned_limit_floor_s:
                break  # the floor holds: more runs could only lower the least time
        how["reference_cpu_s"] = round(min(times), 6)
        learned = max(self.config.learned_limit_floor_s, self.config.learned_limit_factor * min(times))
        limit = round(min(ceiling, learned), 3)
        return limit, {"time_limit_s": limit, "time_limit_learned": how}

    def _tester_host(self) -> TesterHost:
        host: TesterHost | None = getattr(self._local, "tester_host", None)
        if host is None:
            self.sandbox  # noqa: B018 - starts this thread's sandbox, which tells the sandbox's Python version
            host = TesterHost(self._open_python_sandbox, self.config.tester_memory_mb, self._sandbox_python)
            with self._lock:
                self._tester_hosts.append(host)
            self._local.tester_host = host
        return host

    def _judged_by_shared_tester(
        self,
        task: Task,
        sample: Sample,
        candidate_job: dict[str, Any],
        tester_job: dict[str, Any],
        details: dict[str, Any],
        time_limit_s: float,
    ) -> tuple[Verdict, float]:
        """The candidate in a fresh sandboxed process, judged by this thread's long-lived tester;
        the verdict and the candidate's CPU seconds."""
        host = self._tester_host()
        key = (task.id, tester_job["prompt"], tester_job["tests"], tester_job["entry_point"])
        tester_end = ExecResult(status="ok")

        program = tester_job["candidate_program"]
        job = {k: v for k, v in tester_job.items() if k != "candidate_program"}
        with contextlib.suppress(TesterUnavailable):  # `run_tests` tries again, and reports the failure
            host.prepare(key)

        def talk(sock: socket.socket) -> dict[str, Any] | None:
            nonlocal tester_end
            try:
                # The program goes down the candidate's own socket (see harness/candidate.py: main).
                sock.sendall(frame(json.dumps({"program": program}).encode()))
                # A backstop only: the candidate's run ends at its limit, and the tests then answer at once.
                return host.run_tests(key, sock, job, time_limit_s * WALL_TIME_STRETCH + _TESTER_GRACE_S + 1.0)
            except OSError as exc:
                tester_end = ExecResult(status="ok", message=f"the candidate's socket failed: {exc}")
                return {"outcome": "fail", "reason": "early_exit", "message": "the candidate's process ended at once"}
            except TimeoutError as exc:
                tester_end = ExecResult(status="time_limit", message=str(exc))
            except TesterUnavailable as exc:
                tester_end = exc.result or ExecResult(status="sandbox_error", message=str(exc))
                if tester_end.status in ("ok", "cancelled"):
                    tester_end = ExecResult(status="exit_nonzero", message=str(exc), stderr=tester_end.stderr)
            return None

        candidate, outcome = self.sandbox.run_python_interactive(
            self._program("candidate", candidate_job, self.sandbox),
            talk,
            limits=self._limits(time_limit_s, self.config.memory_mb),
        )
        return self._judged(task, sample, outcome, candidate, tester_end, details, time_limit_s), candidate.cpu_s

    def _judged(
        self,
        task: Task,
        sample: Sample,
        outcome: dict[str, Any] | None,
        candidate: ExecResult,
        tester: ExecResult,
        details: dict[str, Any],
        time_limit_s: float,
    ) -> Verdict:
        """The verdict from the tests' own outcome, sharpened by how the candidate's run ended."""
        output = _program_output(candidate)
        if output:
            details["output"] = output
        runs = (("candidate_run", "the candidate's process", candidate), ("tester_run", "the tester", tester))
        for key, process, run in runs:
            if run.status == "output_limit":
                # Whatever the tests said: a run that wrote too much fails, however it wrote (the tests may
                # have had their answer in the moment before the sandbox ended the run).
                details["message"] = f"{process} wrote more than {_OUTPUT_BYTES} bytes of output"
                details[key] = {"status": run.status, "returncode": run.returncode}
                return self.verdict(task, sample, "fail", score=0.0, reason="output_limit", details=details)
        if outcome is None:
            return self._unfinished(task, sample, tester, candidate, details, time_limit_s)
        details.update({k: v for k, v in outcome.items() if k not in ("outcome", "reason")})
        kind = outcome.get("outcome")
        if kind == "pass":
            return self.verdict(task, sample, "pass", score=1.0, details=details)
        reason = str(outcome.get("reason") or "wrong_answer")
        if kind == "error":
            details.setdefault("message", "the tests could not run")
            return self.verdict(task, sample, "error", reason=reason, details=details)
        status: Status = "fail"
        if reason == "early_exit":
            reason, status = _why_candidate_ended(candidate, details)
        if reason == "time_limit":
            status = "timeout"
        return self.verdict(task, sample, status, passed=False, score=0.0, reason=reason, details=details)

    def _unfinished(
        self,
        task: Task,
        sample: Sample,
        tester: ExecResult,
        candidate: ExecResult,
        details: dict[str, Any],
        time_limit_s: float,
    ) -> Verdict:
        details["tester_run"] = {"status": tester.status, "returncode": tester.returncode}
        if tester.status == "sandbox_error" or candidate.status == "sandbox_error":
            message = tester.message if tester.status == "sandbox_error" else candidate.message
            return self.error(task, sample, "sandbox_error", message or "the sandbox failed", **details)
        if tester.status in ("time_limit", "cpu_limit") or candidate.status in ("time_limit", "cpu_limit"):
            details["message"] = f"no answer within {time_limit_s:g}s"
            return self.verdict(task, sample, "timeout", passed=False, score=0.0, reason="time_limit", details=details)
        if tester.status == "memory_limit":
            # The tester ran out of memory rebuilding what the candidate sent.
            details["message"] = "the candidate's answer was too large for the tester"
            return self.verdict(task, sample, "fail", score=0.0, reason="memory_limit", details=details)
        details["message"] = "the tester ended without an outcome"
        details["stderr"] = tester.stderr[-2000:].decode("utf-8", "replace")
        return self.error(task, sample, "harness_error", details.pop("message"), **details)

    # -- generated tests (CodeT) -----------------------------------------------------------------------------

    def _verify_generated(self, task: Task, sample: Sample, reference: GeneratedTestsReference) -> Verdict:
        program = assemble(task.prompt, sample.text, reference.entry_point, stop_sequences=self.config.stop_sequences)
        total = len(reference.tests)
        if not program.ok:
            return self.verdict(
                task,
                sample,
                "fail",
                score=0.0,
                answer=_signature([], total),
                reason="syntax_error",
                details={"message": program.syntax_error, "tests_passed": 0, "tests": total},
            )
        spent = 0.0  # on the sandbox's clock, which leaves out waiting for a CPU: not on the load
        results: dict[int, bool] = {}
        start, restarts = 0, 0
        notes: list[str] = []
        # A sample that hangs on one test fails that test; the run starts again after it.
        while start < total:
            remaining = self.config.time_limit_s - spent
            if remaining <= 0.05:
                notes.append(f"out of time after {start} of {total} tests")
                break
            indices = list(range(start, total))
            pair = self._pair(
                {"entry_point": reference.entry_point},
                {
                    "candidate_program": program.source,
                    "style": "generated_tests",
                    "output_bytes": _OUTPUT_BYTES,
                    "prompt": prompt_for_tests(task.prompt, reference.entry_point),
                    "entry_point": reference.entry_point,
                    "tests": [reference.tests[i] for i in indices],
                    "call_time_limit_s": self.config.call_time_limit_s,
                },
                remaining,
            )
            spent += _clock_s(pair.candidate)
            outcome = _read_events(pair.tester)
            for event in outcome.events:
                position = event.get("test")
                if isinstance(position, int) and 0 <= position < len(indices):
                    results[indices[position]] = bool(event.get("passed"))
            done = start + sum(1 for e in outcome.events if isinstance(e.get("test"), int))
            final = outcome.final or {}
            if final.get("outcome") == "error" or pair.tester.status == "sandbox_error":
                return self.error(
                    task,
                    sample,
                    str(final.get("reason") or "sandbox_error"),
                    str(final.get("message") or pair.tester.message or "the tests could not run"),
                )
            if final.get("outcome") == "fail":  # the program did not load: every test fails
                notes.append(str(final.get("message")))
                break
            if done >= total:
                break
            if final:
                # The tests stopped at a test that hung or killed the candidate, and reported it failed.
                notes.append(str(final.get("message")))
                start = done
            else:
                # The tester itself was stopped (out of time) in the middle of test `done`.
                results.setdefault(done, False)
                start = done + 1
            restarts += 1
        passed = sorted(i for i, ok in results.items() if ok)
        score = len(passed) / total
        details: dict[str, Any] = {"tests_passed": len(passed), "tests": total, "restarts": restarts}
        if notes:
            details["notes"] = notes[:5]
        # Without ground truth, "pass" means agreeing with every generated test; selection uses the
        # signature (which tests pass) and the score, as CodeT does.
        status: Status = "pass" if len(passed) == total else "fail"
        return self.verdict(
            task,
            sample,
            status,
            score=score,
            answer=_signature(passed, total),
            reason=None if status == "pass" else "generated_tests_failed",
            details=details,
        )

    # -- stdin/stdout ----------------------------------------------------------------------------------------

    def _verify_io(self, task: Task, sample: Sample, reference: IOReference) -> Verdict:
        source = extract_source(sample.text, reference.language)
        details: dict[str, Any] = {"language": reference.language}
        spent = 0.0  # on the sandbox's clock, which leaves out waiting for a CPU: not on the load
        if reference.language == "python":
            error = compile_error(source)
            if error is not None:
                return self.verdict(
                    task,
                    sample,
                    "fail",
                    score=0.0,
                    reason="syntax_error",
                    details={**details, "message": error},
                )
            run_case = self._python_case_runner(source)
        else:
            binary, compile_failure, spent = self._compile_cpp(source)
            if compile_failure is not None:
                return self.verdict(
                    task,
                    sample,
                    compile_failure[0],
                    passed=False,
                    score=0.0,
                    reason=compile_failure[1],
                    details={**details, "message": compile_failure[2]},
                )
            assert binary is not None
            run_case = self._cpp_case_runner(binary)
        passed = 0
        first_failure: tuple[str, dict[str, Any]] | None = None
        for index, case in enumerate(reference.cases):
            remaining = self.config.time_limit_s - spent
            if remaining <= 0.05:
                first_failure = first_failure or ("time_limit", {"case": index, "message": "out of time"})
                break
            result = run_case(case.input.encode(), min(self.config.case_time_limit_s, remaining))
            spent += _clock_s(result)
            failure = self._case_failure(result, case.output)
            if failure is None:
                passed += 1
            elif first_failure is None:
                first_failure = (failure[0], {"case": index, **failure[1]})
        total = len(reference.cases)
        details.update({"cases_passed": passed, "cases": total})
        if first_failure is None:
            return self.verdict(task, sample, "pass", score=1.0, details=details)
        reason, info = first_failure
        details["first_failure"] = info
        status: Status = "timeout" if reason == "time_limit" else "fail"
        return self.verdict(task, sample, status, passed=False, score=passed / total, reason=reason, details=details)

    def _python_case_runner(self, source: str) -> Any:
        sandbox = self.sandbox
        if not hasattr(sandbox, "run_python_interactive"):
            return lambda stdin, wall_s: sandbox.run_python(
                source, stdin=stdin, limits=self._limits(wall_s, self.config.memory_mb), filename="solution.py"
            )
        program = self._program("candidate", {"whole_program": True}, sandbox)

        def run(stdin: bytes, wall_s: float) -> ExecResult:
            # The program and its input go down the run's own socket, not through the sandbox's server,
            # which would keep them in the memory that later runs are forked from (see harness/candidate.py).
            body = json.dumps({"program": source, "input": stdin.decode("utf-8", "surrogateescape")}).encode()

            def talk(sock: socket.socket) -> None:
                # A backstop only, on the real clock: the run's own limit is on the sandbox's clock, which
                # leaves out waiting for a CPU and so may take up to WALL_TIME_STRETCH times as long on a
                # busy machine. Ending the conversation sooner would cancel a run that is within its limit.
                sock.settimeout(wall_s * WALL_TIME_STRETCH + 1.0)
                try:
                    sock.sendall(frame(body))
                    while sock.recv(1 << 16):  # until the run ends (what the program writes here is ignored)
                        pass
                except OSError:
                    pass

            result, _ = sandbox.run_python_interactive(
                program, talk, limits=self._limits(wall_s, self.config.memory_mb)
            )
            return result

        return run

    def _cpp_case_runner(self, binary: bytes) -> Any:
        def run(stdin: bytes, wall_s: float) -> ExecResult:
            return self.sandbox.run(
                ["/bin/sh", "-c", "chmod 700 solution && exec ./solution"],
                files={"solution": binary},
                stdin=stdin,
                limits=self._limits(wall_s, self.config.memory_mb),
            )

        return run

    def _compile_cpp(self, source: str) -> tuple[bytes | None, tuple[Status, str, str] | None, float]:
        """The binary or why there is none, and the time compiling took on the sandbox's clock."""
        wall = self.config.time_limit_s
        result = self.sandbox.run(
            ["g++", *self.config.cpp_flags, "-o", "solution", "solution.cpp"],
            files={"solution.cpp": source},
            limits=Limits(
                wall_time_s=wall,
                cpu_time_s=wall,
                memory_mb=self.config.compile_memory_mb,
                processes=32,
                file_size_mb=64,
                disk_mb=256,
            ),
            collect=["solution"],
        )
        spent = _clock_s(result)
        if result.status in ("time_limit", "cpu_limit"):
            return None, ("timeout", "time_limit", f"compilation took over {wall:.1f}s"), spent
        if result.status == "sandbox_error":
            return None, ("error", "sandbox_error", result.message or "the sandbox failed"), spent
        binary = result.files.get("solution")
        if result.status != "ok" or not binary:
            message = result.stderr[-3000:].decode("utf-8", "replace") or result.message or result.status
            return None, ("fail", "compile_error", message), spent
        return binary, None, spent

    def _case_failure(self, result: ExecResult, expected: str) -> tuple[str, dict[str, Any]] | None:
        if result.status == "ok":
            mismatch = first_mismatch(result.stdout.decode("utf-8", "replace"), expected, self.config.float_tolerance)
            if mismatch is None:
                return None
            return "wrong_answer", {"message": str(mismatch)}
        reason = {
            "time_limit": "time_limit",
            "cpu_limit": "time_limit",
            "memory_limit": "memory_limit",
            "output_limit": "output_limit",
            "sandbox_error": "sandbox_error",
        }.get(result.status, "runtime_error")
        tail = result.stderr[-1500:].decode("utf-8", "replace")
        return reason, {"message": f"{result.status} (exit {result.returncode})", "stderr": tail}

    # -- pytest ----------------------------------------------------------------------------------------------

    def _verify_pytest(self, task: Task, sample: Sample, reference: PytestReference) -> Verdict:
        source = extract_source(sample.text, "python")
        if task.prompt and compile_error(task.prompt + source) is None and compile_error(source) is not None:
            source = task.prompt + source
        error = compile_error(source)
        if error is not None:
            return self.verdict(task, sample, "fail", score=0.0, reason="syntax_error", details={"message": error})
        if reference.prelude and compile_error(reference.prelude + source) is None:  # not before `__future__`
            source = reference.prelude + source
        unreachable = pytest_unreachable()
        if unreachable:
            return self.error(task, sample, "unsupported_test", unreachable)
        sandbox = self._pytest_sandbox()
        pair = self._pair(
            {"module": reference.module, "handles": True},
            {
                "candidate_program": source,
                "style": "pytest",
                "output_bytes": _OUTPUT_BYTES,
                "tests": reference.tests,
                "module": reference.module,
                "sys_path": _pytest_paths(),
            },
            self.config.time_limit_s,
            sandbox,
        )
        outcome = _read_events(pair.tester).final
        verdict = self._judged(task, sample, outcome, pair.candidate, pair.tester, {}, self.config.time_limit_s)
        tests, passed = verdict.details.get("tests"), verdict.details.get("tests_passed")
        if isinstance(tests, int) and isinstance(passed, int) and tests:
            verdict.score = passed / tests
        return verdict


@cache
def pytest_unreachable() -> str | None:
    """Why the tester (another uid) cannot import this pytest, or None when it can: every folder
    above it must be searchable and its files readable by other users."""
    for folder in _pytest_paths() or ["<pytest is not installed>"]:
        path = Path(folder)
        if not path.is_dir():
            return f"pytest is not installed next to the verifier ({folder})"
        for part in [path, *path.parents]:
            if not part.stat().st_mode & 0o001:
                return (
                    f"pytest is installed under {part}, which the sandbox's user cannot enter; install it where "
                    "other users can read it (a virtual environment outside /root, say)"
                )
    return None


@cache
def _pytest_paths() -> list[str]:
    """The folders pytest and what it imports are installed in (for the tester to import them)."""
    import importlib.util

    paths: list[str] = []
    for name in ("pytest", "_pytest", "pluggy", "iniconfig", "packaging"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            folder = str(Path(spec.origin).resolve().parent.parent)
            if folder not in paths:
                paths.append(folder)
    return paths


def _why_candidate_ended(candidate: ExecResult, details: dict[str, Any]) -> tuple[str, Status]:
    """The candidate's process ended before the tests: say how (a limit, a signal, an exit)."""
    details["candidate_run"] = {"status": candidate.status, "returncode": candidate.returncode}
    by_status: dict[str, str] = {
        "memory_limit": "memory_limit",
        "cpu_limit": "time_limit",
        "time_limit": "time_limit",
        "output_limit": "output_limit",
        "process_limit": "process_limit",
        "file_limit": "file_limit",
        "signaled": "crashed",
    }
    reason = by_status.get(candidate.status, "early_exit")
    return reason, "timeout" if reason == "time_limit" else "fail"


def _clock_s(result: ExecResult) -> float:
    """How long a run took on the sandbox's clock: what it would have taken on an idle machine."""
    return max(0.0, result.wall_s - result.cpu_wait_s)


def _signature(passed: Sequence[int], total: int) -> str:
    """Which generated tests a sample passes, as hex: samples with the same signature agree."""
    bits = 0
    for index in passed:
        bits |= 1 << index
    return f"{total}:{bits:x}"
