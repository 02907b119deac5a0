"""The label database: every judgement a reviewer made, appended, never changed.

One row per (reviewer, sample, label, time). A change of mind is a new row; undo is a new row too, one that
names the row it takes back (`undoes`) and carries the label that holds afterwards, so "the latest row of a
reviewer for a sample" is always that reviewer's current label, and the whole history stays readable.
Triggers refuse UPDATE and DELETE on the table. Each label is committed (WAL, synchronous=FULL) before the
page hears it was saved, so neither a crash nor `kill -9` loses one.

Besides labels the file records the sampling designs labels were drawn under (`designs`: the strata and
their populations, so the audit can weight), the reviewers (and a hash of each one's token), and a random
secret that signs the page's cookies.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Label = Literal["correct", "wrong", "unsure"]
LABELS: tuple[Label, ...] = ("correct", "wrong", "unsure")
#: What a row carries when an undo leaves the reviewer with no label for the sample.
NO_LABEL = "none"
#: `sampling` of a label given while the queue was filtered: not part of the probability sample.
BROWSED = "browsed"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS labels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    reviewer TEXT NOT NULL,
    task_id TEXT NOT NULL,
    sample_index INTEGER NOT NULL,
    label TEXT NOT NULL CHECK (label IN ('correct', 'wrong', 'unsure', 'none')),
    note TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    sampling TEXT NOT NULL,
    design TEXT NOT NULL,
    undoes INTEGER REFERENCES labels (id)
);
CREATE INDEX IF NOT EXISTS labels_sample ON labels (task_id, sample_index, reviewer, id);
CREATE INDEX IF NOT EXISTS labels_reviewer ON labels (reviewer, id);
CREATE TRIGGER IF NOT EXISTS labels_append_only_update BEFORE UPDATE ON labels
BEGIN SELECT RAISE(ABORT, 'labels are append-only: add a row instead'); END;
CREATE TRIGGER IF NOT EXISTS labels_append_only_delete BEFORE DELETE ON labels
BEGIN SELECT RAISE(ABORT, 'labels are append-only: add a row instead'); END;
CREATE TABLE IF NOT EXISTS designs (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    options TEXT NOT NULL,
    inputs TEXT NOT NULL,
    strata TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reviewers (
    name TEXT PRIMARY KEY,
    token_sha256 TEXT,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class LabelRow:
    id: int
    reviewer: str
    task_id: str
    sample_index: int
    label: str
    note: str
    created: float
    sampling: str
    design: str
    undoes: int | None


def readonly_uri(path: str | Path) -> str:
    """An SQLite URI that opens `path` read-only (percent-encoded: any character may be in a path)."""
    return Path(path).resolve().as_uri() + "?mode=ro"


def connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open (and create) a label database. Read-only opens never create or change anything."""
    if readonly:
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such label database")
        db = sqlite3.connect(readonly_uri(path), uri=True, check_same_thread=False)
        _check_is_label_db(db, path)
        return db
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    try:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        db.close()
        raise ValueError(f"{path}: not a label database ({exc})") from None
    if tables and "labels" not in tables:
        db.close()
        raise ValueError(
            f"{path}: an SQLite database that is not a label database (it has tables {', '.join(sorted(tables))});"
            " give --labels a new file or one written by `assay review`"
        )
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA busy_timeout=10000")
    db.executescript(_SCHEMA)
    return db


def _check_is_label_db(db: sqlite3.Connection, path: str | Path) -> None:
    try:
        db.execute("SELECT 1 FROM labels LIMIT 1").fetchall()
    except sqlite3.DatabaseError as exc:
        db.close()
        raise ValueError(f"{path}: not a label database written by `assay review` ({exc})") from None


def is_label_database(path: str | Path) -> bool:
    """True when `path` is an SQLite file (what `--labels` means there, rather than a field name)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def secret(db: sqlite3.Connection) -> bytes:
    """This database's signing secret (made on first use, kept, so cookies outlive a restart)."""
    row = db.execute("SELECT value FROM settings WHERE key = 'secret'").fetchone()
    if row is not None:
        return bytes.fromhex(row[0])
    db.execute("INSERT OR IGNORE INTO settings VALUES ('secret', ?)", (secrets.token_hex(32),))
    return bytes.fromhex(db.execute("SELECT value FROM settings WHERE key = 'secret'").fetchone()[0])


def record_design(
    db: sqlite3.Connection, design: str, options: dict[str, Any], inputs: dict[str, Any], strata: dict[str, int]
) -> None:
    db.execute(
        "INSERT OR IGNORE INTO designs VALUES (?, ?, ?, ?, ?)",
        (design, time.time(), json.dumps(options), json.dumps(inputs), json.dumps(strata)),
    )


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ensure_reviewers(db: sqlite3.Connection, names: list[str], *, tokens: bool) -> dict[str, str]:
    """Register reviewers; with `tokens`, make a token for each one that has none. Returns the new tokens
    (name -> token): they are shown once, only their hashes are kept."""
    made: dict[str, str] = {}
    for name in names:
        row = db.execute("SELECT token_sha256 FROM reviewers WHERE name = ?", (name,)).fetchone()
        if row is None:
            db.execute("INSERT INTO reviewers VALUES (?, NULL, ?)", (name, time.time()))
        if tokens and (row is None or row[0] is None):
            token = secrets.token_urlsafe(24)
            db.execute("UPDATE reviewers SET token_sha256 = ? WHERE name = ?", (token_hash(token), name))
            made[name] = token
    return made


