"""The verdict cache: one SQLite file, keyed by what determines a verdict.

Key = (verifier `name@version` + hash of its config, hash of the task's content, hash of the sample's text).
Task ids and sample indexes are not part of the key: the same text for the same task is judged once, in
this run or any earlier one, and a killed run resumes from what was committed.

The store is a cache and a resume log, never a reason to stop: a file that cannot be opened or written
(not SQLite, truncated, a read-only or missing folder, a full disk) is reported once and the run goes on
without it. A damaged file is moved aside (`verdicts.sqlite.corrupt-<time>`) and a fresh one started.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from assay.models import Task, Verdict

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


_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26
#: How long a commit waits for another run sharing the file to finish its own.
_BUSY_TIMEOUT_MS = 30_000
#: How long opening waits for a file another program holds locked: a cache is not worth a stalled start.
_OPEN_BUSY_TIMEOUT_MS = 3_000


def _print_warning(message: str) -> None:
    print(f"assay: {message}", file=sys.stderr)


def _is_damage(exc: sqlite3.Error) -> bool:
    """The file itself is broken (not a database, malformed), as opposed to unreachable or full."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    try:
        # The timeout first: another run may hold the file while this one switches it to WAL.
        db.execute(f"PRAGMA busy_timeout={_OPEN_BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS verdicts ("
            " verifier TEXT NOT NULL, task BLOB NOT NULL, sample BLOB NOT NULL, verdict BLOB NOT NULL,"
            " PRIMARY KEY (verifier, task, sample)) WITHOUT ROWID"
        )
        db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        if not db.execute("SELECT 1 FROM meta WHERE key='schema_version'").fetchall():  # reading needs no lock
            db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        db.execute("SELECT 1 FROM verdicts LIMIT 1").fetchall()  # a damaged file fails here, not mid-run
        db.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    except BaseException:
        db.close()
        raise
    return db


