"""`assay select TASKS SAMPLES --selector NAME [--verdicts V ...] [-o OUT]`: one chosen sample per task."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from assay.cli.command import Command, add_input_files, resolve_verifier_id, take_input_files
from assay.jsonl import InputFileError, dumps
from assay.plugins import UnknownComponent

if TYPE_CHECKING:
    from assay.audit.data import VerifierData


def add_answer_key_option(parser: argparse.ArgumentParser) -> None:
    """`--answer-key`: how votes group samples, shared by `assay select` and `assay audit`."""
    parser.add_argument(
        "--answer-key",
        action="store_true",
        help="group votes by each installed verifier's answer_key (canonical answers) rather than "
        "the verdicts' answer field",
    )


def configure(parser: argparse.ArgumentParser) -> None:
    add_input_files(parser, "samples JSONL ({task_id, index, text}); .gz is fine")
    parser.add_argument(
        "--selector",
        "-s",
        default="majority",
        help="registered selector (default: majority; `assay plugins` lists them)",
    )
    parser.add_argument(
        "--verdicts",
        nargs="+",
        default=[],
        metavar="VERDICTS",
        help="verdict files from `assay verify`; votes use the first verifier that gives answers "
        "(without any: the sample text)",
    )
    parser.add_argument(
        "--verifier",
        help="the verifier (name@version, or the bare name when one version is present) whose pass/fail and "
        "scores the selector reads (default: the first in --verdicts)",
    )
    add_answer_key_option(parser)
    parser.add_argument(
        "--labels",
        default=None,
        metavar="FIELD",
        help="the samples' ground-truth field, used by the oracle and for the accuracy line (default: label, "
        "when present; a field named here must be on the samples)",
    )
    parser.add_argument("-o", "--out", help="selections JSONL (default: stdout)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no summary on stderr")


def missing_inputs(selector: Any, verifier: VerifierData | None) -> str | None:
    """Why `selector` cannot run as documented on what the verifier gives (None: it can). A selector that
    reads pass/fail or scores never silently falls back to sample 0 or a plain vote."""
    uses = set(getattr(selector, "uses", ()))
    reads = [what for what in ("passed", "score") if what in uses]
    if not reads:
        return None
    wanted = " or ".join({"passed": "pass/fail", "score": "scores"}[what] for what in reads)
    if verifier is None:
        return f"selector {selector.name!r} reads a verifier's {wanted}: give --verdicts FILE (from `assay verify`)"
    gives = ("passed" in reads and verifier.decides) or ("score" in reads and verifier.has_scores)
    if not gives:
        return f"selector {selector.name!r} reads a verifier's {wanted}, and {verifier.id} gives none"
    return None


def selections(args: argparse.Namespace) -> tuple[Iterator[dict[str, Any]], dict[str, Any]]:
    from assay.audit.data import AuditInputError, load
    from assay.selection import Candidate, SelectionError, get_selector

    selector = get_selector(args.selector)
    data = load(
        args.tasks,
        args.samples,
        args.verdicts,
        labels=args.labels or "label",
        require_labels=False,
        answer_key=args.answer_key,
    )
    if args.labels is not None and data.label is None:
        raise AuditInputError([f"--labels {args.labels!r}: not every sample in {args.samples} has this field"])
    verifier_id = args.verifier or next(iter(data.verifiers), None)
    if verifier_id is not None:
        try:
            verifier_id = resolve_verifier_id(verifier_id, list(data.verifiers))
        except LookupError as exc:
            raise UnknownComponent(str(exc)) from None
    verifier = data.verifiers[verifier_id] if verifier_id is not None else None
    missing = missing_inputs(selector, verifier)
    if missing is not None:
        raise SelectionError(missing)
    answers = data.answers()
    summary: dict[str, Any] = {
        "tasks": data.problems,
        "selected": 0,
        "correct": 0,
        "fallbacks": 0,
        "labelled": data.label is not None,
    }
    reads_signals = "signals" in getattr(selector, "uses", ())
    table, names = data.signal_table() if reads_signals else (None, [])

    def candidates_of(row: int) -> list[Candidate]:
        candidates = []
        for col in range(int(data.n[row])):
            group = int(answers.group[row, col]) if answers is not None else -1
            passed = int(verifier.passed[0, row, col]) if verifier is not None else -1
            score = float(verifier.score[0, row, col]) if verifier is not None else float("nan")
            signals: dict[str, float] = {}
            if table is not None:
                signals = {name: float(v) for name, v in zip(names, table[row, col], strict=True) if v == v}
            candidates.append(
                Candidate(
                    index=int(data.index[row, col]),
                    answer=answers.answers[row][group] if answers is not None and group >= 0 else None,
                    passed=None if passed < 0 else bool(passed),
                    score=None if score != score else score,
                    label=bool(data.label[row, col]) if data.label is not None else None,
                    signals=signals,
                )
            )
        return candidates

    # A selector that learns across problems (the ensemble) is fitted on all of them first, without labels.
    fit = getattr(selector, "fit", None)
    if callable(fit):
        selector = fit([candidates_of(row) for row in range(data.problems)])

    def rows() -> Iterator[dict[str, Any]]:
        for row, task_id in enumerate(data.task_ids):
            candidates = candidates_of(row)
            choice = selector.select(candidates)
            line: dict[str, Any] = {"task_id": task_id, "selector": selector.name}
            if choice is None:
                line.update({"sample_index": None, "answer": None, "support": None})
            else:
                summary["selected"] += 1
                line.update({"sample_index": choice.index, "answer": choice.answer, "support": choice.support})
                if choice.fallback:
                    line["fallback"] = True
                    summary["fallbacks"] += 1
                if data.label is not None:
                    correct = next(c.label for c in candidates if c.index == choice.index)
                    line["label"] = correct
                    summary["correct"] += bool(correct)
            yield line

    return rows(), summary


def run(args: argparse.Namespace) -> int:
    from assay.audit.data import AuditInputError
    from assay.selection import SelectionError

    take_input_files(args)
    try:
        lines, summary = selections(args)
        if args.out is None:
            out = sys.stdout.buffer
            for line in lines:
                out.write(dumps(line))
            out.flush()
        else:
            with open(args.out, "wb") as handle:
                for line in lines:
                    handle.write(dumps(line))
    except (AuditInputError, InputFileError, UnknownComponent, SelectionError) as exc:
        print(f"assay select: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        message = f"{args.selector}: chose a sample for {summary['selected']} of {summary['tasks']} tasks"
        if summary["labelled"] and summary["tasks"]:
            message += f"; {summary['correct'] / summary['tasks']:.1%} correct by the labels"
        if summary["fallbacks"]:
            message += (
                f"; {summary['fallbacks']} of them by a plain vote, the verifier passing none of their samples"
                " (`fallback` in the output)"
            )
        print(message, file=sys.stderr)
    return 0


COMMAND = Command("select", "Pick one sample per task with a selector (majority, best_of_n, ...).", configure, run)
