"""Local executors: worker processes on this machine (the default), or inline in this process.

Each worker process builds its verifier once and keeps it warm (fork-servers, REPL pools, loaded models)
for every unit it gets. The engine talks to a worker over a socket pair whose engine end never blocks
(`assay.executors.channel`), and watches a shared clock per worker (what it is judging, since when, how
many units it has taken up), so that every deadline is enforced whatever a worker does. What happens to
a worker that hangs, stalls or dies, and to its units, is the shared policy in
`assay.executors.supervision`: this module only moves units and verdicts.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import selectors
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assay.executors.base import (
    Executor,
    ItemResult,
    VerifierSpec,
    WireItem,
    WorkUnit,
    from_wire,
    judge_wire,
    run_unit,
    to_wire,
    units_at_once,
    uses_batching,
)
from assay.executors.channel import EngineEnd, WorkerEnd, channel_pair
from assay.executors.supervision import Loss, Supervisor, WorkersKeepDying, WorkerState
from assay.models import Task
from assay.verifier import Verifier

_IDLE = -1.0
_BATCH = -2.0  # clock marker: a whole unit is inside verify_batch
_TASK_CACHE_SIZE = 4096
# poll(2) where there is one: no descriptor of its own to create and close on every wait.
_Selector: type[selectors.BaseSelector] = getattr(selectors, "PollSelector", selectors.SelectSelector)


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


class _SharedClocks:
    """Each worker slot's clock, in memory the engine shares with its workers (no message to wait for): what
    the worker is judging (a sample's seq, _BATCH or _IDLE), since when (time.monotonic), and how many units
    it has taken up since it started. Workers write their own slot; the engine reads every slot."""

    MARKER, STARTED, TAKEN = 0, 1, 2
    _FIELDS = 3

    def __init__(self, context: Any, slots: int) -> None:
        self._shared = context.Array("d", [_IDLE, 0.0, 0.0] * slots, lock=False)

    def reset(self, slot: int) -> None:
        """A fresh worker in `slot`: idle, nothing taken up."""
        base = self._FIELDS * slot
        self._shared[base + self.MARKER] = _IDLE
        self._shared[base + self.TAKEN] = 0.0

    def read(self, slot: int) -> tuple[float, float, float]:
        """(marker, started, units taken up) of the worker in `slot`."""
        base = self._FIELDS * slot
        shared = self._shared
        return shared[base + self.MARKER], shared[base + self.STARTED], shared[base + self.TAKEN]

    def of(self, slot: int) -> _Clock:
        return _Clock(self, slot)

    def write(self, slot: int, field: int, value: float) -> None:
        self._shared[self._FIELDS * slot + field] = value

    def increment(self, slot: int, field: int, value: float) -> None:
        self._shared[self._FIELDS * slot + field] += value


class _Clock:
    """A worker's hand on its own slot of the shared clocks."""

    def __init__(self, clocks: _SharedClocks, slot: int) -> None:
        self._clocks = clocks
        self._slot = slot

    def running(self, marker: float, since: float) -> None:
        self._clocks.write(self._slot, _SharedClocks.STARTED, since)  # the time first: the engine reads the marker
        self._clocks.write(self._slot, _SharedClocks.MARKER, marker)

    def idle(self) -> None:
        self._clocks.write(self._slot, _SharedClocks.MARKER, _IDLE)

    def took_unit(self) -> None:
        self._clocks.increment(self._slot, _SharedClocks.TAKEN, 1.0)


def _worker_main(spec: VerifierSpec, conn: WorkerEnd, clocks: _SharedClocks, slot: int, inherited: list[int]) -> None:
    # Own process group, so that the parent can kill the worker with everything it started; and die with
    # the parent, so that a killed run leaves no worker behind (a hung one would never notice on its own).
    os.setsid()
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for fd in inherited:  # the engine's ends of the channels, copied by fork: not ours to hold open
        with contextlib.suppress(OSError):
            os.close(fd)
    try:
        verifier = spec.build()
    except Exception as exc:
        conn.send(("fatal", f"{type(exc).__name__}: {exc}"))
        return
    batching = uses_batching(spec.cls)
    at_once = units_at_once(spec.cls)
    clock = clocks.of(slot)
    lanes = _Lanes(conn, clock, at_once) if at_once > 1 else None
    tasks: dict[bytes, Task] = {}
    try:
        while True:
            # A unit is the worker's from its first byte: one so large that reading it kills the worker
            # is then blamed on its samples, not on the worker.
            message = conn.recv(on_arrival=clock.took_unit)
            if message[0] == "stop":
                break
            _, unit_id, cache_key, task_json, forget, items, alone = message
            # The parent mirrors this cache, so it alone decides when the cache is emptied.
            if forget:
                tasks.clear()
            if task_json is not None:
                tasks[cache_key] = Task.model_validate(task_json)
            task = tasks[cache_key]
            if lanes is not None:
                if not alone:
                    lanes.start(unit_id, verifier, task, items)
                    continue
                lanes.drain()
            results: list[ItemResult] = []
            if batching:
                clock.running(_BATCH, time.monotonic())
                results = judge_wire(verifier, task, items)
            else:
                for seq, fields in items:
                    clock.running(float(seq), time.monotonic())
                    results.append((seq, verifier.verify(task, from_wire(fields)).model_dump(mode="json")))
            # Answer before showing idle: a parent that sees the clock idle finds the answer in the pipe.
            conn.send(("done", unit_id, results))
            clock.idle()
    except (EOFError, OSError, KeyboardInterrupt):
        pass  # the parent is gone or stopping us
    finally:
        verifier.close()


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

    def __init__(self, conn: WorkerEnd, clock: _Clock, count: int) -> None:
        self._conn = conn
        self._clock = clock
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._order: deque[_Pending] = deque()
        self._queue: queue.SimpleQueue[tuple[_Pending, Callable[[], list[ItemResult]]]] = queue.SimpleQueue()
        for number in range(count):
            # Daemon threads: a unit that hangs must not keep a stopping worker alive (the parent kills it).
            threading.Thread(target=self._lane, name=f"assay-unit-{number}", daemon=True).start()

    def start(self, unit_id: int, verifier: Verifier, task: Task, items: list[WireItem]) -> None:
        pending = _Pending(unit_id)
        with self._lock:
            self._order.append(pending)
        self._queue.put((pending, lambda: judge_wire(verifier, task, items)))

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
            self._clock.running(_BATCH, min(started))
        else:
            self._clock.idle()


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
    channel: EngineEnd
    task_keys: set[bytes] = field(default_factory=set)
    #: Units sent (or being sent) to this worker and not answered yet, oldest first.
    units: deque[WorkUnit] = field(default_factory=deque)
    #: Units answered since it started (its clock counts the units it took up: the difference is what
    #: it holds in progress).
    answered: int = 0
    #: When it last showed progress (took up a unit, started a sample, answered) while holding units.
    quiet_since: float = 0.0
    seen: tuple[float, float] = (0.0, 0.0)


class ProcessExecutor(Executor):
    """`jobs` worker processes, each holding one warm verifier."""

    #: Units queued per worker, so that a worker never waits for the parent between units; more wait in
    #: the supervisor's backlog, where a worker that hangs cannot take them.
    PREFETCH = 2

    def __init__(self, spec: VerifierSpec, jobs: int) -> None:
        if jobs < 1:
            raise ValueError("jobs must be >= 1")
        self.spec = spec
        self.jobs = jobs
        self.capacity = jobs * self.PREFETCH
        self.supervisor = Supervisor(spec, jobs)
        self._ctx = _context()
        self._clocks = _SharedClocks(self._ctx, jobs)
        self._workers: list[_Worker] = []
        for slot in range(jobs):
            self._workers.append(self._spawn(slot))

    @property
    def backstop_s(self) -> float:
        return self.supervisor.backstop_s

    def _spawn(self, slot: int) -> _Worker:
        engine_end, worker_end = channel_pair()
        self._clocks.reset(slot)
        inherited: list[int] = []
        if self._ctx.get_start_method() == "fork":
            ends = [w.channel for w in self._workers if w.slot != slot] + [engine_end]
            inherited = [fd for fd in (end.fileno() for end in ends) if fd >= 0]
        process = self._ctx.Process(
            target=_worker_main, args=(self.spec, worker_end, self._clocks, slot, inherited), daemon=True
        )
        process.start()
        worker_end.close()
        return _Worker(slot=slot, process=process, channel=engine_end, quiet_since=time.monotonic())

    def _clock(self, worker: _Worker) -> tuple[float, float, float]:
        return self._clocks.read(worker.slot)

    # -- submitting ----------------------------------------------------------------------------------------

    def submit(self, unit: WorkUnit) -> None:
        self.supervisor.backlog.append(unit)
        self._dispatch()

    def _dispatch(self) -> None:
        backlog = self.supervisor.backlog
        while backlog:
            worker = self._worker_with_room()
            if worker is None:
                return
            self._send(worker, backlog.popleft())

    def _worker_with_room(self) -> _Worker | None:
        """The least loaded worker that is alive, has room, and is not past a deadline."""
        now = time.monotonic()
        best: _Worker | None = None
        for worker in self._workers:
            if len(worker.units) >= self.PREFETCH or (best is not None and len(worker.units) >= len(best.units)):
                continue
            if worker.units and self._deadline(worker) <= now:
                continue  # never more work for a worker that is about to be killed
            best = worker
        if best is not None and not best.units and (best.channel.closed or not best.process.is_alive()):
            # It died while idle (the OOM killer, an operator): replace it before anything is sent to it.
            self._lost(best, Loss.DIED)
            return self._worker_with_room()
        return best

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
        if not worker.units:
            worker.quiet_since = time.monotonic()
        worker.units.append(unit)
        worker.channel.send(("unit", unit.unit_id, cache_key, task_json, forget, to_wire(unit), unit.alone))

    def in_flight(self) -> int:
        return sum(len(w.units) for w in self._workers) + len(self.supervisor.backlog)

    # -- collecting ----------------------------------------------------------------------------------------

    def poll(self, timeout: float) -> list[ItemResult]:
        try:
            self._dispatch()
            if not self.supervisor.has_verdicts():
                self._wait(min(timeout, self._time_to_next_deadline()))
                self._check_workers()
                self._dispatch()
        except WorkersKeepDying:
            self.close()
            raise
        return self.supervisor.take_verdicts()

    def _wait(self, timeout: float) -> None:
        """Until a worker answers, dies, can take more of a pending message, or `timeout` passes."""
        with _Selector() as selector:
            for worker in self._workers:
                events = selectors.EVENT_READ | (selectors.EVENT_WRITE if worker.channel.unsent else 0)
                if not worker.channel.closed:
                    selector.register(worker.channel, events)
                selector.register(worker.process.sentinel, selectors.EVENT_READ)
            selector.select(max(0.0, timeout))

    def _check_workers(self) -> None:
        for worker in list(self._workers):
            self._receive(worker)
            worker.channel.flush()
            if worker.channel.closed or not worker.process.is_alive():
                self._lost(worker, Loss.DIED)
            else:
                self._enforce_deadline(worker)

    def _receive(self, worker: _Worker) -> None:
        for message in worker.channel.receive():
            if message[0] == "fatal":
                self.close()
                raise RuntimeError(f"verifier {self.spec.cls.name!r} failed to start in a worker: {message[1]}")
            _, unit_id, results = message
            unit = worker.units.popleft()
            assert unit.unit_id == unit_id, "worker answered out of order"
            worker.answered += 1
            worker.quiet_since = time.monotonic()
            self.supervisor.answered(results)

    def _deadline(self, worker: _Worker) -> float:
        """When the worker, holding units, must next show that it is alive and within its time."""
        marker, started, taken = self._clock(worker)
        if (taken, started) != worker.seen:  # it took up a unit or started a sample: progress
            worker.seen = (taken, started)
            worker.quiet_since = time.monotonic()
        if marker == _IDLE:
            # Bytes the socket took count too: a worker still reading a large unit is not stalled, even
            # when the engine itself was slow to write it (a consumer that paused the run).
            return max(worker.quiet_since, worker.channel.accepted_at) + self.supervisor.stall_s
        return started + self.supervisor.time_allowed(worker.units[0], whole_unit=marker == _BATCH)

    def _time_to_next_deadline(self) -> float:
        now = time.monotonic()
        deadlines = [self._deadline(w) for w in self._workers if w.units]
        return max(0.0, min(deadlines, default=now + 3600.0) - now)

    def _enforce_deadline(self, worker: _Worker) -> None:
        if worker.units and self._deadline(worker) < time.monotonic():
            marker = self._clock(worker)[0]
            self._lost(worker, Loss.STALLED if marker == _IDLE else Loss.TIMEOUT)

    def _lost(self, worker: _Worker, loss: Loss) -> None:
        """Kill the worker (with its process group), start a fresh one in its slot, and hand its units to the
        supervisor with what the worker was doing."""
        marker, started, taken = self._clock(worker)
        exitcode = worker.process.exitcode
        # A live worker that closed its pipe may have run on to later samples of its unit after the one that
        # closed it, so the sample on its clock is not the culprit: blame the unit, which is then split.
        ran_on = exitcode is None and worker.channel.closed
        state = WorkerState(
            begun=min(len(worker.units), max(0, int(taken) - worker.answered)),
            sample=int(marker) if marker >= 0 and not ran_on else None,
            elapsed_s=time.monotonic() - started if marker != _IDLE else 0.0,
        )
        if exitcode is not None:
            detail = f"exit code {exitcode}"
        elif worker.channel.closed:
            detail = "it closed its end of the pipe"
        else:
            detail = f"no progress for {self.supervisor.stall_s:.1f}s" if loss is Loss.STALLED else "killed"
        _kill_group(worker.process)
        worker.channel.close()
        lost = list(worker.units)
        self._workers[worker.slot] = self._spawn(worker.slot)
        self.supervisor.lost(lost, state, loss, detail)

    def close(self) -> None:
        for w in self._workers:
            w.channel.send(("stop",))
        deadline = time.monotonic() + 5.0
        for w in self._workers:
            while w.process.is_alive() and time.monotonic() < deadline:
                w.channel.flush()
                w.process.join(0.05)
            if w.process.is_alive():
                _kill_group(w.process)
            w.channel.close()
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
