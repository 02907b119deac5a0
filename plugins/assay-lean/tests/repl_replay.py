"""Replays a recorded REPL session: `python repl_replay.py NAME.in` answers the requests of `NAME.in`, in
order, with the real REPL's replies from `NAME.expected.out` (byte for byte), reading stdin with the REPL's
own framing. A request that differs from the recording ends the process, as a REPL would on bad input."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

from assay_lean.lsp_repl import read_query


def load(path: Path) -> tuple[list[object], list[bytes]]:
    stream = io.StringIO(path.read_text())
    requests: list[object] = []
    while (query := read_query(stream)) is not None:
        if not query.startswith(("#", "--")):
            requests.append(json.loads(query))
    raw = path.with_suffix(".expected.out").read_bytes()
    replies = [chunk for chunk in raw.split(b"\n\n") if chunk.strip()]
    return requests, replies


def main() -> int:
    requests, replies = load(Path(sys.argv[1]))
    for expected, reply in zip(requests, replies, strict=False):
        query = read_query(sys.stdin)
        if query is None:
            return 0
        if json.loads(query) != expected:
            print(f"replay: expected {expected!r}, got {query[:200]!r}", file=sys.stderr)
            return 2
        sys.stdout.buffer.write(reply + b"\n\n")
        sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
