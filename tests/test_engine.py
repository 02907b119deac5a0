"""The engine end to end with the echo plugin: order, dedup, cache, bad input, time limits, crashes, batches."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

import assay
from assay import Sample, Task, Verdict, Verifier
from assay.engine import VerifyRun
from assay.jsonl import InputFileError, load_jsonl, write_jsonl
from assay.store import VerdictStore


def _expected_passed(row: dict[str, object]) -> bool:
    return bool(int(str(row["sample_index"])) % 4 == 0)


@pytest.mark.parametrize("jobs", [0, 1, 2])
def test_verdicts_come_in_input_order_and_are_right(echo_installed, echo_data, tmp_path, jobs) -> None:  # type: ignore[no-untyped-def]
    tasks, samples = echo_data
    out = tmp_path / "verdicts.jsonl"
    run = VerifyRun(tasks, samples, "echo", jobs=jobs, out=out, store=tmp_path / "s.sqlite", progress=False)
    summary = run.run()
    rows = load_jsonl(out)
    inputs = load_jsonl(samples)
    assert [(r["task_id"], r["sample_index"]) for r in rows] == [(s["task_id"], s["index"]) for s in inputs]
    assert all(r["passed"] is _expected_passed(r) for r in rows)
    assert summary.samples == 200
    assert summary.statuses == {"pass": 50, "fail": 150}
    # each task has 20 samples with 4 distinct texts: 160 of 200 are duplicates of an earlier (task, text)
    assert summary.deduplicated + summary.cached == 160
    for row in rows:
        Verdict.model_validate(row)


def test_a_second_run_is_served_from_the_cache_and_a_config_change_is_not(echo_installed, echo_data, tmp_path) -> None:  # type: ignore[no-untyped-def]
    tasks, samples = echo_data
    store = tmp_path / "s.sqlite"
    VerifyRun(tasks, samples, "echo", jobs=1, store=store, progress=False).run()
    again = VerifyRun(tasks, samples, "echo", jobs=1, store=store, progress=False)
    assert again.run().cached == 200
    assert again.summary.deduplicated == 0
    changed = VerifyRun(tasks, samples, "echo", jobs=1, store=store, config={"casefold": True}, progress=False)
    assert changed.run().cached + changed.summary.deduplicated == 160  # only its own duplicates
    with VerdictStore(store) as opened:
        assert opened.count() == 80


def test_python_api_takes_models_and_dicts(echo_installed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    tasks = [Task(id="a", reference={"answer": "1"}), {"id": "b", "reference": {"answer": "2"}}]
    samples = [Sample(task_id="a", index=0, text="1"), {"task_id": "b", "index": 0, "text": "3"}]
    verdicts = list(assay.verify(tasks, samples, "echo", jobs=0, store=tmp_path / "s.sqlite", progress=False))
    assert [(v.task_id, v.passed) for v in verdicts] == [("a", True), ("b", False)]
    assert all(isinstance(v, Verdict) for v in verdicts)


def test_bad_lines_are_reported_with_file_line_and_field_and_the_rest_goes_on(echo_installed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    tasks = write_jsonl(
        tmp_path / "tasks.jsonl", [{"id": "a", "reference": {"answer": "1"}}, {"id": "a"}, {"idd": "x"}]
    )
    samples = tmp_path / "samples.jsonl"
    samples.write_text(
        '{"task_id": "a", "index": 0, "text": "1"}\n'
        "{not json\n"
        '{"task_id": "a", "index": "zero", "text": "1"}\n'
        '{"task_id": "ghost", "index": 0, "text": "1"}\n'
        "[1, 2]\n"
        "\n"
        '{"task_id": "a", "index": 1}\n'
        '{"task_id": "a", "index": 2, "text": "2"}\n'
    )
    errors: list[str] = []
    run = VerifyRun(
        tasks,
        samples,
        "echo",
        jobs=1,
        store=tmp_path / "s.sqlite",
        progress=False,
        on_input_error=lambda e: errors.append(str(e)),
    )
    verdicts = list(run)
    assert [(v.task_id, v.sample_index, v.status) for v in verdicts] == [
        ("a", 0, "pass"),
        ("ghost", 0, "error"),
        ("a", 2, "fail"),
    ]
    assert verdicts[1].reason == "unknown_task"
    t, s = str(tasks), str(samples)
    assert errors == [
        f"{t}:2: field 'id': duplicate task id 'a'; the first is kept",
        f"{t}:3: field 'id': Field required",
        errors[2],  # the JSON parser's own words follow the location; checked below
        f"{s}:3: field 'index': Input should be a valid integer, got \"zero\"",
        f"{s}:4: field 'task_id': no task 'ghost' in {t}",
        f"{s}:5: expected a JSON object, got list",
        f"{s}:7: field 'text': Field required",
    ]
    assert errors[2].startswith(f"{s}:2: not valid JSON (") and "column 2" in errors[2]
    assert run.summary.input_errors == 7


def test_a_hung_sample_times_out_and_the_rest_are_judged(echo_installed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    tasks = [Task(id="t", reference={"answer": "ok"})]
    texts = ["ok", "!hang", "ok ", "bad", "!raise", "ok"]
    samples = [Sample(task_id="t", index=i, text=text) for i, text in enumerate(texts)]
    started = time.monotonic()
    verdicts = list(
        assay.verify(
            tasks,
            samples,
            "echo",
            config={"misbehave": True, "time_limit_s": 0.3},
            jobs=2,
            store=tmp_path / "s.sqlite",
            progress=False,
        )
    )
    assert time.monotonic() - started < 20
    assert [v.status for v in verdicts] == ["pass", "timeout", "pass", "fail", "error", "pass"]
    assert verdicts[1].reason == "time_limit"
    assert verdicts[1].details["enforced_by"] == "engine"
    assert verdicts[4].reason == "verifier_error"


def test_a_sample_that_kills_its_worker_gets_an_error_verdict(echo_installed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    tasks = [Task(id="t", reference={"answer": "ok"})]
    texts = ["ok", "!crash", "ok", "no", "ok"]
    samples = [Sample(task_id="t", index=i, text=text) for i, text in enumerate(texts)]
    store = tmp_path / "s.sqlite"
    verdicts = list(
        assay.verify(tasks, samples, "echo", config={"misbehave": True}, jobs=1, store=store, progress=False)
    )
    assert [v.status for v in verdicts] == ["pass", "error", "pass", "fail", "pass"]
    assert verdicts[1].reason == "worker_crashed"
    assert "exit code 13" in verdicts[1].details["message"]
    with VerdictStore(store) as opened:  # a crash says something about the machine: not cached
        assert opened.count() == 2  # "ok" and "no"


class _Batcher(Verifier):
    """Batches like a reward model; hangs on 'hang' so that the engine must find the culprit."""

    name = "batcher"
    version = "1"
    kind = "learned"
    batch_size = 4
    deterministic = True

    def verify(self, task: Task, sample: Sample) -> Verdict:
        return self.verify_batch(task, [sample])[0]

    def verify_batch(self, task: Task, samples: Sequence[Sample]) -> list[Verdict]:
        if any(s.text == "hang" for s in samples):
            time.sleep(3600)
        return [self.verdict(task, s, "pass", score=1.0, details={"batch": len(samples)}) for s in samples]


def test_batching_verifiers_get_batches_and_a_hung_batch_is_split(tmp_path) -> None:  # type: ignore[no-untyped-def]
    tasks = [Task(id="t"), Task(id="u")]
    samples = [Sample(task_id="t", index=i, text=f"s{i}") for i in range(10)]
    samples += [Sample(task_id="u", index=0, text="hang"), Sample(task_id="u", index=1, text="fine")]
    verdicts = list(
        assay.verify(
            tasks, samples, _Batcher, config={"time_limit_s": 0.2}, jobs=1, store=tmp_path / "s.sqlite", progress=False
        )
    )
    batches = [v.details.get("batch") for v in verdicts[:10]]
    assert max(b for b in batches if b) == 4, batches
    assert [v.status for v in verdicts[10:]] == ["timeout", "pass"]


class _OverlappingBatcher(_Batcher):
    """A batcher whose units may overlap within one worker; 'crash' kills the worker from a lane thread."""

    name = "overlapping-batcher"
    concurrent_units = 2

    def verify_batch(self, task: Task, samples: Sequence[Sample]) -> list[Verdict]:
        if any(s.text == "crash" for s in samples):
            os._exit(13)
        return super().verify_batch(task, samples)


class _WaitsForTheNextUnit(Verifier):
    """Task 'first' waits until the unit after it has begun (a file tells): only a worker that judges
    units side by side gets there before its patience runs out."""

    name = "waits-for-next-unit"
    version = "1"
    kind = "learned"
    concurrent_units = 2

    def verify(self, task: Task, sample: Sample) -> Verdict:
        return self.verify_batch(task, [sample])[0]

    def verify_batch(self, task: Task, samples: Sequence[Sample]) -> list[Verdict]:
        signal = Path(str(task.reference["signal"]))
        if task.id == "second":
            signal.touch()
            return [self.verdict(task, s, "pass", score=1.0) for s in samples]
        deadline = time.monotonic() + 10
        while not signal.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        status = "pass" if signal.exists() else "fail"
        return [self.verdict(task, s, status, score=float(status == "pass")) for s in samples]


def test_a_worker_judges_the_next_unit_while_one_is_still_running(tmp_path) -> None:  # type: ignore[no-untyped-def]
    signal = str(tmp_path / "second-began")
    tasks = [Task(id="first", reference={"signal": signal}), Task(id="second", reference={"signal": signal})]
    samples = [Sample(task_id="first", index=0, text="a"), Sample(task_id="second", index=0, text="b")]
    samples += [Sample(task_id="first", index=1, text="c")]
    verdicts = list(
        assay.verify(tasks, samples, _WaitsForTheNextUnit, jobs=1, store=tmp_path / "s.sqlite", progress=False)
    )
    assert [(v.task_id, v.sample_index) for v in verdicts] == [("first", 0), ("second", 0), ("first", 1)]
    assert [v.status for v in verdicts] == ["pass", "pass", "pass"]


def test_overlapping_units_still_split_a_hung_batch_and_survive_a_crash(tmp_path) -> None:  # type: ignore[no-untyped-def]
    tasks = [Task(id="t"), Task(id="u"), Task(id="v")]
    samples = [Sample(task_id="t", index=i, text=f"s{i}") for i in range(10)]
    samples += [Sample(task_id="u", index=0, text="hang"), Sample(task_id="u", index=1, text="fine")]
    samples += [Sample(task_id="v", index=0, text="crash"), Sample(task_id="v", index=1, text="fine too")]
    verdicts = list(
        assay.verify(
            tasks,
            samples,
            _OverlappingBatcher,
            config={"time_limit_s": 0.2},
            jobs=1,
            store=tmp_path / "s.sqlite",
            progress=False,
        )
    )
    assert [(v.task_id, v.sample_index) for v in verdicts] == [(s.task_id, s.index) for s in samples]
    assert all(v.status == "pass" for v in verdicts[:10])
    assert [v.status for v in verdicts[10:12]] == ["timeout", "pass"]
    assert [(v.status, v.reason) for v in verdicts[12:]] == [("error", "worker_crashed"), ("pass", None)]


def test_resume_refuses_an_output_made_from_other_input(echo_installed, echo_data, tmp_path) -> None:  # type: ignore[no-untyped-def]
    tasks, samples = echo_data
    out = tmp_path / "v.jsonl"
    write_jsonl(out, [{"task_id": "zzz", "sample_index": 5, "status": "pass"}])
    run = VerifyRun(tasks, samples, "echo", jobs=0, out=out, store=tmp_path / "s.sqlite", progress=False)
    with pytest.raises(InputFileError, match="does not continue"):
        run.run()
    fresh = VerifyRun(
        tasks, samples, "echo", jobs=0, out=out, store=tmp_path / "s.sqlite", progress=False, resume=False
    )
    assert fresh.run().samples == 200
    assert len(load_jsonl(out)) == 200


def test_a_half_written_last_line_is_dropped_and_rewritten(echo_installed, echo_data, tmp_path) -> None:  # type: ignore[no-untyped-def]
    tasks, samples = echo_data
    out = tmp_path / "v.jsonl"
    store = tmp_path / "s.sqlite"
    VerifyRun(tasks, samples, "echo", jobs=0, out=out, store=store, progress=False).run()
    complete = out.read_bytes()
    lines = complete.splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:57]) + lines[57][:20])
    run = VerifyRun(tasks, samples, "echo", jobs=0, out=out, store=store, progress=False)
    summary = run.run()
    assert summary.resumed == 57
    assert out.read_bytes() == complete


def test_unknown_verifier_names_what_is_installed(echo_installed, echo_data) -> None:  # type: ignore[no-untyped-def]
    tasks, samples = echo_data
    with pytest.raises(LookupError, match=r"unknown verifier 'maths' \(installed: [^)]*\becho\b"):
        VerifyRun(tasks, samples, "maths")


def test_a_bad_config_is_rejected_before_any_work(echo_installed, echo_data) -> None:  # type: ignore[no-untyped-def]
    tasks, samples = echo_data
    with pytest.raises(ValueError, match="casefold"):
        VerifyRun(tasks, samples, "echo", config={"casefold": "perhaps"})


def test_missing_input_file_is_a_clear_error(echo_installed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputFileError, match=r"nope\.jsonl: cannot open"):
        VerifyRun(tmp_path / "nope.jsonl", tmp_path / "x.jsonl", "echo")


@pytest.mark.parametrize("jobs", [0, 2])
def test_tasks_with_equal_content_keep_their_own_ids(echo_installed, tmp_path, jobs) -> None:  # type: ignore[no-untyped-def]
    tasks = [Task(id=f"t{i}", reference={"answer": "0"}) for i in range(3)]
    # texts differ between tasks, so that nothing is deduplicated and every task reaches the workers
    samples = [Sample(task_id=f"t{i}", index=j, text=f"{j}" + " " * i) for i in range(3) for j in range(2)]
    verdicts = list(assay.verify(tasks, samples, "echo", jobs=jobs, store=tmp_path / "s.sqlite", progress=False))
    assert [(v.task_id, v.sample_index, v.passed) for v in verdicts] == [
        (s.task_id, s.index, s.index == 0) for s in samples
    ]


def test_a_worker_task_cache_that_overflows_is_emptied_on_both_sides(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import assay.executors.local as local
    from assay.executors import ProcessExecutor, VerifierSpec, WorkUnit
    from assay.store import task_hash
    from assay.testing.echo import EchoVerifier

    monkeypatch.setattr(local, "_TASK_CACHE_SIZE", 3)
    executor = ProcessExecutor(VerifierSpec(EchoVerifier, {}), jobs=1)
    pid = executor._workers[0].process.pid
    tasks = [Task(id=f"t{i}", reference={"answer": str(i)}) for i in range(5)]
    results: dict[int, dict[str, object]] = {}
    try:
        seq = 0
        for _ in range(3):  # every task comes back after the cache has overflowed
            for task in tasks:
                executor.submit(
                    WorkUnit(
                        seq,
                        task_hash(task),
                        task,
                        [(seq, Sample(task_id=task.id, index=0, text=str(task.reference["answer"])))],
                    )
                )
                seq += 1
                while executor.in_flight():
                    results.update(executor.poll(1.0))
        assert executor._workers[0].process.pid == pid, "the worker died (it was sent a task it had forgotten)"
    finally:
        executor.close()
    assert len(results) == 15 and all(v["passed"] for v in results.values())
