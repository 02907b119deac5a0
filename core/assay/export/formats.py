"""The rows each training library reads, and the writers that stream them to disk.

- `messages` (TRL SFT, conversational): `{"messages": [{"role": "user", ...}, {"role": "assistant", ...}]}`
- `prompt-completion` (TRL SFT, prompt-completion): `{"prompt", "completion"}`
- `dpo` (TRL DPO, preference): `{"prompt", "chosen", "rejected"}`
- `reward` (unpaired preference, as TRL's KTO reads it, plus the score): `{"prompt", "completion",
  "label", "score"}`
- `tasks` (assay tasks JSONL, to sample again), `verl` (verl's RL parquet: `data_source`, `prompt` as chat
  messages, `ability`, `reward_model.{style, ground_truth}`, `extra_info`)

Every JSONL row also carries `task_id` and the sample index(es) it came from; the trainers ignore them.
With `conversational`, prompts and completions are chat messages instead of plain strings.
"""

from __future__ import annotations

import gzip
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Protocol

import orjson

from assay.export.index import Candidate, Problem

#: Rows per parquet row group: bounded memory, and big enough groups for fast reading.
PARQUET_ROWS = 4096


def _user(prompt: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}]


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def sft_messages_row(problem: Problem, sample: Candidate) -> dict[str, Any]:
    return {
        "messages": _user(problem.task.prompt) + _assistant(sample.text),
        "task_id": problem.task.id,
        "sample_index": sample.index,
    }


def sft_prompt_completion_row(problem: Problem, sample: Candidate, *, conversational: bool) -> dict[str, Any]:
    prompt: Any = _user(problem.task.prompt) if conversational else problem.task.prompt
    completion: Any = _assistant(sample.text) if conversational else sample.text
    return {"prompt": prompt, "completion": completion, "task_id": problem.task.id, "sample_index": sample.index}


def dpo_row(
    problem: Problem, chosen: Candidate, rejected: Candidate, *, hard: bool, conversational: bool
) -> dict[str, Any]:
    wrap = _assistant if conversational else (lambda text: text)
    return {
        "prompt": _user(problem.task.prompt) if conversational else problem.task.prompt,
        "chosen": wrap(chosen.text),
        "rejected": wrap(rejected.text),
        "task_id": problem.task.id,
        "chosen_index": chosen.index,
        "rejected_index": rejected.index,
        "hard_negative": hard,
    }


def reward_row(problem: Problem, sample: Candidate, *, conversational: bool) -> dict[str, Any]:
    row = sft_prompt_completion_row(problem, sample, conversational=conversational)
    score = sample.score if sample.score is not None else float(bool(sample.passed))
    return {**row, "label": bool(sample.passed), "score": score}


def ground_truth(problem: Problem) -> str:
    """The reference as verl carries it: the bare answer when the reference is only `{"answer": scalar}`,
    else the whole reference as a JSON object (assay's verl reward function reads both back)."""
    reference = problem.task.reference
    answer = reference.get("answer")
    if set(reference) == {"answer"} and isinstance(answer, str | int | float) and not isinstance(answer, bool):
        return str(answer)
    return orjson.dumps(reference, option=orjson.OPT_SORT_KEYS).decode()


def verl_row(
    problem: Problem, number: int, *, data_source: str, ability: str, verifier: str | None, split: str
) -> dict[str, Any]:
    extra: dict[str, Any] = {"split": split, "index": number, "task_id": problem.task.id}
    extra["assay_verifier"] = verifier
    return {
        "data_source": data_source,
        "prompt": _user(problem.task.prompt),
        "ability": ability,
        "reward_model": {"style": "rule", "ground_truth": ground_truth(problem)},
        "extra_info": extra,
    }


def task_row(problem: Problem) -> dict[str, Any]:
    return problem.task.model_dump(mode="json")


# -- writers ------------------------------------------------------------------------------------------------


class RowWriter(Protocol):
    def write(self, row: dict[str, Any]) -> None: ...


class _JsonlWriter:
    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle

    def write(self, row: dict[str, Any]) -> None:
        self._handle.write(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE))


def _verl_schema() -> Any:
    import pyarrow as pa

    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    extra = pa.struct(
        [("split", pa.string()), ("index", pa.int64()), ("task_id", pa.string()), ("assay_verifier", pa.string())]
    )
    return pa.schema(
        [
            ("data_source", pa.string()),
            ("prompt", pa.list_(message)),
            ("ability", pa.string()),
            ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
            ("extra_info", extra),
        ]
    )


class _ParquetWriter:
    """Rows buffered into row groups of `PARQUET_ROWS`, so memory stays flat however many rows come."""

    def __init__(self, path: Path) -> None:
        import pyarrow.parquet as pq

        self._schema = _verl_schema()
        self._writer = pq.ParquetWriter(str(path), self._schema)
        self._rows: list[dict[str, Any]] = []

    def write(self, row: dict[str, Any]) -> None:
        self._rows.append(row)
        if len(self._rows) >= PARQUET_ROWS:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa

        if self._rows:
            self._writer.write_table(pa.Table.from_pylist(self._rows, schema=self._schema))
            self._rows.clear()

    def close(self) -> None:
        self.flush()
        self._writer.close()


def parquet_missing() -> str | None:
    """Why parquet cannot be written here, or None."""
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return "writing parquet needs pyarrow: pip install 'assay[export]'"
    return None


@contextmanager
def open_writer(out: str | Path | None, *, parquet: bool) -> Iterator[RowWriter]:
    """A writer to `out` (None or "-": standard output, JSONL only). A file is written under a temporary
    name and renamed when complete, so an interrupted export never leaves a half file under the real name."""
    if out is None or str(out) == "-":
        if parquet:
            raise ValueError("parquet cannot go to standard output: name a file with -o")
        yield _JsonlWriter(sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    path = Path(out)
    partial = path.with_name(path.name + ".partial")
    try:
        if parquet:
            writer = _ParquetWriter(partial)
            yield writer
            writer.close()
        else:
            opener: Any = gzip.open if path.suffix == ".gz" else open
            with opener(partial, "wb") as handle:
                yield _JsonlWriter(handle)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
