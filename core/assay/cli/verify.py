"""`assay verify TASKS SAMPLES --verifier NAME [-o OUT] [--jobs N] [--set key=value ...]`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pydantic import ValidationError

from assay.cli import Command
from assay.engine import VerifyRun
from assay.jsonl import InputFileError, dumps
from assay.plugins import UnknownComponent


def parse_settings(pairs: list[str]) -> dict[str, Any]:
    """`key=value` pairs; values are read as JSON when they parse (numbers, booleans, lists), else as text.
    Dotted keys build nested objects (`limits.memory_mb=512`)."""
    config: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {pair!r}: expected key=value")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        target = config
        *parents, leaf = key.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return config


def add_verifier_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verifier", "-v", required=True, help="registered verifier name (see `assay plugins`)")
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="verifier config; repeatable (`--set time_limit_s=5`)",
    )


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("tasks", help="tasks JSONL ({id, prompt, reference}); .gz is fine")
    parser.add_argument("samples", help="samples JSONL ({task_id, index, text}); .gz is fine")
    add_verifier_arguments(parser)
    parser.add_argument("-o", "--out", help="verdicts JSONL; resumed if it exists (default: stdout)")
    parser.add_argument("--jobs", "-j", type=int, default=None, help="worker processes (default: CPUs; 0: inline)")
    parser.add_argument(
        "--store", help="SQLite verdict cache (default: $ASSAY_STORE or ~/.cache/assay/verdicts.sqlite)"
    )
    parser.add_argument("--no-cache", action="store_true", help="judge every sample again (still records verdicts)")
    parser.add_argument("--overwrite", action="store_true", help="start OUT afresh instead of resuming it")
    parser.add_argument("--executor", default="local", help="where to run: local (default) or ray")
    parser.add_argument("--address", help="Ray cluster address for --executor ray (default: start a local one)")
    parser.add_argument("--summary-json", help="also write the run summary as JSON to this file")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no summary")


def run(args: argparse.Namespace) -> int:
    try:
        config = parse_settings(args.settings)
        executor = None
        if args.executor != "local":
            from assay.executors import by_name

            executor = by_name(args.executor, address=args.address)
        verify_run = VerifyRun(
            args.tasks,
            args.samples,
            args.verifier,
            config=config,
            jobs=args.jobs,
            out=args.out,
            store=args.store,
            use_cache=not args.no_cache,
            resume=not args.overwrite,
            progress=False if args.quiet else None,
            executor=executor,
        )
    except (UnknownComponent, InputFileError, ValueError) as exc:
        message = str(exc)
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            message = f"--set {field}: {first['msg']}"
        print(f"assay verify: {message}", file=sys.stderr)
        return 2
    try:
        if args.out is None:
            stdout = sys.stdout.buffer
            for verdict in verify_run.records():
                stdout.write(dumps(verdict))
            stdout.flush()
        else:
            verify_run.run()
    except InputFileError as exc:
        print(f"assay verify: {exc}", file=sys.stderr)
        return 2
    summary = verify_run.summary
    if args.summary_json:
        with open(args.summary_json, "w", encoding="utf-8") as handle:
            json.dump(summary.to_json(), handle, indent=2)
    if not args.quiet:
        print(summary.render(), file=sys.stderr)
    return 1 if summary.input_errors else 0


COMMAND = Command("verify", "Judge every sample with a verifier; write verdicts as JSONL.", configure, run)
