"""Parallel sampling against serial refinement, at equal sample budgets.

A refined sample names the sample it revises in `metadata.parent_index` (the `index` of a sample of the
same task, usually one that failed and whose verdict `feedback` was shown to the model). Samples without
a parent are the parallel draws. At a budget of k samples per problem the audit compares

- parallel: coverage of k independent draws (the unbiased pass@k over the parallel samples), with
- refined: coverage of k/2 draws each refined once (pass@(k/2) over chains, where a chain succeeds when
  its draw or its refinement is right). A draw that is right and was not refined counts as a chain of two
  (the budget is spent the same way); a wrong draw that was never refined is left out of the chains and
  counted as `unrefined_failures`, since nothing says what its refinement would have given.

Right and wrong come from the samples' labels when they have them, else from one verifier's verdicts.
Intervals come from a bootstrap over problems, and `difference` (refined minus parallel) is paired: both
figures are computed on the same problems in every replicate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from assay.audit.estimators import Pool, pass_at_k
from assay.audit.stats import Bootstrap, figure
from assay.jsonl import InputError, read_lines

PARENT_FIELD = "parent_index"


class RefineInputError(ValueError):
    """The samples carry no refinements, or their links are unusable; the message says which lines."""


@dataclass
class _Problem:
    parallel: dict[int, bool] = field(default_factory=dict)  # draw index -> right
    children: dict[int, list[tuple[int, bool]]] = field(default_factory=dict)  # parent -> (index, right)


def _correctness(
    samples: str | Path, verdicts: Sequence[str | Path], labels: str, verifier: str | None
) -> tuple[dict[str, _Problem], dict[str, Any]]:
    decided: dict[tuple[str, int], bool] = {}
    chosen = verifier
    for path in verdicts:
        for _, line in read_lines(path):
            if isinstance(line, InputError) or not isinstance(line.get("task_id"), str):
                continue
            chosen = chosen or line.get("verifier")
            if line.get("verifier") == chosen and isinstance(line.get("passed"), bool):
                decided[(line["task_id"], line.get("sample_index"))] = line["passed"]  # type: ignore[index]
    problems: dict[str, _Problem] = {}
    counts: dict[str, Any] = {"samples": 0, "undecided": 0, "bad_links": 0, "source": f"labels ({labels})"}
    pending: list[tuple[str, int, int, bool]] = []
    used_labels = False
    for _, line in read_lines(samples):
        if isinstance(line, InputError):
            continue
        task_id, index = line.get("task_id"), line.get("index")
        if not isinstance(task_id, str) or isinstance(index, bool) or not isinstance(index, int):
            continue
        counts["samples"] += 1
        label = line.get(labels)
        right = label if isinstance(label, bool) else decided.get((task_id, index))
        used_labels = used_labels or isinstance(label, bool)
        if right is None:
            counts["undecided"] += 1
            continue
        metadata = line.get("metadata")
        parent = metadata.get(PARENT_FIELD) if isinstance(metadata, dict) else None
        problem = problems.setdefault(task_id, _Problem())
        if parent is None:
            problem.parallel[index] = right
        elif isinstance(parent, int) and not isinstance(parent, bool):
            pending.append((task_id, index, parent, right))
        else:
            counts["bad_links"] += 1
    for task_id, index, parent, right in pending:
        problem = problems[task_id]
        if parent in problem.parallel:
            problem.children.setdefault(parent, []).append((index, right))
        else:
            counts["bad_links"] += 1  # a refinement of a refinement, or of a sample that is not there
    if not used_labels:
        counts["source"] = f"verdicts ({chosen})" if chosen else "nothing"
    return problems, counts


def _pool(rows: list[list[bool]]) -> Pool:
    width = max((len(row) for row in rows), default=0)
    valid = np.zeros((len(rows), max(width, 1)), dtype=bool)
    correct = np.zeros(valid.shape)
    for r, row in enumerate(rows):
        valid[r, : len(row)] = True
        correct[r, : len(row)] = row
    return Pool(valid=valid, correct=correct)


def compare_refinement(
    samples: str | Path,
    verdicts: Iterable[str | Path] = (),
    *,
    labels: str = "label",
    verifier: str | None = None,
    ks: Sequence[int] | None = None,
    bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """The comparison as a JSON-ready dict: `rows` (one per even budget k) and the counts behind them."""
    problems, counts = _correctness(samples, list(verdicts), labels, verifier)
    parallel_rows: list[list[bool]] = []
    chain_rows: list[list[bool]] = []
    unrefined = 0
    for problem in problems.values():
        chains = []
        for index, right in sorted(problem.parallel.items()):
            children = sorted(problem.children.get(index, []))
            if children:
                chains.append(right or children[0][1])  # refined once: the first refinement
            elif right:
                chains.append(True)
            else:
                unrefined += 1
        if chains and problem.parallel:
            parallel_rows.append([right for _, right in sorted(problem.parallel.items())])
            chain_rows.append(chains)
    refined = sum(len(children) > 0 for p in problems.values() for children in p.children.values())
    if not chain_rows or refined == 0:
        raise RefineInputError(
            f"no refined samples: a refinement names the sample it revises in metadata.{PARENT_FIELD} "
            f"({counts['bad_links']} links pointed nowhere)"
        )
    most_parallel = max(len(row) for row in parallel_rows)
    most_chains = max(len(row) for row in chain_rows)
    budgets = sorted({k for k in (ks or range(2, 2 * most_chains + 1, 2)) if k >= 2 and k % 2 == 0})
    budgets = [k for k in budgets if k <= most_parallel and k // 2 <= most_chains] or budgets[:1]
    if not budgets:
        raise RefineInputError("no even budget k >= 2 to compare (parallel needs k samples, refinement k/2 chains)")
    parallel = pass_at_k(_pool(parallel_rows), np.asarray(budgets, dtype=np.int64)).per_problem
    serial = pass_at_k(_pool(chain_rows), np.asarray([k // 2 for k in budgets], dtype=np.int64)).per_problem
    boot = Bootstrap.draw(len(chain_rows), bootstrap, np.random.default_rng(seed), confidence)
    rows = []
    for column, k in enumerate(budgets):
        entry: dict[str, Any] = {"k": k}
        for name, per_problem in (
            ("parallel", parallel[:, column]),
            ("refined", serial[:, column]),
            ("difference", serial[:, column] - parallel[:, column]),
        ):
            low, high = boot.interval(boot.means(per_problem))
            entry[name] = figure(float(per_problem.mean()), float(low), float(high))
        rows.append(entry)
    return {
        "rows": rows,
        "problems": len(chain_rows),
        "parallel_samples": sum(len(row) for row in parallel_rows),
        "chains": sum(len(row) for row in chain_rows),
        "refined_samples": refined,
        "unrefined_failures": unrefined,
        "link_field": f"metadata.{PARENT_FIELD}",
        **counts,
    }


def markdown(result: dict[str, Any]) -> str:
    def shown(cell: dict[str, Any]) -> str:
        if cell["value"] is None:
            return "n/a"
        return f"{cell['value']:.1%} [{cell['ci_low']:.1%}, {cell['ci_high']:.1%}]"

    lines = [
        f"Parallel sampling vs refining once ({result['problems']} problems, right and wrong from "
        f"{result['source']}; {result['unrefined_failures']} wrong draws were never refined)",
        "",
        "| budget k | k parallel | k/2 refined once | difference |",
        "|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['k']} | {shown(row['parallel'])} | {shown(row['refined'])} | {shown(row['difference'])} |"
        )
    return "\n".join(lines)
