"""`assay code convert ROWS.jsonl -o tasks.jsonl`: a public data set's rows as tasks of the `code` verifier."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from assay import InputError, InputFileError, dumps, read_lines
from assay.cli import Command
from assay_code.formats import FORMATS, TestFormatError, to_reference

#: Where each data set keeps a problem's id and its statement, in the order they are looked for.
_ID_FIELDS = ("task_id", "id", "problem_id", "question_id", "name")
_PROMPT_FIELDS = ("prompt", "question", "question_content", "content", "problem", "description", "text")


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="code_action", metavar="ACTION", required=True)
    convert = actions.add_parser(
        "convert",
        help="convert rows of a public code data set (or a harness's tests) into assay tasks",
        description="Read JSONL rows in any format of assay_code.formats (verl/PRIME inputs+outputs, APPS/TACO "
        "input_output, CodeContests, LiveCodeBench, HumanEval, MBPP, SandboxFusion) and write one assay task "
        "per row: id, prompt and a `code` reference. A verl row's tests are read from reward_model.ground_truth. "
        "Rows that cannot be read are reported with their line and field, and the exit status is 1.",
    )
    convert.add_argument("rows", help="JSONL rows (.gz is fine), or a .parquet file (with pyarrow)")
    convert.add_argument("-o", "--out", default="-", help="tasks JSONL to write (default: stdout)")
    convert.add_argument("--format", choices=FORMATS, default=None, help="the rows' format (default: detected)")
    convert.add_argument(
        "--language", choices=("python", "cpp"), default="python", help="stdin/stdout programs' language"
    )
    convert.set_defaults(_code_run=run_convert)


def run(args: argparse.Namespace) -> int:
    status: int = args._code_run(args)
    return status


def task_of(row: Mapping[str, Any], line: int, *, fmt: str | None = None, language: str = "python") -> dict[str, Any]:
    """One row as an assay task (raises TestFormatError naming the field); a row without an id of its own
    is named by its line (`line-7`)."""
    reward_model = row.get("reward_model")
    if isinstance(reward_model, Mapping) and "ground_truth" in reward_model:  # a verl data set's row
        try:
            reference = to_reference(reward_model["ground_truth"], fmt=fmt, language=language)
        except TestFormatError as exc:
            raise exc.within("reward_model.ground_truth.") from None
    else:
        reference = to_reference(row, fmt=fmt, language=language)
    task_id = next((str(row[name]) for name in _ID_FIELDS if row.get(name) not in (None, "")), f"line-{line}")
    return {"id": task_id, "prompt": _prompt(row), "reference": reference}


def _prompt(row: Mapping[str, Any]) -> str:
    for name in _PROMPT_FIELDS:
        value = row.get(name)
        if isinstance(value, str):
            return value
        if isinstance(value, list):  # a chat prompt (verl): the last user message
            users = [m.get("content") for m in value if isinstance(m, Mapping) and m.get("role", "user") == "user"]
            if users and isinstance(users[-1], str):
                return users[-1]
    return ""


def _rows(path: str) -> Iterator[tuple[int, dict[str, Any] | InputError]]:
    """(line or row number, row) of a JSONL file, or of a Parquet file (what verl's and Hugging Face's data
    sets ship as; read with pyarrow, `pip install pyarrow`)."""
    if not path.endswith(".parquet"):
        yield from read_lines(path)
        return
    try:
        import pyarrow.parquet as parquet  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        raise InputFileError(f"{path}: reading Parquet needs pyarrow (pip install pyarrow)") from None
    try:
        source = parquet.ParquetFile(path)
    except (OSError, ValueError) as exc:
        raise InputFileError(f"{path}: cannot read as Parquet: {exc}") from None
    number = 0
    for batch in source.iter_batches(batch_size=256):
        for row in batch.to_pylist():
            number += 1
            yield number, row


def _converted(path: str, fmt: str | None, language: str, errors: list[str]) -> Iterator[dict[str, Any]]:
    for line, row in _rows(path):
        if isinstance(row, InputError):
            errors.append(str(row))
            continue
        try:
            yield task_of(row, line, fmt=fmt, language=language)
        except TestFormatError as exc:
            errors.append(str(InputError(path, line, exc.field or None, exc.message)))


def run_convert(args: argparse.Namespace) -> int:
    errors: list[str] = []
    written = 0
    try:
        out = sys.stdout.buffer if args.out == "-" else open(args.out, "wb")  # noqa: SIM115 - closed below
        try:
            for task in _converted(args.rows, args.format, args.language, errors):
                out.write(dumps(task))
                written += 1
        finally:
            if out is not sys.stdout.buffer:
                out.close()
    except InputFileError as exc:
        print(f"assay code convert: {exc}", file=sys.stderr)
        return 2
    for error in errors:
        print(f"assay code convert: {error}", file=sys.stderr)
    print(f"assay code convert: {written} tasks written, {len(errors)} rows not converted", file=sys.stderr)
    return 1 if errors else 0


COMMAND = Command(
    name="code", help="tools of the code verifier: convert data sets' tests", configure=configure, run=run
)
