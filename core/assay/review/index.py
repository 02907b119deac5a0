"""The review index: tasks, samples and verdicts in one SQLite file, in the order a reviewer sees them.

A million samples do not fit comfortably in a page server's memory, so the inputs are read once, streamed,
into `LABELS.index.sqlite` beside the label database, and every page reads one row by primary key. The
index is rebuilt when an input file or an ordering option changes (it records their sizes and modification
times); labels never live in it, so rebuilding loses nothing.

The order (`position`) puts first what teaches the most, in strata: every sample belongs to the first
stratum that applies to it,

1. `verifiers_disagree`: two verifiers decided it differently;
2. `disagrees_with_majority`: a verifier passed a sample outside its problem's majority answer, or failed
   one inside it;
3. `near_boundary`: a graded score within 0.1 of 0.5;
4. `selected_answer`: the first sample of its problem's majority answer (what majority vote picks);
5. `uniform`: everything else.

Within each stratum the order is a seeded uniform shuffle, so the first n samples labelled in a stratum are
a simple random sample of it; the audit weights each stratum's labels by its population over its labelled
count (see `assay.audit.human`). `random_share` of the places are given to the `uniform` stratum from the
start, so labels on ordinary samples accumulate alongside the informative ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.jsonl import InputError, InputFileError, read_models
from assay.models import STATUSES, Sample, Task, Verdict
from assay.review.labels import readonly_uri

#: Bump when the index's layout or the ordering rule changes: old indexes are rebuilt.
INDEX_FORMAT = 2
STRATA: tuple[str, ...] = (
    "verifiers_disagree",
    "disagrees_with_majority",
    "near_boundary",
    "selected_answer",
    "uniform",
)
BOUNDARY = 0.5
NEAR_BOUNDARY = 0.1
MAX_REPORTED_ERRORS = 10
_BATCH = 5000


class ReviewInputError(ValueError):
    """Input the review cannot use; the message names the file, the line and the field of each problem."""

    def __init__(self, errors: Sequence[InputError | str]) -> None:
        self.errors = [str(error) for error in errors]
        shown = self.errors[:MAX_REPORTED_ERRORS]
        more = len(self.errors) - len(shown)
        super().__init__("\n".join(shown) + (f"\n... and {more} more" if more > 0 else ""))


@dataclass(frozen=True)
class OrderOptions:
    """How the review order is drawn. `double_share` of the samples (chosen by hash) want two reviewers."""

    seed: int = 0
    random_share: float = 0.25
    double_share: float = 0.1

    def __post_init__(self) -> None:
        for name in ("random_share", "double_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")


def _stat(path: str | Path) -> dict[str, Any]:
    try:
        info = os.stat(path)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot open: {exc.strerror or exc}") from None
    return {"path": str(Path(path).resolve()), "size": info.st_size, "mtime_ns": info.st_mtime_ns}


def fingerprint(tasks: str | Path, samples: str | Path, verdicts: Sequence[str | Path], options: OrderOptions) -> str:
    """Identifies an index's inputs and order; also the id of the sampling design labels are recorded under."""
    described = {
        "format": INDEX_FORMAT,
        "tasks": _stat(tasks),
        "samples": _stat(samples),
        "verdicts": [_stat(path) for path in verdicts],
        "options": [options.seed, options.random_share, options.double_share],
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:16]


def _draws(seed: int, task_id: str, index: int) -> tuple[int, int]:
    """Two independent uniform 63-bit draws for a sample: its place in its stratum, and double-labelling."""
    digest = hashlib.blake2b(f"{seed}\0{task_id}\0{index}".encode(), digest_size=16).digest()
    return int.from_bytes(digest[:8], "big") >> 1, int.from_bytes(digest[8:], "big") >> 1


def _text_key(text: str) -> int | None:
    stripped = text.strip()
    if not stripped:
        return None
    return int.from_bytes(hashlib.blake2b(stripped.encode(), digest_size=8).digest(), "big") >> 1


_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE tasks (row INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, prompt TEXT NOT NULL,
                    reference TEXT NOT NULL, metadata TEXT NOT NULL);
