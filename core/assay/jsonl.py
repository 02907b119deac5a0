"""Reading and writing JSONL, streamed, with errors that name the file, the line and the field.

Files ending in `.gz` are read and written compressed.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True)
class InputError:
    """One line of input that could not be used. `str()` is the message a user sees."""

    path: str
    line: int
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}"
        if self.field:
            where += f": field {self.field!r}"
        return f"{where}: {self.message}"


class InputFileError(ValueError):
    """A whole input file cannot be read (missing, not JSONL)."""


def open_text(path: str | Path) -> IO[str]:
    """Open a (possibly gzip-compressed) text file for reading."""
    path = Path(path)
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def read_lines(path: str | Path) -> Iterator[tuple[int, dict[str, Any] | InputError]]:
    """Yield (line number, object or InputError) for every non-blank line; never raises for bad lines."""
    path_str = str(path)
    try:
        handle = open_text(path)
    except OSError as exc:
        raise InputFileError(f"{path_str}: cannot open: {exc.strerror or exc}") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                yield number, InputError(path_str, number, None, f"not valid JSON ({exc})")
                continue
            if not isinstance(obj, dict):
                yield number, InputError(path_str, number, None, f"expected a JSON object, got {type(obj).__name__}")
                continue
            yield number, obj


def validation_error(path: str, line: int, exc: ValidationError) -> InputError:
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    extra = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return InputError(path, line, field, f"{first['msg']}{extra}")


def read_models(path: str | Path, model: type[ModelT]) -> Iterator[tuple[int, ModelT | InputError]]:
    """Like `read_lines`, validating each object with `model`."""
    path_str = str(path)
    for number, obj in read_lines(path):
        if isinstance(obj, InputError):
            yield number, obj
            continue
        try:
            yield number, model.model_validate(obj)
        except ValidationError as exc:
            yield number, validation_error(path_str, number, exc)


def dumps(obj: Any) -> bytes:
    """One JSONL line (with its newline)."""
    return orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE)


def write_jsonl(path: str | Path, rows: Iterable[Any]) -> Path:
    """Write objects (dicts or pydantic models) as JSONL; `.gz` compresses."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as handle:
        for row in rows:
            handle.write(dumps(row.model_dump(mode="json") if isinstance(row, BaseModel) else row))
    return path


def load_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Every object of a small JSONL file; raises ValueError naming the first bad line."""
    rows = []
    for _, obj in read_lines(path):
        if isinstance(obj, InputError):
            raise ValueError(str(obj))
        rows.append(obj)
    return rows
