"""The verdict store is a cache and a resume log: a broken one never costs a verdict, and never stops a run.

Real files throughout: random bytes, a truncated database, a folder that is a file, a folder the user may
not write (a forked process that drops to `nobody`), and full filesystems (small tmpfs mounts, where this
machine allows them; the tests skip with the reason where it does not).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from assay.engine import VerifyRun
from assay.jsonl import load_jsonl, write_jsonl
from assay.store import VerdictStore

NOBODY = 65534
#: A verdict body as the host caches it (the store reads back only rows that are verdicts).
PASS = {"verifier": "v@1", "status": "pass", "passed": True}


def _command(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "assay", *map(str, args)]


def _assay(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_command(*args), capture_output=True, text=True, timeout=300)


def _inputs(folder: Path, samples: int, text_bytes: int = 10) -> tuple[Path, Path, list[tuple[str, int]]]:
    tasks = write_jsonl(folder / "tasks.jsonl", [{"id": f"t{i}", "reference": {"answer": str(i)}} for i in range(10)])
    rows = [{"task_id": f"t{n % 10}", "index": n, "text": f"{n}".rjust(text_bytes, "x")} for n in range(samples)]
    return tasks, write_jsonl(folder / "samples.jsonl", rows), [(r["task_id"], r["index"]) for r in rows]


def _keys(out: Path) -> list[tuple[str, int]]:
    return [(v["task_id"], v["sample_index"]) for v in load_jsonl(out)]


def _store_warnings(stderr: str, store: Path) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(f"assay: verdict store {store}")]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """`small_disk("1m")`: a fresh tmpfs of that size, unmounted after the test."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        point = tmp_path / f"disk-{len(mounted)}"
        point.mkdir()
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0777", "tmpfs", str(point)],
            capture_output=True,
            text=True,
        )
        if result.returncode:
            pytest.skip(f"cannot mount a small tmpfs here ({result.stderr.strip() or result.returncode})")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)


