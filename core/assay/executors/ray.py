"""The Ray executor: verifier actors on a Ray cluster (`assay verify --executor ray [--address ADDR]`).

Each actor builds its verifier once and keeps it warm (fork-servers, Lean REPL pools, a loaded reward
model) for every unit it is sent; with `keep_warm=True` the actors also outlive the run, for the next run
of the same verifier configuration in this process (a training loop that verifies every step). The engine
is unchanged: it still reads, deduplicates, caches into the same SQLite store and writes in order; only
the units travel.

Time limits and crashes follow the same supervision policy as the local executor
(`assay.executors.supervision`); this module only moves units and verdicts. Units travel many to a call
and verdicts come back in blocks while it runs, so the driver cannot see which unit (or which sample of a
unit) an actor is on: each unit not yet reported is on its whole-unit clock from the last block, and the
units of a call that ran out its time, or whose actor died, go back one to a call, then one sample to a
unit, to find the culprit.

Every node needs assay and the plugins installed (the verifier class travels by reference), e.g. the
same virtual environment, or a Ray `runtime_env`.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import socket
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from assay.executors.base import (
    Executor,
    ExecutorFactory,
    ItemResult,
    VerifierSpec,
    WireItem,
    WorkUnit,
    judge_wire,
    to_wire,
)
from assay.executors.supervision import Loss, Supervisor, WorkersKeepDying, WorkerState
from assay.models import Task

#: How long an actor may take to start (a cluster may have to find room for it).
_START_TIMEOUT_S = 300.0


def _is_loopback(address: str | None) -> bool:
    if address is None:
        return True
    host = address.split("://")[-1].rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


def prepare_ray_environment(address: str | None) -> None:
    """Settings Ray reads from the environment once, when it is first imported: so call this first.

    Usage statistics stay off unless asked for (`RAY_USAGE_STATS_ENABLED=1`). For a Ray on this machine
    (no address, or a loopback one), Ray would otherwise replace 127.0.0.1 by the machine's outward
    address and talk to itself through it; it treats the machine as single-node only with
    `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`, which keeps every connection on loopback.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if _is_loopback(address or os.environ.get("RAY_ADDRESS")):
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


class ClusterRefused(ValueError):
    """The Ray cluster refused this machine's credentials: a setting to fix, not a failure to retry."""


def check_cluster_access(address: str | None) -> None:
    """Fail at once, with what to do, when the cluster at `address` refuses this machine's credentials:
    `ray.init` would retry for its whole connect timeout (20 s and more) and then report only that it
    could not connect. Probed only when the address answers on TCP, so an unreachable one is left to Ray."""
    if not address or "://" in address or address in ("auto", "local"):
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=2.0).close()
    except OSError:
        return
    from ray._raylet import InnerGcsClient  # type: ignore[attr-defined]
    from ray.exceptions import AuthenticationError

    try:
        InnerGcsClient.standalone(address, None, 5000)
    except AuthenticationError:
        mode = repr(os.environ["RAY_AUTH_MODE"]) if "RAY_AUTH_MODE" in os.environ else "not set"
        raise ClusterRefused(
            f"the Ray cluster at {address} refused this machine's token (RAY_AUTH_MODE is {mode}). "
            "Ray 2.5x clusters require token authentication by default: where you run assay, set "
            "RAY_AUTH_MODE=token and RAY_AUTH_TOKEN to the cluster's token (or RAY_AUTH_TOKEN_PATH to a "
            "file holding it), as on every node; see docs/ray.md"
        ) from None
    except Exception:  # anything else (a version mismatch, a slow head): ray.init reports it in its words
        return


#: An actor sends back the verdicts it has when this long has passed since its last block (and at the end
#: of a call): few round trips for fast samples, and a hung sample is known within this of its start.
_BLOCK_S = 0.02


