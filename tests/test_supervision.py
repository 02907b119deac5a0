"""Workers that hang in C, stop reading, close their pipe or die, against real worker processes (the local
executor) and a real `assay serve` on loopback (its pools): every deadline holds, every sample gets one
verdict, and a run's wall time stays within N x (limit + grace) / J plus start-up."""

from __future__ import annotations

import concurrent.futures
import contextlib
import gc
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import assay
from assay import Sample, Task, Verdict, Verifier
from assay.executors import ProcessExecutor, VerifierSpec
from assay.executors.base import WorkUnit
from assay.executors.channel import WorkerEnd
from assay.executors.supervision import Loss, Supervisor, WorkersKeepDying, WorkerState
from assay.testing.echo import EchoVerifier

BIG = "2" * 800_000  # an answer larger than any pipe's buffer
#: Start-up of the workers and the engine, on a loaded 2-core machine.
START_UP_S = 8.0


def _bound_s(samples: int, jobs: int, time_limit_s: float) -> float:
    """The documented bound on a run's wall time, with room for a loaded machine."""
    backstop = VerifierSpec(EchoVerifier, {"time_limit_s": time_limit_s}).backstop_s
    return 1.25 * samples * backstop / jobs + START_UP_S


def _run(samples: list[Sample], tasks: list[Task], jobs: int, tmp_path: Path, **config: Any) -> list[Verdict]:
    return list(
        assay.verify(
            tasks,
            samples,
            EchoVerifier,
            config={"misbehave": True, **config},
            jobs=jobs,
            store=tmp_path / f"s{time.monotonic_ns()}.sqlite",
            progress=False,
        )
    )


# -- a verifier that blocks in C while many units are queued ---------------------------------------------


def test_a_sample_blocking_in_c_while_large_units_queue_times_out_and_the_run_goes_on(tmp_path: Path) -> None:
    tasks = [Task(id=f"t{i}", reference={"answer": "1"}) for i in range(6)]
    samples = []
    for i in range(6):
        texts = ["!block", BIG, BIG, BIG, "1", "2"] if i % 3 == 0 else ["1", BIG, "2", BIG]
        samples += [Sample(task_id=f"t{i}", index=j, text=text) for j, text in enumerate(texts)]
    started = time.monotonic()
    verdicts = _run(samples, tasks, 2, tmp_path, time_limit_s=0.3)
    elapsed = time.monotonic() - started
    assert [(v.task_id, v.sample_index) for v in verdicts] == [(s.task_id, s.index) for s in samples]
    for sample, verdict in zip(samples, verdicts, strict=True):
        if sample.text == "!block":
            assert (verdict.status, verdict.reason) == ("timeout", "time_limit")
            assert verdict.details["enforced_by"] == "engine"
        else:
            assert verdict.status == ("pass" if sample.text == "1" else "fail"), (sample.text[:9], verdict)
    assert elapsed < _bound_s(2, 2, 0.3) + 4.0, elapsed  # two hung samples; the rest is quick


def test_every_worker_hung_at_once_with_work_queued_behind_them(tmp_path: Path) -> None:
    # One task per hung sample, so that each is its own unit and every worker takes one.
    tasks = [Task(id=f"h{i}", reference={"answer": "1"}) for i in range(4)] + [Task(id="ok", reference={"answer": "1"})]
    samples = [Sample(task_id=f"h{i}", index=0, text="!block") for i in range(4)]
    samples += [Sample(task_id="ok", index=j, text=BIG if j % 2 else "1") for j in range(30)]
    started = time.monotonic()
    verdicts = _run(samples, tasks, 2, tmp_path, time_limit_s=0.3)
    elapsed = time.monotonic() - started
    assert [v.status for v in verdicts[:4]] == ["timeout"] * 4
    assert [v.status for v in verdicts[4:]] == ["fail" if j % 2 else "pass" for j in range(30)]
    assert elapsed < _bound_s(4, 2, 0.3) + 4.0, elapsed


# -- workers that stop reading their pipe, or close it ---------------------------------------------------

_KEEP: list[Any] = []