CREATE TABLE verifiers (row INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE);
CREATE TABLE stage (sid INTEGER PRIMARY KEY, task_row INTEGER NOT NULL, sample_index INTEGER NOT NULL,
                    text TEXT NOT NULL, metadata TEXT NOT NULL, text_key INTEGER, draw INTEGER NOT NULL,
                    double INTEGER NOT NULL, line INTEGER NOT NULL);
CREATE UNIQUE INDEX stage_key ON stage (task_row, sample_index);
CREATE TABLE vstage (task_row INTEGER NOT NULL, sample_index INTEGER NOT NULL, verifier INTEGER NOT NULL,
                     status TEXT NOT NULL, passed INTEGER, score REAL, answer TEXT, reason TEXT,
                     details TEXT NOT NULL, line INTEGER NOT NULL, file INTEGER NOT NULL,
                     PRIMARY KEY (task_row, sample_index, verifier)) WITHOUT ROWID;
"""

_FINAL_SCHEMA = """
CREATE TABLE samples (position INTEGER PRIMARY KEY, task_row INTEGER NOT NULL, sample_index INTEGER NOT NULL,
                      text TEXT NOT NULL, metadata TEXT NOT NULL, stratum INTEGER NOT NULL,
                      double INTEGER NOT NULL, disagree INTEGER NOT NULL);
CREATE TABLE verdicts (position INTEGER NOT NULL, verifier INTEGER NOT NULL, status TEXT NOT NULL,
                       passed INTEGER, score REAL, answer TEXT, reason TEXT, details TEXT NOT NULL,
                       PRIMARY KEY (position, verifier)) WITHOUT ROWID;
