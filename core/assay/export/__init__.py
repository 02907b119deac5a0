"""`assay export`: verified samples back into training, in the formats training libraries read.

    from assay.export import export
    summary = export("tasks.jsonl", "samples.jsonl", ["verdicts.jsonl"], kind="sft", out="sft.jsonl")

Kinds (what is exported) and their formats (how; the first is the default):

| kind         | rows                                                   | formats                      |
|--------------|--------------------------------------------------------|------------------------------|
| `sft`        | verified samples, at most N per problem (STaR data)    | `messages`, `prompt-completion` |
| `preference` | (passing, failing) pairs, hard negatives first         | `dpo`                        |
| `reward`     | every decided sample with its label and score          | `reward`                     |
| `unsolved`   | the problems no sample solved, to sample again         | `tasks`, `verl`              |
| `problems`   | every problem                                          | `tasks`, `verl`              |

Pass/fail comes from one verifier's verdicts (`verifier`, default: the first in the verdict files) or from
a selector's choices (`selections`, the output of `assay select`). See `choose` for the rules and
`formats` for the rows. Memory stays flat in the number of samples (see `index`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from assay.export import choose, formats
from assay.export.index import ExportInputError, IndexSummary, Problem, ProblemIndex
from assay.jsonl import InputError, check_input

Kind = Literal["sft", "preference", "reward", "unsolved", "problems"]
FORMATS: dict[str, tuple[str, ...]] = {
    "sft": ("messages", "prompt-completion"),
    "preference": ("dpo",),
    "reward": ("reward",),
    "unsolved": ("tasks", "verl"),
    "problems": ("tasks", "verl"),
}
KINDS: tuple[str, ...] = tuple(FORMATS)

__all__ = ["FORMATS", "KINDS", "ExportInputError", "ExportSummary", "export"]


@dataclass
class ExportSummary:
    kind: str
    format: str
    rows: int = 0
    problems: int = 0
    #: Problems with at least one row written.
    problems_with_rows: int = 0
    solved: int = 0
    hard_negatives: int = 0
    input: IndexSummary = field(default_factory=IndexSummary)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_choice(kind: str, format: str | None) -> str:
    if kind not in FORMATS:
        raise ExportInputError(f"unknown kind {kind!r}: choose one of {', '.join(KINDS)}")
    chosen = format or FORMATS[kind][0]
    if chosen not in FORMATS[kind]:
        raise ExportInputError(f"kind {kind!r} is written as {' or '.join(FORMATS[kind])}, not {chosen!r}")
    if chosen == "verl" and (missing := formats.parquet_missing()):
        raise ExportInputError(missing)
    return chosen


def export(
    tasks: str | Path,
    samples: str | Path,
    verdicts: Iterable[str | Path] = (),
    *,
    kind: str,
    out: str | Path | None,
    format: str | None = None,
    per_problem: int | None = 4,
    verifier: str | None = None,
    selections: str | Path | None = None,
    unique_answers: bool = False,
    conversational: bool = False,
    data_source: str | None = None,
    ability: str | None = None,
    split: str = "train",
    on_input_error: Callable[[InputError], None] | None = None,
    temp_dir: str | Path | None = None,
) -> ExportSummary:
    """Write one dataset; returns what was written. `per_problem` None: no limit. Bad input lines are
    passed to `on_input_error` and skipped; a file that cannot be read raises `InputFileError`."""
    chosen_format = _check_choice(kind, format)
    if per_problem is not None and per_problem < 1:
        raise ExportInputError(f"per_problem must be at least 1 (or None for no limit), got {per_problem}")
    verdict_paths = list(verdicts)
    for path in [tasks, samples, *verdict_paths, *([selections] if selections is not None else [])]:
        check_input(path)
    if kind in ("sft", "preference", "reward", "unsolved") and not verdict_paths and selections is None:
        raise ExportInputError(f"kind {kind!r} needs verdicts (--verdicts) or a selector's choices (--selections)")
    summary = ExportSummary(kind=kind, format=chosen_format)
    with ProblemIndex(
        tasks,
        samples,
        verdict_paths,
        verifier=verifier,
        selections=selections,
        on_input_error=on_input_error,
        temp_dir=temp_dir,
    ) as index:
        summary.input = index.summary
        index.count_unknown()
        verifier_name = index.summary.verifier.split("@")[0] if index.summary.verifier else None
        options = _Options(
            format=chosen_format,
            limit=per_problem,
            unique_answers=unique_answers,
            conversational=conversational,
            data_source=data_source or _default_data_source(Path(str(tasks))),
            ability=ability or verifier_name or "unknown",
            verifier=verifier_name,
            split=split,
        )
        with formats.open_writer(out, parquet=chosen_format == "verl") as writer:
            for problem in index.problems():
                summary.problems += 1
                summary.solved += choose.solved(problem)
                written = 0
                for row in _rows(problem, kind, options, summary):
                    writer.write(row)
                    written += 1
                summary.rows += written
                summary.problems_with_rows += written > 0
    return summary


def _default_data_source(tasks: Path) -> str:
    """`gsm8k.jsonl.gz` -> `gsm8k`; `data/gsm8k/tasks.jsonl` -> `gsm8k`."""
    stem = tasks.name.split(".")[0]
    return tasks.resolve().parent.name if stem == "tasks" and tasks.resolve().parent.name else stem


@dataclass(frozen=True)
class _Options:
    format: str
    limit: int | None
    unique_answers: bool
    conversational: bool
    data_source: str
    ability: str
    verifier: str | None
    split: str


def _rows(problem: Problem, kind: str, options: _Options, summary: ExportSummary) -> Iterator[dict[str, Any]]:
    conversational = options.conversational
    if kind == "sft":
        for sample in choose.verified(problem, options.limit, unique_answers=options.unique_answers):
            if options.format == "messages":
                yield formats.sft_messages_row(problem, sample)
            else:
                yield formats.sft_prompt_completion_row(problem, sample, conversational=conversational)
    elif kind == "preference":
        for chosen, rejected, hard in choose.preference_pairs(problem, options.limit):
            summary.hard_negatives += hard
            yield formats.dpo_row(problem, chosen, rejected, hard=hard, conversational=conversational)
    elif kind == "reward":
        for sample in choose.judged(problem, options.limit):
            yield formats.reward_row(problem, sample, conversational=conversational)
    elif kind == "problems" or not choose.solved(problem):
        if options.format == "verl":
            yield formats.verl_row(
                problem,
                summary.rows,
                data_source=options.data_source,
                ability=options.ability,
                verifier=options.verifier,
                split=options.split,
            )
        else:
            yield formats.task_row(problem)