def _stop_reading(keep_pipe_open: bool) -> None:
    """Put a socket nobody writes to in place of this worker's end of its channel: the worker blocks
    reading it forever and answers into it. With `keep_pipe_open` the real end stays open (the engine sees
    a worker that stops reading but runs on), else the engine sees the pipe closed."""
    end = next(obj for obj in gc.get_objects() if isinstance(obj, WorkerEnd))
    fd = end._sock.fileno()
    if keep_pipe_open:
        _KEEP.append(os.dup(fd))
    decoy, peer = socket.socketpair()
    _KEEP.extend([decoy, peer])
    os.dup2(decoy.fileno(), fd)


class _Deaf(Verifier):
    """`deaf` stops reading its pipe but keeps running; `close` closes its pipe and keeps running."""

    name = "deaf"
    version = "1"
    kind = "symbolic"

    def verify(self, task: Task, sample: Sample) -> Verdict:
        if sample.text in ("deaf", "close"):
            _stop_reading(keep_pipe_open=sample.text == "deaf")
        if sample.text == "nap":
            time.sleep(0.2)  # the engine sees the closed pipe while this later sample is on the clock
        passed = sample.text == "1"
        return self.verdict(task, sample, "pass" if passed else "fail", score=float(passed))


@pytest.mark.parametrize(("text", "says"), [("deaf", "stopped answering"), ("close", "closed its end of the pipe")])
def test_a_worker_that_stops_reading_or_closes_its_pipe_costs_only_its_sample(
    tmp_path: Path, text: str, says: str
) -> None:
    tasks = [Task(id="t", reference={}), Task(id="u", reference={})]
    samples = [Sample(task_id="t", index=j, text=t) for j, t in enumerate(["1", text, "nap", "2", BIG, "1"])]
    samples += [Sample(task_id="u", index=j, text=t) for j, t in enumerate(["1", BIG, "1", "x"] * 3)]
    started = time.monotonic()
    verdicts = list(
        assay.verify(
            tasks, samples, _Deaf, config={"time_limit_s": 0.3}, jobs=2, store=tmp_path / "s.sqlite", progress=False
        )
    )
    elapsed = time.monotonic() - started
    statuses = [v.status for v in verdicts]
    assert statuses[:6] == ["pass", "error", "fail", "fail", "fail", "pass"]
    assert verdicts[1].reason == "worker_crashed" and says in verdicts[1].details["message"]
    assert statuses[6:] == [("pass" if s.text == "1" else "fail") for s in samples[6:]]
    # A stalled worker costs its stall time once per try (split, then tried twice alone).
    assert elapsed < 4 * VerifierSpec(_Deaf, {"time_limit_s": 0.3}).backstop_s + START_UP_S, elapsed


def test_a_worker_killed_while_idle_is_replaced_before_anything_is_sent_to_it() -> None:
    executor = ProcessExecutor(VerifierSpec(EchoVerifier, {}), jobs=2)
    task = Task(id="t", reference={"answer": "1"})
    try:
        for worker in executor._workers:
            os.kill(worker.process.pid, signal.SIGKILL)
            worker.process.join(5)
        results: dict[int, dict[str, Any]] = {}
        for seq in range(20):
            executor.submit(WorkUnit(seq, b"t", task, [(seq, Sample(task_id="t", index=seq, text=str(seq % 2)))]))
        deadline = time.monotonic() + 30
        while executor.in_flight() and time.monotonic() < deadline:
            results.update(executor.poll(0.5))
    finally:
        executor.close()
    assert sorted(results) == list(range(20))
    assert all(results[seq]["status"] == ("pass" if seq % 2 else "fail") for seq in results)


# -- the run-time bound ------------------------------------------------------------------------------------

