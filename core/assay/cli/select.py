"""`assay select TASKS SAMPLES --selector NAME [--verdicts V ...] [-o OUT]`: one chosen sample per task."""

from __future__ import annotations

import argparse
import sys

from assay.cli.command import Command, add_input_files, take_input_files
from assay.jsonl import InputFileError, dumps
from assay.plugins import UnknownComponent


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


def run(args: argparse.Namespace) -> int:
    from assay.audit.data import AuditInputError
    from assay.selection import SelectionError
    from assay.selection.files import select_files

    take_input_files(args)
    try:
        lines, summary = select_files(
            args.tasks,
            args.samples,
            args.verdicts,
            args.selector,
            verifier=args.verifier,
            labels=args.labels,
            answer_key=args.answer_key,
        )
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
