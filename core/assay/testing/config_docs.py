"""A verifier's configuration table, written from its `Config` class, so that a README cannot drift from
the code: each field's key, default and description.

In a README, the table sits between two markers naming the verifier:

    <!-- config: math -->
    | key | default | meaning |
    ...
    <!-- /config -->

`python -m assay.testing.config_docs README.md ...` rewrites every such block from the installed
verifiers; `stale_blocks(text)` says which blocks differ (a test calls it for each README).
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from assay.testing.doc_blocks import rewrite_files

BLOCK = re.compile(r"(<!-- config: (?P<name>[\w.+-]+) -->\n)(?P<body>.*?)(<!-- /config -->)", re.DOTALL)
#: Fields the verifier fills in itself; they are not settings.
FILLED_IN = "Filled in, not set"


def _default(field: Any) -> str:
    value = field.default_factory() if field.default_factory is not None else field.default
    if value is PydanticUndefined:
        return "required"
    return f"`{json.dumps(value)}`"


def config_table(config: type[BaseModel]) -> str:
    """The Markdown table of `config`'s settings, in declaration order."""
    rows = ["| key | default | meaning |", "| --- | --- | --- |"]
    for key, field in config.model_fields.items():
        description = " ".join((field.description or "").split())
        if description.startswith(FILLED_IN):
            continue
        rows.append(f"| `{key}` | {_default(field)} | {description.replace('|', '&#124;')} |")
    return "\n".join(rows) + "\n"


def _table_for(name: str) -> str:
    from assay.plugins import get_registry

    return config_table(get_registry().verifier_class(name).Config)


def stale_blocks(text: str) -> list[str]:
    """The verifiers whose config block in `text` differs from what their code says."""
    return [match["name"] for match in BLOCK.finditer(text) if match["body"] != _table_for(match["name"])]


def rewrite(text: str) -> str:
    return BLOCK.sub(lambda m: m.group(1) + _table_for(m["name"]) + m.group(4), text)


def main(paths: list[str]) -> int:
    return rewrite_files(paths, rewrite, "config tables")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