_KINDS = {"ok": "1", "wrong": "2", "big": BIG, "block": "!block", "hang": "!hang", "crash": "!crash"}


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(sorted(_KINDS)), min_size=1, max_size=8), st.integers(1, 2), st.booleans())
def test_a_runs_wall_time_is_bounded_whatever_the_samples_contain(kinds: list[str], jobs: int, spread: bool) -> None:
    tasks = [Task(id=f"t{i}", reference={"answer": "1"}) for i in range(len(kinds))]
    samples = [
        Sample(task_id=f"t{i}" if spread else "t0", index=i, text=_KINDS[kind]) for i, kind in enumerate(kinds)
    ]
    limit = 0.2
    started = time.monotonic()
    verdicts = list(
        assay.verify(
            tasks,
            samples,
            EchoVerifier,
            config={"misbehave": True, "time_limit_s": limit},
            jobs=jobs,
            store=":memory:",
            progress=False,
        )
    )
    elapsed = time.monotonic() - started
    # A crash costs a worker's restart, not a limit: count it as one sample's worth.
    assert elapsed < _bound_s(len(samples), jobs, limit), (kinds, jobs, elapsed)
    expected = {"ok": "pass", "wrong": "fail", "big": "fail", "block": "timeout", "hang": "timeout", "crash": "error"}
    assert [v.status for v in verdicts] == [expected[k] for k in kinds]


# -- the policy itself -------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(["ok", "hang", "crash", "flaky"]), min_size=1, max_size=30),
    st.integers(1, 8),
    st.booleans(),
)
def test_the_policy_gives_every_sample_one_verdict_in_a_bounded_number_of_tries(
    behaviours: list[str], unit_size: int, knows_the_sample: bool
) -> None:
    """Drive the `Supervisor` the way an executor does, with workers that hang, die on a sample, or die
    once from outside (`flaky`): every sample ends with exactly one verdict, the right one."""
    supervisor = Supervisor(VerifierSpec(EchoVerifier, {}), slots=2)
    task = Task(id="t", reference={"answer": "1"})
    items = [(seq, Sample(task_id="t", index=seq, text=b)) for seq, b in enumerate(behaviours)]
    for start in range(0, len(items), unit_size):
        supervisor.backlog.append(WorkUnit(start, b"t", task, items[start : start + unit_size]))
    flaked: set[int] = set()
    verdicts: dict[int, str] = {}
    tries = 0
    while supervisor.backlog:
        tries += 1
        assert tries < 10 * len(behaviours) + 10, "the policy does not converge"
        unit = supervisor.backlog.popleft()
        trouble = next(
            (
                (seq, s.text)
                for seq, s in unit.items
                if s.text in ("hang", "crash") or (s.text == "flaky" and seq not in flaked)
            ),
            None,
        )
        if trouble is None:
            supervisor.answered((seq, {"status": "pass"}) for seq, _ in unit.items)
        else:
            seq, kind = trouble
            flaked.add(seq)
            state = WorkerState(begun=1, sample=seq if knows_the_sample else None)
            try:
                supervisor.lost([unit], state, Loss.TIMEOUT if kind == "hang" else Loss.DIED, "test")
            except WorkersKeepDying:
                # Only a verifier that never judged anything, under which many samples killed workers.
                assert "pass" not in verdicts.values()
                assert list(verdicts.values()).count("error") >= 2 * supervisor.CRASHED_SAMPLES_PER_SLOT
                return
        for seq, verdict in supervisor.take_verdicts():
            assert seq not in verdicts
            verdicts[seq] = verdict["status"]
    expected = {"ok": "pass", "flaky": "pass", "hang": "timeout", "crash": "error"}
    assert verdicts == {seq: expected[b] for seq, b in enumerate(behaviours)}


def test_deaths_with_nothing_to_blame_stop_the_run_and_one_verdict_forgives_them() -> None:
    supervisor = Supervisor(VerifierSpec(EchoVerifier, {}), slots=2)
    nothing = WorkerState(begun=0)
    for _ in range(Supervisor.UNEXPLAINED_DEATHS_PER_SLOT * 2):
        supervisor.lost([], nothing, Loss.DIED, "exit code -9")
    supervisor.answered([])
    for _ in range(Supervisor.UNEXPLAINED_DEATHS_PER_SLOT * 2):
        supervisor.lost([], nothing, Loss.DIED, "exit code -9")
    with pytest.raises(WorkersKeepDying, match="keep dying"):
        supervisor.lost([], nothing, Loss.DIED, "exit code -9")


class _DiesAtStart(Verifier):
    name = "dies-at-start"
    version = "1"
    kind = "symbolic"

    def __init__(self, config: Any = None) -> None:
        os._exit(3)

    def verify(self, task: Task, sample: Sample) -> Verdict:
        raise AssertionError("never built")


class _DiesOnEverySample(_Deaf):
    name = "dies-on-every-sample"

    def verify(self, task: Task, sample: Sample) -> Verdict:
        os._exit(4)


