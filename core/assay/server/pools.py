"""Warm verifiers for the server: one pool of worker processes per (verifier, config) in use.

A pool wraps the engine's own executor (`assay.executors.local`), so a request's samples get the same
treatment as a batch run's, under the same supervision policy (`assay.executors.supervision`): warm
verifiers, a sample that hangs a worker gets the worker killed and a `timeout` verdict, a sample whose
worker dies is tried again on a fresh worker (`worker_crashed` after a second death), and a worker that
dies while idle is replaced before anything is sent to it, so it costs no request. The executor is not
thread-safe, so each pool has one dispatcher thread that owns it; request handlers hand it jobs through a
queue and wait on a future. The server does not cache verdicts: the SQLite cache belongs to batch runs
(`assay verify`).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import Any

from assay.executors.base import Executor, VerifierSpec, WorkUnit, uses_batching
from assay.executors.local import make_local_executor
from assay.models import Sample, Task
from assay.store import task_hash

#: Samples of one task per work unit when the verifier does not batch: small enough that one request's
#: samples spread over the workers, large enough that IPC stays cheap.
_UNIT_SIZE = 4

#: Samples a request is handed in one turn before the requests behind it get theirs (round robin).
_TURN_SAMPLES = 32

VerdictDict = dict[str, Any]


class PoolBusy(RuntimeError):
    """Every pool slot holds a configuration with work in flight; the caller should retry later."""


@dataclass
class _Job:
    future: Future[list[VerdictDict]]
    results: list[VerdictDict | None]
    remaining: int
    units: deque[WorkUnit] = field(default_factory=deque)
    positions: dict[int, int] = field(default_factory=dict)  # executor seq -> index in results
    turn: int = 0  # samples handed to the executor in its current turn


class VerifierPool:
    """Warm workers for one verifier configuration, fed by one dispatcher thread."""

    def __init__(self, spec: VerifierSpec, workers: int) -> None:
        self.spec = spec
        self.workers = workers
        self.key = spec.cache_key
        self.last_used = time.monotonic()
        self.samples_done = 0
        self._jobs: deque[_Job] = deque()
        self._by_seq: dict[int, _Job] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._seq = itertools.count()
        self._unit_ids = itertools.count(1)
        self._batching = uses_batching(spec.cls)
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self._executor: Executor | None = None
        self._thread = threading.Thread(target=self._run, name=f"assay-pool-{spec.cls.name}", daemon=True)
        self._thread.start()

    # -- called from request handlers ------------------------------------------------------------------

    def submit(self, groups: Sequence[tuple[Task, Sequence[Sample]]]) -> Future[list[VerdictDict]]:
        """Verify each task's samples; the future's result has one verdict dict per sample, in order."""
        future: Future[list[VerdictDict]] = Future()
        total = sum(len(samples) for _, samples in groups)
        job = _Job(future=future, results=[None] * total, remaining=total)
        if total == 0:
            future.set_result([])
            return future
        position = 0
        size = self.spec.cls.batch_size if self._batching else _UNIT_SIZE
        for task, samples in groups:
            key = task_hash(task)
            # Split evenly, so that a request's samples spread over the workers.
            parts = max(1, math.ceil(len(samples) / size))
            step = math.ceil(len(samples) / parts)
            for start in range(0, len(samples), step):
                unit = WorkUnit(next(self._unit_ids), key, task)
                for sample in samples[start : start + step]:
                    seq = next(self._seq)
                    unit.items.append((seq, sample))
                    job.positions[seq] = position
                    position += 1
                job.units.append(unit)
        with self._lock:
            if self._stopping:
                raise RuntimeError("the server is shutting down")
            self._jobs.append(job)
            self.last_used = time.monotonic()
        self._wake.set()
        return future

    def busy(self) -> bool:
        with self._lock:
            return bool(self._jobs or self._by_seq)

    def queued_samples(self) -> int:
        with self._lock:
            return sum(len(unit.items) for job in self._jobs for unit in job.units) + len(self._by_seq)

    def wait_started(self, timeout: float | None = None) -> bool:
        """Block until every worker has built its verifier and judged a warm-up sample (True), or until
        `timeout` passes (False); re-raises a verifier that fails to start."""
        started = self._started.wait(timeout)
        if self._start_error is not None:
            raise self._start_error
        return started

    def close(self, timeout: float = 30.0) -> None:
        """Finish the work already handed in, then stop the workers."""
        with self._lock:
            self._stopping = True
        self._wake.set()
        self._thread.join(timeout)

    # -- the dispatcher thread -------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._executor = make_local_executor(self.spec, self.workers)
            self._warm_up(self._executor)
        except BaseException as exc:
            self._start_error = exc
            self._started.set()
            self._fail_all(exc)
            if self._executor is not None:
                with contextlib.suppress(Exception):
                    self._executor.close()
            return
        self._started.set()
        executor = self._executor
        try:
            while True:
                self._feed(executor)
                if executor.in_flight():
                    for seq, verdict in executor.poll(0.05):
                        self._deliver(seq, verdict)
                    continue
                with self._lock:
                    if self._stopping and not self._jobs:
                        break
                    idle = not self._jobs
                if idle:
                    # Looking at the idle workers now and then replaces one that died while idle (the OOM
                    # killer's choice) before the next request needs it.
                    executor.poll(0.0)
                    self._wake.wait(0.5)
                    self._wake.clear()
        except BaseException as exc:  # the executor gave up (workers keep dying, a verifier cannot start)
            self._fail_all(exc)
        finally:
            with self._lock:
                self._stopping = True
            with contextlib.suppress(Exception):
                executor.close()

    def _warm_up(self, executor: Executor) -> None:
        """Have each worker judge one throwaway sample, so that the pool counts as started only once every
        worker has built its verifier: the server starts a request's clock after that, so start-up
        (imports, fork-servers, loading a model) never counts against a request's time limit."""
        task = Task(id="assay-warm-up")
        waiting: set[int] = set()
        for _ in range(max(1, self.workers)):  # the executor hands each unit to its least busy worker
            seq = next(self._seq)
            probe = Sample(task_id=task.id, index=0, text="")
            try:
                executor.submit(WorkUnit(next(self._unit_ids), b"warm-up", task, [(seq, probe)]))
            except OSError as exc:
                # The worker died starting (its verifier could not be built): its last message says why.
                try:
                    executor.poll(1.0)
                except RuntimeError as reason:
                    raise reason from exc
                raise
            waiting.add(seq)
        while waiting and executor.in_flight():
            waiting.difference_update(seq for seq, _ in executor.poll(0.5))

    def _feed(self, executor: Executor) -> None:
        """Move queued units into the executor while it has room, skipping jobs whose caller gave up."""
        while executor.in_flight() < executor.capacity:
            with self._lock:
                while self._jobs and (self._jobs[0].future.cancelled() or not self._jobs[0].units):
                    dropped = self._jobs.popleft()
                    if dropped.future.cancelled():
                        for unit in dropped.units:
                            for seq, _ in unit.items:
                                dropped.positions.pop(seq, None)
                        dropped.units.clear()
                if not self._jobs:
                    return
                job = self._jobs[0]
                unit = job.units.popleft()
                job.turn += len(unit.items)
                if not job.units:
                    self._jobs.popleft()
                elif job.turn >= _TURN_SAMPLES:
                    # Its turn is over: to the back of the queue, so that a large request never makes the
                    # requests behind it wait for all of it (one within a turn is served in one go).
                    job.turn = 0
                    self._jobs.rotate(-1)
                for seq, _ in unit.items:
                    self._by_seq[seq] = job
            executor.submit(unit)

    def _deliver(self, seq: int, verdict: VerdictDict) -> None:
        with self._lock:
            job = self._by_seq.pop(seq, None)
        if job is None or job.future.done():
            return
        job.results[job.positions[seq]] = verdict
        job.remaining -= 1
        self.samples_done += 1
        if job.remaining == 0:
            results: list[VerdictDict] = [v for v in job.results if v is not None]
            with contextlib.suppress(InvalidStateError):  # cancelled by its caller in the meantime
                job.future.set_result(results)

    def _fail_all(self, exc: BaseException) -> None:
        with self._lock:
            jobs = list(self._jobs) + list({id(j): j for j in self._by_seq.values()}.values())
            self._jobs.clear()
            self._by_seq.clear()
        for job in jobs:
            if not job.future.done():
                with contextlib.suppress(Exception):
                    job.future.set_exception(exc)


