"""`assay review`: a local page on which people label samples, and the label database it writes.

- `index`: tasks, samples and verdicts in one SQLite file, in the order that teaches the most.
- `labels`: the append-only label database (`LABELS.sqlite`).
- `session`: a review in progress (what is next, what is done), over both.
- `render`: untrusted text to safe HTML (Markdown, LaTeX as MathML, highlighted code).
- `app`: the FastAPI page server.
- `export`: labels back into the samples' own JSONL format (`label` field).
"""

from __future__ import annotations

from pathlib import Path


def index_path_for(labels: str | Path) -> Path:
    """Where the index of a review lives: beside its label database."""
    labels = Path(labels)
    return labels.with_name(labels.name + ".index")
