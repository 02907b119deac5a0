"""`assay verify` as users run it: a real subprocess, killed with SIGKILL mid-run and resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assay.jsonl import load_jsonl, write_jsonl


def _assay(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "assay", *args], capture_output=True, text=True, check=check)


def _processes_mentioning(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline and int(entry.name) != os.getpid():
                pids.append(int(entry.name))
    return pids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")
def test_resume_after_kill_9_loses_and_repeats_nothing(echo_installed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    tasks = write_jsonl(
        tmp_path / "tasks.jsonl", [{"id": f"t{i}", "reference": {"answer": f"!slow {i}-0"}} for i in range(30)]
    )
    rows = [{"task_id": f"t{i}", "index": j, "text": f"!slow {i}-{j}"} for i in range(30) for j in range(20)]
    samples = write_jsonl(tmp_path / "samples.jsonl", rows)
    out = tmp_path / "verdicts.jsonl"
    store = tmp_path / "store.sqlite"
    command = [
        sys.executable,
        "-m",
        "assay",
        "verify",
        str(tasks),
        str(samples),
        "--verifier",
        "echo",
        "--set",
        "misbehave=true",
        "--set",
        "delay_s=0.02",
        "-o",
        str(out),
        "--store",
        str(store),
        "--jobs",
        "2",
        "-q",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or out.read_bytes().count(b"\n") < 20):
        time.sleep(0.05)
    written_before_kill = out.read_bytes().count(b"\n")
    assert process.poll() is None, "the run ended before it could be killed; make it slower"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 20 <= written_before_kill < 600
    time.sleep(0.5)
    assert _processes_mentioning(str(out)) == [], "a worker outlived the killed run"

    summary_path = tmp_path / "summary.json"
    resumed = subprocess.run([*command, "--summary-json", str(summary_path)], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(summary_path.read_text())
    assert summary["resumed"] >= written_before_kill
    judged_again = summary["samples"] - summary["resumed"] - summary["cached"] - summary["deduplicated"]
    assert judged_again <= 600 - written_before_kill

    verdicts = load_jsonl(out)
    keys = [(v["task_id"], v["sample_index"]) for v in verdicts]
    assert keys == [(r["task_id"], r["index"]) for r in rows], "lost, repeated or reordered verdicts"
    assert [v["passed"] for v in verdicts] == [r["index"] == 0 for r in rows]


def test_cli_reports_bad_settings_and_unknown_verifiers(echo_installed, echo_data) -> None:  # type: ignore[no-untyped-def]
    tasks, samples = echo_data
    bad_value = _assay("verify", str(tasks), str(samples), "-v", "echo", "--set", "time_limit_s=-3")
    assert bad_value.returncode == 2
    assert "time_limit_s" in bad_value.stderr and "greater than 0" in bad_value.stderr
    unknown_key = _assay("verify", str(tasks), str(samples), "-v", "echo", "--set", "colour=blue")
    assert unknown_key.returncode == 2 and "colour" in unknown_key.stderr
    unknown = _assay("verify", str(tasks), str(samples), "-v", "nope")
    assert unknown.returncode == 2 and "unknown verifier 'nope'" in unknown.stderr and "echo" in unknown.stderr
    missing = _assay("verify", "/nonexistent/tasks.jsonl", str(samples), "-v", "echo")
    assert missing.returncode == 2 and "/nonexistent/tasks.jsonl: cannot open" in missing.stderr


def test_cli_streams_to_stdout_and_exits_1_on_bad_lines(echo_installed, echo_data, tmp_path) -> None:  # type: ignore[no-untyped-def]
    tasks, samples = echo_data
    with open(samples, "a") as handle:
        handle.write('{"task_id": "t0", "index": 99}\n')
    result = _assay("verify", str(tasks), str(samples), "-v", "echo", "--store", str(tmp_path / "s.sqlite"), "-j", "1")
    assert result.returncode == 1
    assert f"{samples}:201: field 'text': Field required" in result.stderr
    assert "200 samples" in result.stderr and "pass=50" in result.stderr
    verdicts = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(verdicts) == 200


def test_settings_parse_json_values_and_dotted_keys() -> None:
    from assay.cli.verify import parse_settings

    assert parse_settings(["a=1", "b=true", "c=hello", "d.e=[1,2]", "d.f=2.5", "g="]) == {
        "a": 1,
        "b": True,
        "c": "hello",
        "d": {"e": [1, 2], "f": 2.5},
        "g": "",
    }
    with pytest.raises(ValueError, match="expected key=value"):
        parse_settings(["novalue"])


def test_a_verifier_that_kills_every_worker_ends_with_a_message_not_a_traceback(  # type: ignore[no-untyped-def]
    echo_installed, tmp_path
) -> None:
    tasks, samples = tmp_path / "tasks.jsonl", tmp_path / "samples.jsonl"
    tasks.write_text('{"id": "t", "reference": {"answer": "x"}}\n')
    samples.write_text("".join(f'{{"task_id": "t", "index": {i}, "text": "!crash {i}"}}\n' for i in range(30)))
    result = _assay(
        "verify", str(tasks), str(samples), "--verifier", "echo", "--jobs", "1", "--set", "misbehave=true",
        "--store", str(tmp_path / "store.sqlite"), "-o", str(tmp_path / "out.jsonl"),
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "assay verify:" in result.stderr
