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

#: How long a replacement actor may take to start (a cluster may have to find room for it).
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
    #: A fresh actor's `ready()` call until it answers: its start-up does not count against a unit.
    starting: Any = None
    started_at: float = 0.0
    #: The tasks this actor holds, least recently sent first (its own list follows this one exactly).
    tasks: OrderedDict[_TaskKey, None] = field(default_factory=OrderedDict)
    #: Whether it has had a call from this executor yet (a kept-warm actor's first call clears old tasks).
    used: bool = False


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


#: Actors kept between runs (`keep_warm=True`), by verifier configuration.
_warm: dict[str, list[Any]] = {}
_warm_lock = threading.Lock()


def shutdown_warm_actors() -> None:
    """Stop the actors that `keep_warm=True` runs left up."""
    import ray

    with _warm_lock:
        handles = [handle for group in _warm.values() for handle in group]
        _warm.clear()
    for handle in handles:
        with contextlib.suppress(Exception):
            ray.kill(handle)


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
        cpus = ray.cluster_resources().get("CPU", 1)  # type: ignore[no-untyped-call]
        count = jobs if jobs > 0 else max(1, int(cpus // num_cpus))
        self._options = {"num_cpus": num_cpus, "max_restarts": 0, **(actor_options or {})}
        self._key = spec.cache_key
        reused: list[Any] = []
        with _warm_lock:
            group = _warm.get(self._key, [])
            while group and len(reused) < count:
                reused.append(group.pop())
        handles = reused + [self._new_actor() for _ in range(count - len(reused))]
        try:
            ray.get([handle.ready.remote() for handle in handles])
        except Exception as exc:
            for handle in handles:
                with contextlib.suppress(Exception):
                    ray.kill(handle)
            self._shutdown_ray()
            raise RuntimeError(f"verifier {spec.cls.name!r} failed to start in a Ray actor: {exc}") from None
        self._slots = [_Slot(handle) for handle in handles]
        self.capacity = len(self._slots) * self.PREFETCH * self.UNITS_PER_CALL
        self.supervisor = Supervisor(spec, len(self._slots), worker_name="Ray actor")
        #: Mean seconds per sample so far (from the verdicts' `elapsed_s`), to size calls.
        self._sample_s: float | None = None

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
        """True while a replacement actor is starting; a failed or endless start counts as a death that
        blames no unit."""
        import ray

        if slot.starting is None:
            return False
        ready, _ = ray.wait([slot.starting], timeout=0)
        if ready:
            slot.starting = None
            try:
                ray.get(ready[0])
            except Exception as exc:
                self._lost(slot, Loss.DIED, f"a replacement actor failed to start: {exc}", begun=False)
                return True
            return False
        if time.monotonic() - slot.started_at > _START_TIMEOUT_S:
            slot.starting = None
            message = f"a replacement actor did not start within {_START_TIMEOUT_S:g}s"
            self._lost(slot, Loss.DIED, message, begun=False)
            return True
        return True

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
        slot.calls.clear()
        slot.tasks.clear()
        slot.used = False
        slot.handle = self._new_actor()
        slot.starting = slot.handle.ready.remote()
        slot.started_at = slot.progress_at = time.monotonic()
        self.supervisor.lost(running + behind, state, loss, detail)

    # -- closing -------------------------------------------------------------------------------------------

    def close(self) -> None:
        import ray

        slots, self._slots = getattr(self, "_slots", []), []
        handles = [slot.handle for slot in slots]
        if self.keep_warm and handles:
            with _warm_lock:
                _warm.setdefault(self._key, []).extend(handles)
        else:
            closing = []
            for handle in handles:
                with contextlib.suppress(Exception):
                    closing.append(handle.close.remote())
            with contextlib.suppress(Exception):
                ray.wait(closing, num_returns=len(closing), timeout=10.0)
            for handle in handles:
                with contextlib.suppress(Exception):
                    ray.kill(handle)
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