def reviewer_for_token(db: sqlite3.Connection, token: str) -> str | None:
    row = db.execute("SELECT name FROM reviewers WHERE token_sha256 = ?", (token_hash(token),)).fetchone()
    return str(row[0]) if row else None


def add(
    db: sqlite3.Connection,
    reviewer: str,
    task_id: str,
    sample_index: int,
    label: str,
    *,
    note: str = "",
    sampling: str,
    design: str,
    undoes: int | None = None,
) -> int:
    """Append one row and commit it (the connection is in autocommit mode). Returns its id."""
    if label not in (*LABELS, NO_LABEL):
        raise ValueError(f"label must be one of {', '.join(LABELS)}, got {label!r}")
    cursor = db.execute(
        "INSERT INTO labels (reviewer, task_id, sample_index, label, note, created, sampling, design, undoes)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (reviewer, task_id, sample_index, label, note, time.time(), sampling, design, undoes),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _row(values: tuple[Any, ...]) -> LabelRow:
    return LabelRow(*values)


_COLUMNS = "id, reviewer, task_id, sample_index, label, note, created, sampling, design, undoes"


def current(db: sqlite3.Connection, reviewer: str, task_id: str, sample_index: int) -> LabelRow | None:
    """The reviewer's latest row for the sample (its label may be `none` after an undo)."""
    row = db.execute(
        f"SELECT {_COLUMNS} FROM labels WHERE task_id = ? AND sample_index = ? AND reviewer = ?"
        " ORDER BY id DESC LIMIT 1",
        (task_id, sample_index, reviewer),
    ).fetchone()
    return _row(row) if row else None


def undo(db: sqlite3.Connection, reviewer: str, design: str) -> LabelRow | None:
    """Take back the reviewer's latest label that still stands; returns the row written (None: nothing to undo).

    Undone rows and undo rows are skipped, so repeated undos walk back through the reviewer's history.
    """
    target = db.execute(
        f"SELECT {_COLUMNS} FROM labels l WHERE reviewer = ? AND undoes IS NULL"
        " AND NOT EXISTS (SELECT 1 FROM labels u WHERE u.undoes = l.id) ORDER BY id DESC LIMIT 1",
        (reviewer,),
    ).fetchone()
    if target is None:
        return None
    taken = _row(target)
    before = db.execute(
        f"SELECT {_COLUMNS} FROM labels l WHERE reviewer = ? AND task_id = ? AND sample_index = ? AND id < ?"
        " AND undoes IS NULL AND NOT EXISTS (SELECT 1 FROM labels u WHERE u.undoes = l.id) ORDER BY id DESC LIMIT 1",
        (reviewer, taken.task_id, taken.sample_index, taken.id),
    ).fetchone()
    restored = _row(before) if before else None
    row_id = add(
        db,
        reviewer,
        taken.task_id,
        taken.sample_index,
        restored.label if restored else NO_LABEL,
        note=restored.note if restored else "",
        sampling=taken.sampling,
        design=design,
        undoes=taken.id,
    )
    return _row(db.execute(f"SELECT {_COLUMNS} FROM labels WHERE id = ?", (row_id,)).fetchone())


def latest(db: sqlite3.Connection) -> Iterator[LabelRow]:
    """Each reviewer's current label of each sample they labelled (rows left at `none` by undo excluded),
    in (task, sample, reviewer) order."""
    for row in db.execute(
        f"SELECT {_COLUMNS} FROM labels"
        " WHERE id IN (SELECT MAX(id) FROM labels GROUP BY task_id, sample_index, reviewer) AND label <> 'none'"
        " ORDER BY task_id, sample_index, reviewer"
    ):
        yield _row(row)


def sampling_of(db: sqlite3.Connection) -> dict[tuple[str, int], tuple[str, str]]:
    """(task, sample) -> (stratum, design) of the samples some reviewer reached through the unfiltered queue."""
    out: dict[tuple[str, int], tuple[str, str]] = {}
    for task_id, index, sampling, design in db.execute(
        "SELECT task_id, sample_index, sampling, design FROM labels WHERE sampling <> ? ORDER BY id", (BROWSED,)
    ):
        out.setdefault((task_id, index), (sampling, design))
    return out


def designs(db: sqlite3.Connection) -> list[dict[str, Any]]:
    return [
        {
            "id": row[0],
            "created": row[1],
            "options": json.loads(row[2]),
            "inputs": json.loads(row[3]),
            "strata": json.loads(row[4]),
        }
        for row in db.execute("SELECT id, created, options, inputs, strata FROM designs ORDER BY created")
    ]


def consensus(labels: list[str]) -> bool | None:
    """The human verdict on a sample from its reviewers' current labels: the majority of `correct` and
    `wrong` (an `unsure` abstains); None on a tie or when nobody decided."""
    right = labels.count("correct")
    wrong = labels.count("wrong")
    if right == wrong:
        return None
    return right > wrong
