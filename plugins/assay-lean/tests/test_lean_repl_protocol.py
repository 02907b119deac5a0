"""The REPL client and pool against the real REPL's transcripts, and against a real Lean frontend.

Transcript tests replay the replies leanprover-community/repl really gave (vendored in data/lean-repl;
the whole upstream set where the shared data is present). Pool tests that need a live Lean (recycling,
timeouts, kill and replace, header reuse) drive Lean 4.35's own server through `assay_lean.lsp_repl`.
"""

from __future__ import annotations

import io
import itertools
import json
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay_lean.backends.repl import ReplError, ReplPool, ReplProcess, ReplTimeout, ReplyReader, encode_request
from assay_lean.lsp_repl import read_query


def _requests(path: Path) -> list[dict[str, object]]:
    stream = io.StringIO(path.read_text())
    out = []
    while (query := read_query(stream)) is not None:
        if not query.startswith(("#", "--")):
            out.append(json.loads(query))
    return out


def _replies(path: Path) -> list[dict[str, object]]:
    return ReplyReader().feed(path.read_bytes() + b"\n\n")


def _pairs(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.in") if p.with_suffix(".expected.out").exists())


def test_vendored_transcripts_parse_one_reply_per_request(transcripts: Path) -> None:
    pairs = _pairs(transcripts)
    assert len(pairs) >= 9
    for path in pairs:
        assert len(_replies(path.with_suffix(".expected.out"))) == len(_requests(path)), path.name


def test_all_upstream_transcripts_parse(shared_data: Path) -> None:
    pairs = _pairs(shared_data / "lean-repl" / "transcripts")
    assert len(pairs) == 71  # 55 top-level + 16 Mathlib pairs
    counted = 0
    for path in pairs:
        replies = _replies(path.with_suffix(".expected.out"))
        assert len(replies) == len(_requests(path)), path.name
        counted += len(replies)
    assert counted > 150


def test_reply_reader_handles_any_split_of_the_stream(transcripts: Path) -> None:
    raw = (transcripts / "have_by_sorry.expected.out").read_bytes()
    whole = ReplyReader().feed(raw + b"\n\n")

    @given(st.lists(st.integers(min_value=0, max_value=len(raw)), max_size=8))
    @settings(max_examples=60, deadline=None)
    def check(cuts: list[int]) -> None:
        reader = ReplyReader()
        got: list[dict[str, object]] = []
        points = [0, *sorted(cuts), len(raw)]
        for start, end in itertools.pairwise(points):
            got.extend(reader.feed(raw[start:end]))
        got.extend(reader.feed(b"\n\n"))
        assert got == whole

    check()


def test_reply_reader_rejects_garbage() -> None:
    with pytest.raises(ReplError):
        ReplyReader().feed(b"uncaught exception: oops\n\n")


def test_request_encoding_survives_the_repl_framing() -> None:
    # The REPL joins a request's lines without newlines: a raw newline in a string would be lost.
    request = {"cmd": "theorem foo : 1 = 1 := by\n  rfl", "env": 3}
    framed = encode_request(request).decode()
    assert framed.endswith("\n\n") and framed.count("\n") == 2
    assert json.loads(read_query(io.StringIO(framed)) or "") == request


def test_replayed_session_with_header_reuse(replay_command: list[str], transcripts: Path) -> None:
    # Mathlib/exact: `import Mathlib` gives env 0; both theorems run against env 0, as the pool does.
    command = [*replay_command, str(transcripts / "Mathlib" / "exact.in")]
    process = ReplProcess(command)
    try:
        header = process.request({"cmd": "import Mathlib"}, 10)
        assert header.env == 0 and header.failure is None and header.messages == []
        first = process.request({"cmd": "theorem test : 0 < 1 := by sorry", "env": 0}, 10)
        assert first.env == 1
        assert [m.is_sorry_warning for m in first.messages] == [True]
        assert first.sorries[0]["goal"] == "⊢ 0 < 1"
        tactic = process.request({"tactic": "exact?", "proofState": 0}, 10)
        assert tactic.failure is None and tactic.raw["proofStatus"] == "Completed"
    finally:
        process.kill()


def test_replayed_request_level_failure(replay_command: list[str], transcripts: Path) -> None:
    process = ReplProcess([*replay_command, str(transcripts / "unknown_environment.in")])
    try:
        reply = process.request({"cmd": "def f : Nat := by sorry", "env": 5}, 10)
        assert reply.failure == "Unknown environment." and reply.env is None
    finally:
        process.kill()


def test_replayed_messages_and_positions(replay_command: list[str], transcripts: Path) -> None:
    process = ReplProcess([*replay_command, str(transcripts / "invalid_line_break.in")])
    try:
        reply = process.request({"cmd": "theorem foo : 1 = 1 := bysorry"}, 10)
        [error] = reply.messages
        assert (error.severity, error.line, error.column, error.end_column) == ("error", 1, 23, 30)
        assert "bysorry" in error.text
    finally:
        process.kill()


def test_a_process_that_dies_is_reported(replay_command: list[str], transcripts: Path) -> None:
    process = ReplProcess([*replay_command, str(transcripts / "term_sorry.in")])
    with pytest.raises(ReplError):
        process.request({"cmd": "not what was recorded"}, 10)
    assert process.dead


# -- the pool on a live Lean --------------------------------------------------------------------------------

PROOF = "theorem t{i} : Eq (N.add N.zero N.zero) N.zero := Eq.refl N.zero\n#print axioms t{i}"


def test_pool_loads_a_header_once_per_process(lsp_repl_command: list[str], prelude_header: str) -> None:
    pool = ReplPool(lsp_repl_command, size=1, max_uses=50)
    try:
        results = [pool.run(prelude_header, PROOF.format(i=i), 30) for i in range(4)]
        assert [r.status for r in results] == ["ok"] * 4
        assert [r.header_reused for r in results] == [False, True, True, True]
        assert len({r.pid for r in results}) == 1
        assert pool.stats.header_loads == 1 and pool.stats.header_reuses == 3
        for i, result in enumerate(results):
            assert [(m.line, m.text) for m in result.messages] == [(2, f"'t{i}' does not depend on any axioms")]
    finally:
        pool.close()


def test_pool_recycles_after_max_uses(lsp_repl_command: list[str], prelude_header: str) -> None:
    pool = ReplPool(lsp_repl_command, size=1, max_uses=2)
    try:
        pids = [pool.run(prelude_header, PROOF.format(i=i), 30).pid for i in range(5)]
        assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]
        assert pool.stats.recycled_uses == 2 and pool.stats.started == 3
    finally:
        pool.close()


