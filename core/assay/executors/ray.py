"""The Ray executor: verifier actors on a Ray cluster (`assay verify --executor ray [--address ADDR]`).

Each actor builds its verifier once and keeps it warm (fork-servers, Lean REPL pools, a loaded reward
model) for every unit it is sent; with `keep_warm=True` the actors also outlive the run, for the next run
of the same verifier configuration in this process (a training loop that verifies every step). The engine
is unchanged: it still reads, deduplicates, caches into the same SQLite store and writes in order; only
the units travel.

Time limits and crashes follow the same supervision policy as the local executor
(`assay.executors.supervision`); this module only moves units and verdicts. The driver cannot see which
sample of a unit an actor is on, so the whole unit is on the clock (`time_limit_s` + grace per sample) and
a unit that runs out its time, or whose actor dies, is split into one-sample units to find the culprit.

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
from collections import deque
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
from assay.store import verifier_key

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


class VerifierActor:
    """What runs inside each Ray actor: one warm verifier."""

    def __init__(self, spec: VerifierSpec) -> None:
        self.verifier = spec.build()

    def ready(self) -> bool:
        return True

    def run(self, task_json: dict[str, Any], items: list[WireItem]) -> list[ItemResult]:
        return judge_wire(self.verifier, Task.model_validate(task_json), items)

    def close(self) -> None:
        self.verifier.close()


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
class _Slot:
    handle: Any
    #: Units sent to this actor, oldest first (an actor runs them one at a time, in order).
    queue: deque[tuple[Any, WorkUnit]] = field(default_factory=deque)
    #: When the unit at the head of the queue started running (as far as the driver can tell).
    head_since: float = 0.0
    #: A fresh actor's `ready()` call until it answers: its start-up does not count against a unit.
    starting: Any = None
    started_at: float = 0.0


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
    """`actors` warm verifier actors on a Ray cluster (`jobs`; 0 = one per CPU in the cluster)."""

    #: Units queued per actor, so that an actor never waits for the driver between units.
    PREFETCH = 2

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
        self._key = verifier_key(
            f"{spec.cls.name}@{spec.cls.version}", spec.cls.Config.model_validate(spec.config)
        )
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
        self.capacity = len(self._slots) * self.PREFETCH
        self._by_ref: dict[Any, _Slot] = {}
        self.supervisor = Supervisor(spec, len(self._slots), worker_name="Ray actor")

    def _new_actor(self) -> Any:
        return _actor_class().options(**self._options).remote(self.spec)

    # -- submitting ----------------------------------------------------------------------------------------

    def submit(self, unit: WorkUnit) -> None:
        self.supervisor.backlog.append(unit)
        self._dispatch()

    def _dispatch(self) -> None:
        backlog = self.supervisor.backlog
        now = time.monotonic()
        while backlog:
            # The least loaded actor with room that is not past a deadline (it is about to be replaced).
            open_slots = [
                slot
                for slot in self._slots
                if len(slot.queue) < self.PREFETCH
                and not (slot.queue and slot.starting is None and self._deadline(slot) <= now)
            ]
            if not open_slots:
                return
            self._send(min(open_slots, key=lambda s: len(s.queue)), backlog.popleft())

    def _send(self, slot: _Slot, unit: WorkUnit) -> None:
        ref = slot.handle.run.remote(unit.task.model_dump(), to_wire(unit))
        if not slot.queue:
            slot.head_since = time.monotonic()
        slot.queue.append((ref, unit))
        self._by_ref[ref] = slot

    def in_flight(self) -> int:
        return sum(len(slot.queue) for slot in self._slots) + len(self.supervisor.backlog)

    # -- collecting ----------------------------------------------------------------------------------------

    def poll(self, timeout: float) -> list[ItemResult]:
        import ray

        try:
            self._dispatch()
            if not self.supervisor.has_verdicts() and self._by_ref:
                wait_for = max(0.0, min(timeout, self._time_to_next_deadline()))
                ready, _ = ray.wait(list(self._by_ref), num_returns=1, timeout=wait_for)
                if ready:
                    ready, _ = ray.wait(list(self._by_ref), num_returns=len(self._by_ref), timeout=0)
                for ref in ready:
                    self._collect(ref)
                self._enforce_deadlines()
                self._dispatch()
        except WorkersKeepDying:
            self.close()
            raise
        verdicts: list[ItemResult] = self.supervisor.take_verdicts()
        return verdicts

    def _collect(self, ref: Any) -> None:
        import ray
        from ray.exceptions import RayActorError

        slot = self._by_ref.get(ref)
        if slot is None:
            return
        try:
            results = ray.get(ref)
        except RayActorError as exc:
            # An actor runs its units in order: the one at the head of its queue was running.
            self._lost(slot, Loss.DIED, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return
        del self._by_ref[ref]
        # An actor runs its units in order, so a finished unit is the head of its queue (or, while results
        # race in, one of the first few): drop it wherever it is.
        for position, (queued, _) in enumerate(slot.queue):
            if queued == ref:
                del slot.queue[position]
                break
        slot.head_since = time.monotonic()
        self.supervisor.answered((int(seq), verdict) for seq, verdict in results)

    def _deadline(self, slot: _Slot) -> float:
        # The driver cannot see which sample of a unit an actor is on: the whole unit is on the clock.
        head: WorkUnit = slot.queue[0][1]
        return slot.head_since + self.supervisor.time_allowed(head, whole_unit=True)

    def _time_to_next_deadline(self) -> float:
        now = time.monotonic()
        wait = 3600.0
        for slot in self._slots:
            if slot.starting is not None:
                wait = min(wait, 0.2)  # look again soon: its units' clocks start when it is up
            elif slot.queue:
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
                self._lost(slot, Loss.DIED, f"a replacement actor failed to start: {exc}", begun=0)
                return True
            slot.head_since = time.monotonic()
            return False
        if time.monotonic() - slot.started_at > _START_TIMEOUT_S:
            slot.starting = None
            self._lost(slot, Loss.DIED, f"a replacement actor did not start within {_START_TIMEOUT_S:g}s", begun=0)
            return True
        return True

    def _enforce_deadlines(self) -> None:
        import ray

        for slot in list(self._slots):
            if self._still_starting(slot) or not slot.queue:
                continue
            ref, _ = slot.queue[0]
            if self._deadline(slot) >= time.monotonic():
                continue
            ready, _ = ray.wait([ref], timeout=0)  # it may have finished just now
            if ready:
                self._collect(ref)
                continue
            self._lost(slot, Loss.TIMEOUT, "killed")

    def _lost(self, slot: _Slot, loss: Loss, detail: str, begun: int = 1) -> None:
        """Kill an actor, put a fresh one in its place, and hand its units to the supervisor."""
        import ray

        state = WorkerState(begun=min(begun, len(slot.queue)), elapsed_s=time.monotonic() - slot.head_since)
        with contextlib.suppress(Exception):
            ray.kill(slot.handle, no_restart=True)
        lost = [unit for _, unit in slot.queue]
        for ref, _ in slot.queue:
            self._by_ref.pop(ref, None)
        slot.queue.clear()
        slot.handle = self._new_actor()
        slot.starting = slot.handle.ready.remote()
        slot.started_at = slot.head_since = time.monotonic()
        self.supervisor.lost(lost, state, loss, detail)

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