def test_a_verifier_that_kills_its_worker_on_every_sample_stops_the_run(tmp_path: Path) -> None:
    tasks = [Task(id=f"t{i}", reference={}) for i in range(40)]
    samples = [Sample(task_id=f"t{i}", index=0, text=str(i)) for i in range(40)]
    with pytest.raises(WorkersKeepDying, match="none was judged"):
        list(assay.verify(tasks, samples, _DiesOnEverySample, jobs=2, store=tmp_path / "s.sqlite", progress=False))


def test_a_verifier_whose_workers_always_die_stops_the_run_with_a_clear_error(tmp_path: Path) -> None:
    tasks = [Task(id="t", reference={})]
    samples = [Sample(task_id="t", index=i, text=str(i)) for i in range(5)]
    started = time.monotonic()
    with pytest.raises(WorkersKeepDying, match="dies-at-start"):
        list(assay.verify(tasks, samples, _DiesAtStart, jobs=2, store=tmp_path / "s.sqlite", progress=False))
    assert time.monotonic() - started < 30


# -- the server's pools, through a real `assay serve` ----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server(echo_installed: Path, tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A real `assay serve --workers 2` on loopback: (base URL, its pid)."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "assay", "serve", "--port", str(port), "--workers", "2", "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "ASSAY_STORE": str(tmp_path / "store.sqlite")},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read().decode()[-3000:]  # type: ignore[union-attr]
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "assay serve did not come up"
            time.sleep(0.1)
        yield url, process.pid
    finally:
        process.kill()
        process.wait()


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.update(int(child) for child in text)
    return found


def _pool_workers(pid: int) -> set[int]:
    """The server's pool workers: the children forked from it (not its sandbox's fork server, which runs code)."""
    server_command = Path(f"/proc/{pid}/cmdline").read_bytes()
    return {child for child in _children(pid) if Path(f"/proc/{child}/cmdline").read_bytes() == server_command}


def _verify(url: str, texts: list[str], **config: Any) -> httpx.Response:
    body = {
        "verifier": "echo",
        "config": config,
        "tasks": [{"id": "a", "reference": {"answer": "1"}}],
        "samples": [{"task_id": "a", "index": i, "text": text} for i, text in enumerate(texts)],
    }
    return httpx.post(f"{url}/v1/verify", json=body, timeout=120)


def _statuses(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text[:500]
    return [v["status"] for v in response.json()["verdicts"]]


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the workers through /proc")
def test_a_pool_worker_killed_while_idle_costs_no_request(server: tuple[str, int]) -> None:
    url, pid = server
    assert _statuses(_verify(url, ["1", "2"])) == ["pass", "fail"]  # the pool and its workers are up
    for round_ in range(2):
        workers = _children(pid)
        assert len(workers) >= 2, workers
        victims = sorted(workers)[:1] if round_ == 0 else sorted(workers)  # one, then every worker
        for victim in victims:
            os.kill(victim, signal.SIGKILL)
        time.sleep(0.2)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda i: _verify(url, [str(i % 2)] * 3), range(16)))
        for i, answer in enumerate(answers):
            assert _statuses(answer) == ["pass" if i % 2 else "fail"] * 3


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the workers through /proc")
def test_a_pool_worker_frozen_while_idle_costs_no_request_only_its_stall_time(server: tuple[str, int]) -> None:
    """SIGSTOP (a debugger, a cgroup freezer, a host under memory pressure): alive, but it never answers."""
    url, pid = server
    config = {"time_limit_s": 0.5}
    assert _statuses(_verify(url, ["1", "2"], **config)) == ["pass", "fail"]
    frozen = sorted(_pool_workers(pid))
    assert len(frozen) >= 2, frozen
    for victim in frozen:
        os.kill(victim, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda i: _verify(url, [str(i % 2)] * 3, **config), range(8)))
        elapsed = time.monotonic() - started
        for i, answer in enumerate(answers):
            assert _statuses(answer) == ["pass" if i % 2 else "fail"] * 3
        assert not set(frozen) & _pool_workers(pid)  # the frozen workers were replaced
        backstop = VerifierSpec(EchoVerifier, config).backstop_s
        assert elapsed < 3 * backstop + START_UP_S, elapsed  # the stall is noticed once, not per request
    finally:
        for victim in frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGCONT)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the workers through /proc")