class VerifierPools:
    """The server's pools, one per (verifier, config), at most `max_pools` at once (least recently used
    idle pool is closed to make room)."""

    def __init__(self, workers: int, max_pools: int) -> None:
        self.workers = workers
        self.max_pools = max_pools
        self._pools: OrderedDict[str, VerifierPool] = OrderedDict()
        self._lock = threading.Lock()
        self._closed = False

    def get(self, spec: VerifierSpec) -> VerifierPool:
        key = spec.cache_key
        retired: VerifierPool | None = None
        with self._lock:
            if self._closed:
                raise RuntimeError("the server is shutting down")
            pool = self._pools.get(key)
            if pool is not None and pool._start_error is None and pool._thread.is_alive():
                self._pools.move_to_end(key)
                return pool
            if pool is not None:  # broken (its workers kept dying): start afresh
                del self._pools[key]
            if len(self._pools) >= self.max_pools:
                idle = [k for k, p in self._pools.items() if not p.busy()]
                if not idle:
                    raise PoolBusy(
                        f"{len(self._pools)} verifier configurations are busy (the most this server holds); retry later"
                    )
                retired = self._pools.pop(idle[0])
            pool = self._pools[key] = VerifierPool(spec, self.workers)
        if retired is not None:
            retired.close()
        return pool

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            pools = list(self._pools.values())
        return [
            {
                "verifier": pool.key,
                "workers": pool.workers,
                "queued_samples": pool.queued_samples(),
                "samples_done": pool.samples_done,
            }
            for pool in pools
        ]

    def close(self, timeout: float = 30.0) -> None:
        with self._lock:
            self._closed = True
            pools = list(self._pools.values())
            self._pools.clear()
        for pool in pools:
            pool.close(timeout)