"""

_FINAL_INDEXES = """
CREATE UNIQUE INDEX samples_key ON samples (task_row, sample_index);
CREATE INDEX samples_task ON samples (task_row, position);
CREATE INDEX samples_disagree ON samples (disagree, position);
CREATE INDEX verdicts_status ON verdicts (status, verifier, position);
CREATE INDEX verdicts_any_status ON verdicts (status, position);
"""


def build_index(
    path: str | Path,
    tasks: str | Path,
    samples: str | Path,
    verdicts: Sequence[str | Path] = (),
    options: OrderOptions | None = None,
    *,
    progress: bool = False,
) -> str:
    """Build the index at `path` unless one with the same fingerprint is there; returns the fingerprint.

    Raises `ReviewInputError` listing bad lines (file, line, field). The index is written to a temporary
    file and moved into place, so an interrupted build leaves no half index behind.
    """
    options = options or OrderOptions()
    key = fingerprint(tasks, samples, verdicts, options)
    path = Path(path)
    if path.exists() and _existing_fingerprint(path) == key:
        return key
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    started = time.perf_counter()
    db = sqlite3.connect(partial)
    try:
        db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-200000; PRAGMA temp_store=FILE;"
        )
        db.executescript(_SCHEMA)
        errors: list[InputError | str] = []
        task_rows = _load_tasks(db, tasks, errors)
        _load_samples(db, samples, task_rows, options, errors, progress)
        verifier_rows: dict[str, int] = {}
        for number, verdict_path in enumerate(verdicts):
            _load_verdicts(db, verdict_path, number, task_rows, verifier_rows, errors)
        if not errors:
            _check_verdicts_match(db, samples, [str(v) for v in verdicts], errors)
        if errors:
            raise ReviewInputError(errors)
        populations = _order(db, options)
        meta = {
            "fingerprint": key,
            "format": str(INDEX_FORMAT),
            "inputs": json.dumps(
                {"tasks": str(tasks), "samples": str(samples), "verdicts": [str(v) for v in verdicts]}
            ),
            "options": json.dumps(
                {"seed": options.seed, "random_share": options.random_share, "double_share": options.double_share}
            ),
            "populations": json.dumps(populations),
            "build_s": f"{time.perf_counter() - started:.2f}",
        }
        db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
        db.commit()
    except BaseException:
        db.close()
        partial.unlink(missing_ok=True)
        raise
    db.close()
    os.replace(partial, path)
    return key


def _existing_fingerprint(path: Path) -> str | None:
    try:
        db = sqlite3.connect(readonly_uri(path), uri=True)
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'fingerprint'").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


def _load_tasks(db: sqlite3.Connection, tasks: str | Path, errors: list[InputError | str]) -> dict[str, int]:
    rows: dict[str, int] = {}
    batch: list[tuple[int, str, str, str, str]] = []
    for line, task in read_models(tasks, Task):
        if isinstance(task, InputError):
            errors.append(task)
            continue
        if task.id in rows:
            errors.append(InputError(str(tasks), line, "id", f"duplicate task id {task.id!r}"))
            continue
        rows[task.id] = len(rows)
        batch.append(
            (
                rows[task.id],
                task.id,
                task.prompt,
                json.dumps(task.reference, ensure_ascii=False),
                json.dumps(task.metadata),
            )
        )
        if len(batch) >= _BATCH:
            db.executemany("INSERT INTO tasks VALUES (?, ?, ?, ?, ?)", batch)
            batch.clear()
    db.executemany("INSERT INTO tasks VALUES (?, ?, ?, ?, ?)", batch)
    return rows


def _load_samples(
    db: sqlite3.Connection,
    samples: str | Path,
    task_rows: dict[str, int],
    options: OrderOptions,
    errors: list[InputError | str],
    progress: bool,
) -> None:
    path = str(samples)
    double_below = int(options.double_share * (1 << 63))
    batch: list[tuple[int, int, str, str, int | None, int, int, int]] = []
    lines: Iterator[tuple[int, Sample | InputError]] = read_models(samples, Sample)
    if progress:
        from tqdm import tqdm

        lines = tqdm(lines, desc="indexing samples", unit=" samples", leave=False)

    def flush() -> None:
        before = db.total_changes
        db.executemany(
            "INSERT OR IGNORE INTO stage (task_row, sample_index, text, metadata, text_key, draw, double, line)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            batch,
        )
        if db.total_changes - before != len(batch):
            for row in batch:
                first = db.execute(
                    "SELECT line FROM stage WHERE task_row = ? AND sample_index = ?", (row[0], row[1])
                ).fetchone()
                if first is not None and first[0] != row[7]:
                    errors.append(
                        InputError(path, row[7], "index", f"sample {row[1]} of this task also on line {first[0]}")
                    )
        batch.clear()

    for line, sample in lines:
        if isinstance(sample, InputError):
            errors.append(sample)
            continue
        row = task_rows.get(sample.task_id)
        if row is None:
            errors.append(InputError(path, line, "task_id", f"no task {sample.task_id!r} in the tasks file"))
            continue
        draw, double = _draws(options.seed, sample.task_id, sample.index)
        batch.append(
            (
                row,
                sample.index,
                sample.text,
                json.dumps(sample.metadata, ensure_ascii=False),
                _text_key(sample.text),
                draw,
                int(double < double_below),
                line,
            )
        )
        if len(batch) >= _BATCH:
            flush()
    flush()


def _load_verdicts(
    db: sqlite3.Connection,
    path: str | Path,
    number: int,
    task_rows: dict[str, int],
    verifier_rows: dict[str, int],
    errors: list[InputError | str],
) -> None:
    path_str = str(path)
    batch: list[tuple[Any, ...]] = []
    for line, verdict in read_models(path, Verdict):
        if isinstance(verdict, InputError):
            errors.append(verdict)
            continue
        row = task_rows.get(verdict.task_id)
        if row is None:
            errors.append(InputError(path_str, line, "task_id", f"no task {verdict.task_id!r} in the tasks file"))
            continue
        if verdict.verifier not in verifier_rows:
            verifier_rows[verdict.verifier] = len(verifier_rows)
            db.execute("INSERT INTO verifiers VALUES (?, ?)", (verifier_rows[verdict.verifier], verdict.verifier))
        batch.append(
            (
                row,
                verdict.sample_index,
                verifier_rows[verdict.verifier],
                verdict.status,
                None if verdict.passed is None else int(verdict.passed),
                verdict.score,
                verdict.answer,
                verdict.reason,
                json.dumps(verdict.details, ensure_ascii=False, default=str),
                line,
                number,
            )
        )
        if len(batch) >= _BATCH:
            # A verifier's later runs of the same sample are repeats: the first is shown, as the audit does.
            db.executemany("INSERT OR IGNORE INTO vstage VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)
            batch.clear()
    db.executemany("INSERT OR IGNORE INTO vstage VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)


def _check_verdicts_match(
    db: sqlite3.Connection, samples: str | Path, verdict_paths: list[str], errors: list[InputError | str]
) -> None:
    orphans = db.execute(
        "SELECT v.file, v.line, t.id, v.sample_index FROM vstage v JOIN tasks t ON t.row = v.task_row"
        " WHERE NOT EXISTS (SELECT 1 FROM stage s WHERE s.task_row = v.task_row AND s.sample_index = v.sample_index)"
        " ORDER BY v.file, v.line LIMIT ?",
        (MAX_REPORTED_ERRORS + 1,),
    ).fetchall()
    for file, line, task_id, index in orphans:
        errors.append(
            InputError(verdict_paths[file], line, "sample_index", f"no sample {index} of task {task_id!r} in {samples}")
        )


def _order(db: sqlite3.Connection, options: OrderOptions) -> dict[str, int]:
    """Assign strata and positions; move samples and verdicts into their final tables. Returns populations."""
    answer_verifier = db.execute(
        "SELECT verifier FROM vstage WHERE answer IS NOT NULL GROUP BY verifier ORDER BY verifier LIMIT 1"
    ).fetchone()
    if answer_verifier is not None:
        answer_sql = (
            "(SELECT v.answer FROM vstage v WHERE v.task_row = s.task_row AND v.sample_index = s.sample_index"
            f" AND v.verifier = {int(answer_verifier[0])})"
        )
    else:
        answer_sql = "CAST(s.text_key AS TEXT)"
    db.executescript(
        f"""
        CREATE TEMP TABLE answers AS SELECT s.sid, s.task_row, s.sample_index, {answer_sql} AS answer FROM stage s;
        CREATE TEMP TABLE majority AS
            SELECT task_row, answer, first FROM (
                SELECT task_row, answer, MIN(sample_index) AS first,
                       ROW_NUMBER() OVER (PARTITION BY task_row ORDER BY COUNT(*) DESC, MIN(sample_index)) AS rank
                FROM answers WHERE answer IS NOT NULL GROUP BY task_row, answer)
            WHERE rank = 1;
        CREATE UNIQUE INDEX temp.majority_task ON majority (task_row);
        CREATE TEMP TABLE features AS
        SELECT a.sid,
               (SELECT COUNT(DISTINCT v.passed) FROM vstage v WHERE v.task_row = a.task_row
                  AND v.sample_index = a.sample_index AND v.passed IS NOT NULL) > 1 AS disagree,
               EXISTS (SELECT 1 FROM vstage v WHERE v.task_row = a.task_row AND v.sample_index = a.sample_index
                  AND ((a.answer = m.answer AND v.passed = 0) OR (a.answer <> m.answer AND v.passed = 1))) AS against,
               EXISTS (SELECT 1 FROM vstage v WHERE v.task_row = a.task_row AND v.sample_index = a.sample_index
                  AND v.score > 0 AND v.score < 1 AND ABS(v.score - {BOUNDARY}) <= {NEAR_BOUNDARY}) AS near,
               (m.first IS NOT NULL AND a.sample_index = m.first) AS selected
        FROM answers a LEFT JOIN majority m ON m.task_row = a.task_row;
        CREATE TEMP TABLE strata AS
        SELECT sid, disagree, CASE WHEN disagree THEN 0 WHEN against THEN 1 WHEN near THEN 2
                                   WHEN selected THEN 3 ELSE 4 END AS stratum
        FROM features;
        """
    )
    uniform = len(STRATA) - 1
    share = options.random_share
    # Merge two streams at rates 1 - share and share: the informative strata in priority order, and the
    # uniform stratum; each stream is in draw order (a seeded shuffle) within each stratum.
    informative_rate = 1.0 - share if share < 1.0 else 0.0
    db.executescript(
        f"""
        CREATE TEMP TABLE ordered AS
        SELECT sid, stratum, disagree,
               CASE WHEN stratum = {uniform}
                    THEN (ROW_NUMBER() OVER (PARTITION BY stratum = {uniform} ORDER BY stratum, draw) - 0.5)
                         / {share if share > 0 else 1e-12}
                    ELSE (ROW_NUMBER() OVER (PARTITION BY stratum = {uniform} ORDER BY stratum, draw) - 0.5)
                         / {informative_rate if informative_rate > 0 else 1e-12}
               END AS slot
        FROM strata JOIN stage USING (sid);
        """
    )
    db.executescript(_FINAL_SCHEMA)
    db.execute(
        "INSERT INTO samples (position, task_row, sample_index, text, metadata, stratum, double, disagree)"
        " SELECT ROW_NUMBER() OVER (ORDER BY o.slot, o.stratum, s.draw) - 1, s.task_row, s.sample_index, s.text,"
        " s.metadata, o.stratum, s.double, o.disagree FROM ordered o JOIN stage s USING (sid)"
        " ORDER BY o.slot, o.stratum, s.draw"
    )
    db.executescript(_FINAL_INDEXES)
    db.execute(
        "INSERT INTO verdicts SELECT s.position, v.verifier, v.status, v.passed, v.score, v.answer, v.reason,"
        " v.details FROM vstage v JOIN samples s ON s.task_row = v.task_row AND s.sample_index = v.sample_index"
        " ORDER BY s.position, v.verifier"
    )
    db.executescript("DROP TABLE stage; DROP TABLE vstage;")
    counts = dict(db.execute("SELECT stratum, COUNT(*) FROM samples GROUP BY stratum").fetchall())
    return {name: int(counts.get(number, 0)) for number, name in enumerate(STRATA)}


@dataclass(frozen=True)
class VerdictView:
    verifier: str
    status: str
    passed: bool | None
    score: float | None
    answer: str | None
    reason: str | None
    details: dict[str, Any]


@dataclass(frozen=True)
class SampleView:
    position: int
    task_id: str
    index: int
    text: str
    metadata: dict[str, Any]
    stratum: str
    double: bool
    prompt: str
    reference: dict[str, Any]
    task_metadata: dict[str, Any]
    verdicts: list[VerdictView]


@dataclass(frozen=True)
class Plan:
    """A walk over the samples: FROM `source`, in `position` order, keeping rows that meet `where`."""

    source: str
    position: str
    where: list[str]
    params: list[Any]


@dataclass(frozen=True)
class Filters:
    """What the reviewer narrowed the queue to. Empty filters: the queue as drawn (labels then count in the
    audit's weighted estimates; labels given under a filter are recorded as `browsed`)."""

    task: str | None = None
    verifier: str | None = None
    status: str | None = None
    disagree: bool = False

    @property
    def empty(self) -> bool:
        return self.task is None and self.verifier is None and self.status is None and not self.disagree


class ReviewIndex:
    """Read access to a built index: one sample by position, and the next or previous one under filters.
    Each method is a handful of primary-key or index lookups, whatever the number of samples."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # check_same_thread=False: the server calls from its worker threads, one call at a time (a lock).
        self.db = sqlite3.connect(readonly_uri(self.path), uri=True, check_same_thread=False)
        self.db.execute("PRAGMA query_only=ON")
        meta = dict(self.db.execute("SELECT key, value FROM meta").fetchall())
        self.fingerprint: str = meta["fingerprint"]
        self.populations: dict[str, int] = json.loads(meta["populations"])
        self.options: dict[str, Any] = json.loads(meta["options"])
        self.inputs: dict[str, Any] = json.loads(meta["inputs"])
        self.verifiers: list[str] = [row[0] for row in self.db.execute("SELECT id FROM verifiers ORDER BY row")]
        self._verifier_rows = {name: number for number, name in enumerate(self.verifiers)}
        self.total: int = sum(self.populations.values())

    def close(self) -> None:
        self.db.close()

    def task_row(self, task_id: str) -> int | None:
        row = self.db.execute("SELECT row FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return int(row[0]) if row else None

    def position_of(self, task_id: str, index: int) -> int | None:
        row = self.db.execute(
            "SELECT s.position FROM samples s JOIN tasks t ON t.row = s.task_row WHERE t.id = ? AND s.sample_index = ?",
            (task_id, index),
        ).fetchone()
        return int(row[0]) if row else None

    def sample(self, position: int) -> SampleView | None:
        row = self.db.execute(
            "SELECT s.position, t.id, s.sample_index, s.text, s.metadata, s.stratum, s.double, t.prompt,"
            " t.reference, t.metadata FROM samples s JOIN tasks t ON t.row = s.task_row WHERE s.position = ?",
            (position,),
        ).fetchone()
        if row is None:
            return None
        verdicts = [
            VerdictView(
                verifier=self.verifiers[verifier],
                status=status,
                passed=None if passed is None else bool(passed),
                score=score,
                answer=answer,
                reason=reason,
                details=json.loads(details),
            )
            for verifier, status, passed, score, answer, reason, details in self.db.execute(
                "SELECT verifier, status, passed, score, answer, reason, details FROM verdicts WHERE position = ?"
                " ORDER BY verifier",
                (position,),
            )
        ]
        return SampleView(
            position=row[0],
            task_id=row[1],
            index=row[2],
            text=row[3],
            metadata=json.loads(row[4]),
            stratum=STRATA[row[5]],
            double=bool(row[6]),
            prompt=row[7],
            reference=json.loads(row[8]),
            task_metadata=json.loads(row[9]),
            verdicts=verdicts,
        )

    def key(self, position: int) -> tuple[str, int, str, bool] | None:
        """(task id, sample index, stratum, wants two reviewers) of the sample at `position`."""
        row = self.db.execute(
            "SELECT t.id, s.sample_index, s.stratum, s.double FROM samples s JOIN tasks t ON t.row = s.task_row"
            " WHERE s.position = ?",
            (position,),
        ).fetchone()
        return (row[0], int(row[1]), STRATA[row[2]], bool(row[3])) if row else None

    def plan(self, filters: Filters) -> Plan | None:
        """How to walk the samples that match `filters` in position order: driven by the index of the most
        selective filter (a problem, a verdict status, disagreement), so that finding the next match costs
        a few index steps, not a scan, even when matches are rare. None when the filters match nothing."""
        checks: list[str] = []
        params: list[Any] = []
        verifier_row: int | None = None
        if filters.verifier is not None:
            if filters.verifier not in self._verifier_rows:
                return None
            verifier_row = self._verifier_rows[filters.verifier]
        if filters.status is not None and filters.status not in STATUSES:
            return None
        task_row: int | None = None
        if filters.task is not None:
            task_row = self.task_row(filters.task)
            if task_row is None:
                return None
        if task_row is not None:
            driver = Plan("idx.samples s INDEXED BY samples_task", "s.position", ["s.task_row = ?"], [task_row])
        elif filters.status is not None:
            index = "verdicts_status" if verifier_row is not None else "verdicts_any_status"
            match = ["v.status = ?"] + (["v.verifier = ?"] if verifier_row is not None else [])
            driver = Plan(
                f"idx.verdicts v INDEXED BY {index} CROSS JOIN idx.samples s ON s.position = v.position",
                "v.position",
                match,
                [filters.status] + ([verifier_row] if verifier_row is not None else []),
            )
        elif filters.disagree:
            driver = Plan("idx.samples s INDEXED BY samples_disagree", "s.position", ["s.disagree = 1"], [])
        else:
            driver = Plan("idx.samples s", "s.position", [], [])
        if filters.disagree:
            checks.append("s.disagree = 1")
        verdict_filter_left = filters.status is not None and task_row is not None  # the driver did not apply it
        if verdict_filter_left or (verifier_row is not None and filters.status is None):
            sub = "EXISTS (SELECT 1 FROM idx.verdicts w WHERE w.position = s.position"
            if verifier_row is not None:
                sub += " AND w.verifier = ?"
                params.append(verifier_row)
            if filters.status is not None:
                sub += " AND w.status = ?"
                params.append(filters.status)
            checks.append(sub + ")")
        return Plan(driver.source, driver.position, driver.where + checks, driver.params + params)