class VerifierActor:
    """What runs inside each Ray actor: one warm verifier, and the tasks its driver has sent it."""

    def __init__(self, spec: VerifierSpec) -> None:
        self.verifier = spec.build()
        #: Tasks by key, added and dropped only as the driver says (it keeps the same list per actor).
        self.tasks: dict[_TaskKey, Task] = {}

    def ready(self) -> bool:
        return True

    def run_batch(
        self,
        fresh: bool,
        new_tasks: dict[_TaskKey, dict[str, Any]],
        forget: list[_TaskKey],
        units: list[tuple[_TaskKey, list[WireItem]]],
    ) -> Iterator[tuple[int, list[ItemResult]]]:
        """Judge `units` in order, yielding (units finished, their verdicts) in blocks of about `_BLOCK_S`."""
        if fresh:
            self.tasks.clear()
        for key in forget:
            self.tasks.pop(key, None)
        for key, task_json in new_tasks.items():
            self.tasks[key] = Task.model_validate(task_json)
        finished, verdicts, last = 0, [], time.monotonic()
        for number, (key, items) in enumerate(units, start=1):
            verdicts.extend(judge_wire(self.verifier, self.tasks[key], items))
            finished += 1
            now = time.monotonic()
            if number == len(units) or now - last >= _BLOCK_S:
                yield finished, verdicts
                finished, verdicts, last = 0, [], now

    def close(self) -> None:
        self.verifier.close()


#: A task as an actor knows it: its content hash and its id (two ids may share one content).
_TaskKey = tuple[bytes, str]

_remote_class: Any = None
_remote_lock = threading.Lock()


def _actor_class() -> Any:
    global _remote_class
    with _remote_lock:
        if _remote_class is None:
            import ray

            _remote_class = ray.remote(VerifierActor)
        return _remote_class


@dataclass
class _Call:
    """One `run_batch` call: its stream of verdict blocks and its units, oldest first."""

    stream: Any
    units: list[WorkUnit]
    #: Units whose verdicts came back (an actor judges a call's units in order).
    reported: int = 0


@dataclass
class _Slot:
    handle: Any
    #: Calls sent to this actor, oldest first (an actor runs them one at a time, in order).
    calls: deque[_Call] = field(default_factory=deque)
    #: When the call at the head last showed progress (it started, or a block of verdicts came back).
    progress_at: float = 0.0
    #: The actor's `ready()` call until it answers (it gets work only then): its start-up does not count
    #: against a unit.
    starting: Any = None
    started_at: float = 0.0
    #: The tasks this actor holds, least recently sent first (its own list follows this one exactly).
    tasks: OrderedDict[_TaskKey, None] = field(default_factory=OrderedDict)
    #: Whether it has had a call from this executor yet (a kept-warm actor's first call clears old tasks).
    used: bool = False
    #: Taken from the warm actors: if it does not answer `ready()`, it died while parked (a fresh one
    #: takes its place, and nothing is blamed).
    reused: bool = False
    #: The first fresh actor of this slot: if it cannot start, the verifier cannot start here.
    first: bool = True


def plan_call(
    known: OrderedDict[_TaskKey, None], units: list[WorkUnit], keep: int
) -> tuple[dict[_TaskKey, dict[str, Any]], list[_TaskKey], list[tuple[_TaskKey, list[WireItem]]]]:
    """What one `run_batch` call carries to an actor that holds the tasks in `known` (least recently sent
    first): the tasks it lacks, the ones it should drop so that it keeps at most `keep` (never one this call
    needs), and the units by task key. `known` is updated to what the actor will hold."""
    new_tasks: dict[_TaskKey, dict[str, Any]] = {}
    payload: list[tuple[_TaskKey, list[WireItem]]] = []
    for unit in units:
        key = (unit.task_key, unit.task.id)
        if key in known:
            known.move_to_end(key)
        else:
            new_tasks[key] = unit.task.model_dump()
            known[key] = None
        payload.append((key, to_wire(unit)))
    forget = []
    while len(known) > max(keep, len(payload)):
        forget.append(known.popitem(last=False)[0])  # the oldest: this call's own were all just moved last
    return new_tasks, forget, payload


#: What a parked actor can be reused for: the verifier's configuration (`VerifierSpec.cache_key`), the Ray
#: connection it belongs to (GCS address and this driver's job: actors die with the driver that made them)
#: and the actor options it was created with.
_PoolKey = tuple[str, str, str]


