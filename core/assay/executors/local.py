"""Local executors: worker processes on this machine (the default), or inline in this process.

Each worker process builds its verifier once and keeps it warm (fork-servers, REPL pools, loaded models)
for every unit it gets. The parent watches a shared clock per worker: a sample that holds a worker past
the backstop gets the worker's whole process group killed, a `timeout` verdict, and a fresh worker;
the unit's other samples are sent again. A worker that dies on its own gives its current sample an
`error` verdict (`worker_crashed`) and the rest are sent again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import multiprocessing.connection
import os
import queue
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from assay.executors.base import (
    Executor,
    ItemResult,
    VerifierSpec,
    WorkUnit,
    engine_verdict,
    run_unit,
    units_at_once,
    uses_batching,
)
from assay.models import Sample, Task
from assay.verifier import Verifier

_IDLE = -1.0
_BATCH = -2.0  # progress marker: a whole unit is inside verify_batch
_TASK_CACHE_SIZE = 4096
_MAX_CRASHES_PER_SAMPLE = 2


def _context() -> Any:
    # fork keeps start-up cheap and lets tests register plugins by hand; elsewhere spawn is the safe default.
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    return multiprocessing.get_context(method)


class InlineExecutor(Executor):
    """Runs every unit in the calling process: no time-limit backstop, for debugging and tiny jobs."""

    capacity = 1

    def __init__(self, spec: VerifierSpec) -> None:
        self.spec = spec
        self.verifier = spec.build()
        self._done: list[ItemResult] = []

    def submit(self, unit: WorkUnit) -> None:
        seqs = [seq for seq, _ in unit.items]
        verdicts = run_unit(self.verifier, unit.task, [sample for _, sample in unit.items])
        self._done.extend((seq, v.model_dump(mode="json")) for seq, v in zip(seqs, verdicts, strict=True))

    def poll(self, timeout: float) -> list[ItemResult]:
        done, self._done = self._done, []
        return done

    def in_flight(self) -> int:
        return 1 if self._done else 0

    def close(self) -> None:
        self.verifier.close()


# -- the worker side ------------------------------------------------------------------------------------


def _worker_main(spec: VerifierSpec, conn: Connection, progress: Any, slot: int) -> None:
    # Own process group, so that the parent can kill the worker with everything it started; and die with
    # the parent, so that a killed run leaves no worker behind (a hung one would never notice on its own).
    os.setsid()
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        verifier = spec.build()
    except Exception as exc:
        conn.send(("fatal", f"{type(exc).__name__}: {exc}"))
        return
    batching = uses_batching(spec.cls)
    at_once = units_at_once(spec.cls)
    lanes = _Lanes(conn, progress, slot, at_once) if at_once > 1 else None
    tasks: dict[bytes, Task] = {}
    try:
        while True:
            message = conn.recv()
            if message[0] == "stop":
                break
            _, unit_id, cache_key, task_json, forget, items, alone = message
            # The parent mirrors this cache, so it alone decides when the cache is emptied.
            if forget:
                tasks.clear()
            if task_json is not None:
                tasks[cache_key] = Task.model_validate(task_json)
            task = tasks[cache_key]
            samples = [Sample.model_construct(**fields) for _, fields in items]
            if lanes is not None:
                if not alone:
                    lanes.start(unit_id, verifier, task, items, samples)
                    continue
                lanes.drain()
            results: list[ItemResult] = []
            if batching:
                progress[2 * slot] = _BATCH
                progress[2 * slot + 1] = time.monotonic()
                results = _unit_results(verifier, task, items, samples)
            else:
                for (seq, _), sample in zip(items, samples, strict=True):
                    progress[2 * slot] = float(seq)
                    progress[2 * slot + 1] = time.monotonic()
                    results.append((seq, verifier.verify(task, sample).model_dump(mode="json")))
            progress[2 * slot] = _IDLE
            conn.send(("done", unit_id, results))
    except (EOFError, OSError, KeyboardInterrupt):
        pass  # the parent is gone or stopping us
    finally:
        verifier.close()


def _unit_results(
    verifier: Verifier, task: Task, items: list[tuple[int, Any]], samples: list[Sample]
) -> list[ItemResult]:
    verdicts = run_unit(verifier, task, samples)
    return [(seq, v.model_dump(mode="json")) for (seq, _), v in zip(items, verdicts, strict=True)]


@dataclass
class _Pending:
    unit_id: int
    started: float | None = None
    results: list[ItemResult] | None = None


class _Lanes:
    """Units judged side by side, one per long-lived thread (so a verifier's per-thread resources stay
    warm), for verifiers with `concurrent_units` > 1. Verdicts go back in the order the units came, and
    the worker's clock shows when the oldest unit began: the parent's deadlines read as they do for a
    worker that judges one unit at a time."""

    def __init__(self, conn: Connection, progress: Any, slot: int, count: int) -> None:
        self._conn = conn
        self._progress = progress
        self._slot = slot
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._order: deque[_Pending] = deque()
        self._queue: queue.SimpleQueue[tuple[_Pending, Callable[[], list[ItemResult]]]] = queue.SimpleQueue()
        for number in range(count):
            # Daemon threads: a unit that hangs must not keep a stopping worker alive (the parent kills it).
            threading.Thread(target=self._lane, name=f"assay-unit-{number}", daemon=True).start()

    def start(
        self, unit_id: int, verifier: Verifier, task: Task, items: list[tuple[int, Any]], samples: list[Sample]
    ) -> None:
        pending = _Pending(unit_id)
        with self._lock:
            self._order.append(pending)
        self._queue.put((pending, lambda: _unit_results(verifier, task, items, samples)))

    def drain(self) -> None:
        """Wait until every unit started here has been answered."""
        with self._idle:
            self._idle.wait_for(lambda: not self._order)

    def _lane(self) -> None:
        while True:
            pending, work = self._queue.get()
            with self._lock:
                pending.started = time.monotonic()
                self._show_clock()
            try:
                results = work()
            except BaseException:
                # run_unit turns a verifier's exceptions into verdicts: this is the worker itself failing.
                # Die, as a single-threaded worker would, so that the parent retries the units.
                traceback.print_exc()
                os._exit(70)
            with self._lock:
                pending.results = results
                while self._order and self._order[0].results is not None:
                    done = self._order.popleft()
                    with contextlib.suppress(OSError):  # the parent is gone: the main thread sees it too
                        self._conn.send(("done", done.unit_id, done.results))
                self._show_clock()
                self._idle.notify_all()

    def _show_clock(self) -> None:
        started = [p.started for p in self._order if p.started is not None]
        if started:
            self._progress[2 * self._slot + 1] = min(started)
            self._progress[2 * self._slot] = _BATCH
        else:
            self._progress[2 * self._slot] = _IDLE


def _die_with_parent() -> None:
    # The signal fires when the thread that forked us ends; executors live within one call of that thread.
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the request took effect
        os._exit(0)


# -- the parent side ------------------------------------------------------------------------------------


@dataclass
class _Worker:
    slot: int
    process: Any
    conn: Connection
    task_keys: set[bytes] = field(default_factory=set)
    units: deque[WorkUnit] = field(default_factory=deque)


class ProcessExecutor(Executor):
    """`jobs` worker processes, each holding one warm verifier."""

    #: Units queued per worker, so that a worker never waits for the parent between units.
    PREFETCH = 2

    def __init__(self, spec: VerifierSpec, jobs: int) -> None:
        if jobs < 1:
            raise ValueError("jobs must be >= 1")
        self.spec = spec
        self.jobs = jobs
        self.capacity = jobs * self.PREFETCH
        self.backstop_s = spec.backstop_s
        self._overlapping = units_at_once(spec.cls) > 1
        self._ctx = _context()
        self._progress = self._ctx.Array("d", [_IDLE, 0.0] * jobs, lock=False)
        self._workers: list[_Worker] = [self._spawn(slot) for slot in range(jobs)]
        self._done: list[ItemResult] = []
        self._retry: deque[WorkUnit] = deque()
        self._crashes: dict[int, int] = {}
        self._total_crashes = 0

    def _spawn(self, slot: int) -> _Worker:
        parent_end, child_end = self._ctx.Pipe(duplex=True)
        self._progress[2 * slot] = _IDLE
        process = self._ctx.Process(target=_worker_main, args=(self.spec, child_end, self._progress, slot), daemon=True)
        process.start()
        child_end.close()
        return _Worker(slot=slot, process=process, conn=parent_end)

    # -- submitting ----------------------------------------------------------------------------------------

    def submit(self, unit: WorkUnit) -> None:
        worker = min(self._workers, key=lambda w: len(w.units))
        self._send(worker, unit)

    def _send(self, worker: _Worker, unit: WorkUnit) -> None:
        # Tasks of equal content may have different ids, and a verdict carries its task's id: cache by both.
        cache_key = unit.task_key + unit.task.id.encode()
        task_json = None
        forget = False
        if cache_key not in worker.task_keys:
            task_json = unit.task.model_dump()
            if len(worker.task_keys) >= _TASK_CACHE_SIZE:
                worker.task_keys.clear()
                forget = True
            worker.task_keys.add(cache_key)
        items = [
            (seq, {"task_id": s.task_id, "index": s.index, "text": s.text, "metadata": s.metadata, "label": None})
            for seq, s in unit.items
        ]
        worker.units.append(unit)
        worker.conn.send(("unit", unit.unit_id, cache_key, task_json, forget, items, unit.alone))

    def in_flight(self) -> int:
        return sum(len(w.units) for w in self._workers) + len(self._retry)

    # -- collecting ----------------------------------------------------------------------------------------

    def poll(self, timeout: float) -> list[ItemResult]:
        self._resend_retries()
        if not self._done:
            wait_for = min(timeout, self._time_to_next_deadline())
            by_handle: dict[Any, _Worker] = {}
            for w in self._workers:
                if w.units:
                    by_handle[w.conn] = w
                    by_handle[w.process.sentinel] = w
            if by_handle:
                ready = multiprocessing.connection.wait(list(by_handle), timeout=max(0.0, wait_for))
                for handle in ready:
                    worker = by_handle[handle]
                    if handle is worker.conn:
                        self._receive(worker)
                for handle in ready:
                    worker = by_handle[handle]
                    if handle is not worker.conn and not worker.process.is_alive():
                        self._on_crash(worker)
            self._enforce_deadlines()
        done, self._done = self._done, []
        return done

    def _receive(self, worker: _Worker) -> None:
        while worker.conn.poll():
            try:
                message = worker.conn.recv()
            except (EOFError, OSError):
                return
            if message[0] == "fatal":
                self.close()
                raise RuntimeError(f"verifier {self.spec.cls.name!r} failed to start in a worker: {message[1]}")
            _, unit_id, results = message
            unit = worker.units.popleft()
            assert unit.unit_id == unit_id, "worker answered out of order"
            self._done.extend(results)

    def _time_to_next_deadline(self) -> float:
        now = time.monotonic()
        wait = 3600.0
        for w in self._workers:
            marker, started = self._progress[2 * w.slot], self._progress[2 * w.slot + 1]
            if marker == _IDLE or not w.units:
                continue
            wait = min(wait, started + self._limit_for(w, marker) - now)
        return max(wait, 0.01)

    def _limit_for(self, worker: _Worker, marker: float) -> float:
        if marker == _BATCH and worker.units:
            return self.backstop_s * len(worker.units[0].items)
        return self.backstop_s

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for w in list(self._workers):
            marker, started = self._progress[2 * w.slot], self._progress[2 * w.slot + 1]
            if marker == _IDLE or not w.units:
                continue
            if now - started > self._limit_for(w, marker):
                self._on_timeout(w, marker, now - started)

    def _replace(self, worker: _Worker) -> list[WorkUnit]:
        """Kill a worker (and its process group), start a fresh one in its slot; returns its lost units."""
        _kill_group(worker.process)
        worker.conn.close()
        lost = list(worker.units)
        fresh = self._spawn(worker.slot)
        self._workers[worker.slot] = fresh
        return lost

    def _on_timeout(self, worker: _Worker, marker: float, elapsed: float) -> None:
        # The worker may have finished just now: take what it sent, and look at its clock again.
        self._receive(worker)
        marker, started = self._progress[2 * worker.slot], self._progress[2 * worker.slot + 1]
        elapsed = time.monotonic() - started
        if marker == _IDLE or not worker.units or elapsed <= self._limit_for(worker, marker):
            return
        lost = self._replace(worker)
        head, rest = lost[0], lost[1:]
        if marker == _BATCH and len(head.items) > 1:
            # The batch as a whole hung: judge its samples one at a time so that only the culprit times out.
            self._retry.extend(dataclasses.replace(head, items=[item]) for item in head.items)
        else:
            # A worker sends a unit's verdicts together, so the ones it finished before hanging are lost too.
            culprit = int(marker) if marker >= 0 else head.items[0][0]
            message = f"sample held a worker for {elapsed:.1f}s (limit {self.backstop_s:.1f}s); killed"
            self._give_up(head, culprit, "timeout", "time_limit", message, elapsed)
        self._retry.extend(rest)

    def _on_crash(self, worker: _Worker) -> None:
        self._receive(worker)
        marker = self._progress[2 * worker.slot]
        exitcode = worker.process.exitcode
        lost = self._replace(worker)
        self._total_crashes += 1
        if self._total_crashes > _MAX_CRASHES_PER_SAMPLE * (len(self._workers) + 8):
            self.close()
            raise RuntimeError(f"verifier {self.spec.cls.name!r}: workers keep dying (last exit code {exitcode})")
        if not lost:
            return
        if self._overlapping and len(lost) > 1 and not lost[0].alone:
            # Units ran side by side, so which one killed the worker is unknown: judge each alone.
            self._retry.extend(dataclasses.replace(unit, alone=True) for unit in lost)
            return
        head, rest = lost[0], lost[1:]
        culprit: int | None = None
        if marker >= 0:
            culprit = int(marker)
        elif marker == _BATCH and len(head.items) == 1:
            culprit = head.items[0][0]
        if culprit is None and marker == _BATCH:
            # Something in the batch kills the worker: judge its samples one at a time to find it.
            self._retry.extend(dataclasses.replace(head, items=[item]) for item in head.items)
        elif culprit is not None and self._crashes.get(culprit, 0) + 1 >= _MAX_CRASHES_PER_SAMPLE:
            message = f"the worker died while verifying this sample (exit code {exitcode})"
            self._give_up(head, culprit, "error", "worker_crashed", message)
        else:
            # A first crash may come from outside (the OOM killer choosing us): try the unit once more.
            if culprit is not None:
                self._crashes[culprit] = self._crashes.get(culprit, 0) + 1
            self._retry.append(head)
        self._retry.extend(rest)

    def _give_up(
        self, unit: WorkUnit, culprit: int, status: str, reason: str, message: str, elapsed: float = 0.0
    ) -> None:
        """Write the engine's own verdict for the culprit and send the unit's other samples again."""
        remaining = []
        for seq, sample in unit.items:
            if seq == culprit:
                self._done.append((seq, engine_verdict(self.spec, sample, status, reason, message, elapsed)))
            else:
                remaining.append((seq, sample))
        if remaining:
            self._retry.append(WorkUnit(unit.unit_id, unit.task_key, unit.task, remaining))

    def _resend_retries(self) -> None:
        while self._retry:
            unit = self._retry.popleft()
            self.submit(unit)

    def close(self) -> None:
        for w in self._workers:
            with contextlib.suppress(OSError, BrokenPipeError):
                w.conn.send(("stop",))
        deadline = time.monotonic() + 5.0
        for w in self._workers:
            w.process.join(max(0.0, deadline - time.monotonic()))
            if w.process.is_alive():
                _kill_group(w.process)
            w.conn.close()
        self._workers = []


def _kill_group(process: Any) -> None:
    if process.pid is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, AttributeError, ValueError):
        process.kill()
    process.join(5.0)


def make_local_executor(spec: VerifierSpec, jobs: int) -> Executor:
    return InlineExecutor(spec) if jobs == 0 else ProcessExecutor(spec, jobs)
