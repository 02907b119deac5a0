"""Convert the third-party data sets (the shared-data layout) into assay's formats.

    python examples/data/convert.py SHARED_DATA_DIR [OUT_DIR]

writes the slices that live under examples/data/ (OUT_DIR defaults to this folder). Each converter also
works on its own (`svamp(source_dir, out_dir)`), which is how the tests rebuild the full sets from the
shared data. Output: `tasks.jsonl.gz` ({id, prompt, reference}) and samples ({task_id, index, text, label,
metadata}) per set.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
#: HumanEval problems kept in the bundled slice (the first ones, in the data set's order).
HUMANEVAL_SLICE = 40


def _read(path: Path) -> Iterator[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def _write(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0: the same input gives byte-identical files.
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
    return path


def _licences(source: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for licence in source.glob("LICENSE*"):
        shutil.copyfile(licence, out / licence.name)


def svamp(source: Path, out: Path) -> dict[str, Path]:
    """SVAMP x Program-of-Thoughts (code-davinci-002, 30 programs per problem).

    The text of a sample is what its program computed (`ans`): the math verifier judges that against the
    reference number. A program that failed to run has empty text. The program itself is left out. Sample
    indices are the source's log-probability ranks (0: the most likely program).
    """
    tasks = (
        {
            "id": p["problem_id"],
            "prompt": p["prompt"],
            "reference": {"answer": p["reference_answer"]},
            "metadata": {"type": p["type"], "equation": p["reference_equation"]},
        }
        for p in _read(source / "problems.jsonl")
    )
    samples = (
        {
            "task_id": s["problem_id"],
            "index": s["sample_index"],
            "text": s["extracted_answer"] or "",
            "label": s["label"],
        }
        for s in _read(source / "samples.jsonl.gz")
    )
    _licences(source, out)
    return {"tasks": _write(out / "tasks.jsonl.gz", tasks), "samples": _write(out / "samples.jsonl.gz", samples)}


def game24(source: Path, out: Path) -> dict[str, Path]:
    """Game of 24 (GPT-4, 100 samples per puzzle for each of two prompts): one samples file per prompt."""
    tasks = (
        {
            "id": p["problem_id"],
            "prompt": p["puzzle"],
            "reference": {"numbers": [int(x) for x in p["puzzle"].split()], "target": 24},
        }
        for p in _read(source / "problems.jsonl")
    )
    by_method: dict[str, list[dict[str, Any]]] = {"standard_io": [], "cot": []}
    for s in _read(source / "samples.jsonl.gz"):
        by_method[s["extra"]["method"]].append(
            {"task_id": s["problem_id"], "index": s["sample_index"], "text": s["response"], "label": s["label"]}
        )
    _licences(source, out)
    return {
        "tasks": _write(out / "tasks.jsonl.gz", tasks),
        "samples-io": _write(out / "samples-io.jsonl.gz", by_method["standard_io"]),
        "samples-cot": _write(out / "samples-cot.jsonl.gz", by_method["cot"]),
    }


def humaneval(source: Path, out: Path, limit: int | None = None) -> dict[str, Path]:
    """HumanEval x CodeGen-Mono-16B (100 completions per problem), labelled by the official tests.

    The reference is what the code verifier needs for a function task (the program is the task's prompt
    plus the sample): the test code and the entry point. `limit` keeps the first problems only.
    """
    problems = list(_read(source / "problems.jsonl"))[:limit]
    keep = {p["problem_id"] for p in problems}
    tasks = (
        {
            "id": p["problem_id"],
            "prompt": p["prompt"],
            "reference": {"style": "function", "entry_point": p["entry_point"], "tests": p["test"]},
        }
        for p in problems
    )
    samples = (
        {"task_id": s["problem_id"], "index": s["sample_index"], "text": s["extracted_answer"], "label": s["label"]}
        for s in _read(source / "samples.jsonl.gz")
        if s["problem_id"] in keep
    )
    _licences(source, out)
    return {"tasks": _write(out / "tasks.jsonl.gz", tasks), "samples": _write(out / "samples.jsonl.gz", samples)}


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    shared = Path(argv[0])
    out = Path(argv[1]) if len(argv) > 1 else HERE
    svamp(shared / "svamp-pot-codex", out / "svamp-pot-codex")
    game24(shared / "game24-gpt4", out / "game24-gpt4")
    humaneval(shared / "humaneval-codegen16b", out / "humaneval-codegen16b", limit=HUMANEVAL_SLICE)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