class _WarmActors:
    """Actors that `keep_warm=True` runs left up, parked by `_PoolKey` until a later run takes them.

    A run takes actors out of the pool for its whole length and parks them again when it closes, so two
    runs at once in one process never share an actor (the second starts fresh actors for what the pool
    lacks, and both sets are parked after). Only actors with no call in flight are parked: an actor with
    work still queued (a run abandoned half way) is stopped instead, so that a later run never
    waits behind, or sees, an earlier run's work. A parked actor that died is noticed when a run takes it
    (its `ready()` fails) and replaced there. Parked actors hold their CPUs, so they give way to this
    process's other runs: a run about to start fresh actors stops parked ones of other configurations
    while the cluster lacks the CPUs for its own (`make_room`), and a run that closes while another one
    here is still starting actors stops its actors instead of parking them. Every parked actor is stopped
    by `shutdown_warm_actors()`, and when this process exits.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parked: dict[_PoolKey, list[Any]] = {}
        #: CPUs per actor of each parked group (what stopping one of them frees).
        self._cpus: dict[_PoolKey, float] = {}
        self._exit_hook = False

    def take(self, key: _PoolKey, count: int) -> list[Any]:
        """Up to `count` parked actors for `key`; those of another Ray connection are dropped (that
        connection is gone, and its actors with it)."""
        with self._lock:
            for other in [k for k in self._parked if k[1] != key[1]]:
                del self._parked[other]
                self._cpus.pop(other, None)
            group = self._parked.get(key, [])
            taken = [group.pop() for _ in range(min(count, len(group)))]
            return taken

    def park(self, key: _PoolKey, handles: list[Any], cpus: float) -> None:
        """Keep `handles` (actors of `cpus` CPUs each) for a later run, unless a run of this process is
        waiting for actors to start: then they are stopped, so that the room they hold goes to it."""
        if _actors_starting_elsewhere():
            _stop_actors(handles, graceful=True)
            return
        with self._lock:
            self._parked.setdefault(key, []).extend(handles)
            self._cpus[key] = cpus
            if not self._exit_hook:
                atexit.register(self.stop_all)
                self._exit_hook = True

    def make_room(self, key: _PoolKey, cpus: float) -> None:
        """Stop parked actors of configurations other than `key`, largest group first, until the cluster
        has `cpus` CPUs free for a run's fresh actors (or none is left)."""
        import ray

        with self._lock:
            if not any(group for other, group in self._parked.items() if other != key):
                return
        free = ray.available_resources().get("CPU", 0.0)  # type: ignore[no-untyped-call]
        stopping = []
        with self._lock:
            while free < cpus:
                groups = [(other, group) for other, group in self._parked.items() if other != key and group]
                if not groups:
                    break
                other, group = max(groups, key=lambda item: len(item[1]))
                stopping.append(group.pop(0))
                free += self._cpus.get(other, 1.0)
        _stop_actors(stopping, graceful=True)

    def handles(self) -> list[Any]:
        """Every parked actor (for inspection)."""
        with self._lock:
            return [handle for group in self._parked.values() for handle in group]

    def stop_all(self) -> None:
        with self._lock:
            handles = [handle for group in self._parked.values() for handle in group]
            self._parked.clear()
        _stop_actors(handles, graceful=True)


def _stop_actors(handles: list[Any], graceful: bool) -> None:
    """Kill actors; `graceful` first lets each close its verifier (fork-servers, REPLs), for up to 10 s."""
    import ray

    if not handles or not ray.is_initialized():
        return
    if graceful:
        closing = []
        for handle in handles:
            with contextlib.suppress(Exception):
                closing.append(handle.close.remote())
        with contextlib.suppress(Exception):
            ray.wait(closing, num_returns=len(closing), timeout=10.0)
    for handle in handles:
        with contextlib.suppress(Exception):
            ray.kill(handle)


_warm = _WarmActors()
#: The Ray executors of this process that are running (a run closing looks here before it parks).
_live: set[RayExecutor] = set()
_live_lock = threading.Lock()


def _actors_starting_elsewhere() -> bool:
    with _live_lock:
        executors = list(_live)
    return any(slot.starting is not None for executor in executors for slot in executor._slots)


def shutdown_warm_actors() -> None:
    """Stop the actors that `keep_warm=True` runs left up (also done when this process exits)."""
    _warm.stop_all()


def _pool_key(spec: VerifierSpec, options: dict[str, Any]) -> _PoolKey:
    import ray

    context = ray.get_runtime_context()
    connection = f"{context.gcs_address}/{context.get_job_id()}"
    return spec.cache_key, connection, repr(sorted(options.items(), key=lambda item: item[0]))


