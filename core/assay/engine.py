"""The engine: stream samples through a verifier, in order, deduplicated, cached and resumable.

Samples are read one line at a time and verdicts are written in input order; at most `window` samples are
in memory at once, whatever the size of the input. Identical (task, text) pairs are judged once. Every
verdict is cached in SQLite (see `assay.store`); a run that is killed and started again with the same
output file skips the verdicts already written, takes the ones committed to the cache, and judges the rest.

What can go wrong outside the verifier is kept apart from the loop: every input is checked before anything
is created; a bad input line is reported and skipped; the store gives up (and says so) rather than fail;
an output that cannot be written stops the run with `RunStopped`, leaving it resumable.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NoReturn, ParamSpec

import orjson
from pydantic import ValidationError

from assay.executors.base import (
    Executor,
    ExecutorFactory,
    VerifierSpec,
    WorkUnit,
    unknown_task_verdict,
    uses_batching,
)
from assay.executors.local import make_local_executor
from assay.jsonl import InputError, InputFileError, check_input, dumps, read_lines, read_models, validation_error
from assay.models import Sample, Task, Verdict
from assay.plugins import get_registry
from assay.progress import Mode as ProgressMode
from assay.progress import Progress, count_lines
from assay.store import VerdictStore, default_store_path, task_hash, text_hash
from assay.verifier import Verifier

TaskSource = str | Path | Iterable[Task | dict[str, Any]]
SampleSource = str | Path | Iterable[Sample | dict[str, Any]]

# Commit (and flush the output) every second, or sooner on a fast run so that memory stays bounded.
_COMMIT_EVERY_S = 1.0
_COMMIT_EVERY_N = 4096
_READ_BLOCK = 256  # samples read (and looked up in the cache) together
_UNIT_TARGET_S = 0.05  # aim for units that take ~50 ms: cheap IPC, yet fair sharing at the end of a run


@dataclass
class RunSummary:
    """What a run did, for the terminal and for `--summary-json`."""

    verifier: str = ""
    samples: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    cached: int = 0
    deduplicated: int = 0
    resumed: int = 0
    input_errors: int = 0
    elapsed_s: float = 0.0
    stopped: str | None = None  # why the run ended before the end of its input, if it did

    @property
    def passed(self) -> int:
        return self.statuses["pass"]

    def to_json(self) -> dict[str, Any]:
        return {
            "verifier": self.verifier,
            "samples": self.samples,
            "statuses": dict(self.statuses),
            "reasons": dict(self.reasons.most_common()),
            "cached": self.cached,
            "deduplicated": self.deduplicated,
            "resumed": self.resumed,
            "input_errors": self.input_errors,
            "elapsed_s": round(self.elapsed_s, 3),
            "stopped": self.stopped,
        }

    def render(self) -> str:
        rate = self.samples / self.elapsed_s if self.elapsed_s > 0 else 0.0
        lines = [
            f"{self.verifier}: {self.samples} samples in {self.elapsed_s:.1f}s ({rate:.0f}/s)",
            "  " + "  ".join(f"{status}={n}" for status, n in sorted(self.statuses.items())),
        ]
        if self.samples:
            lines.append(f"  pass rate {self.passed / self.samples:.1%}")
        if self.reasons:
            top = ", ".join(f"{reason} {n}" for reason, n in self.reasons.most_common(6))
            lines.append(f"  reasons: {top}")
        lines.append(
            f"  from cache {self.cached}, duplicates {self.deduplicated}, already written {self.resumed}, "
            f"bad input lines {self.input_errors}"
        )
        return "\n".join(lines)


class TaskTable:
    """Tasks by id, with their content hash. Tasks are few next to samples, so they are held in memory."""

    def __init__(self) -> None:
        self.tasks: dict[str, tuple[Task, bytes]] = {}
        self.errors: list[InputError] = []
        self.source = "<tasks>"

    @classmethod
    def load(cls, source: TaskSource) -> TaskTable:
        table = cls()
        if isinstance(source, str | Path):
            table.source = str(source)
            for line, task in read_models(source, Task):
                if isinstance(task, InputError):
                    table.errors.append(task)
                else:
                    table._add(task, line)
        else:
            for number, item in enumerate(source, start=1):
                task = item if isinstance(item, Task) else Task.model_validate(item)
                table._add(task, number)
        return table

    def _add(self, task: Task, line: int) -> None:
        if task.id in self.tasks:
            self.errors.append(InputError(self.source, line, "id", f"duplicate task id {task.id!r}; the first is kept"))
            return
        self.tasks[task.id] = (task, task_hash(task))


class OutputFileError(ValueError):
    """The output cannot be used at all (a directory, an input file, a folder that cannot be created)."""


class RunStopped(RuntimeError):
    """The run stopped before the end of its input: the output could not be written, or there were more
    bad lines than allowed. What was written is kept; the message says how to go on."""


class _SampleKeys:
    """The (task_id, index) pairs read so far, in a bit per index for the usual runs of indexes (a set of
    tuples would hold ~100 bytes a sample, and the engine must not grow with the input)."""

    def __init__(self) -> None:
        self._masks: dict[str, dict[int, int]] = {}  # task_id -> {index // 64: bit mask}

    def add(self, task_id: str, index: int) -> bool:
        """Record the pair; False when it was already there."""
        masks = self._masks.get(task_id)
        if masks is None:
            masks = self._masks[task_id] = {}
        block, bit = index >> 6, 1 << (index & 63)
        mask = masks.get(block, 0)
        if mask & bit:
            return False
        masks[block] = mask | bit
        return True


def _iter_samples(source: SampleSource) -> Iterator[tuple[str, int, Sample | InputError]]:
    """Samples with their file and line; a line that is not a sample, or repeats an earlier line's
    (task_id, index), is an InputError (a verdicts file never holds two verdicts for one key)."""
    seen = _SampleKeys()
    if isinstance(source, str | Path):
        path = str(source)
        for line, obj in read_lines(source):
            if isinstance(obj, InputError):
                yield path, line, obj
                continue
            try:
                sample = Sample.model_validate(obj)
            except ValidationError as exc:
                yield path, line, validation_error(path, line, exc)
                continue
            yield path, line, sample if seen.add(sample.task_id, sample.index) else _repeated(path, line, sample)
    else:
        for number, item in enumerate(source, start=1):
            sample = item if isinstance(item, Sample) else Sample.model_validate(item)
            ok = seen.add(sample.task_id, sample.index)
            yield "<samples>", number, sample if ok else _repeated("<samples>", number, sample)


def _repeated(path: str, line: int, sample: Sample) -> InputError:
    message = f"task {sample.task_id!r} already has a sample with index {sample.index} above; the first is kept"
    return InputError(path, line, "index", message)


class _Output:
    """The verdicts file: appended to, and on resume checked line by line against the input."""

    def __init__(self, path: Path, resume: bool) -> None:
        self.path = path
        self.existing = 0
        self._reader: IO[bytes] | None = None
        try:
            if resume and path.exists():
                good = _complete_prefix(path)
                with open(path, "r+b") as handle:
                    handle.truncate(good)
                with open(path, "rb") as handle:
                    self.existing = sum(1 for _ in handle)
                self._reader = open(path, "rb")  # noqa: SIM115 (lives as long as the run)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"")
            self._writer = open(path, "ab")  # noqa: SIM115 (lives as long as the run)
        except OSError as exc:
            if self._reader is not None:
                self._reader.close()
            raise OutputFileError(f"{path}: cannot write: {exc.strerror or exc}") from None
        self.failure: OSError | None = None

    @staticmethod
    def check(path: Path, inputs: Iterable[TaskSource | SampleSource]) -> None:
        """Everything about the output that can be known before a file is created."""
        if path.suffix == ".gz":
            raise OutputFileError(f"{path}: write verdicts as plain JSONL (a compressed file cannot be resumed)")
        if path.is_dir():
            raise OutputFileError(f"{path}: is a directory; give a file name for the verdicts")
        for folder in path.parents:
            if folder.exists():
                if not folder.is_dir():
                    raise OutputFileError(f"{path}: cannot write: {folder} is a file, not a folder")
                break
        for source in inputs:
            if isinstance(source, str | Path) and path.exists() and os.path.samefile(path, source):
                raise OutputFileError(f"{path}: is an input file of this run; write the verdicts elsewhere")

    def take_existing(self, sample: Sample, line: int, source: str) -> dict[str, Any]:
        """The verdict already written for this sample; the input must be the one the file was made from."""
        assert self._reader is not None
        verdict: dict[str, Any] = orjson.loads(self._reader.readline())
        if verdict.get("task_id") != sample.task_id or verdict.get("sample_index") != sample.index:
            raise InputFileError(
                f"{self.path} does not continue {source}: at {source}:{line} the input has "
                f"({sample.task_id!r}, {sample.index}) but the output has "
                f"({verdict.get('task_id')!r}, {verdict.get('sample_index')}); "
                "use a new output file or --overwrite"
            )
        return verdict

    def write(self, verdict: dict[str, Any]) -> None:
        try:
            self._writer.write(dumps(verdict))
        except OSError as exc:
            self._fail(exc)

    def flush(self) -> None:
        try:
            self._writer.flush()
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> NoReturn:
        self.failure = exc  # kept, so that `records` can tell this failure from any other OSError
        raise exc

    def close(self) -> None:
        """Close both ends; a failure to flush is kept in `failure` (the run is ending either way)."""
        try:
            self._writer.close()
        except OSError as exc:
            self.failure = self.failure or exc
        finally:
            if self._reader is not None:
                self._reader.close()


def _check_store_is_not(store: Path, files: Iterable[TaskSource | SampleSource | None]) -> None:
    """A damaged store is moved aside: never let that befall an input or the output given as `--store`."""
    for file in files:
        if isinstance(file, str | Path) and store.exists() and Path(file).exists() and os.path.samefile(store, file):
            raise ValueError(f"{store}: the verdict store cannot be an input or the output of the run")


def _complete_prefix(path: Path) -> int:
    """Byte length of the file's leading run of complete, parseable lines (a killed run may leave half a line)."""
    good = 0
    with open(path, "rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                break
            try:
                orjson.loads(raw)
            except orjson.JSONDecodeError:
                break
            good += len(raw)
    return good


class VerifyRun:
    """One streaming verification run. Iterate it for `Verdict`s, or call `run()` to just write them."""

    def __init__(
        self,
        tasks: TaskSource,
        samples: SampleSource,
        verifier: str | type[Verifier],
        *,
        config: dict[str, Any] | None = None,
        jobs: int | None = None,
        out: str | Path | None = None,
        store: str | Path | VerdictStore | None = None,
        use_cache: bool = True,
        use_store: bool = True,
        resume: bool = True,
        progress: bool | None = None,
        executor: ExecutorFactory | None = None,
        on_input_error: Callable[[InputError], None] | None = None,
        on_warning: Callable[[str], None] | None = None,
        max_bad_lines: int | None = None,
        window: int | None = None,
    ) -> None:
        cls = get_registry().verifier_class(verifier) if isinstance(verifier, str) else verifier
        self.spec = VerifierSpec(cls, dict(config or {}))
        # Validated here, so that a typo is reported once and not by every worker.
        self.config = self.spec.validated_config
        # Every input is checked before anything (output, store, workers) is created.
        for source in (tasks, samples):
            if isinstance(source, str | Path):
                check_input(source)
        self.out = Path(out) if out is not None else None
        if self.out is not None:
            _Output.check(self.out, (tasks, samples))
        if use_store and not isinstance(store, VerdictStore):
            _check_store_is_not(Path(store or default_store_path()), (tasks, samples, self.out))
        if max_bad_lines is not None and max_bad_lines < 0:
            raise ValueError(f"max_bad_lines must be 0 or more, not {max_bad_lines}")
        self.tasks = TaskTable.load(tasks)
        self.samples = samples
        self.jobs = (os.cpu_count() or 1) if jobs is None else jobs
        self._store_arg = store
        self.use_cache = use_cache
        self.use_store = use_store
        self.resume = resume
        self.progress = progress  # None: a bar on a terminal, else a line every ASSAY_PROGRESS_EVERY_S seconds
        self.executor_factory: ExecutorFactory = executor or make_local_executor
        self.on_input_error = on_input_error or (lambda error: print(f"assay: {error}", file=sys.stderr))
        self.on_warning = on_warning or (lambda message: print(f"assay: {message}", file=sys.stderr))
        self.max_bad_lines = max_bad_lines
        self.window = window or max(4096, 512 * max(1, self.jobs))
        self.summary = RunSummary(verifier=self.spec.id)
        self.input_errors: list[InputError] = []
        self._consumed = False

    # -- public ----------------------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Verdict]:
        for verdict in self.records():
            yield Verdict.model_validate(verdict)

    def run(self) -> RunSummary:
        for _ in self.records():
            pass
        return self.summary

    # -- the loop ----------------------------------------------------------------------------------------------

    def _report(self, error: InputError) -> None:
        self.summary.input_errors += 1
        if len(self.input_errors) < 1000:
            self.input_errors.append(error)
        self.on_input_error(error)
        if self.max_bad_lines is not None and self.summary.input_errors > self.max_bad_lines:
            self.summary.stopped = (
                f"stopped at {error.path}:{error.line}: more than {self.max_bad_lines} bad input lines "
                f"(max_bad_lines={self.max_bad_lines}); the verdicts written so far are kept"
            )
            raise RunStopped(self.summary.stopped)

    def _open_store(self) -> tuple[VerdictStore, bool]:
        """The store and whether this run owns it (closes it)."""
        if isinstance(self._store_arg, VerdictStore):
            return self._store_arg, False
        if not self.use_store:
            return VerdictStore(None), True
        path = Path(self._store_arg) if self._store_arg is not None else default_store_path()
        if self._store_arg is None:
            _announce_default_store(path, self.on_warning)
        return VerdictStore(path, warn=self.on_warning), True

    def _cannot_write(self, output: _Output, store: VerdictStore) -> str:
        failure = output.failure
        reason = (failure.strerror or failure) if failure is not None else "unknown error"
        if store.available:
            kept = f"the verdicts judged since are kept in the verdict store {store.path}"
        else:
            kept = "the verdicts not yet written will be judged again (the verdict store is not in use)"
        return (
            f"cannot write {output.path} ({reason}); the run stopped. The verdicts written so far stay in it and "
            f"{kept}: make room and run the same command again to resume"
        )

    def records(self) -> Generator[dict[str, Any], None, None]:
        """Verdicts as JSON-ready dicts, in input order (cheaper than `Verdict`s)."""
        if self._consumed:
            raise RuntimeError("a VerifyRun can be consumed once")
        self._consumed = True
        started = time.monotonic()
        for error in self.tasks.errors:
            self._report(error)
        output = _Output(self.out, self.resume) if self.out is not None else None
        store, own_store = self._open_store()
        path = self.samples if isinstance(self.samples, str | Path) and self.progress is not False else None
        mode: ProgressMode | None = None if self.progress is None else "bar" if self.progress else "off"
        bar = Progress(self.spec.cls.name, count_lines(path) if path is not None else None, mode=mode)
        executor: Executor | None = None
        try:
            executor = self.executor_factory(self.spec, self.jobs)
            yield from self._loop(executor, store, output, bar)
        except OSError as exc:
            if output is None or exc is not output.failure:
                raise
        finally:
            if executor is not None:
                executor.close()
            store.commit()
            if own_store:
                store.close()
            if output is not None:
                output.close()
            bar.close()
            self.summary.elapsed_s = time.monotonic() - started
        if output is not None and output.failure is not None:
            self.summary.stopped = self._cannot_write(output, store)
            raise RunStopped(self.summary.stopped)

    def _loop(
        self, executor: Executor, store: VerdictStore, output: _Output | None, bar: Progress
    ) -> Iterator[dict[str, Any]]:
        window = _Window(self, executor, store, output)
        self.summary.resumed = 0
        last_commit = time.monotonic()
        while True:
            window.fill()
            window.collect()
            emitted = 0
            for verdict in window.emit():
                emitted += 1
                yield verdict
            if emitted:
                bar.update(emitted)
            now = time.monotonic()
            if now - last_commit >= _COMMIT_EVERY_S or store.pending >= _COMMIT_EVERY_N:
                store.commit()
                if output is not None:
                    output.flush()
                last_commit = now
            if window.done:
                break


class _Window:
    """The samples of a run between the first not yet written (`next_emit`) and the next to read
    (`next_seq`): read a block at a time (the cache asked once per block), deduplicated, grouped into work
    units, and written back in input order as their verdicts come in."""

    def __init__(self, run: VerifyRun, executor: Executor, store: VerdictStore, output: _Output | None) -> None:
        self.run = run
        self.executor = executor
        self.store = store
        self.output = output
        self.vkey = run.spec.cache_key
        self.batching = uses_batching(run.spec.cls)
        self.unit_size = run.spec.cls.batch_size if self.batching else 8
        self._elapsed_total, self._elapsed_count = 0.0, 0
        self.ready: dict[int, dict[str, Any]] = {}  # verdicts waiting for their turn to be written
        self.ids: dict[int, tuple[str, int]] = {}  # seq -> (task_id, sample_index) of every sample not yet written
        self.waiting: dict[tuple[bytes, bytes], list[int]] = {}  # (task, text) being judged -> seqs that want it
        self.key_of: dict[int, tuple[bytes, bytes]] = {}  # dispatched seq -> its key
        self.skip_write: set[int] = set()  # seqs already in the output (a resumed run)
        self.partial: WorkUnit | None = None  # the unit being filled
        self.unit_ids = 0
        self.next_seq = self.next_emit = 0
        self.samples = _iter_samples(run.samples)
        self.exhausted = False
        self.existing = output.existing if output is not None else 0

    @property
    def done(self) -> bool:
        return (
            self.exhausted
            and self.partial is None
            and self.next_emit == self.next_seq
            and not self.executor.in_flight()
        )

    def _room(self) -> int:
        return self.run.window - (self.next_seq - self.next_emit)

    # -- 1. reading ------------------------------------------------------------------------------------------

    def fill(self) -> None:
        """Read while there is room in the window and the executor wants work; hand over the open unit
        when nothing more will join it soon."""
        executor = self.executor
        while not self.exhausted and self._room() > 0 and executor.in_flight() < executor.capacity:
            self._place(self._read_block(min(_READ_BLOCK, self._room())))
        if self.partial is not None and (
            self.exhausted or self._room() <= 0 or executor.in_flight() < executor.capacity
        ):
            self._submit_partial()

    def _read_block(self, room: int) -> list[tuple[int, Sample, Task, tuple[bytes, bytes]]]:
        """Up to `room` samples that need a verdict; the others (bad lines, resumed, unknown task) are settled."""
        run = self.run
        block: list[tuple[int, Sample, Task, tuple[bytes, bytes]]] = []
        while len(block) < room:
            try:
                source, line, sample = next(self.samples)
            except StopIteration:
                self.exhausted = True
                break
            if isinstance(sample, InputError):
                run._report(sample)
                continue
            seq = self.next_seq
            self.next_seq += 1
            self.ids[seq] = (sample.task_id, sample.index)
            if seq < self.existing:
                assert self.output is not None
                self.ready[seq] = self.output.take_existing(sample, line, source)
                self.skip_write.add(seq)
                run.summary.resumed += 1
                continue
            entry = run.tasks.tasks.get(sample.task_id)
            if entry is None:
                error = InputError(source, line, "task_id", f"no task {sample.task_id!r} in {run.tasks.source}")
                run._report(error)
                self.ready[seq] = unknown_task_verdict(run.spec, sample, str(error))
                continue
            task, thash = entry
            block.append((seq, sample, task, (thash, text_hash(sample.text))))
        return block

    def _place(self, block: list[tuple[int, Sample, Task, tuple[bytes, bytes]]]) -> None:
        """Each sample of `block` joins an identical one being judged, takes its cached verdict, or joins a unit."""
        run = self.run
        lookups = {key for *_, key in block if key not in self.waiting}
        cached = self.store.get_many(self.vkey, lookups) if run.use_cache and lookups else {}
        for seq, sample, task, key in block:
            if key in self.waiting:
                self.waiting[key].append(seq)
                run.summary.deduplicated += 1
                continue
            body = cached.get(key)
            if body is not None:
                self.ready[seq] = {"task_id": sample.task_id, "sample_index": sample.index, **body}
                run.summary.cached += 1
                continue
            self.waiting[key] = [seq]
            self.key_of[seq] = key
            partial = self.partial
            if partial is not None and (partial.task.id != task.id or len(partial.items) >= self.unit_size):
                self._submit_partial()
            if self.partial is None:
                self.unit_ids += 1
                self.partial = WorkUnit(self.unit_ids, key[0], task)
            self.partial.items.append((seq, sample))

    def _submit_partial(self) -> None:
        if self.partial is not None and self.partial.items:
            self.executor.submit(self.partial)
        self.partial = None

    # -- 2. collecting -----------------------------------------------------------------------------------------

    def collect(self) -> None:
        """Take finished verdicts: each goes to the store and to every sample that waited for it."""
        if not self.executor.in_flight():
            return
        idle = self.next_emit in self.ready
        for seq, verdict in self.executor.poll(0.0 if idle else 0.2):
            key = self.key_of.pop(seq)
            self.store.put(self.vkey, key[0], key[1], verdict)
            self._elapsed_total += float(verdict.get("elapsed_s") or 0.0)
            self._elapsed_count += 1
            for other in self.waiting.pop(key):
                task_id, index = self.ids[other]
                self.ready[other] = verdict if other == seq else {**verdict, "task_id": task_id, "sample_index": index}
        if not self.batching and self._elapsed_count:
            # Units of about _UNIT_TARGET_S of work: small enough to spread, large enough to amortise.
            mean = self._elapsed_total / self._elapsed_count
            self.unit_size = max(1, min(256, int(_UNIT_TARGET_S / max(mean, 1e-6))))

    # -- 3. writing ----------------------------------------------------------------------------------------------

    def emit(self) -> Iterator[dict[str, Any]]:
        """Write (and yield) the verdicts whose turn has come, in input order."""
        summary = self.run.summary
        while self.next_emit in self.ready:
            seq = self.next_emit
            verdict = self.ready.pop(seq)
            del self.ids[seq]
            if seq in self.skip_write:
                self.skip_write.discard(seq)
            elif self.output is not None:
                self.output.write(verdict)
            summary.samples += 1
            summary.statuses[verdict.get("status", "?")] += 1
            if verdict.get("reason"):
                summary.reasons[verdict["reason"]] += 1
            self.next_emit += 1
            yield verdict


_announced_stores: set[Path] = set()


def _announce_default_store(path: Path, say: Callable[[str], None]) -> None:
    """Where verdicts are cached when no store was named: logged once per process, and said once when the
    file is about to be created (a cache in the home folder should not be a surprise)."""
    if path in _announced_stores:
        return
    _announced_stores.add(path)
    logging.getLogger("assay").info("verdict cache: %s (store= or ASSAY_STORE to move it)", path)
    if not path.exists():
        say(f"caching verdicts in {path} (set ASSAY_STORE, or pass store= / --store, to keep them elsewhere)")


P = ParamSpec("P")


def _signature_of(cls: Callable[P, VerifyRun]) -> Callable[[Callable[..., VerifyRun]], Callable[P, VerifyRun]]:
    """Give a function the parameters of `cls`, for type checkers and for `help()` alike."""

    def apply(function: Callable[..., VerifyRun]) -> Callable[P, VerifyRun]:
        function.__signature__ = inspect.signature(cls).replace(return_annotation=cls.__name__)  # type: ignore[attr-defined]
        return function

    return apply


@_signature_of(VerifyRun)
def verify(*args: Any, **kwargs: Any) -> VerifyRun:
    """Verify samples against tasks. Iterate the result for Verdicts (in input order) or call `.run()`.

    `tasks` and `samples` are JSONL paths (`.gz` too) or iterables of models or dicts; `verifier` is a
    registered name or a Verifier class. Options: `config`, `jobs` (0 = in this process), `out` (a JSONL
    file, resumed if it exists), `store` (the SQLite verdict cache; by default `$ASSAY_STORE`, else
    `$XDG_CACHE_HOME/assay/verdicts.sqlite`, that is `~/.cache/assay/verdicts.sqlite`, logged on the
    `assay` logger at first use and said on stderr when it is created), `use_cache` (False: judge again, still record),
    `use_store` (False: neither read nor write the store), `resume`, `progress`, `max_bad_lines` (raise
    `RunStopped` after more bad input lines than this), `on_input_error`, `on_warning`, `executor` (where units
    run: the local processes by default, or `assay.executors.ray.ray_executor(...)`).

    Raises `InputFileError` or `OutputFileError` (nothing was created) when the run cannot start, and
    `RunStopped` when it ends early; a bad input line is reported and skipped, never raised.
    """
    return VerifyRun(*args, **kwargs)


def get_verifier(name: str, **config: Any) -> Verifier:
    """A ready verifier by its registered name, for calling `verify` directly (reward functions, servers)."""
    return get_registry().verifier_class(name)(config)
