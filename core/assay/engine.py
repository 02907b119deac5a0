"""The engine: stream samples through a verifier, in order, deduplicated, cached and resumable.

Samples are read one line at a time and verdicts are written in input order; at most `window` samples are
in memory at once, whatever the size of the input. Identical (task, text) pairs are judged once. Every
verdict is cached in SQLite (see `assay.store`); a run that is killed and started again with the same
output file skips the verdicts already written, takes the ones committed to the cache, and judges the rest.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
from pydantic import ValidationError
from tqdm import tqdm

from assay.executors.base import Executor, ExecutorFactory, VerifierSpec, WorkUnit, uses_batching
from assay.executors.local import make_local_executor
from assay.jsonl import InputError, InputFileError, dumps, read_lines, read_models, validation_error
from assay.models import Sample, Task, Verdict
from assay.plugins import get_registry
from assay.store import VerdictStore, default_store_path, task_hash, text_hash, verifier_key
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


def _iter_samples(source: SampleSource) -> Iterator[tuple[str, int, Sample | InputError]]:
    if isinstance(source, str | Path):
        path = str(source)
        for line, obj in read_lines(source):
            if isinstance(obj, InputError):
                yield path, line, obj
                continue
            try:
                yield path, line, Sample.model_validate(obj)
            except ValidationError as exc:
                yield path, line, validation_error(path, line, exc)
    else:
        for number, item in enumerate(source, start=1):
            yield "<samples>", number, item if isinstance(item, Sample) else Sample.model_validate(item)


class _Output:
    """The verdicts file: appended to, and on resume checked line by line against the input."""

    def __init__(self, path: Path, resume: bool) -> None:
        if path.suffix == ".gz":
            raise ValueError(f"{path}: write verdicts as plain JSONL (a compressed file cannot be resumed)")
        self.path = path
        self.existing = 0
        self._reader: IO[bytes] | None = None
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
        self._writer.write(dumps(verdict))

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
        if self._reader is not None:
            self._reader.close()


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
        resume: bool = True,
        progress: bool | None = None,
        executor: ExecutorFactory | None = None,
        on_input_error: Callable[[InputError], None] | None = None,
        window: int | None = None,
    ) -> None:
        cls = get_registry().verifier_class(verifier) if isinstance(verifier, str) else verifier
        self.spec = VerifierSpec(cls, dict(config or {}))
        # Validated here, so that a typo is reported once and not by every worker.
        self.config = cls.Config.model_validate(self.spec.config)
        self.tasks = TaskTable.load(tasks)
        self.samples = samples
        self.jobs = (os.cpu_count() or 1) if jobs is None else jobs
        self.out = Path(out) if out is not None else None
        self._store_arg = store
        self.use_cache = use_cache
        self.resume = resume
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.executor_factory: ExecutorFactory = executor or make_local_executor
        self.on_input_error = on_input_error or (lambda error: print(f"assay: {error}", file=sys.stderr))
        self.window = window or max(4096, 512 * max(1, self.jobs))
        self.summary = RunSummary(verifier=f"{cls.name}@{cls.version}")
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

    def records(self) -> Iterator[dict[str, Any]]:
        """Verdicts as JSON-ready dicts, in input order (cheaper than `Verdict`s)."""
        if self._consumed:
            raise RuntimeError("a VerifyRun can be consumed once")
        self._consumed = True
        started = time.monotonic()
        for error in self.tasks.errors:
            self._report(error)
        if isinstance(self._store_arg, VerdictStore):
            store, own_store = self._store_arg, False
        else:
            store, own_store = VerdictStore(self._store_arg or default_store_path()), True
        output = _Output(self.out, self.resume) if self.out is not None else None
        bar = tqdm(desc=self.spec.cls.name, unit=" samples", disable=not self.progress, file=sys.stderr)
        executor: Executor | None = None
        try:
            executor = self.executor_factory(self.spec, self.jobs)
            yield from self._loop(executor, store, output, bar)
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

    def _loop(
        self, executor: Executor, store: VerdictStore, output: _Output | None, bar: tqdm[Any]
    ) -> Iterator[dict[str, Any]]:
        vkey = verifier_key(self.summary.verifier, self.config)
        verifier_id = self.summary.verifier
        batching = uses_batching(self.spec.cls)
        unit_size = self.spec.cls.batch_size if batching else 8
        elapsed_total, elapsed_count = 0.0, 0

        ready: dict[int, dict[str, Any]] = {}  # verdicts waiting for their turn to be written
        ids: dict[int, tuple[str, int]] = {}  # seq -> (task_id, sample_index) for every sample not yet written
        waiting: dict[tuple[bytes, bytes], list[int]] = {}  # (task, text) being judged -> seqs that want it
        key_of: dict[int, tuple[bytes, bytes]] = {}  # dispatched seq -> its key
        skip_write: set[int] = set()
        partial: WorkUnit | None = None
        unit_ids = 0
        next_seq = next_emit = 0
        samples = _iter_samples(self.samples)
        exhausted = False
        last_commit = time.monotonic()
        existing = output.existing if output is not None else 0
        self.summary.resumed = 0

        def submit_partial() -> None:
            nonlocal partial
            if partial is not None and partial.items:
                executor.submit(partial)
            partial = None

        while True:
            # 1. Read while there is room in the window and the executor wants work, a block at a time so
            #    that the cache is asked once per block.
            while not exhausted and next_seq - next_emit < self.window and executor.in_flight() < executor.capacity:
                block: list[tuple[int, Sample, Task, tuple[bytes, bytes]]] = []
                room = min(_READ_BLOCK, self.window - (next_seq - next_emit))
                while len(block) < room:
                    try:
                        source, line, sample = next(samples)
                    except StopIteration:
                        exhausted = True
                        break
                    if isinstance(sample, InputError):
                        self._report(sample)
                        continue
                    seq = next_seq
                    next_seq += 1
                    ids[seq] = (sample.task_id, sample.index)
                    if seq < existing:
                        assert output is not None
                        ready[seq] = output.take_existing(sample, line, source)
                        skip_write.add(seq)
                        self.summary.resumed += 1
                        continue
                    entry = self.tasks.tasks.get(sample.task_id)
                    if entry is None:
                        message = f"no task {sample.task_id!r} in {self.tasks.source}"
                        error = InputError(source, line, "task_id", message)
                        self._report(error)
                        ready[seq] = _unknown_task_verdict(verifier_id, sample, str(error))
                        continue
                    task, thash = entry
                    block.append((seq, sample, task, (thash, text_hash(sample.text))))
                lookups = {key for *_, key in block if key not in waiting}
                cached = store.get_many(vkey, lookups) if self.use_cache and lookups else {}
                for seq, sample, task, key in block:
                    if key in waiting:
                        waiting[key].append(seq)
                        self.summary.deduplicated += 1
                        continue
                    body = cached.get(key)
                    if body is not None:
                        ready[seq] = {"task_id": sample.task_id, "sample_index": sample.index, **body}
                        self.summary.cached += 1
                        continue
                    waiting[key] = [seq]
                    key_of[seq] = key
                    if partial is not None and (partial.task.id != task.id or len(partial.items) >= unit_size):
                        submit_partial()
                    if partial is None:
                        unit_ids += 1
                        partial = WorkUnit(unit_ids, key[0], task)
                    partial.items.append((seq, sample))
            if partial is not None and (
                exhausted or next_seq - next_emit >= self.window or executor.in_flight() < executor.capacity
            ):
                submit_partial()

            # 2. Collect finished verdicts.
            if executor.in_flight():
                idle = next_emit in ready
                for seq, verdict in executor.poll(0.0 if idle else 0.2):
                    key = key_of.pop(seq)
                    store.put(vkey, key[0], key[1], verdict)
                    elapsed_total += float(verdict.get("elapsed_s") or 0.0)
                    elapsed_count += 1
                    for other in waiting.pop(key):
                        task_id, index = ids[other]
                        ready[other] = (
                            verdict if other == seq else {**verdict, "task_id": task_id, "sample_index": index}
                        )
                if not batching and elapsed_count:
                    mean = elapsed_total / elapsed_count
                    unit_size = max(1, min(256, int(_UNIT_TARGET_S / max(mean, 1e-6))))

            # 3. Write (and yield) in input order.
            emitted = 0
            while next_emit in ready:
                verdict = ready.pop(next_emit)
                del ids[next_emit]
                if next_emit in skip_write:
                    skip_write.discard(next_emit)
                elif output is not None:
                    output.write(verdict)
                self.summary.samples += 1
                self.summary.statuses[verdict.get("status", "?")] += 1
                if verdict.get("reason"):
                    self.summary.reasons[verdict["reason"]] += 1
                next_emit += 1
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

            if exhausted and partial is None and next_emit == next_seq and not executor.in_flight():
                break


def _unknown_task_verdict(verifier_id: str, sample: Sample, message: str) -> dict[str, Any]:
    return {
        "task_id": sample.task_id,
        "sample_index": sample.index,
        "verifier": verifier_id,
        "status": "error",
        "passed": None,
        "score": None,
        "answer": None,
        "reason": "unknown_task",
        "details": {"message": message},
        "elapsed_s": 0.0,
    }


def verify(
    tasks: TaskSource,
    samples: SampleSource,
    verifier: str | type[Verifier],
    **options: Any,
) -> VerifyRun:
    """Verify samples against tasks. Iterate the result for Verdicts (in input order) or call `.run()`.

    `tasks` and `samples` are JSONL paths (`.gz` too) or iterables of models or dicts; `verifier` is a
    registered name or a Verifier class. Options: `config`, `jobs` (0 = in this process), `out` (a JSONL
    file, resumed if it exists), `store` (the SQLite cache), `use_cache`, `resume`, `progress`.
    """
    return VerifyRun(tasks, samples, verifier, **options)


def get_verifier(name: str, **config: Any) -> Verifier:
    """A ready verifier by its registered name, for calling `verify` directly (reward functions, servers)."""
    return get_registry().verifier_class(name)(config)
