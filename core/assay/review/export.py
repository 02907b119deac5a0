"""Labels back into the samples' own JSONL format, so every command that reads `label` reads them unchanged.

Each labelled sample's line is copied as it is (unknown keys kept) with `label` set to the reviewers'
consensus (`true` correct, `false` wrong) and `metadata.review` saying who labelled it and how it was drawn.
Samples whose reviewers are unsure or tied get no `label`; by default only samples with a label are written
(`assay audit` needs one on every sample), `include_unlabelled` copies the others through as they were.
"""

from __future__ import annotations

import gzip
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from assay.jsonl import InputError, read_lines
from assay.review import labels as label_db


@dataclass(frozen=True)
class ExportCounts:
    written: int
    labelled: int
    undecided: int  # labelled, but unsure or tied
    bad_lines: int


def export_labels(
    labels_path: str | Path, samples: str | Path, out: str | Path, *, include_unlabelled: bool = False
) -> ExportCounts:
    db = label_db.connect(labels_path, readonly=True)
    try:
        by_sample: dict[tuple[str, int], list[label_db.LabelRow]] = defaultdict(list)
        for row in label_db.latest(db):
            by_sample[(row.task_id, row.sample_index)].append(row)
        sampling = label_db.sampling_of(db)
    finally:
        db.close()
    written = labelled = undecided = bad = 0
    out = Path(out)
    opener: Any = gzip.open if out.suffix == ".gz" else open
    with opener(out, "wb") as handle:
        for _, obj in read_lines(samples):
            if isinstance(obj, InputError):
                bad += 1
                continue
            key = (obj.get("task_id"), obj.get("index"))
            rows = by_sample.get(key) if isinstance(key[0], str) and isinstance(key[1], int) else None  # type: ignore[arg-type]
            if rows:
                verdict = label_db.consensus([row.label for row in rows])
                found = obj.get("metadata")
                metadata: dict[str, Any] = found if isinstance(found, dict) else {}
                stratum = sampling.get(key)  # type: ignore[arg-type]
                obj["metadata"] = {
                    **metadata,
                    "review": {
                        "labels": {row.reviewer: row.label for row in rows},
                        "notes": {row.reviewer: row.note for row in rows if row.note},
                        "sampling": stratum[0] if stratum else label_db.BROWSED,
                    },
                }
                if verdict is None:
                    undecided += 1
                    obj.pop("label", None)
                    if not include_unlabelled:
                        continue
                else:
                    obj["label"] = verdict
                    labelled += 1
            elif not include_unlabelled:
                continue
            handle.write(orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE))
            written += 1
    return ExportCounts(written, labelled, undecided, bad)
