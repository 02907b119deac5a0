"""`assay audit TASKS SAMPLES [--verdicts V1 [V2 ...]] [--labels FIELD] [--k 1,2,4,...] -o REPORT_DIR`."""

from __future__ import annotations

import argparse
import pathlib
import sys

from assay.cli.command import Command, add_input_files, take_input_files
from assay.cli.select import add_answer_key_option
from assay.jsonl import InputFileError
from assay.plugins import UnknownComponent


def parse_ks(text: str) -> list[int]:
    try:
        ks = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--k {text!r}: expected positive integers separated by commas") from None
    if not ks or min(ks) < 1:
        raise argparse.ArgumentTypeError(f"--k {text!r}: expected positive integers separated by commas")
    return ks


def parse_targets(text: str) -> list[float]:
    try:
        targets = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        targets = []
    if not targets or not all(0 < t < 1 for t in targets):
        raise argparse.ArgumentTypeError(f"--target {text!r}: expected coverages between 0 and 1, e.g. 0.9,0.99")
    return targets


def configure(parser: argparse.ArgumentParser) -> None:
    add_input_files(parser, "samples JSONL with ground-truth labels ({task_id, index, text, label})")
    parser.add_argument(
        "--verdicts",
        nargs="+",
        default=[],
        metavar="VERDICTS",
        help="verdict files written by `assay verify`; one verifier judged twice gives its flakiness",
    )
    add_answer_key_option(parser)
    parser.add_argument(
        "--labels",
        default="label",
        metavar="FIELD",
        help="the samples' field with the ground truth (default: label; dotted for nested), or a label database"
        " written by `assay review` (LABELS.sqlite): verifiers against the human labels, weighted by how the"
        " labelled samples were drawn",
    )
    parser.add_argument(
        "--k",
        type=parse_ks,
        default=None,
        metavar="K,K,...",
        help="budgets to evaluate, each at most the samples per problem (default: 1, 2, 4, ... and the number "
        "of samples)",
    )
    parser.add_argument(
        "-o", "--out", required=True, metavar="REPORT_DIR", help="where report.json, report.html and report.md go"
    )
    parser.add_argument("--title", help="the report's title (default: the data set and model, read from the inputs)")
    parser.add_argument(
        "--selectors", nargs="+", metavar="NAME", help="selectors to evaluate (default: every registered one)"
    )
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates over problems (default 1000)")
    parser.add_argument("--confidence", type=float, default=0.95, help="interval coverage (default 0.95)")
    parser.add_argument(
        "--mc-samples",
        type=int,
        default=None,
        help="Monte Carlo replicates where there is no closed form (default: by data size)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and the Monte Carlo (default 0)")
    parser.add_argument(
        "--target",
        type=parse_targets,
        default=None,
        metavar="C,C,...",
        help="coverages to extrapolate k for (default 0.9,0.95,0.99)",
    )
    parser.add_argument("--no-html", action="store_true", help="write report.json and report.md only")
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    parser.add_argument(
        "--refine",
        action="store_true",
        help="compare k parallel samples with k/2 samples refined once (refinements name their parent in "
        "metadata.parent_index); writes refine.json only",
    )


def run(args: argparse.Namespace) -> int:
    from assay.review.labels import is_label_database

    take_input_files(args)
    if args.refine:
        return run_refine(args)
    if is_label_database(args.labels):
        return run_human_labels(args)
    from assay.audit import DEFAULT_TARGETS, AuditInputError, audit_files
    from assay.audit.report import PlottingUnavailable, require_plotting

    if not args.no_html:
        try:  # said before the work, not after it
            require_plotting()
        except PlottingUnavailable as exc:
            print(f"assay audit: {exc}", file=sys.stderr)
            return 2
    try:
        report = audit_files(
            args.tasks,
            args.samples,
            args.verdicts,
            labels=args.labels,
            answer_key=args.answer_key,
            ks=args.k,
            bootstrap=args.bootstrap,
            confidence=args.confidence,
            seed=args.seed,
            mc_samples=args.mc_samples,
            targets=args.target or DEFAULT_TARGETS,
            selectors=args.selectors,
        )
    except (AuditInputError, InputFileError, UnknownComponent) as exc:
        print(f"assay audit: {exc}", file=sys.stderr)
        return 2
    if args.title:
        report.json["title"] = args.title
    paths = report.write(args.out, html=not args.no_html)
    if not args.quiet:
        print(paths["markdown"].read_text(encoding="utf-8"), end="")
    return 0


def run_human_labels(args: argparse.Namespace) -> int:
    from assay.audit import human

    try:
        report = human.human_audit(
            args.labels, args.verdicts, bootstrap=args.bootstrap, confidence=args.confidence, seed=args.seed
        )
    except (ValueError, InputFileError, OSError) as exc:
        print(f"assay audit: {exc}", file=sys.stderr)
        return 2
    path = human.write(report, args.out)
    if not args.quiet:
        print(human.markdown(report, path))
    return 0


def run_refine(args: argparse.Namespace) -> int:
    import orjson

    from assay.audit import refine

    try:
        result = refine.compare_refinement(
            args.samples,
            args.verdicts,
            labels=args.labels,
            ks=args.k,
            bootstrap=args.bootstrap,
            confidence=args.confidence,
            seed=args.seed,
        )
    except (refine.RefineInputError, InputFileError) as exc:
        print(f"assay audit: {exc}", file=sys.stderr)
        return 2
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "refine.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    if not args.quiet:
        print(refine.markdown(result))
    return 0


COMMAND = Command(
    "audit",
    "Audit verifiers against ground truth and selection against coverage; write report.json, .html and .md.",
    configure,
    run,
)