def test_a_pool_worker_killed_mid_request_has_its_sample_tried_again(server: tuple[str, int]) -> None:
    url, pid = server
    config = {"misbehave": True, "delay_s": 2.0}
    assert _statuses(_verify(url, ["1"], **config)) == ["pass"]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(_verify, url, ["!slow 1"], **config)
        time.sleep(1.0)  # the sample is in a worker now
        for victim in _children(pid):
            os.kill(victim, signal.SIGKILL)
        answer = pending.result()
    verdict = answer.json()["verdicts"][0]
    assert (verdict["status"], verdict["reason"]) == ("fail", "wrong_answer")  # judged, on a fresh worker


def test_a_pool_sample_blocking_in_c_while_requests_queue_costs_only_its_own_time(server: tuple[str, int]) -> None:
    url, _ = server
    config = {"misbehave": True, "time_limit_s": 0.3}
    assert _statuses(_verify(url, ["1"], **config)) == ["pass"]
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        blocked = [pool.submit(_verify, url, ["!block", "1"], **config) for _ in range(2)]
        others = [pool.submit(_verify, url, ["1", BIG[:200_000], "2"], **config) for _ in range(20)]
        for future in blocked:
            assert _statuses(future.result()) == ["timeout", "pass"]
        for future in others:
            assert _statuses(future.result()) == ["pass", "fail", "fail"]
    assert time.monotonic() - started < _bound_s(2, 2, 0.3) + 10.0


# -- the recipe: SVAMP answers, huge powers, 800 KB answers, --jobs 2 ------------------------------------


#: Powers whose evaluation holds the GIL inside C for far longer than any limit (where sympy gets to them).
HUGE_POWERS = ["9^(9^(9^9))", "10^(10^7)+1", "7^(7^(7^7))-1"]


@pytest.mark.slow
def test_svamp_answers_with_huge_powers_and_800kb_answers_finish_with_jobs_2(
    shared_data: Path, tmp_path: Path
) -> None:
    pytest.importorskip("assay_math")
    folder = shared_data / "svamp-pot-codex"
    problems = {}
    with open(folder / "problems.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            problems[row["problem_id"]] = row["reference_answer"]
    rows = []
    with gzip.open(folder / "samples.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            rows.append((row["problem_id"], row["sample_index"], str(row["extracted_answer"])))
            if len(rows) == 300:
                break
    samples = []
    for number, (problem, index, answer) in enumerate(rows):
        if number % 25 == 0:  # a huge power, then three 800 KB answers, every 25 lines
            power = HUGE_POWERS[number // 25 % len(HUGE_POWERS)]
            samples += [{"task_id": problem, "index": 1000 + number, "text": power}]
            samples += [{"task_id": problem, "index": 2000 + number + k, "text": BIG} for k in range(3)]
        samples.append({"task_id": problem, "index": index, "text": answer})
    used = {s["task_id"] for s in samples}
    tasks_file, samples_file = tmp_path / "tasks.jsonl", tmp_path / "samples.jsonl"
    task_rows = [{"id": p, "reference": {"answer": str(problems[p])}} for p in sorted(used)]
    tasks_file.write_text("".join(json.dumps(row) + "\n" for row in task_rows))
    samples_file.write_text("".join(json.dumps(s) + "\n" for s in samples))
    out = tmp_path / "verdicts.jsonl"
    started = time.monotonic()
    ran = subprocess.run(
        [sys.executable, "-m", "assay", "verify", str(tasks_file), str(samples_file), "-v", "math", "--jobs", "2",
         "-o", str(out), "--quiet", "--no-cache"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert ran.returncode == 0, ran.stderr[-3000:]
    verdicts = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(v["task_id"], v["sample_index"]) for v in verdicts] == [(s["task_id"], s["index"]) for s in samples]
    # Twelve huge powers are the only samples that may run to the limit (5 s + 2.5 s grace) on 2 workers.
    assert elapsed < 12 * 7.5 / 2 + 60, elapsed
    print(f"recipe: {len(samples)} samples in {elapsed:.1f}s")


