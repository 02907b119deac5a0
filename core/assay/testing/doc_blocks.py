"""What the docs writers share: a doc's generated blocks are rewritten in place, file by file, and only a file
whose blocks changed is written (`assay.testing.config_docs` writes config tables, `assay.testing.cli_docs`
command help)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path


def rewrite_files(paths: Iterable[str], rewrite: Callable[[str], str], what: str) -> int:
    """Apply `rewrite` to each file's text; write back and say so (`PATH: WHAT rewritten`) where it changed."""
    for path in map(Path, paths):
        text = path.read_text(encoding="utf-8")
        updated = rewrite(text)
        if updated != text:
            path.write_text(updated, encoding="utf-8")
            print(f"{path}: {what} rewritten")
    return 0
