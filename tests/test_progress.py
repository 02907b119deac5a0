"""Progress on long runs: the total is known up front, and where stderr is not a terminal a plain line with the
count, the percentage and the time left is printed every ASSAY_PROGRESS_EVERY_S seconds."""

from __future__ import annotations

import gzip
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assay.progress import Progress, count_lines


@given(st.lists(st.text(alphabet="ab{}\"", max_size=20), max_size=50), st.booleans(), st.booleans())
def test_count_lines_counts_every_line(lines: list[str], trailing_newline: bool, compressed: bool) -> None:
    import tempfile

    body = "\n".join(lines) + ("\n" if trailing_newline and lines else "")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("s.jsonl.gz" if compressed else "s.jsonl")
        data = body.encode()
        path.write_bytes(gzip.compress(data) if compressed else data)
        assert count_lines(path) == len(body.splitlines())


def test_count_lines_gives_up_on_what_is_not_a_file(tmp_path: Path) -> None:
    assert count_lines(tmp_path) is None
    assert count_lines(tmp_path / "missing.jsonl") is None
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert count_lines(fifo) is None  # reading it would take what the run needs


def test_lines_mode_says_count_percentage_rate_and_time_left(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_PROGRESS_EVERY_S", "0")
    stream = io.StringIO()
    progress = Progress("math", total=400, stream=stream)
    assert progress.mode == "lines"  # a StringIO is not a terminal
    progress.update(100)
    progress.update(100)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert re.fullmatch(r"math: 200 of 400 samples \(50 %\), [\d,]+/s, \d+ s so far, about .+ left", lines[1])


def test_lines_mode_is_quiet_between_intervals(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_PROGRESS_EVERY_S", "3600")
    stream = io.StringIO()
    progress = Progress("math", total=None, stream=stream)
    for _ in range(100):
        progress.update(1)
    assert stream.getvalue() == ""
    assert progress.line().startswith("math: 100 samples, ")


def test_verify_prints_progress_lines_when_stderr_is_a_pipe(
    echo_installed: Path, echo_data: tuple[Path, Path], store_path: Path, tmp_path: Path
) -> None:
    tasks, samples = echo_data
    env = {**os.environ, "ASSAY_PROGRESS_EVERY_S": "0"}
    command = [sys.executable, "-m", "assay", "verify", str(tasks), str(samples), "--verifier", "echo",
               "-o", str(tmp_path / "v.jsonl"), "--jobs", "1"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert re.search(r"echo: [\d,]+ of 200 samples \(\d+ %\)", result.stderr), result.stderr
