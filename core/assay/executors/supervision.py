"""The supervision policy every executor shares: what happens to work when a worker hangs, stalls or dies.

An executor (local processes, the server's pools, Ray actors) only moves units to workers and verdicts
back; when a worker goes wrong it tells the `Supervisor` what the worker held and what it was doing, and
the supervisor decides which samples get the engine's own verdict and which go back to the backlog.

The rules:

- **Time.** One sample may hold a worker for `backstop_s` (the verifier's `time_limit_s` plus grace, see
  `VerifierSpec.backstop_s`); a unit judged as a whole (`verify_batch`) gets `backstop_s` per sample in it.
  A worker past its time is killed with everything it started. Time a unit waits in a queue or a pipe
  does not count: the clock starts when the worker takes the unit up.
- **Stalls.** A worker that holds units but shows no progress (it neither takes up the next unit nor
  answers the one it took) for `backstop_s` is stalled (it stopped reading its pipe, or answers into the
  void) and is killed like a hung one.
- **Finding the culprit.** A unit whose worker hung or died is split into one-sample units when the
  executor cannot tell which sample was running (a whole batch was); units that ran side by side in one
  worker (`Verifier.concurrent_units`), or one after another in one call whose progress the executor sees
  only in blocks (Ray), go back one at a time (`alone`), so that the next death or timeout names one
  unit. Units the worker had not taken up yet go back unchanged: they are blamed for nothing.
- **Verdicts.** A known sample past its time gets `timeout` (`time_limit`) at once. A known sample whose
  worker died or stalled is tried again: a first death may come from outside (the OOM killer choosing
  that worker); a sample under which `CRASHES_PER_SAMPLE` workers die gets `error` (`worker_crashed`).
- **Giving up.** Each sample is tried a bounded number of times, so a run always ends. It stops early,
  with `WorkersKeepDying`, only when the verifier itself cannot run here: after
  `UNEXPLAINED_DEATHS_PER_SLOT` deaths per worker slot in a row with nothing to blame (the worker was
  starting, idle, or had not taken up its units) and no verdict from any worker in between; or when more
  than `CRASHED_SAMPLES_PER_SLOT` samples per worker slot got `worker_crashed` before the verifier judged
  a single sample. One idle worker killed by the OOM killer, and its replacement killed again, costs
  nothing; samples that kill their worker among samples that do not cost only themselves.

With these rules a run's wall time is bounded whatever its samples do: N samples on J workers take at most
about N x `backstop_s` / J plus start-up (twice that where whole units are on the clock, a verifier that
judges whole units or any verifier on Ray, since a unit that runs out its time is judged again sample by
sample), plus the stall time of each worker that stops answering.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from assay.executors.base import ItemResult, VerifierSpec, WorkUnit, engine_verdict


class WorkersKeepDying(RuntimeError):
    """Workers keep dying in a way no sample explains: the verifier cannot run here (see the module's rules)."""


class Loss(Enum):
    """Why a worker's units came back."""

    TIMEOUT = "timeout"  # the unit it was running passed its time
    DIED = "died"  # the process (or actor) died, or closed its end of the pipe
    STALLED = "stalled"  # it holds units but shows no progress


@dataclass(frozen=True)
class WorkerState:
    """What a lost worker was doing, as far as its executor can tell."""

    #: How many of its units (oldest first) it had taken up and not answered.
    begun: int
    #: The engine sequence number of the sample its clock was on, when it judges samples one at a time.
    sample: int | None = None
    #: Seconds the running unit or sample had held the worker.
    elapsed_s: float = 0.0
    #: True when the `begun` units ran one after another inside one call whose progress the executor sees
    #: only in blocks (Ray): any of them may be the one that was running, so a timeout blames none alone.
    running_unknown: bool = False


class Supervisor:
    """One executor's supervision: the backlog of units waiting for a worker, verdicts waiting for the
    engine, and the decisions of the module's rules."""

    #: Workers that may die under one sample before it gets `worker_crashed`.
    CRASHES_PER_SAMPLE = 2
    #: Deaths with nothing to blame, per worker slot, in a row, that show the verifier cannot run here.
    UNEXPLAINED_DEATHS_PER_SLOT = 2
    #: Samples per worker slot that may get `worker_crashed` before the verifier has judged any sample.
    CRASHED_SAMPLES_PER_SLOT = 8

    def __init__(self, spec: VerifierSpec, slots: int, worker_name: str = "worker") -> None:
        self.spec = spec
        self.backstop_s = spec.backstop_s
        self.slots = slots
        self.worker_name = worker_name
        #: Units waiting for a worker, new and retried; retried ones go first.
        self.backlog: deque[WorkUnit] = deque()
        self._done: list[ItemResult] = []
        self._crashes: dict[int, int] = {}
        self._unexplained_deaths = 0
        self._judged_any = False
        self._crashed_samples = 0

    # -- limits ----------------------------------------------------------------------------------------

    def time_allowed(self, unit: WorkUnit, whole_unit: bool) -> float:
        """How long a worker may hold `unit`: `backstop_s` per sample it is judging at once."""
        return self.backstop_s * (len(unit.items) if whole_unit else 1)

    @property
    def stall_s(self) -> float:
        """How long a worker holding units may show no progress before it counts as stalled."""
        return self.backstop_s

    # -- what executors report -------------------------------------------------------------------------

    def answered(self, results: Iterable[ItemResult]) -> None:
        """Verdicts a worker produced: the verifier runs, so earlier unexplained deaths are forgiven."""
        self._unexplained_deaths = 0
        self._judged_any = True
        self._done.extend(results)

    def take_verdicts(self) -> list[ItemResult]:
        done, self._done = self._done, []
        return done

    def has_verdicts(self) -> bool:
        return bool(self._done)

    def lost(self, units: list[WorkUnit], state: WorkerState, loss: Loss, detail: str = "") -> None:
        """A worker was killed or died holding `units` (oldest first): decide what becomes of them."""
        suspects, untouched = units[: state.begun], units[state.begun :]
        if loss is Loss.TIMEOUT and suspects and not state.running_unknown:
            # Only the oldest unit ran out its time; the ones beside it had time left.
            suspects, untouched = suspects[:1], suspects[1:] + untouched
        retry: list[WorkUnit] = []
        if not suspects:
            if loss is not Loss.TIMEOUT:
                self._unexplained_death(detail)
        elif len(suspects) > 1 and not all(unit.alone for unit in suspects):
            # Units ran side by side (or one after another, unseen), so which one did it is unknown: judge
            # each alone.
            retry.extend(dataclasses.replace(unit, alone=True) for unit in suspects)
        else:
            for unit in suspects:
                retry.extend(self._blame(unit, state, loss, detail))
        retry.extend(untouched)
        self.backlog.extendleft(reversed(retry))

    # -- the decisions -----------------------------------------------------------------------------------

    def _blame(self, unit: WorkUnit, state: WorkerState, loss: Loss, detail: str) -> list[WorkUnit]:
        """Units to try again after `unit` was running when its worker was lost."""
        seqs = {seq for seq, _ in unit.items}
        culprit = state.sample if state.sample in seqs else None
        if culprit is None and len(unit.items) == 1:
            culprit = unit.items[0][0]
        if culprit is None:
            # A whole batch was running: judge its samples one at a time so that only the culprit pays.
            return [dataclasses.replace(unit, items=[item]) for item in unit.items]
        if loss is Loss.TIMEOUT:
            message = (
                f"sample held a {self.worker_name} for {state.elapsed_s:.1f}s "
                f"(limit {self.backstop_s:.1f}s); killed"
            )
            return self._give_up(unit, culprit, "timeout", "time_limit", message, state.elapsed_s)
        crashes = self._crashes.get(culprit, 0) + 1
        self._crashes[culprit] = crashes
        if crashes < self.CRASHES_PER_SAMPLE:
            return [unit]
        if loss is Loss.STALLED:
            message = f"the {self.worker_name} stopped answering after taking up this sample ({detail})"
        else:
            message = f"the {self.worker_name} died while verifying this sample ({detail})"
        self._crashed_samples += 1
        if not self._judged_any and self._crashed_samples > self.CRASHED_SAMPLES_PER_SLOT * self.slots:
            raise WorkersKeepDying(
                f"verifier {self.spec.cls.name!r}: {self._crashed_samples} samples in a row killed their "
                f"{self.worker_name}s and none was judged ({detail})"
            )
        return self._give_up(unit, culprit, "error", "worker_crashed", message)

    def _give_up(
        self, unit: WorkUnit, culprit: int, status: str, reason: str, message: str, elapsed_s: float = 0.0
    ) -> list[WorkUnit]:
        """Write the engine's own verdict for the culprit; the unit's other samples are tried again."""
        remaining = []
        for seq, sample in unit.items:
            if seq == culprit:
                self._crashes.pop(seq, None)
                self._done.append((seq, engine_verdict(self.spec, sample, status, reason, message, elapsed_s)))
            else:
                remaining.append((seq, sample))
        return [dataclasses.replace(unit, items=remaining)] if remaining else []

    def _unexplained_death(self, detail: str) -> None:
        self._unexplained_deaths += 1
        if self._unexplained_deaths > self.UNEXPLAINED_DEATHS_PER_SLOT * self.slots:
            raise WorkersKeepDying(
                f"verifier {self.spec.cls.name!r}: {self.worker_name}s keep dying before judging anything "
                f"({self._unexplained_deaths} in a row; last: {detail})"
            )