def test_pool_recycles_past_its_memory_bound(lsp_repl_command: list[str], prelude_header: str) -> None:
    pool = ReplPool(lsp_repl_command, size=1, max_uses=100, max_memory_mb=1)  # any real Lean is bigger
    try:
        first = pool.run(prelude_header, PROOF.format(i=0), 30)
        second = pool.run(prelude_header, PROOF.format(i=1), 30)
        assert first.status == second.status == "ok"
        assert first.pid != second.pid and not second.header_reused
        assert pool.stats.recycled_memory == 2
    finally:
        pool.close()


def test_pool_kills_and_replaces_a_process_past_its_time(
    lsp_repl_command: list[str], prelude_header: str, slow_proof: str
) -> None:
    pool = ReplPool(lsp_repl_command, size=1, max_uses=100)
    try:
        warm = pool.run(prelude_header, PROOF.format(i=0), 30)
        started = time.monotonic()
        slow = pool.run(prelude_header, slow_proof, 1.5)
        elapsed = time.monotonic() - started
        assert slow.status == "time_limit" and elapsed < 5
        assert pool.stats.killed_timeouts == 1
        after = pool.run(prelude_header, PROOF.format(i=1), 30)
        assert after.status == "ok" and after.pid not in (warm.pid, None) and warm.pid == slow.pid
        assert not after.header_reused
        with pytest.raises(ProcessLookupError):
            import os

            os.kill(slow.pid or 0, 0)  # the killed process (and its group) is gone
    finally:
        pool.close()


def test_pool_replaces_a_process_that_lost_its_environment(lsp_repl_command: list[str], prelude_header: str) -> None:
    pool = ReplPool(lsp_repl_command, size=1)
    try:
        first = pool.run(prelude_header, PROOF.format(i=0), 30)
        [process] = pool.processes()
        process.headers[prelude_header] = 99  # as if the process had forgotten what it loaded
        lost = pool.run(prelude_header, PROOF.format(i=1), 30)
        assert lost.status == "repl_error" and lost.message == "Unknown environment."
        again = pool.run(prelude_header, PROOF.format(i=2), 30)
        assert again.status == "ok" and again.pid != first.pid
    finally:
        pool.close()


def test_pool_runs_concurrently_up_to_its_size(lsp_repl_command: list[str], prelude_header: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    pool = ReplPool(lsp_repl_command, size=2)
    try:
        with ThreadPoolExecutor(4) as executor:
            results = list(executor.map(lambda i: pool.run(prelude_header, PROOF.format(i=i), 60), range(8)))
        assert all(r.status == "ok" for r in results)
        assert pool.stats.started == 2 and len({r.pid for r in results}) == 2
    finally:
        pool.close()


def test_timeout_error_type(lsp_repl_command: list[str], prelude_header: str, slow_proof: str) -> None:
    process = ReplProcess(lsp_repl_command)
    try:
        env = process.request({"cmd": prelude_header}, 30).env
        with pytest.raises(ReplTimeout):
            process.request({"cmd": slow_proof, "env": env}, 1.0)
        assert process.dead
    finally:
        process.kill()