class RayExecutor(Executor):
    """`actors` warm verifier actors on a Ray cluster (`jobs`; 0 = one per CPU in the cluster).

    Units travel in batches: one actor call carries up to `UNITS_PER_CALL` units (fewer when the backlog is
    short, so that the actors share the end of a run, and fewer samples than `CALL_TARGET_S` of work once
    the samples' cost is known), each task travels to an actor once (the actor keeps up to
    `TASKS_PER_ACTOR`), and verdicts come back as a stream of blocks while the call runs.
    """

    #: Calls queued per actor, so that an actor never waits for the driver between calls.
    PREFETCH = 2
    UNITS_PER_CALL = 64
    SAMPLES_PER_CALL = 1024
    #: Expected seconds of work per call, once the mean time per sample is known.
    CALL_TARGET_S = 0.25
    TASKS_PER_ACTOR = 1024

    def __init__(
        self,
        spec: VerifierSpec,
        jobs: int,
        *,
        address: str | None = None,
        num_cpus: float = 1.0,
        keep_warm: bool = False,
        actor_options: dict[str, Any] | None = None,
        init_options: dict[str, Any] | None = None,
    ) -> None:
        prepare_ray_environment(address)
        import ray

        self.spec = spec
        self.keep_warm = keep_warm
        #: Whether `close` parks the actors for a later run (`keep_warm`, unless this run failed).
        self._park = keep_warm
        self._started_ray = False
        if not ray.is_initialized():
            check_cluster_access(address or os.environ.get("RAY_ADDRESS"))
            options: dict[str, Any] = {
                "address": address,
                "include_dashboard": False,
                "logging_level": logging.WARNING,
                "log_to_driver": False,
                "configure_logging": True,
            }
            options.update(init_options or {})
            ray.init(**options)
            self._started_ray = True
        if jobs > 0:
            count = jobs
        else:
            cpus = ray.cluster_resources().get("CPU", 1)  # type: ignore[no-untyped-call]
            count = max(1, int(cpus // num_cpus))
        self._options = {"num_cpus": num_cpus, "max_restarts": 0, **(actor_options or {})}
        self._key = _pool_key(spec, self._options)
        # Actors start in the background: the engine reads its input meanwhile, and each actor gets work
        # as soon as it is up (`_still_starting`), not when the slowest is.
        reused = _warm.take(self._key, count) if keep_warm else []
        _warm.make_room(self._key, (count - len(reused)) * float(self._options["num_cpus"]))
        self._slots = [self._starting_slot(handle, reused=True) for handle in reused]
        self._slots += [self._starting_slot(self._new_actor(), reused=False) for _ in range(count - len(reused))]
        with _live_lock:
            _live.add(self)
        self.capacity = len(self._slots) * self.PREFETCH * self.UNITS_PER_CALL
        self.supervisor = Supervisor(spec, len(self._slots), worker_name="Ray actor")
        #: Mean seconds per sample so far (from the verdicts' `elapsed_s`), to size calls.
        self._sample_s: float | None = None

    def _starting_slot(self, handle: Any, reused: bool) -> _Slot:
        now = time.monotonic()
        return _Slot(handle, starting=handle.ready.remote(), started_at=now, progress_at=now, reused=reused)

    def _new_actor(self) -> Any:
        return _actor_class().options(**self._options).remote(self.spec)

    # -- submitting ----------------------------------------------------------------------------------------

    def submit(self, unit: WorkUnit) -> None:
        # Sent from `poll`, so that the units the engine submits in one go share calls.
        self.supervisor.backlog.append(unit)

    def _dispatch(self) -> None:
        backlog = self.supervisor.backlog
        now = time.monotonic()
        while backlog:
            # Actors that are up, with room, and not past a deadline (about to be replaced).
            open_slots = [
                slot
                for slot in self._slots
                if slot.starting is None
                and len(slot.calls) < self.PREFETCH
                and not (slot.calls and self._deadline(slot) <= now)
            ]
            if not open_slots:
                return
            room = sum(self.PREFETCH - len(slot.calls) for slot in open_slots)
            share = -(-len(backlog) // room)  # the backlog spread over every open place
            self._send(min(open_slots, key=lambda s: len(s.calls)), self._take(share))

    def _take(self, share: int) -> list[WorkUnit]:
        """The next call's units from the backlog; a unit to be judged alone goes alone."""
        backlog = self.supervisor.backlog
        max_samples = self.SAMPLES_PER_CALL
        if self._sample_s is not None:
            max_samples = max(1, min(max_samples, int(self.CALL_TARGET_S / max(self._sample_s, 1e-6))))
        units: list[WorkUnit] = []
        samples = 0
        while backlog and len(units) < min(share, self.UNITS_PER_CALL):
            unit = backlog[0]
            if units and (unit.alone or samples + len(unit.items) > max_samples):
                break
            units.append(backlog.popleft())
            samples += len(unit.items)
            if unit.alone:
                break
        return units

    def _send(self, slot: _Slot, units: list[WorkUnit]) -> None:
        new_tasks, forget, payload = plan_call(slot.tasks, units, self.TASKS_PER_ACTOR)
        stream = slot.handle.run_batch.options(num_returns="streaming").remote(
            not slot.used, new_tasks, forget, payload
        )
        slot.used = True
        if not slot.calls:
            slot.progress_at = time.monotonic()
        slot.calls.append(_Call(stream, units))

    def in_flight(self) -> int:
        queued = sum(len(call.units) - call.reported for slot in self._slots for call in slot.calls)
        return queued + len(self.supervisor.backlog)

    # -- collecting ----------------------------------------------------------------------------------------

    def poll(self, timeout: float) -> list[ItemResult]:
        import ray

        try:
            self._dispatch()
            streams = [slot.calls[0].stream for slot in self._slots if slot.calls and slot.starting is None]
            if not self.supervisor.has_verdicts() and (streams or self._any_starting()):
                # Wait for a block of verdicts, or for a replacement actor to come up (never spin).
                starting = [slot.starting for slot in self._slots if slot.starting is not None]
                wait_for = max(0.0, min(timeout, self._time_to_next_deadline()))
                ray.wait(streams + starting, num_returns=1, timeout=wait_for)
                for slot in list(self._slots):
                    self._collect(slot)
                self._enforce_deadlines()
                self._dispatch()
        except WorkersKeepDying:
            self._park = False  # actors that could not run this verifier are not worth keeping
            self.close()
            raise
        verdicts: list[ItemResult] = self.supervisor.take_verdicts()
        return verdicts

    def _any_starting(self) -> bool:
        return any(slot.starting is not None for slot in self._slots)

    def _collect(self, slot: _Slot) -> None:
        """Take every block of verdicts that has come back from `slot`'s actor, without waiting."""
        import ray

        while slot.calls and slot.calls[0].stream.next_ready():
            call = slot.calls[0]
            try:
                finished, verdicts = ray.get(next(call.stream))
            except Exception as exc:  # the actor died (or its node did): the stream ends in the error
                text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                self._lost(slot, Loss.DIED, text)
                return
            call.reported += finished
            slot.progress_at = time.monotonic()
            if call.reported >= len(call.units):
                slot.calls.popleft()
            self._learn(verdicts)
            self.supervisor.answered((int(seq), verdict) for seq, verdict in verdicts)

    def _learn(self, verdicts: list[ItemResult]) -> None:
        if not verdicts:
            return
        mean = sum(float(verdict.get("elapsed_s") or 0.0) for _, verdict in verdicts) / len(verdicts)
        self._sample_s = mean if self._sample_s is None else 0.8 * self._sample_s + 0.2 * mean

    def _deadline(self, slot: _Slot) -> float:
        # The driver sees a call's progress in blocks: the unit now running began at most `_BLOCK_S` after
        # the last block came back, and may be any of those not yet reported, each on its whole-unit clock.
        call = slot.calls[0]
        allowed = max(self.supervisor.time_allowed(unit, whole_unit=True) for unit in call.units[call.reported :])
        return slot.progress_at + _BLOCK_S + allowed

    def _time_to_next_deadline(self) -> float:
        now = time.monotonic()
        wait = 3600.0
        for slot in self._slots:
            if slot.starting is not None:
                wait = min(wait, 0.2)  # look again soon: work waits for it to be up
            elif slot.calls:
                wait = min(wait, self._deadline(slot) - now)
        return max(wait, 0.01)

    def _still_starting(self, slot: _Slot) -> bool:
        """True while `slot`'s actor is starting. A parked actor that died is replaced at no cost; a slot's
        first fresh actor that fails stops the run (the verifier cannot start here); a later one that fails,
        or any that takes endless time, counts as a death that blames no unit."""
        import ray

        if slot.starting is None:
            return False
        ready, _ = ray.wait([slot.starting], timeout=0)
        if ready:
            slot.starting = None
            try:
                ray.get(ready[0])
            except Exception as exc:
                if slot.reused:
                    with contextlib.suppress(Exception):
                        ray.kill(slot.handle)
                    self._restart(slot)
                    slot.reused = False
                    return True
                if slot.first:
                    # Ray's message ends with the error the verifier raised, after its own account.
                    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
                    text = lines[-1] if lines else type(exc).__name__
                    raise WorkersKeepDying(
                        f"verifier {self.spec.cls.name!r} failed to start in a Ray actor: {text}"
                    ) from None
                self._lost(slot, Loss.DIED, f"a replacement actor failed to start: {exc}", begun=False)
                return True
            slot.first = False
            return False
        if time.monotonic() - slot.started_at > _START_TIMEOUT_S:
            slot.starting = None
            message = f"a Ray actor did not start within {_START_TIMEOUT_S:g}s"
            self._lost(slot, Loss.DIED, message, begun=False)
            return True
        return True

    def _restart(self, slot: _Slot) -> None:
        """A fresh actor in `slot` (its old one is gone or being killed), which gets work once it is up."""
        slot.calls.clear()
        slot.tasks.clear()
        slot.used = False
        slot.handle = self._new_actor()
        slot.starting = slot.handle.ready.remote()
        slot.started_at = slot.progress_at = time.monotonic()

    def _enforce_deadlines(self) -> None:
        for slot in list(self._slots):
            if self._still_starting(slot) or not slot.calls:
                continue
            if self._deadline(slot) >= time.monotonic():
                continue
            self._collect(slot)  # blocks may have come back just now
            if slot.calls and self._deadline(slot) < time.monotonic():
                self._lost(slot, Loss.TIMEOUT, "killed")

    def _lost(self, slot: _Slot, loss: Loss, detail: str, begun: bool = True) -> None:
        """Kill an actor, put a fresh one in its place, and hand its units to the supervisor: those of its
        running call not yet reported (any of them may have been running), then the calls behind it."""
        import ray

        running = slot.calls[0].units[slot.calls[0].reported :] if slot.calls else []
        behind = [unit for call in list(slot.calls)[1:] for unit in call.units]
        suspects = len(running) if begun else 0
        state = WorkerState(
            begun=suspects, elapsed_s=time.monotonic() - slot.progress_at, running_unknown=suspects > 1
        )
        with contextlib.suppress(Exception):
            ray.kill(slot.handle, no_restart=True)
        slot.first = slot.reused = False
        self._restart(slot)
        self.supervisor.lost(running + behind, state, loss, detail)

    # -- closing -------------------------------------------------------------------------------------------

    def close(self) -> None:
        with _live_lock:
            _live.discard(self)
        slots, self._slots = getattr(self, "_slots", []), []
        if self._park:
            # Only actors with no call queued are parked (up, or still starting: the next run waits for
            # them as for its own): one with work left (a run abandoned half way) would make the next run
            # wait behind this one's work.
            idle = [slot for slot in slots if not slot.calls]
            _warm.park(self._key, [slot.handle for slot in idle], float(self._options["num_cpus"]))
            slots = [slot for slot in slots if slot not in idle]
        # An actor still busy with a call (the run stopped early) is killed at once, with what it started
        # (Ray kills a worker's child processes with it): a close call would wait behind its work.
        _stop_actors([slot.handle for slot in slots if slot.calls], graceful=False)
        _stop_actors([slot.handle for slot in slots if not slot.calls], graceful=True)
        self._shutdown_ray()

    def _shutdown_ray(self) -> None:
        import ray

        if self._started_ray and not self.keep_warm:
            with contextlib.suppress(Exception):
                ray.shutdown()
            self._started_ray = False


def ray_executor(
    address: str | None = None,
    *,
    num_cpus: float = 1.0,
    keep_warm: bool = False,
    actor_options: dict[str, Any] | None = None,
    init_options: dict[str, Any] | None = None,
) -> ExecutorFactory:
    """An executor factory for `assay.verify(..., executor=...)`: Ray actors at `address` (None: the
    `RAY_ADDRESS` environment variable, else a Ray started for this run on this machine). A cluster that
    refuses this machine's token raises `ClusterRefused` here, before any work."""
    target = address or os.environ.get("RAY_ADDRESS")
    if target:
        prepare_ray_environment(address)  # before Ray is first imported
        check_cluster_access(target)

    def make(spec: VerifierSpec, jobs: int) -> Executor:
        return RayExecutor(
            spec,
            jobs,
            address=address,
            num_cpus=num_cpus,
            keep_warm=keep_warm,
            actor_options=actor_options,
            init_options=init_options,
        )

    return make
