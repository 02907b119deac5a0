"""A review in progress: the index (what to show, in which order) joined with the label database (what is
done). The page server holds one `Review`; every call is a few indexed lookups, so a million samples cost
no more per page than a hundred.

Two derived tables live in SQLite's temporary storage and are rebuilt from the labels at start-up, so they
can never drift from the append-only truth: `current` (each reviewer's standing label per position) and
`todo` (positions that still want a label: none yet, or one when the sample was drawn for two reviewers).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from assay.review import labels as label_db
from assay.review.index import Filters, ReviewIndex, SampleView


@dataclass(frozen=True)
class Progress:
    total: int
    labelled: int  # samples with at least one standing label
    todo: int  # samples still wanting a label (from anyone)
    mine: int  # samples the reviewer has a standing label on
    double: int  # samples with two or more reviewers


class Review:
    def __init__(self, index_path: str | Path, labels_path: str | Path) -> None:
        self.index = ReviewIndex(index_path)
        self.design = self.index.fingerprint
        self.db = label_db.connect(labels_path)
        self.lock = threading.Lock()
        self.db.execute("PRAGMA temp_store=MEMORY")
        self.db.execute("ATTACH DATABASE ? AS idx", (label_db.readonly_uri(index_path),))
        label_db.record_design(self.db, self.design, self.index.options, self.index.inputs, self.index.populations)
        self.secret = label_db.secret(self.db)
        self._rebuild_state()

    def close(self) -> None:
        self.db.close()
        self.index.close()

    def _rebuild_state(self) -> None:
        self.db.executescript(
            """
            DROP TABLE IF EXISTS temp.current;
            DROP TABLE IF EXISTS temp.todo;
            CREATE TEMP TABLE current (position INTEGER NOT NULL, reviewer TEXT NOT NULL, label TEXT NOT NULL,
                                       PRIMARY KEY (position, reviewer)) WITHOUT ROWID;
            CREATE TEMP TABLE todo (position INTEGER PRIMARY KEY);
            BEGIN;
            INSERT INTO temp.current
                SELECT s.position, l.reviewer, l.label FROM main.labels l
                JOIN idx.tasks t ON t.id = l.task_id
                JOIN idx.samples s ON s.task_row = t.row AND s.sample_index = l.sample_index
                WHERE l.id IN (SELECT MAX(id) FROM main.labels GROUP BY task_id, sample_index, reviewer)
                  AND l.label <> 'none';
            INSERT INTO temp.todo
                SELECT s.position FROM idx.samples s
                WHERE (SELECT COUNT(*) FROM temp.current c WHERE c.position = s.position) < 1 + s.double;
            COMMIT;
            """
        )
        self._labelled = self.db.execute("SELECT COUNT(DISTINCT position) FROM temp.current").fetchone()[0]
        self._double = self.db.execute(
            "SELECT COUNT(*) FROM (SELECT position FROM temp.current GROUP BY position HAVING COUNT(*) > 1)"
        ).fetchone()[0]
        self._todo = self.db.execute("SELECT COUNT(*) FROM temp.todo").fetchone()[0]
        self._mine: dict[str, int] = dict(
            self.db.execute("SELECT reviewer, COUNT(*) FROM temp.current GROUP BY reviewer").fetchall()
        )

    # -- navigation ---------------------------------------------------------------------------------------

    def next_position(self, reviewer: str, after: int, filters: Filters, *, todo: bool = True) -> int | None:
        """The first position after `after` that matches the filters (and, with `todo`, wants this
        reviewer's label: nobody's yet, or one other reviewer's on a sample drawn for two)."""
        return self._walk(filters, after, forward=True, todo_for=reviewer if todo else None)

    def previous_position(self, before: int, filters: Filters) -> int | None:
        return self._walk(filters, before, forward=False, todo_for=None)

    def _walk(self, filters: Filters, start: int, *, forward: bool, todo_for: str | None) -> int | None:
        plan = self.index.plan(filters)
        if plan is None:
            return None
        where = [f"{plan.position} {'>' if forward else '<'} ?", *plan.where]
        params: list[object] = [start, *plan.params]
        source = plan.source
        if todo_for is not None:
            if filters.empty:
                # Unfiltered, the todo table itself is the shortest walk.
                source, where, params = "temp.todo s", ["s.position > ?"], [start]
            else:
                where.append("EXISTS (SELECT 1 FROM temp.todo t WHERE t.position = s.position)")
            where.append("NOT EXISTS (SELECT 1 FROM temp.current c WHERE c.position = s.position AND c.reviewer = ?)")
            params.append(todo_for)
        order = plan.position if source == plan.source else "s.position"
        sql = (
            f"SELECT {order} FROM {source} WHERE {' AND '.join(where)}"
            f" ORDER BY {order} {'ASC' if forward else 'DESC'} LIMIT 1"
        )
        with self.lock:
            row = self.db.execute(sql, params).fetchone()
        return int(row[0]) if row else None

    def sample(self, position: int) -> SampleView | None:
        with self.lock:
            return self.index.sample(position)

    def labels_at(self, position: int) -> dict[str, str]:
        """reviewer -> standing label of the sample at `position`."""
        with self.lock:
            return dict(self.db.execute("SELECT reviewer, label FROM temp.current WHERE position = ?", (position,)))

    def my_row(self, reviewer: str, position: int) -> label_db.LabelRow | None:
        with self.lock:
            key = self.index.key(position)
            if key is None:
                return None
            row = label_db.current(self.db, reviewer, key[0], key[1])
        return row if row is not None and row.label != label_db.NO_LABEL else None

    def progress(self, reviewer: str) -> Progress:
        return Progress(self.index.total, self._labelled, self._todo, self._mine.get(reviewer, 0), self._double)

    # -- writing ------------------------------------------------------------------------------------------

    def save(self, reviewer: str, position: int, label: str, note: str, *, browsed: bool) -> label_db.LabelRow:
        """Append the label (committed before this returns), then update the derived tables."""
        with self.lock:
            key = self.index.key(position)
            if key is None:
                raise KeyError(position)
            task_id, index, stratum, _double = key
            row_id = label_db.add(
                self.db,
                reviewer,
                task_id,
                index,
                label,
                note=note,
                sampling=label_db.BROWSED if browsed else stratum,
                design=self.design,
            )
            self._apply(reviewer, position, label)
            row = label_db.current(self.db, reviewer, task_id, index)
        assert row is not None and row.id == row_id
        return row

    def undo(self, reviewer: str) -> tuple[int | None, label_db.LabelRow] | None:
        """Take back the reviewer's latest standing label; returns (its position, the row written)."""
        with self.lock:
            row = label_db.undo(self.db, reviewer, self.design)
            if row is None:
                return None
            position = self.index.position_of(row.task_id, row.sample_index)
            if position is not None:
                self._apply(reviewer, position, row.label)
        return position, row

    def _apply(self, reviewer: str, position: int, label: str) -> None:
        """Bring `current`, `todo` and the counters in line with the reviewer's new standing label."""
        had = self.db.execute(
            "SELECT 1 FROM temp.current WHERE position = ? AND reviewer = ?", (position, reviewer)
        ).fetchone()
        before = self.db.execute("SELECT COUNT(*) FROM temp.current WHERE position = ?", (position,)).fetchone()[0]
        if label == label_db.NO_LABEL:
            self.db.execute("DELETE FROM temp.current WHERE position = ? AND reviewer = ?", (position, reviewer))
        else:
            self.db.execute("INSERT OR REPLACE INTO temp.current VALUES (?, ?, ?)", (position, reviewer, label))
        after = self.db.execute("SELECT COUNT(*) FROM temp.current WHERE position = ?", (position,)).fetchone()[0]
        wanted = 1 + int(self.index.key(position)[3])  # type: ignore[index]
        was_todo = before < wanted
        is_todo = after < wanted
        if was_todo and not is_todo:
            self.db.execute("DELETE FROM temp.todo WHERE position = ?", (position,))
        elif is_todo and not was_todo:
            self.db.execute("INSERT OR IGNORE INTO temp.todo VALUES (?)", (position,))
        self._todo += int(is_todo) - int(was_todo)
        self._labelled += int(after > 0) - int(before > 0)
        self._double += int(after > 1) - int(before > 1)
        self._mine[reviewer] = self._mine.get(reviewer, 0) + int(label != label_db.NO_LABEL) - int(had is not None)
