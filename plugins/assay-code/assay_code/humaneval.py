"""HumanEval in assay's shapes: the shared `humaneval-codegen16b` folder (or its vendored slice) as tasks
and samples.

- `problems.jsonl`: one problem per line (`problem_id`, `prompt`, `entry_point`, `test`, ...); a task's
  reference is `{"style": "function", "entry_point", "tests"}`, its prompt the prompt the samples were
  generated from.
- `samples.jsonl.gz`: one sample per line (`problem_id`, `sample_index`, `response`, `extracted_answer`,
  `label`); `text` is the `extracted_answer` (what the labels judged) unless `field="response"`.
- `generated_tests.jsonl.gz`: model-generated asserts per problem (`extracted_asserts`); the tasks of the
  `generated_tests` style take each problem's distinct asserts, in order of first appearance.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assay import read_lines

#: HumanEval's stop sequences (Chen et al. 2021), for raw completions.
STOP_SEQUENCES = ["\nclass", "\ndef", "\n#", "\nif", "\nprint"]


def _objects(path: Path) -> Iterator[dict[str, Any]]:
    for _line, obj in read_lines(path):
        if not isinstance(obj, dict):
            raise ValueError(str(obj))
        yield obj


def load_problems(folder: str | Path) -> dict[str, dict[str, Any]]:
    return {p["problem_id"]: p for p in _objects(Path(folder) / "problems.jsonl")}


def tasks(folder: str | Path) -> list[dict[str, Any]]:
    """The `function`-style tasks, one per problem."""
    return [
        {
            "id": pid,
            "prompt": p["prompt"],
            "reference": {
                "style": "function",
                "entry_point": p["entry_point"],
                "tests": p["test"],
                "solution": p["canonical_solution"],
            },
            "metadata": {"canonical_solution": p["canonical_solution"]},
        }
        for pid, p in load_problems(folder).items()
    ]


def samples(folder: str | Path, field: str = "extracted_answer") -> Iterator[dict[str, Any]]:
    """The samples, with their labels."""
    for s in _objects(Path(folder) / "samples.jsonl.gz"):
        yield {
            "task_id": s["problem_id"],
            "index": s["sample_index"],
            "text": s[field],
            "label": s["label"],
            "metadata": {"exec_status": (s.get("extra") or {}).get("exec_status")},
        }


def generated_tests(folder: str | Path) -> dict[str, list[str]]:
    """Each problem's distinct generated asserts, in order of first appearance."""
    tests: dict[str, dict[str, None]] = {}
    for record in _objects(Path(folder) / "generated_tests.jsonl.gz"):
        seen = tests.setdefault(record["problem_id"], {})
        for assertion in record.get("extracted_asserts") or []:
            seen.setdefault(assertion.strip(), None)
    return {pid: list(seen) for pid, seen in tests.items()}


def generated_tasks(folder: str | Path) -> list[dict[str, Any]]:
    """The `generated_tests`-style tasks (problems with no generated assert are left out)."""
    problems = load_problems(folder)
    out = []
    for pid, asserts in generated_tests(folder).items():
        if asserts and pid in problems:
            p = problems[pid]
            out.append(
                {
                    "id": pid,
                    "prompt": p["prompt"],
                    "reference": {
                        "style": "generated_tests",
                        "entry_point": p["entry_point"],
                        "tests": asserts,
                    },
                }
            )
    return out
