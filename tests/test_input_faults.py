"""Bad input never costs a good line its verdict: `assay verify` as users run it, on damaged files.

Every good line gets exactly one verdict, every bad line is reported once as FILE:LINE, nothing raises,
and the exit status says which of "all judged", "some lines rejected", "could not run", "stopped" it was.
"""

from __future__ import annotations

import gzip
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay import jsonl
from assay.engine import RunStopped, VerifyRun
from assay.jsonl import InputError, load_jsonl, write_jsonl

TASKS = [{"id": f"t{i}", "reference": {"answer": str(i)}} for i in range(6)]


def _assay(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "assay", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def _good_row(n: int) -> dict[str, Any]:
    return {"task_id": f"t{n % 6}", "index": n, "text": str(n % 6) if n % 3 == 0 else f"no {n}"}


def _line(row: object) -> bytes:
    return orjson.dumps(row) + b"\n"


def _reported_lines(stderr: str, path: Path) -> list[int]:
    return [int(n) for n in re.findall(rf"^assay: {re.escape(str(path))}:(\d+): ", stderr, flags=re.MULTILINE)]


@pytest.fixture
def tasks(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "tasks.jsonl", TASKS)


def test_60_good_lines_among_bad_ones_give_60_verdicts_and_every_bad_line_is_named(
    echo_installed: Path, tasks: Path, tmp_path: Path
) -> None:
    bad_lines = [
        b'{"task_id": "t1", "index": 900, "text": "caf\xe9"}\n',  # invalid UTF-8
        b'{"task_id": "t1", "index": 901, "text": "\xed\xa0\x80"}\n',  # an encoded surrogate is not UTF-8
        b'{"task_id": "t1", "index": 902, "text": \n',  # broken JSON
        _line({"task_id": "t1", "index": True, "text": "1"}),  # a boolean is not an integer
        _line({"task_id": "t1", "index": "3", "text": "1"}),
        _line({"task_id": "t1", "index": 3.0, "text": "1"}),
        _line({"task_id": "t1", "index": -1, "text": "1"}),
        _line({"task_id": "t1", "index": 2**63, "text": "1"}),
        _line({"task_id": "t1", "index": 5}),  # no text
        _line({"task_id": 1, "index": 5, "text": "1"}),
        _line({"task_id": "t2", "index": 2, "text": "a different text for a key already used"}),
        _line({"task_id": "t2", "index": 2, "text": "no 2"}),  # the same line again: one key, one verdict
        b"[1, 2, 3]\n",
        b"\x00\x01\x02\xff\xfe\n",
    ]
    good = [_good_row(n) for n in range(60)]
    content, bad_numbers, line = [b"\xef\xbb\xbf"], [], 0  # a byte-order mark first: not a bad line
    for n, row in enumerate(good):
        content.append(_line(row))
        line += 1
        if n >= 3 and n - 3 < len(bad_lines):  # bad lines after the keys they repeat
            content.append(bad_lines[n - 3])
            line += 1
            bad_numbers.append(line)
    samples = tmp_path / "samples.jsonl"
    samples.write_bytes(b"".join(content))
    out = tmp_path / "verdicts.jsonl"

    result = _assay("verify", tasks, samples, "-v", "echo", "-o", out, "--store", tmp_path / "s.sqlite", "-j", "1")

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    verdicts = load_jsonl(out)
    assert [(v["task_id"], v["sample_index"]) for v in verdicts] == [(r["task_id"], r["index"]) for r in good]
    assert [v["passed"] for v in verdicts] == [r["index"] % 3 == 0 for r in good]
    assert _reported_lines(result.stderr, samples) == bad_numbers
    assert f"{len(bad_lines)} input lines rejected" in result.stderr
    assert f"{samples}:{bad_numbers[0]}: not valid UTF-8 (byte 0xe9" in result.stderr
    assert f"{samples}:{bad_numbers[3]}: field 'index': Input should be a valid integer, got true" in result.stderr
    assert f"{samples}:{bad_numbers[4]}: field 'index': Input should be a valid integer, got \"3\"" in result.stderr
    assert f"{samples}:{bad_numbers[10]}: field 'index': task 't2' already has a sample with index 2" in result.stderr


def test_a_truncated_gzip_keeps_the_verdicts_before_the_cut_and_says_where_it_stopped(
    echo_installed: Path, tasks: Path, tmp_path: Path
) -> None:
    rows = [_good_row(n) for n in range(30_000)]
    whole = gzip.compress(b"".join(_line(r) for r in rows))
    samples = tmp_path / "samples.jsonl.gz"
    samples.write_bytes(whole[: len(whole) * 2 // 3])
    out = tmp_path / "verdicts.jsonl"

    result = _assay("verify", tasks, samples, "-v", "echo", "-o", out, "--store", tmp_path / "s.sqlite", "-j", "0")

    assert result.returncode == 1 and "Traceback" not in result.stderr
    verdicts = load_jsonl(out)
    assert 1000 < len(verdicts) < len(rows)
    assert [v["sample_index"] for v in verdicts] == list(range(len(verdicts)))
    stopped_at = len(verdicts) + 1
    assert f"{samples}:{stopped_at}: the gzip file is truncated" in result.stderr
    assert "reading stopped at this line" in result.stderr


@pytest.mark.parametrize("problem", ["directory", "not_gzip", "missing"])
def test_an_unusable_samples_file_is_refused_before_anything_is_created(
    echo_installed: Path, tasks: Path, tmp_path: Path, problem: str
) -> None:
    if problem == "directory":
        samples = tmp_path / "samples"
        samples.mkdir()
        expected = "cannot open: it is a directory"
    elif problem == "not_gzip":
        samples = tmp_path / "samples.jsonl.gz"
        samples.write_bytes(_line(_good_row(0)))
        expected = "not a gzip file"
    else:
        samples = tmp_path / "nope.jsonl"
        expected = "cannot open: No such file"
    out, store = tmp_path / "out" / "verdicts.jsonl", tmp_path / "cache" / "s.sqlite"

    result = _assay("verify", tasks, samples, "-v", "echo", "-o", out, "--store", store)

    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"assay verify: {samples}: {expected}" in result.stderr
    assert not out.parent.exists() and not store.parent.exists()


def test_an_unusable_output_is_refused_before_anything_is_created(
    echo_installed: Path, tasks: Path, tmp_path: Path
) -> None:
    samples = write_jsonl(tmp_path / "samples.jsonl", [_good_row(n) for n in range(5)])
    before = samples.read_bytes()
    store = tmp_path / "cache" / "s.sqlite"
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for out, expected in [
        (tmp_path, "is a directory"),
        (samples, "is an input file of this run"),
        (blocker / "verdicts.jsonl", "is a file, not a folder"),
        (tmp_path / "v.jsonl.gz", "write verdicts as plain JSONL"),
    ]:
        result = _assay("verify", tasks, samples, "-v", "echo", "-o", out, "--store", store, "--overwrite")
        assert result.returncode == 2, result.stderr
        assert expected in result.stderr and "Traceback" not in result.stderr
    mistaken = _assay("verify", tasks, samples, "-v", "echo", "-o", tmp_path / "v.jsonl", "--store", samples)
    assert mistaken.returncode == 2 and "the verdict store cannot be an input" in mistaken.stderr
    assert samples.read_bytes() == before and not (tmp_path / "v.jsonl").exists()
    assert not store.parent.exists()


def test_exit_statuses_tell_all_judged_from_lines_rejected_from_stopped(
    echo_installed: Path, tasks: Path, tmp_path: Path
) -> None:
    rows = [_line(_good_row(n)) for n in range(40)]
    clean = tmp_path / "clean.jsonl"
    clean.write_bytes(b"".join(rows))
    dirty = tmp_path / "dirty.jsonl"
    dirty.write_bytes(b"".join([*rows[:10], b"{\n", *rows[10:20], b"{\n", b"{\n", *rows[20:]]))
    store = tmp_path / "s.sqlite"
    outs: list[Path] = []

    def verify(samples: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        outs.append(tmp_path / f"out-{len(outs)}.jsonl")
        out = outs[-1]
        return _assay("verify", tasks, samples, "-v", "echo", "-o", out, "--store", store, "-j", "0", *extra)

    assert verify(clean).returncode == 0
    assert verify(dirty).returncode == 1
    assert verify(dirty, "--max-bad-lines", "3").returncode == 1
    stopped = verify(dirty, "--max-bad-lines", "1")
    assert stopped.returncode == 3 and "Traceback" not in stopped.stderr
    assert f"stopped at {dirty}:22: more than 1 bad input lines" in stopped.stderr
    assert len(load_jsonl(outs[-1])) <= 20
    strict = verify(dirty, "--max-bad-lines", "0", "-q")
    assert strict.returncode == 3 and f"stopped at {dirty}:11" in strict.stderr


def test_verify_help_and_the_readme_document_the_same_exit_statuses(echo_installed: Path) -> None:
    from assay.cli import verify

    statuses = [verify.ALL_JUDGED, verify.SOME_LINES_REJECTED, verify.COULD_NOT_RUN, verify.STOPPED, verify.INTERRUPTED]
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## When things go wrong", 1)[1].split("\n## ", 1)[0]
    result = _assay("verify", "--help")
    assert result.returncode == 0
    for status in statuses:
        assert f"\n  {status} " in result.stdout
        assert f"\n| {status} | " in section
    assert "--max-bad-lines N" in result.stdout and "--no-store" in result.stdout


@pytest.mark.parametrize(
    ("index", "accepted"),
    [(0, True), (7, True), (2**63 - 1, True), (True, False), (False, False), ("3", False), (3.0, False),
     (-1, False), (2**63, False), (None, False), ([1], False)],
)  # fmt: skip
def test_which_indexes_are_accepted(
    echo_installed: Path, tasks: Path, tmp_path: Path, index: object, accepted: bool
) -> None:
    samples = tmp_path / "samples.jsonl"
    samples.write_bytes(_line({"task_id": "t0", "index": index, "text": "0"}))
    errors: list[InputError] = []
    run = VerifyRun(tasks, samples, "echo", jobs=0, use_store=False, progress=False, on_input_error=errors.append)
    verdicts = list(run.records())
    assert len(verdicts) == int(accepted) and len(errors) == int(not accepted)
    if accepted:
        assert verdicts[0]["sample_index"] == index and verdicts[0]["passed"] is True
    else:
        assert errors[0].field == "index" and errors[0].line == 1


# -- the property: whatever surrounds them, good lines get exactly one verdict and bad ones one report each --

_ROW_LIMIT = 2000  # lines are limited to this many bytes in the property test, so that huge lines stay cheap

_texts = st.text(max_size=40)
_good_rows = st.lists(st.tuples(st.integers(0, 5), _texts), max_size=25)

_wrong_types = st.one_of(
    st.fixed_dictionaries({"task_id": st.just("t1"), "text": _texts}).flatmap(
        lambda row: st.one_of(st.booleans(), st.text(max_size=5), st.floats(), st.integers(max_value=-1),
                              st.none(), st.lists(st.integers(), max_size=2)).map(lambda index: {**row, "index": index})
    ),
    st.fixed_dictionaries({"task_id": st.one_of(st.integers(), st.none(), st.just("")), "index": st.just(1),
                           "text": _texts}),
    st.fixed_dictionaries({"task_id": st.just("t1"), "index": st.just(1),
                           "text": st.one_of(st.integers(), st.none(), st.lists(st.text(), max_size=2))}),
    st.one_of(st.integers(), st.text(), st.lists(st.integers(), max_size=3), st.none()),
).map(lambda value: json.dumps(value).encode())  # json, not orjson: integers beyond 64 bits too  # fmt: skip


_TEXT_AT = b'{"task_id": "t1", "index": 5, "text": "'
_TO_CUT = b'{"task_id": "t1", "index": 3, "text": "some text here", "x": 1}'


def _not_blank_nor_object(raw: bytes) -> bool:
    stripped = raw.lstrip(b" \t\r\x0b\x0c\xef\xbb\xbf")
    return bool(raw.strip()) and not stripped.startswith(b"{")


def _one_line(raw: bytes) -> bytes:
    """Bytes that stay one line: no LF, and no CR (a lone CR ends a line too: tests/test_jsonl.py)."""
    return raw.replace(b"\n", b"").replace(b"\r", b"")


_bad_lines = st.one_of(
    st.binary(min_size=1, max_size=60).map(_one_line).filter(_not_blank_nor_object),
    st.binary(max_size=30).map(lambda b: _TEXT_AT + b"\xff" + _one_line(b) + b'"}'),
    st.integers(1, len(_TO_CUT) - 1).map(lambda cut: _TO_CUT[:cut]),  # any proper prefix of an object is broken
    _wrong_types,
    st.integers(_ROW_LIMIT + 1, 3 * _ROW_LIMIT).map(lambda n: _TEXT_AT + b"a" * n + b'"}'),  # too long
    st.just(b"DUPLICATE"),  # replaced below by an earlier good line's key with another text
)  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    good=_good_rows,
    bad=st.lists(st.tuples(st.integers(0, 30), _bad_lines), max_size=12),
    bom=st.booleans(),
    crlf=st.booleans(),
    compressed=st.booleans(),
)
def test_property_bad_lines_never_cost_a_good_line_its_verdict(  # type: ignore[no-untyped-def]
    echo_installed, tmp_path_factory, monkeypatch, good, bad, bom, crlf, compressed
) -> None:
    monkeypatch.setattr(jsonl, "MAX_LINE_BYTES", _ROW_LIMIT)
    folder = tmp_path_factory.mktemp("prop")
    tasks = write_jsonl(folder / "tasks.jsonl", TASKS)
    lines: list[tuple[bytes, dict[str, Any] | None]] = []  # (raw line, the good row or None for a bad line)
    for n, (task, text) in enumerate(good):
        lines.append((_line({"task_id": f"t{task}", "index": n, "text": text})[:-1], {"task": task, "index": n}))
    for position, raw in bad:
        if raw == b"DUPLICATE":
            earlier = [row for _, row in lines[:position] if row is not None]
            if not earlier:
                continue
            raw = _line({"task_id": f"t{earlier[0]['task']}", "index": earlier[0]["index"], "text": "other"})[:-1]
        lines.insert(min(position, len(lines)), (raw, None))
    newline = b"\r\n" if crlf else b"\n"
    content = (b"\xef\xbb\xbf" if bom else b"") + b"".join(raw + newline for raw, _ in lines)
    samples = folder / ("samples.jsonl.gz" if compressed else "samples.jsonl")
    samples.write_bytes(gzip.compress(content) if compressed else content)

    errors: list[InputError] = []
    run = VerifyRun(tasks, samples, "echo", jobs=0, use_store=False, progress=False, on_input_error=errors.append)
    verdicts = list(run.records())

    expected = [(f"t{row['task']}", row["index"]) for _, row in lines if row is not None]
    assert [(v["task_id"], v["sample_index"]) for v in verdicts] == expected
    bad_numbers = [number for number, (_, row) in enumerate(lines, start=1) if row is None]
    assert sorted(error.line for error in errors) == bad_numbers
    assert all(error.path == str(samples) for error in errors)
    assert run.summary.input_errors == len(bad_numbers)


def test_the_python_api_stops_with_run_stopped_past_max_bad_lines(
    echo_installed: Path, tasks: Path, tmp_path: Path
) -> None:
    samples = tmp_path / "samples.jsonl"
    samples.write_bytes(b"".join([_line(_good_row(0)), b"oops\n", b"oops\n", _line(_good_row(1))]))
    run = VerifyRun(tasks, samples, "echo", jobs=0, use_store=False, progress=False, max_bad_lines=1,
                    on_input_error=lambda error: None)  # fmt: skip
    with pytest.raises(RunStopped, match=r"samples\.jsonl:3: more than 1 bad input lines"):
        list(run.records())
    summary = json.loads(json.dumps(run.summary.to_json()))  # the summary is still there to print
    assert summary["input_errors"] == 2 and "more than 1 bad input lines" in summary["stopped"]


def test_ctrl_c_says_how_to_resume_and_the_same_command_does(echo_installed: Path, tmp_path: Path) -> None:
    tasks = write_jsonl(tmp_path / "tasks.jsonl", [{"id": "t", "reference": {"answer": "!slow 0"}}])
    rows = [{"task_id": "t", "index": n, "text": f"!slow {n}"} for n in range(400)]
    samples = write_jsonl(tmp_path / "samples.jsonl", rows)
    out = tmp_path / "verdicts.jsonl"
    store = tmp_path / "s.sqlite"
    command = [sys.executable, "-m", "assay", "verify", str(tasks), str(samples), "-v", "echo", "-o", str(out),
               "--store", str(store), "-j", "0", "--set", "misbehave=true", "--set", "delay_s=0.01"]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or out.stat().st_size == 0):
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be interrupted; make it slower"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in stderr
    assert "interrupted; run the same command again to resume" in stderr
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert [v["sample_index"] for v in load_jsonl(out)] == list(range(400))
