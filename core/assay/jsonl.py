"""Reading and writing JSONL, streamed, with errors that name the file, the line and the field.

Files ending in `.gz` are read and written compressed. Input is read as bytes and decoded line by line, so
one damaged line (invalid UTF-8, broken JSON, a line too long to hold) is reported and the next is read.
"""

from __future__ import annotations

import gzip
import os
import re
import stat
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)

#: The longest input line that is parsed; a longer one is reported as bad and skipped without being held.
MAX_LINE_BYTES = 64 * 1024 * 1024
_BOM = b"\xef\xbb\xbf"
_GZIP_MAGIC = b"\x1f\x8b"
_SKIP_CHUNK = 1024 * 1024


class _LineSource(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...


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
    """A whole input file cannot be read (missing, a directory, not gzip although named `.gz`)."""


def _is_gzip_name(path: Path) -> bool:
    return path.suffix == ".gz"


@contextmanager
def _open_input(path: str | Path) -> Iterator[_LineSource]:
    """Open an input file as bytes, decompressing `.gz`; raises InputFileError naming the file and why."""
    path = Path(path)
    try:
        raw = open(path, "rb")  # noqa: SIM115 (closed below, after the caller is done)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot open: {exc.strerror or exc}") from None
    with raw:
        if not _is_gzip_name(path):
            yield raw
            return
        try:
            head = raw.peek(len(_GZIP_MAGIC))[: len(_GZIP_MAGIC)]  # peek: a pipe cannot be read twice
        except OSError as exc:
            raise InputFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
        if head and head != _GZIP_MAGIC[: len(head)]:
            raise InputFileError(f"{path}: not a gzip file (the name ends in .gz, the content is not compressed)")
        with gzip.GzipFile(filename=str(path), mode="rb", fileobj=raw) as unpacked:
            yield unpacked


def check_input(path: str | Path) -> None:
    """Raise InputFileError unless `path` opens as an input file: checked before anything is created."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise InputFileError(f"{path}: cannot open: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise InputFileError(f"{path}: cannot open: it is a directory, not a JSONL file")
    if stat.S_ISREG(mode):  # a pipe would lose what a check reads from it
        with _open_input(path):
            pass


def open_text(path: str | Path) -> IO[str]:
    """Open a (possibly gzip-compressed) text file for reading."""
    path = Path(path)
    if _is_gzip_name(path):
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def _stream_failure(exc: Exception) -> str:
    if isinstance(exc, EOFError):
        return "the gzip file is truncated (it ends before its end-of-stream marker)"
    if isinstance(exc, gzip.BadGzipFile | zlib.error):
        return f"the gzip data is corrupt or not gzip ({exc})"
    assert isinstance(exc, OSError)
    return f"read error ({exc.strerror or exc})"


_LONE_CR = re.compile(rb"\r(?!\n)")


def _raw_lines(handle: _LineSource, path: str) -> Iterator[tuple[int, bytes | InputError]]:
    """(line number, raw bytes or InputError) for every line. A stream that breaks mid-file (truncated or
    corrupt gzip, an I/O error) ends with one InputError at the line where reading stopped."""
    number = 0
    readline, limit = handle.readline, MAX_LINE_BYTES + 1
    try:
        while True:
            raw = readline(limit)
            if not raw:
                return
            number += 1
            if len(raw) == limit and not raw.endswith(b"\n"):
                while (rest := readline(_SKIP_CHUNK)) and not rest.endswith(b"\n"):
                    pass
                longest = f"{MAX_LINE_BYTES / 2**20:g} MiB"
                yield number, InputError(path, number, None, f"line longer than {longest}; skipped")
                continue
            if raw.find(b"\r", 0, len(raw) - 2) != -1:
                # Lines ended by a lone CR (old Mac, some exporters): each is a line, numbered as an editor shows
                # it. A raw CR cannot be inside a JSON string, so splitting there never cuts a good object.
                parts = _LONE_CR.split(raw)
                for part in parts[:-1]:
                    yield number, part
                    number += 1
                raw = parts[-1]
            yield number, raw
    except (EOFError, OSError, zlib.error) as exc:
        number += 1
        yield number, InputError(path, number, None, f"{_stream_failure(exc)}; reading stopped at this line")


def _json_problem(raw: bytes, exc: orjson.JSONDecodeError) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"not valid UTF-8 (byte {raw[bad.start]:#04x} at byte offset {bad.start})"
    return f"not valid JSON ({exc})"


def read_lines(path: str | Path) -> Iterator[tuple[int, dict[str, Any] | InputError]]:
    """Yield (line number, object or InputError) for every non-blank line; never raises for bad lines.
    A UTF-8 byte-order mark at the start of the file is skipped. Raises InputFileError when the file
    cannot be opened at all."""
    path_str = str(path)
    with _open_input(path) as handle:
        for number, raw in _raw_lines(handle, path_str):
            if isinstance(raw, InputError):
                yield number, raw
                continue
            if number == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                if not raw.strip():
                    continue
                yield number, InputError(path_str, number, None, _json_problem(raw, exc))
                continue
            if not isinstance(obj, dict):
                yield number, InputError(path_str, number, None, f"expected a JSON object, got {type(obj).__name__}")
                continue
            yield number, obj


def _shown(value: Any, width: int = 40) -> str:
    """A value as JSON would write it, cut short: `true` and `"3"` read as what they are, not integers."""
    if isinstance(value, str) and len(value) > width:
        value = value[:width]
    try:
        shown = orjson.dumps(value, default=repr).decode()
    except TypeError:  # an integer beyond 64 bits
        shown = repr(value)
    return shown if len(shown) <= width else shown[: width - 3] + "..."


def validation_error(path: str, line: int, exc: ValidationError) -> InputError:
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    got = "" if first["type"] == "missing" else f", got {_shown(first['input'])}"
    extra = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return InputError(path, line, field, f"{first['msg']}{got}{extra}")


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
