"""The verdict cache: one SQLite file, keyed by what determines a verdict.

Key = (verifier `name@version` + hash of its config, hash of the task's content, hash of the sample's text).
Task ids and sample indexes are not part of the key: the same text for the same task is judged once, in
this run or any earlier one, and a killed run resumes from what was committed.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel

from assay.models import Task

SCHEMA_VERSION = 1
_LOOKUP_CHUNK = 400  # keys per query: 801 parameters, under SQLite's oldest limit of 999

#: Verdict reasons that say something about the machine, not the sample: never cached, retried next run.
UNCACHED_REASONS = frozenset({"worker_crashed", "engine_error"})


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def task_hash(task: Task) -> bytes:
    """Hash of everything a verifier may read from a task (not its id)."""
    payload = {"prompt": task.prompt, "reference": task.reference, "metadata": task.metadata}
    return _digest(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS))


def text_hash(text: str) -> bytes:
    return _digest(text.encode("utf-8", "surrogatepass"))


def verifier_key(verifier_id: str, config: BaseModel) -> str:
    """`name@version#confighash`: a new version or any config change starts a fresh cache."""
    payload = orjson.dumps(config.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return f"{verifier_id}#{_digest(payload).hex()[:16]}"


def default_store_path() -> Path:
    """`$ASSAY_STORE`, else `$XDG_CACHE_HOME/assay/verdicts.sqlite` (`~/.cache/...`)."""
    explicit = os.environ.get("ASSAY_STORE")
    if explicit:
        return Path(explicit)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "assay" / "verdicts.sqlite"


class VerdictStore:
    """A SQLite verdict cache. One writer per process; concurrent runs share a file through WAL."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS verdicts ("
            " verifier TEXT NOT NULL, task BLOB NOT NULL, sample BLOB NOT NULL, verdict BLOB NOT NULL,"
            " PRIMARY KEY (verifier, task, sample)) WITHOUT ROWID"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        self._pending: list[tuple[str, bytes, bytes, bytes]] = []
        # Verdicts put since the last commit, so that `get` sees them before they reach the file.
        self._recent: dict[tuple[str, bytes, bytes], dict[str, Any]] = {}

    def get(self, verifier: str, task: bytes, sample: bytes) -> dict[str, Any] | None:
        """The cached verdict body (without task_id and sample_index), or None."""
        return self.get_many(verifier, [(task, sample)]).get((task, sample))

    def get_many(
        self, verifier: str, keys: Iterable[tuple[bytes, bytes]]
    ) -> dict[tuple[bytes, bytes], dict[str, Any]]:
        """The cached verdict bodies of many (task, sample) keys at once: one query per few hundred keys
        instead of one per key (each query in autocommit mode takes and drops the file's read lock)."""
        found: dict[tuple[bytes, bytes], dict[str, Any]] = {}
        missing: list[tuple[bytes, bytes]] = []
        for key in keys:
            recent = self._recent.get((verifier, *key))
            if recent is not None:
                found[key] = recent
            else:
                missing.append(key)
        for start in range(0, len(missing), _LOOKUP_CHUNK):
            chunk = missing[start : start + _LOOKUP_CHUNK]
            rows = ",".join(["(?,?)"] * len(chunk))
            # A join from the keys drives one primary-key search per key (a row-value IN would scan).
            query = (
                f"WITH wanted(task, sample) AS (VALUES {rows}) SELECT v.task, v.sample, v.verdict "
                "FROM wanted JOIN verdicts AS v ON v.verifier=? AND v.task=wanted.task AND v.sample=wanted.sample"
            )
            parameters: list[str | bytes] = []
            for task, sample in chunk:
                parameters += (task, sample)
            parameters.append(verifier)
            for task, sample, body in self._db.execute(query, parameters):
                found[(task, sample)] = orjson.loads(body)
        return found

    def put(self, verifier: str, task: bytes, sample: bytes, verdict: dict[str, Any]) -> None:
        """Queue a verdict for the next `commit()`; verdicts caused by the machine are not kept."""
        if verdict.get("reason") in UNCACHED_REASONS:
            return
        body = {k: v for k, v in verdict.items() if k not in ("task_id", "sample_index")}
        self._recent[(verifier, task, sample)] = body
        self._pending.append((verifier, task, sample, orjson.dumps(body)))

    @property
    def pending(self) -> int:
        """Verdicts put since the last commit."""
        return len(self._pending)

    def commit(self) -> None:
        if not self._pending:
            return
        self._pending.sort()  # in key order, the B-tree takes the rows page by page
        self._db.execute("BEGIN")
        self._db.executemany("INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?, ?)", self._pending)
        self._db.execute("COMMIT")
        self._pending.clear()
        self._recent.clear()

    def count(self, verifier: str | None = None) -> int:
        if verifier is None:
            return int(self._db.execute("SELECT count(*) FROM verdicts").fetchone()[0])
        query = "SELECT count(*) FROM verdicts WHERE verifier=?"
        return int(self._db.execute(query, (verifier,)).fetchone()[0])

    def forget(self, verifier_prefix: str) -> int:
        """Drop every cached verdict of verifiers whose key starts with the prefix (e.g. `math@`)."""
        cursor = self._db.execute("DELETE FROM verdicts WHERE verifier LIKE ? || '%'", (verifier_prefix,))
        return cursor.rowcount

    def items(self) -> Iterable[tuple[str, bytes, bytes, dict[str, Any]]]:
        for verifier, task, sample, body in self._db.execute("SELECT * FROM verdicts"):
            yield verifier, task, sample, orjson.loads(body)

    def close(self) -> None:
        self.commit()
        self._db.close()

    def __enter__(self) -> VerdictStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