class VerdictStore:
    """A SQLite verdict cache. One writer per process; concurrent runs share a file through WAL.

    It never raises for the file's sake: when the file cannot be opened or a read or write fails, `warn`
    is called once with the file and the reason, and from then on the store keeps nothing (`available` is
    False; lookups find nothing). A file SQLite reports as damaged is renamed to
    `<name>.corrupt-<time>` (with its `-wal` and `-shm` files) and a fresh one is started in its place.
    `VerdictStore(None)` keeps nothing from the start.
    """

    def __init__(self, path: str | Path | None, *, warn: Callable[[str], None] | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._warn = warn or _print_warning
        self._warned_unreadable = False
        self._pending: list[tuple[str, bytes, bytes, bytes]] = []
        # Verdicts put since the last commit, so that `get` sees them before they reach the file.
        self._recent: dict[tuple[str, bytes, bytes], dict[str, Any]] = {}
        #: Why the store is not in use, once it is not.
        self.problem: str | None = None
        self._db: sqlite3.Connection | None = self._open() if self.path is not None else None

    @property
    def available(self) -> bool:
        """Whether verdicts are being kept."""
        return self._db is not None

    # -- opening, and giving up ----------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection | None:
        assert self.path is not None
        if str(self.path) != ":memory:":
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                self._give_up(f"cannot create its folder {self.path.parent} ({exc.strerror or exc})")
                return None
        try:
            return _connect(self.path)
        except sqlite3.Error as exc:
            if not _is_damage(exc):
                self._give_up(f"cannot open it ({exc})")
                return None
            damage = f"the file is damaged ({exc})"
        moved = self._move_aside(damage)
        if moved is None:
            return None
        try:
            db = _connect(self.path)
        except sqlite3.Error as exc:
            self._give_up(f"{damage}; moved it to {moved}, but a fresh file cannot be opened either ({exc})")
            return None
        self._warn(f"verdict store {self.path}: {damage}; moved it to {moved} and started a fresh one")
        return db

    def _move_aside(self, damage: str) -> Path | None:
        """Rename a damaged file (and its WAL files) out of the way; None (after saying why) if impossible."""
        assert self.path is not None
        stamp = time.strftime("%Y%m%dT%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        suffix = 1
        while target.exists():
            suffix += 1
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{suffix}")
        try:
            os.rename(self.path, target)
        except FileNotFoundError:
            return target  # another run moved it first
        except OSError as exc:
            self._give_up(f"{damage} and cannot be moved aside ({exc.strerror or exc})")
            return None
        for companion in ("-wal", "-shm"):  # a stale WAL must not be replayed into a fresh file
            with suppress(OSError):
                os.rename(f"{self.path}{companion}", f"{target}{companion}")
        return target

    def _give_up(self, why: str) -> None:
        self.problem = why
        self._warn(
            f"verdict store {self.path}: {why}; going on without it "
            "(nothing is cached from here on; the verdicts still go to the output)"
        )

    def _lost(self, exc: sqlite3.Error, doing: str) -> None:
        """A read or write failed mid-run (disk full, I/O error, damage): drop the store for the rest of it."""
        db, self._db = self._db, None
        self._pending.clear()
        self._recent.clear()
        if db is not None:
            with suppress(sqlite3.Error):
                db.close()
        if not _is_damage(exc):
            self._give_up(f"{doing} failed ({exc})")
            return
        damage = f"{doing} failed: the file is damaged ({exc})"
        moved = self._move_aside(damage)
        if moved is not None:
            self._give_up(f"{damage}; moved it to {moved}, the next run starts a fresh one")

    # -- the cache -------------------------------------------------------------------------------------------

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
            if self._db is None:
                break
            try:
                rows_found = self._db.execute(query, parameters).fetchall()
            except sqlite3.Error as exc:
                self._lost(exc, "reading cached verdicts")
                break
            for task, sample, body in rows_found:
                verdict = self._readable(body)
                if verdict is not None:
                    found[(task, sample)] = verdict
        return found

    def _readable(self, body: bytes) -> dict[str, Any] | None:
        """A cached verdict, or None when the row is not one (written by hand, by another program, or damaged):
        such a row is judged again, never trusted as a verdict. Said once per store."""
        try:
            verdict = orjson.loads(body)
            if isinstance(verdict, dict) and "task_id" not in verdict and "sample_index" not in verdict:
                Verdict.model_validate({**verdict, "task_id": "", "sample_index": 0})
                return verdict
        except (orjson.JSONDecodeError, ValidationError):
            pass
        if not self._warned_unreadable:
            self._warned_unreadable = True
            self._warn(f"verdict store {self.path}: a cached row is not a verdict; those samples are judged again")
        return None

    def put(self, verifier: str, task: bytes, sample: bytes, verdict: dict[str, Any]) -> None:
        """Queue a verdict for the next `commit()`; verdicts caused by the machine are not kept."""
        if self._db is None or verdict.get("reason") in UNCACHED_REASONS:
            return
        body = {k: v for k, v in verdict.items() if k not in ("task_id", "sample_index")}
        self._recent[(verifier, task, sample)] = body
        self._pending.append((verifier, task, sample, orjson.dumps(body)))

    @property
    def pending(self) -> int:
        """Verdicts put since the last commit."""
        return len(self._pending)

    def commit(self) -> None:
        """Write the queued verdicts in one transaction. A failure (disk full, I/O error) drops the store."""
        if not self._pending or self._db is None:
            return
        self._pending.sort()  # in key order, the B-tree takes the rows page by page
        try:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?, ?)", self._pending)
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            with suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            self._lost(exc, f"writing {len(self._pending)} verdicts")
            return
        self._pending.clear()
        self._recent.clear()

    def count(self, verifier: str | None = None) -> int:
        if self._db is None:
            return 0
        if verifier is None:
            return int(self._db.execute("SELECT count(*) FROM verdicts").fetchone()[0])
        query = "SELECT count(*) FROM verdicts WHERE verifier=?"
        return int(self._db.execute(query, (verifier,)).fetchone()[0])

    def forget(self, verifier_prefix: str) -> int:
        """Drop every cached verdict of verifiers whose key starts with the prefix (e.g. `math@`)."""
        if self._db is None:
            return 0
        cursor = self._db.execute("DELETE FROM verdicts WHERE verifier LIKE ? || '%'", (verifier_prefix,))
        return cursor.rowcount

    def items(self) -> Iterable[tuple[str, bytes, bytes, dict[str, Any]]]:
        if self._db is None:
            return
        for verifier, task, sample, body in self._db.execute("SELECT * FROM verdicts"):
            yield verifier, task, sample, orjson.loads(body)

    def close(self) -> None:
        self.commit()
        if self._db is not None:
            with suppress(sqlite3.Error):
                self._db.close()
            self._db = None

    def __enter__(self) -> VerdictStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
