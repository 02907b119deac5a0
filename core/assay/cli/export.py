"""`assay export TASKS SAMPLES --verdicts V... --kind KIND [--format F] -o OUT`: training datasets."""

from __future__ import annotations

import argparse
import sys

from assay.cli.command import Command
from assay.jsonl import InputError, InputFileError


def configure(parser: argparse.ArgumentParser) -> None:
    from assay.export import FORMATS, KINDS

    formats_help = "; ".join(f"{kind}: {' | '.join(names)}" for kind, names in FORMATS.items())

    parser.add_argument("tasks", help="tasks JSONL ({id, prompt, reference}); .gz is fine")
    parser.add_argument("samples", help="samples JSONL ({task_id, index, text}); need not be sorted")
    parser.add_argument(
        "--verdicts", nargs="*", default=[], metavar="VERDICTS", help="verdict files from `assay verify`"
    )
    parser.add_argument(
        "--verifier", help="the verifier (name@version) whose pass/fail decides (default: the first in --verdicts)"
    )
    parser.add_argument(
        "--selections",
        metavar="FILE",
        help="a selector's choices (`assay select` output) decide instead: the chosen sample and those with "
        "its answer pass, the others fail",
    )
    parser.add_argument("--kind", "-k", required=True, choices=KINDS, help="what to export")
    parser.add_argument("--format", "-f", help=f"how to write it (default: the first): {formats_help}")
    parser.add_argument(
        "--per-problem",
        "-n",
        type=int,
        default=4,
        metavar="N",
        help="at most N rows per problem (samples, pairs); 0: no limit (default: 4)",
    )
    parser.add_argument(
        "--unique-answers", action="store_true", help="sft: at most one sample per answer key of a problem"
    )
    parser.add_argument(
        "--conversational", action="store_true", help="prompts and completions as chat messages, not strings"
    )
    parser.add_argument("--data-source", help="verl: the data_source column (default: the tasks file's name)")
    parser.add_argument("--ability", help="verl: the ability column (default: the verifier's name)")
    parser.add_argument("--split", default="train", help="verl: extra_info.split (default: train)")
    parser.add_argument("-o", "--out", help="output file (.jsonl, .jsonl.gz, .parquet for verl); default: stdout")
    parser.add_argument("--temp-dir", help="where the temporary join index goes (default: the system's temp dir)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no summary on stderr")


def run(args: argparse.Namespace) -> int:
    from assay.export import ExportInputError, export

    def report(error: InputError) -> None:
        print(f"assay export: {error}", file=sys.stderr)

    try:
        summary = export(
            args.tasks,
            args.samples,
            args.verdicts,
            kind=args.kind,
            format=args.format,
            out=args.out,
            per_problem=args.per_problem or None,
            verifier=args.verifier,
            selections=args.selections,
            unique_answers=args.unique_answers,
            conversational=args.conversational,
            data_source=args.data_source,
            ability=args.ability,
            split=args.split,
            on_input_error=report,
            temp_dir=args.temp_dir,
        )
    except (ExportInputError, InputFileError, ValueError, OSError) as exc:
        print(f"assay export: {exc}", file=sys.stderr)
        return 2
    read = summary.input
    if not args.quiet:
        line = (
            f"{summary.kind} ({summary.format}): {summary.rows} rows from {summary.problems_with_rows} of "
            f"{summary.problems} problems; {summary.solved} solved by {read.verifier or 'the selections'}"
        )
        if summary.kind == "preference":
            line += f"; {summary.hard_negatives} hard negatives"
        print(line, file=sys.stderr)
        if read.unknown_task:
            print(f"assay export: {read.unknown_task} samples name no task in {args.tasks}; left out", file=sys.stderr)
        if read.other_verdicts:
            print(f"assay export: {read.other_verdicts} verdicts of other verifiers left out", file=sys.stderr)
    if read.input_errors:
        print(f"assay export: {read.input_errors} input lines rejected (reported above)", file=sys.stderr)
        return 1
    return 0


COMMAND = Command("export", "Write training datasets (SFT, DPO, reward, verl) from verified samples.", configure, run)