def _fill(disk: Path) -> None:
    """Take every free byte of a filesystem."""
    with open(disk / "filler", "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass


@pytest.mark.parametrize("damage", ["random_bytes", "truncated"])
def test_a_damaged_store_is_moved_aside_and_a_fresh_one_started(
    echo_installed: Path, tmp_path: Path, damage: str
) -> None:
    tasks, samples, keys = _inputs(tmp_path, 3000)
    store = tmp_path / "cache" / "verdicts.sqlite"
    if damage == "random_bytes":
        store.parent.mkdir()
        store.write_bytes(os.urandom(100_000))
    else:  # a real store of many verdicts, cut in half as a full disk or a bad copy would
        first = _assay("verify", tasks, samples, "-v", "echo", "--store", store, "-j", "0", "--set", "casefold=true")
        assert first.returncode == 0, first.stderr
        with VerdictStore(store) as opened:
            assert opened.count() == 3000
        size = store.stat().st_size
        assert size > 100_000 and not Path(f"{store}-wal").exists()
        with open(store, "r+b") as handle:
            handle.truncate(size // 2)
    damaged = store.read_bytes()
    out = tmp_path / "verdicts.jsonl"

    result = _assay("verify", tasks, samples, "-v", "echo", "-o", out, "--store", store, "-j", "1")

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert _keys(out) == keys
    warnings = _store_warnings(result.stderr, store)
    assert len(warnings) == 1 and "the file is damaged" in warnings[0] and "started a fresh one" in warnings[0]
    aside = [p for p in store.parent.iterdir() if p.name.startswith("verdicts.sqlite.corrupt-")]
    assert len(aside) == 1 and aside[0].read_bytes() == damaged
    assert str(aside[0]) in warnings[0]
    summary = tmp_path / "s.json"
    again = _assay("verify", tasks, samples, "-v", "echo", "--store", store, "-j", "0", "--summary-json", summary)
    assert again.returncode == 0 and _store_warnings(again.stderr, store) == []
    assert orjson.loads(summary.read_bytes())["cached"] == 3000  # the fresh store kept them all


def test_a_store_whose_folder_is_a_file_is_reported_once_and_the_run_goes_on(
    echo_installed: Path, tmp_path: Path
) -> None:
    tasks, samples, keys = _inputs(tmp_path, 500)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file")
    store = blocker / "verdicts.sqlite"
    for extra in ([], ["--no-cache"]):
        out = tmp_path / f"verdicts{len(extra)}.jsonl"
        result = _assay("verify", tasks, samples, "-v", "echo", "-o", out, "--store", store, "-j", "1", *extra)
        assert result.returncode == 0, result.stderr
        assert _keys(out) == keys
        warnings = _store_warnings(result.stderr, store)
        assert len(warnings) == 1 and "cannot create its folder" in warnings[0] and "going on without it" in warnings[0]
    assert blocker.read_text() == "a file"


def test_no_store_neither_reads_nor_writes_and_no_cache_still_records(echo_installed: Path, tmp_path: Path) -> None:
    tasks, samples, keys = _inputs(tmp_path, 300)
    store = tmp_path / "cache" / "verdicts.sqlite"
    out = tmp_path / "a.jsonl"
    result = _assay("verify", tasks, samples, "-v", "echo", "-o", out, "--store", store, "--no-store", "-j", "0")
    assert result.returncode == 0 and _keys(out) == keys
    assert not store.parent.exists()  # not even created
    summary = tmp_path / "s.json"
    for name in ("b", "c"):
        result = _assay(
            "verify", tasks, samples, "-v", "echo", "-o", tmp_path / f"{name}.jsonl", "--store", store, "--no-cache",
            "-j", "0", "--summary-json", summary,
        )  # fmt: skip
        assert result.returncode == 0
        assert orjson.loads(summary.read_bytes())["cached"] == 0  # judged again, not read from the store
    with VerdictStore(store) as opened:
        assert opened.count() == 300  # ... but recorded


@pytest.mark.skipif(os.geteuid() != 0 or not hasattr(os, "fork"), reason="drops privileges from root")
def test_a_store_the_user_may_not_write_is_reported_once_and_the_run_goes_on(echo_installed: Path) -> None:
    """As an ordinary user (a forked process that drops to `nobody`): a store in a folder it may not write,
    and an existing store file it may only read."""
    tasks_rows = [{"id": "t", "reference": {"answer": "yes"}}]
    samples_rows = [{"task_id": "t", "index": n, "text": "yes" if n % 2 else "no"} for n in range(200)]
    VerifyRun(tasks_rows, samples_rows, "echo", jobs=0, use_store=False, progress=False).run()  # import it all now
    top = Path(tempfile.mkdtemp(prefix="assay-ro-"))
    try:
        top.chmod(0o755)
        locked = top / "locked"  # root's, 0755: `nobody` may read, not write
        locked.mkdir(mode=0o755)
        existing = locked / "existing.sqlite"
        with VerdictStore(existing) as opened:
            opened.put("x@1#0", b"t" * 16, b"s" * 16, PASS)
        existing.chmod(0o644)
        Path(f"{existing}-wal").unlink(missing_ok=True)
        Path(f"{existing}-shm").unlink(missing_ok=True)
        writable = top / "out"
        writable.mkdir(mode=0o777)
        writable.chmod(0o777)
        for store in (locked / "new" / "verdicts.sqlite", locked / "verdicts.sqlite", existing):
            out = writable / f"{store.parent.name}-{store.name}.jsonl"
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: an ordinary user from here on
                code = 1
                try:
                    os.close(read_end)
                    os.setgid(NOBODY)
                    os.setuid(NOBODY)
                    warnings: list[str] = []
                    run = VerifyRun(tasks_rows, samples_rows, "echo", jobs=0, out=out, store=store,
                                    progress=False, on_warning=warnings.append)  # fmt: skip
                    run.run()
                    os.write(write_end, orjson.dumps(warnings))
                    code = 0
                finally:
                    os._exit(code)
            os.close(write_end)
            with os.fdopen(read_end, "rb") as pipe:
                reported = pipe.read()
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0, f"the run as nobody failed with {store}"
            warnings = orjson.loads(reported)
            assert len(warnings) == 1 and str(store) in warnings[0] and "going on without it" in warnings[0]
            assert [(v["sample_index"], v["passed"]) for v in load_jsonl(out)] == [(n, n % 2 == 1) for n in range(200)]
        with VerdictStore(existing) as opened:
            assert opened.count() == 1  # untouched
    finally:
        subprocess.run(["rm", "-rf", str(top)], check=False)


def test_a_store_on_a_disk_that_fills_mid_run_warns_once_and_every_verdict_is_written(
    echo_installed: Path, tmp_path: Path, small_disk: Callable[[str], Path]
) -> None:
    disk = small_disk("1m")
    tasks, samples, keys = _inputs(tmp_path, 20_000, text_bytes=40)  # ~4 MB of verdicts for a 1 MB disk
    store = disk / "verdicts.sqlite"
    out = tmp_path / "verdicts.jsonl"

    result = _assay("verify", tasks, samples, "-v", "echo", "-o", out, "--store", store, "-j", "2")

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert _keys(out) == keys
    warnings = _store_warnings(result.stderr, store)
    assert len(warnings) == 1, result.stderr
    assert "failed (database or disk is full)" in warnings[0] and "going on without it" in warnings[0]
    opened = VerdictStore(store, warn=pytest.fail)  # what was committed before the disk filled is intact
    assert opened.count() < 20_000
    opened.close()


def test_a_store_on_a_full_disk_from_the_start_is_reported_once(
    echo_installed: Path, tmp_path: Path, small_disk: Callable[[str], Path]
) -> None:
    disk = small_disk("256k")
    _fill(disk)
    tasks, samples, keys = _inputs(tmp_path, 2000)
    out = tmp_path / "verdicts.jsonl"
    result = _assay("verify", tasks, samples, "-v", "echo", "-o", out, "--store", disk / "v.sqlite", "-j", "1")
    assert result.returncode == 0, result.stderr
    assert _keys(out) == keys
    assert len(_store_warnings(result.stderr, disk / "v.sqlite")) == 1


def test_a_full_output_disk_stops_resumably_and_the_same_command_finishes_the_job(
    echo_installed: Path, tmp_path: Path, small_disk: Callable[[str], Path]
) -> None:
    disk = small_disk("1m")
    tasks, samples, keys = _inputs(tmp_path, 20_000, text_bytes=40)  # ~4 MB of verdicts for a 1 MB disk
    out = disk / "verdicts.jsonl"
    store = tmp_path / "verdicts.sqlite"
    command = ["verify", tasks, samples, "-v", "echo", "-o", out, "--store", store, "-j", "2"]

    stopped = _assay(*command, "--summary-json", tmp_path / "stopped.json")

    assert stopped.returncode == 3, stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert f"cannot write {out} (No space left on device)" in stopped.stderr
    assert "run the same command again to resume" in stopped.stderr
    assert "cannot write" in orjson.loads((tmp_path / "stopped.json").read_bytes())["stopped"]
    written = out.read_bytes()
    complete = written[: written.rfind(b"\n") + 1]
    assert 1000 < complete.count(b"\n") < 20_000
    with VerdictStore(store) as opened:  # every verdict judged is kept, more than the output could take
        assert opened.count() > complete.count(b"\n")

    subprocess.run(["mount", "-o", "remount,size=16m", str(disk)], check=True)
    resumed = _assay(*command, "--summary-json", tmp_path / "s.json")

    assert resumed.returncode == 0, resumed.stderr
    assert _keys(out) == keys  # nothing lost, nothing repeated, in input order
    summary = orjson.loads((tmp_path / "s.json").read_bytes())
    assert summary["resumed"] == complete.count(b"\n") and summary["stopped"] is None
    assert summary["cached"] > 0


def test_verdicts_streamed_to_a_full_stdout_stop_the_run_with_a_message(echo_installed: Path, tmp_path: Path) -> None:
    tasks, samples, _ = _inputs(tmp_path, 20_000, text_bytes=40)
    store = tmp_path / "verdicts.sqlite"
    command = _command("verify", tasks, samples, "-v", "echo", "--store", store, "-j", "1")
    with open("/dev/full", "w") as full:
        result = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, text=True, timeout=300)
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    assert "cannot write the verdicts to standard output (No space left on device)" in result.stderr
    with VerdictStore(store) as opened:
        assert opened.count() > 0  # the judged verdicts were committed on the way out


def test_three_runs_sharing_one_store_at_once_all_finish_without_a_warning(
    echo_installed: Path, tmp_path: Path
) -> None:
    tasks, samples, keys = _inputs(tmp_path, 4000)
    store = tmp_path / "shared.sqlite"
    processes = []
    for n in range(3):
        out = tmp_path / f"out{n}.jsonl"
        casefold = "true" if n == 1 else "false"  # two of them share a configuration, hence verdicts
        command = _command("verify", tasks, samples, "-v", "echo", "--store", store, "-o", out, "-j", "1",
                           "--set", f"casefold={casefold}")  # fmt: skip
        processes.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for n, process in enumerate(processes):
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
        assert "verdict store" not in stderr and "Traceback" not in stderr
        assert _keys(tmp_path / f"out{n}.jsonl") == keys
    with VerdictStore(store) as opened:
        assert opened.count() == 8000  # two configurations, 4000 texts each


def test_a_store_without_a_file_keeps_nothing() -> None:
    store = VerdictStore(None)
    store.put("v@1#0", b"t" * 16, b"s" * 16, PASS)
    store.commit()
    assert not store.available and store.get("v@1#0", b"t" * 16, b"s" * 16) is None and store.count() == 0
    store.close()


def test_a_store_damaged_while_open_is_given_up_and_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "v.sqlite"
    warnings: list[str] = []
    store = VerdictStore(path, warn=warnings.append)
    keys = [(os.urandom(16), os.urandom(16)) for _ in range(3000)]
    for task, sample in keys:
        store.put("v@1#0", task, sample, {**PASS, "details": {"pad": "x" * 200}})
    store.commit()
    store.close()
    store = VerdictStore(path, warn=warnings.append)
    with open(path, "r+b") as handle:  # another program scribbles over the file while this run holds it
        handle.seek(8192)
        handle.write(os.urandom(path.stat().st_size - 8192))
    found = store.get_many("v@1#0", keys)
    store.put("v@1#0", b"a" * 16, b"b" * 16, PASS)
    store.commit()
    store.close()
    assert len(found) < len(keys)
    assert len(warnings) == 1 and "the file is damaged" in warnings[0]
    assert "the next run starts a fresh one" in warnings[0]
    assert not store.available
    assert any(p.name.startswith("v.sqlite.corrupt-") for p in tmp_path.iterdir())
    fresh = VerdictStore(path, warn=warnings.append)
    assert fresh.available and fresh.count() == 0 and len(warnings) == 1
    fresh.close()


def test_a_store_another_program_holds_locked_is_given_up_after_a_short_wait(tmp_path: Path) -> None:
    path = tmp_path / "v.sqlite"
    VerdictStore(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=DELETE")  # a program that takes the whole file, readers included
    holder.execute("BEGIN EXCLUSIVE")
    warnings: list[str] = []
    started = time.monotonic()
    try:
        store = VerdictStore(path, warn=warnings.append)
    finally:
        holder.rollback()
        holder.close()
    waited = time.monotonic() - started
    assert not store.available and len(warnings) == 1 and "database is locked" in warnings[0]
    assert waited < 10.0, waited  # a few seconds, not the half minute a commit may wait for another run
    store.close()


def test_a_store_path_that_is_a_directory_is_reported_once(tmp_path: Path) -> None:
    warnings: list[str] = []
    store = VerdictStore(tmp_path, warn=warnings.append)
    assert store.get_many("v@1#0", [(b"t" * 16, b"s" * 16)]) == {}
    store.put("v@1#0", b"t" * 16, b"s" * 16, PASS)
    store.commit()
    store.close()
    assert not store.available and tmp_path.is_dir()
    assert len(warnings) == 1 and warnings[0].startswith(f"verdict store {tmp_path}: cannot open it (")


@pytest.mark.parametrize(
    "body", [b"not json", b"[1, 2]", b'{"status": "pass"}', b'{"status": "maybe", "verifier": "x"}']
)
def test_a_cached_row_that_is_not_a_verdict_is_judged_again_never_trusted(
    echo_installed: Path, tmp_path: Path, body: bytes
) -> None:
    import sqlite3

    tasks, samples, _ = _inputs(tmp_path, 30)
    store = tmp_path / "verdicts.sqlite"
    first = tmp_path / "first.jsonl"
    assert _assay("verify", tasks, samples, "-v", "echo", "-o", first, "--store", store, "-j", "0").returncode == 0
    with sqlite3.connect(store) as db:
        db.execute("UPDATE verdicts SET verdict = ?", (body,))
    again = tmp_path / "again.jsonl"
    result = _assay("verify", tasks, samples, "-v", "echo", "-o", again, "--store", store, "-j", "0")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    def judged(path: Path) -> list[dict[str, object]]:
        return [{k: v for k, v in verdict.items() if k != "elapsed_s"} for verdict in load_jsonl(path)]

    assert judged(again) == judged(first)  # every verdict judged afresh, whole and the same
    assert len([line for line in _store_warnings(result.stderr, store) if "not a verdict" in line]) == 1
