"""Reading JSONL as users' files come: bytes decoded line by line, gzip cut short or not gzip at all."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from assay import jsonl
from assay.jsonl import InputError, InputFileError, check_input, read_lines


def _good(i: int) -> bytes:
    return b'{"task_id": "t", "index": %d, "text": "x"}\n' % i


def _read(path: Path) -> list[tuple[int, object]]:
    return list(read_lines(path))


def test_a_line_of_invalid_utf8_is_reported_and_the_lines_around_it_are_read(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(_good(0) + b'{"task_id": "t", "index": 1, "text": "caf\xe9"}\n' + _good(2))
    rows = _read(path)
    assert [line for line, _ in rows] == [1, 2, 3]
    assert isinstance(rows[0][1], dict) and isinstance(rows[2][1], dict)
    error = rows[1][1]
    assert isinstance(error, InputError)
    assert str(error).startswith(f"{path}:2: not valid UTF-8 (byte 0xe9 at byte offset ")


def test_a_byte_order_mark_is_not_a_bad_line_and_crlf_and_blank_lines_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + _good(0).replace(b"\n", b"\r\n") + b"\r\n  \n" + _good(1))
    assert [(line, obj["index"]) for line, obj in _read(path) if isinstance(obj, dict)] == [(1, 0), (4, 1)]
    assert all(isinstance(obj, dict) for _, obj in _read(path))
    mid_file = tmp_path / "mid.jsonl"  # a byte-order mark is one only at the start of the file
    mid_file.write_bytes(_good(0) + b"\xef\xbb\xbf" + _good(1))
    assert isinstance(_read(mid_file)[1][1], InputError)


def test_a_truncated_gzip_yields_every_line_before_the_cut_then_names_the_line_it_stopped_at(tmp_path: Path) -> None:
    whole = gzip.compress(b"".join(_good(i) for i in range(20_000)))
    path = tmp_path / "s.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    rows = _read(path)
    *good, (last_line, last) = rows
    assert 1000 < len(good) < 20_000
    assert [obj["index"] for _, obj in good] == list(range(len(good)))  # type: ignore[index]
    assert isinstance(last, InputError) and last_line == len(good) + 1
    assert str(last) == (
        f"{path}:{last_line}: the gzip file is truncated (it ends before its end-of-stream marker); "
        "reading stopped at this line"
    )


def test_corrupt_gzip_data_is_reported_not_raised(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(b"".join(_good(i) for i in range(5000))))
    data[len(data) // 2] ^= 0xFF
    path = tmp_path / "s.jsonl.gz"
    path.write_bytes(bytes(data))
    *_, (_, last) = _read(path)
    assert isinstance(last, InputError) and "the gzip data is corrupt" in last.message


def test_a_gz_file_that_is_not_gzip_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl.gz"
    path.write_bytes(_good(0))
    with pytest.raises(InputFileError, match=r"s\.jsonl\.gz: not a gzip file"):
        check_input(path)
    with pytest.raises(InputFileError, match="not a gzip file"):
        _read(path)
    empty = tmp_path / "empty.jsonl.gz"
    empty.write_bytes(b"")
    assert _read(empty) == []


def test_a_directory_or_a_missing_file_is_refused_before_reading(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="it is a directory"):
        check_input(tmp_path)
    with pytest.raises(InputFileError, match="cannot open: No such file"):
        check_input(tmp_path / "nope.jsonl")


def test_a_line_longer_than_the_limit_is_skipped_without_being_held(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    huge = b'{"task_id": "t", "index": 1, "text": "' + b"a" * (jsonl.MAX_LINE_BYTES + 10) + b'"}\n'
    path.write_bytes(_good(0) + huge + _good(2))
    rows = _read(path)
    os.unlink(path)
    assert [line for line, _ in rows] == [1, 2, 3]
    assert isinstance(rows[1][1], InputError)
    assert str(rows[1][1]) == f"{path}:2: line longer than 64 MiB; skipped"
    assert isinstance(rows[2][1], dict) and rows[2][1]["index"] == 2


def test_a_long_last_line_without_a_newline_is_skipped_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonl, "MAX_LINE_BYTES", 100)
    path = tmp_path / "s.jsonl"
    path.write_bytes(_good(0) + b"x" * 101 + b"\n" + _good(2) + b"y" * 5000)
    rows = _read(path)
    assert [(line, type(obj).__name__) for line, obj in rows] == [
        (1, "dict"),
        (2, "InputError"),
        (3, "dict"),
        (4, "InputError"),
    ]
    exactly = tmp_path / "exact.jsonl"  # a line of exactly the limit (its newline not counted) is read
    exactly.write_bytes(b'{"a": "' + b"z" * 91 + b'"}\n')
    assert len(exactly.read_bytes()) == 101 and isinstance(_read(exactly)[0][1], dict)


@pytest.mark.parametrize("ending", [b"\r", b"\n", b"\r\n"])
def test_any_line_ending_gives_every_line_its_own_number(tmp_path: Path, ending: bytes) -> None:
    path = tmp_path / "samples.jsonl"
    lines = [_good(0), _good(1), b"{broken", b"", _good(4)]
    path.write_bytes(ending.join(line.rstrip(b"\n") for line in lines) + ending)
    read = _read(path)
    assert [number for number, _ in read] == [1, 2, 3, 5]
    assert isinstance(read[2][1], InputError) and read[2][1].line == 3
    assert [obj for _, obj in read if not isinstance(obj, InputError)] == [
        obj for _, obj in _read_good(tmp_path, [0, 1, 4])
    ]


def _read_good(folder: Path, indexes: list[int]) -> list[tuple[int, object]]:
    path = folder / "expected.jsonl"
    path.write_bytes(b"".join(_good(i) for i in indexes))
    return _read(path)
