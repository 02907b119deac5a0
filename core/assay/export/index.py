"""Tasks, samples and verdicts joined per problem, in flat memory whatever the input's order.

Samples and the deciding verifier's verdicts are copied into a temporary SQLite file keyed by (task,
sample index); problems are then read back one at a time, in the tasks file's order. Only one problem's
samples are ever held in memory, so ten million samples cost disk, not RAM; the input files need not be
sorted or grouped.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from assay.jsonl import InputError, read_lines, validation_error
from assay.models import Sample, Task, Verdict

#: Rows per executemany: big enough to amortise the call, small enough to keep memory flat.
_BATCH = 20_000


class ExportInputError(ValueError):
    """Input the export cannot use at all (the message names the file and why)."""


@dataclass(frozen=True)
class Candidate:
    """One sample of a problem with what the deciding verifier (or the selection) said about it.

    `passed` is None when nothing was decided (no verdict, an error verdict, a skipped sample).
    """

    index: int
    text: str
    passed: bool | None
    score: float | None
    answer: str | None
    metadata: dict[str, Any]


@dataclass(frozen=True)
class Problem:
    task: Task
    candidates: list[Candidate]  # in sample-index order


@dataclass
class IndexSummary:
    tasks: int = 0
    samples: int = 0
    verdicts: int = 0
    #: Verdicts from other verifiers than the deciding one, left out.
    other_verdicts: int = 0
    #: Samples or verdicts naming a task that is not in the tasks file.
    unknown_task: int = 0
    input_errors: int = 0
    verifier: str | None = None


def _models(
    path: str | Path, model: type[Any], on_error: Callable[[InputError], None], summary: IndexSummary
) -> Iterator[tuple[int, Any]]:
    path_str = str(path)
    for number, obj in read_lines(path):
        if isinstance(obj, InputError):
            summary.input_errors += 1
            on_error(obj)
            continue
        try:
            yield number, model.model_validate(obj)
        except ValidationError as exc:
            summary.input_errors += 1
            on_error(validation_error(path_str, number, exc))


class ProblemIndex:
    """The joined input in a temporary SQLite file; iterate `problems()`, then `close()` (or use `with`)."""

    def __init__(
        self,
        tasks: str | Path,
        samples: str | Path,
        verdicts: Iterable[str | Path] = (),
        *,
        verifier: str | None = None,
        selections: str | Path | None = None,
        on_input_error: Callable[[InputError], None] | None = None,
        temp_dir: str | Path | None = None,
    ) -> None:
        self.summary = IndexSummary(verifier=verifier)
        self._selected = False
        self._on_error = on_input_error or (lambda error: None)
        handle, name = tempfile.mkstemp(prefix="assay-export-", suffix=".sqlite", dir=temp_dir)
        os.close(handle)
        self._path = Path(name)
        self._db = sqlite3.connect(name, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=OFF")
            self._db.execute("PRAGMA synchronous=OFF")
            self._db.execute("PRAGMA cache_size=-32768")  # 32 MiB of page cache, whatever the input's size
            self._db.executescript(
                "CREATE TABLE tasks (seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, task BLOB NOT NULL);"
                "CREATE TABLE samples (task TEXT, idx INTEGER, text TEXT, metadata BLOB,"
                " PRIMARY KEY (task, idx)) WITHOUT ROWID;"
                "CREATE TABLE verdicts (task TEXT, idx INTEGER, passed INTEGER, score REAL, answer TEXT,"
                " PRIMARY KEY (task, idx)) WITHOUT ROWID;"
            )
            self._load_tasks(tasks)
            self._load_samples(samples)
            for path in verdicts:
                self._load_verdicts(path)
            if selections is not None:
                self._load_selections(selections)
        except BaseException:
            self.close()
            raise

    # -- loading ---------------------------------------------------------------------------------------

    def _load_tasks(self, path: str | Path) -> None:
        self._db.execute("BEGIN")
        for number, task in _models(path, Task, self._on_error, self.summary):
            dumped = orjson.dumps(task.model_dump(mode="json"))
            if self._db.execute("INSERT OR IGNORE INTO tasks (id, task) VALUES (?, ?)", (task.id, dumped)).rowcount:
                self.summary.tasks += 1
            else:
                self.summary.input_errors += 1
                self._on_error(
                    InputError(str(path), number, "id", f"task {task.id!r} appears twice; the first is kept")
                )
        self._db.execute("COMMIT")

    def _load_samples(self, path: str | Path) -> None:
        batch: list[tuple[str, int, str, bytes | None]] = []
        self._db.execute("BEGIN")
        for _, sample in _models(path, Sample, self._on_error, self.summary):
            metadata = dict(sample.metadata)
            if sample.label is not None:
                metadata.setdefault("label", sample.label)
            batch.append((sample.task_id, sample.index, sample.text, orjson.dumps(metadata) if metadata else None))
            self.summary.samples += 1
            if len(batch) >= _BATCH:
                self._db.executemany("INSERT OR REPLACE INTO samples VALUES (?, ?, ?, ?)", batch)
                batch.clear()
        self._db.executemany("INSERT OR REPLACE INTO samples VALUES (?, ?, ?, ?)", batch)
        self._db.execute("COMMIT")

    def _load_verdicts(self, path: str | Path) -> None:
        batch: list[tuple[str, int, int | None, float | None, str | None]] = []
        self._db.execute("BEGIN")
        for _, verdict in _models(path, Verdict, self._on_error, self.summary):
            if self.summary.verifier is None:
                self.summary.verifier = verdict.verifier  # the first verifier seen decides, unless named
            if verdict.verifier != self.summary.verifier:
                self.summary.other_verdicts += 1
                continue
            passed = None if verdict.passed is None else int(verdict.passed)
            batch.append((verdict.task_id, verdict.sample_index, passed, verdict.score, verdict.answer))
            self.summary.verdicts += 1
            if len(batch) >= _BATCH:
                self._db.executemany("INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?, ?, ?)", batch)
                batch.clear()
        self._db.executemany("INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?, ?, ?)", batch)
        self._db.execute("COMMIT")

    def _load_selections(self, path: str | Path) -> None:
        """A selector's choices (`assay select` output), which then decide instead of the verdicts' pass/fail:
        the chosen sample and every sample with the chosen answer pass, any other sample fails; a problem
        without a choice has nothing decided. Verdicts still give the answers and scores."""
        path_str = str(path)
        self._selected = True
        self._db.execute("CREATE TABLE chosen (task TEXT PRIMARY KEY, idx INTEGER, answer TEXT) WITHOUT ROWID")
        self._db.execute("BEGIN")
        for number, line in read_lines(path):
            if isinstance(line, InputError):
                self.summary.input_errors += 1
                self._on_error(line)
                continue
            task_id, chosen, answer = line.get("task_id"), line.get("sample_index"), line.get("answer")
            bad = None
            if not isinstance(task_id, str):
                bad = ("task_id", "expected a string")
            elif chosen is not None and (isinstance(chosen, bool) or not isinstance(chosen, int)):
                bad = ("sample_index", "expected an integer or null")
            elif answer is not None and not isinstance(answer, str):
                bad = ("answer", "expected a string or null")
            if bad is not None:
                self.summary.input_errors += 1
                self._on_error(InputError(path_str, number, bad[0], bad[1]))
                continue
            if chosen is not None:
                self._db.execute("INSERT OR REPLACE INTO chosen VALUES (?, ?, ?)", (task_id, chosen, answer))
        self._db.execute("COMMIT")

    # -- reading back ------------------------------------------------------------------------------------

    def problems(self) -> Iterator[Problem]:
        """Every task, in the tasks file's order, with its samples in index order."""
        passed = "v.passed"
        join = ""
        if self._selected:
            passed = (
                "CASE WHEN c.task IS NULL THEN NULL"
                " WHEN s.idx = c.idx OR (c.answer IS NOT NULL AND v.answer = c.answer) THEN 1 ELSE 0 END"
            )
            join = " LEFT JOIN chosen c ON c.task = s.task"
        query = (
            f"SELECT s.idx, s.text, s.metadata, {passed}, v.score, v.answer FROM samples s"
            f" LEFT JOIN verdicts v ON v.task = s.task AND v.idx = s.idx{join} WHERE s.task = ? ORDER BY s.idx"
        )
        reader = self._db.cursor()
        for (raw_task,) in self._db.execute("SELECT task FROM tasks ORDER BY seq"):
            task = Task.model_validate(orjson.loads(raw_task))
            candidates = [
                Candidate(
                    index=idx,
                    text=text,
                    passed=None if passed is None else bool(passed),
                    score=score,
                    answer=answer,
                    metadata=orjson.loads(metadata) if metadata else {},
                )
                for idx, text, metadata, passed, score, answer in reader.execute(query, (task.id,))
            ]
            yield Problem(task, candidates)

    def count_unknown(self) -> int:
        """Samples naming a task that is not in the tasks file (reported, never exported)."""
        row = self._db.execute("SELECT count(*) FROM samples WHERE task NOT IN (SELECT id FROM tasks)").fetchone()
        self.summary.unknown_task = int(row[0])
        return self.summary.unknown_task

    def close(self) -> None:
        self._db.close()
        self._path.unlink(missing_ok=True)

    def __enter__(self) -> ProblemIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
