"""`assay verify TASKS SAMPLES --verifier NAME [-o OUT] [--jobs N] [--set key=value ...]`."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import closing
from typing import Any

from pydantic import ValidationError

from assay.cli.command import Command
from assay.engine import OutputFileError, RunStopped, VerifyRun
from assay.executors.supervision import WorkersKeepDying
from assay.jsonl import InputFileError, dumps
from assay.plugins import UnknownComponent

#: Exit statuses of `assay verify`, for scripts; shown by `assay verify --help`.
ALL_JUDGED = 0
SOME_LINES_REJECTED = 1
COULD_NOT_RUN = 2
STOPPED = 3
INTERRUPTED = 130

EXIT_STATUSES = f"""exit status (see also "When things go wrong" in the README):
  {ALL_JUDGED}    every input line was judged
  {SOME_LINES_REJECTED}    finished, but some input lines were rejected (each reported as FILE:LINE; the
       count is at the end); every good line has its verdict
  {COULD_NOT_RUN}    could not run (bad arguments, an unreadable input, an unusable output); nothing written
  {STOPPED}    stopped before the end: OUT could not be written (disk full) or more bad lines than
       --max-bad-lines; what was written is kept, and once the cause is fixed the same command
       resumes the run
  {INTERRUPTED}  interrupted (Ctrl-C); the same command resumes the run

A broken verdict store never stops a run: it is reported once and the run goes on without it."""


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
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="judge every sample again, ignoring cached verdicts; the new verdicts replace them in the store",
    )
    parser.add_argument(
        "--no-store", action="store_true", help="do not open the verdict store at all (neither read nor write)"
    )
    parser.add_argument("--overwrite", action="store_true", help="start OUT afresh instead of resuming it")
    parser.add_argument(
        "--max-bad-lines",
        type=int,
        metavar="N",
        help="stop (exit status 3) once more than N input lines are rejected (default: never; 0: at the first)",
    )
    parser.add_argument("--executor", default="local", help="where to run: local (default) or ray")
    parser.add_argument("--address", help="Ray cluster address for --executor ray (default: start a local one)")
    parser.add_argument("--summary-json", help="also write the run summary as JSON to this file")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no summary")
    parser.epilog = EXIT_STATUSES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def _fail(message: object) -> None:
    print(f"assay verify: {message}", file=sys.stderr)


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
            use_store=not args.no_store,
            resume=not args.overwrite,
            progress=False if args.quiet else None,
            executor=executor,
            max_bad_lines=args.max_bad_lines,
        )
    except (UnknownComponent, InputFileError, OutputFileError, ValueError) as exc:
        message = str(exc)
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            message = f"--set {field}: {first['msg']}"
        _fail(message)
        return COULD_NOT_RUN
    status = ALL_JUDGED
    try:
        if args.out is None:
            _write_to_stdout(verify_run)
        else:
            verify_run.run()
    except (InputFileError, OutputFileError) as exc:
        _fail(exc)
        return COULD_NOT_RUN
    except RunStopped as exc:
        _fail(exc)
        status = STOPPED
    except WorkersKeepDying as exc:
        # The verifier cannot run here at all: a message, not a traceback. What was judged is in the store.
        _fail(exc)
        return COULD_NOT_RUN
    except KeyboardInterrupt:
        _fail("interrupted; run the same command again to resume" if args.out else "interrupted")
        return INTERRUPTED
    summary = verify_run.summary
    if args.summary_json:
        try:
            with open(args.summary_json, "w", encoding="utf-8") as handle:
                json.dump(summary.to_json(), handle, indent=2)
        except OSError as exc:
            _fail(f"cannot write the summary to {args.summary_json}: {exc.strerror or exc}")
            status = STOPPED
    if not args.quiet:
        print(summary.render(), file=sys.stderr)
    if status == ALL_JUDGED and summary.input_errors:
        if not args.quiet:
            _fail(f"{summary.input_errors} input lines rejected (reported above); every other line has its verdict")
        status = SOME_LINES_REJECTED
    return status


def _write_to_stdout(verify_run: VerifyRun) -> None:
    """Stream verdicts to standard output; a failure to write stops the run like a full OUT would."""
    stdout = sys.stdout.buffer
    with closing(verify_run.records()) as records:  # closing commits the store even when a write fails
        try:
            for verdict in records:
                stdout.write(dumps(verdict))
            stdout.flush()
        except BrokenPipeError:
            raise  # the reader went away (`| head`): not a failure of this run
        except OSError as exc:
            raise RunStopped(
                f"cannot write the verdicts to standard output ({exc.strerror or exc}); the run stopped. "
                "The verdicts judged so far are kept in the verdict store: run again (with -o OUT to resume "
                "a file) and they are taken from it"
            ) from None


COMMAND = Command("verify", "Judge every sample with a verifier; write verdicts as JSONL.", configure, run)
