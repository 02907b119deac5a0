"""`assay reward train ...` and `assay reward info MODEL`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from assay import Command, InputFileError
from assay_reward.encoders import ENCODER_NAMES, EncoderUnavailable
from assay_reward.head import RECIPES, HeadFileError, RewardHead


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="reward_action", metavar="ACTION", required=True)
    train = actions.add_parser(
        "train",
        help="fit a head on labelled samples; report held-out AUROC and calibration; save a model file",
        description="Fit a reward head on labelled samples. Labels: each sample's `label`, or the `passed` of "
        "a verifier's verdicts (--verdicts). Problems are split by task id, so that no problem is in both "
        "the training and the held-out split.",
    )
    train.add_argument(
        "files", nargs="+", metavar="TASKS SAMPLES",
        help="pairs of tasks JSONL and samples JSONL (.gz is fine); several pairs train one head",
    )
    train.add_argument("-o", "--out", required=True, help="the model file to write (.npz)")
    train.add_argument(
        "--verdicts", action="append", default=[], metavar="VERDICTS",
        help="verdicts JSONL (`assay verify -o`) whose `passed` labels the samples; repeatable",
    )
    train.add_argument("--test-fraction", type=float, default=0.2, help="share of problems held out (default 0.2)")
    train.add_argument("--seed", type=int, default=0, help="seed of the problem split (default 0)")
    train.add_argument("--encoder", choices=ENCODER_NAMES, default="onnx-int8", help="MiniLM path (default onnx-int8)")
    train.add_argument("--recipe", choices=RECIPES, default="interaction", help="features (default interaction)")
    train.add_argument("--l2", type=float, default=None, help="L2 strength of the logistic regression")
    train.add_argument("--threshold", type=float, default=0.5, help="the head's pass threshold (default 0.5)")
    train.add_argument("--threads", type=int, default=None, help="CPU threads for the encoder")
    train.add_argument("--report-json", help="also write the full report (with the reliability table) here")
    train.add_argument("--quiet", "-q", action="store_true", help="no progress")
    train.set_defaults(_reward_run=run_train)

    info = actions.add_parser(
        "info", help="print a model file's metadata as JSON", description="Print a model file's metadata."
    )
    info.add_argument("model", help="a model file (.npz)")
    info.set_defaults(_reward_run=run_info)


def run(args: argparse.Namespace) -> int:
    status: int = args._reward_run(args)
    return status


def run_train(args: argparse.Namespace) -> int:
    from assay_reward.train import DEFAULT_L2, build_cache, load_examples, render, train

    if len(args.files) % 2:
        print("assay reward train: give files in pairs: TASKS SAMPLES [TASKS SAMPLES ...]", file=sys.stderr)
        return 2
    if not 0.0 <= args.test_fraction < 1.0:
        print("assay reward train: --test-fraction must be in [0, 1)", file=sys.stderr)
        return 2
    if not 0.0 <= args.threshold <= 1.0:
        print("assay reward train: --threshold must be in [0, 1]", file=sys.stderr)
        return 2
    pairs = [(args.files[i], args.files[i + 1]) for i in range(0, len(args.files), 2)]
    try:
        loaded = load_examples(pairs, args.verdicts)
    except InputFileError as exc:
        print(f"assay reward train: {exc}", file=sys.stderr)
        return 2
    for error in loaded.errors[:50]:
        print(f"assay: {error}", file=sys.stderr)
    if len(loaded.errors) > 50:
        print(f"assay: ... and {len(loaded.errors) - 50} more bad lines", file=sys.stderr)
    if loaded.unlabelled:
        print(
            f"assay reward train: {loaded.unlabelled} samples have no label and no verdict; skipped", file=sys.stderr
        )
    try:
        cache = build_cache(args.encoder, threads=args.threads)
        result = train(
            loaded.examples,
            cache=cache,
            recipe=args.recipe,
            l2=DEFAULT_L2 if args.l2 is None else args.l2,
            test_fraction=args.test_fraction,
            seed=args.seed,
            threshold=args.threshold,
            progress=not args.quiet and sys.stderr.isatty(),
            sources=[str(Path(p)) for pair in pairs for p in pair] + list(args.verdicts),
            label_source=loaded.label_source,
        )
    except (ValueError, EncoderUnavailable) as exc:
        print(f"assay reward train: {exc}", file=sys.stderr)
        return 2
    path = result.head.save(args.out)
    if args.report_json:
        with open(args.report_json, "w", encoding="utf-8") as handle:
            json.dump(result.report, handle, indent=2)
    print(render(result.report), file=sys.stderr)
    print(f"wrote {path} (use it with --verifier reward --set model={path})", file=sys.stderr)
    return 1 if loaded.errors else 0


def run_info(args: argparse.Namespace) -> int:
    try:
        head = RewardHead.load(args.model)
    except HeadFileError as exc:
        print(f"assay reward info: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(head.meta(), indent=2, sort_keys=True))
    return 0


COMMAND = Command(
    "reward", "Learned reward models: `reward train` fits a head, `reward info` shows one.", configure, run
)
