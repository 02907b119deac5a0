"""`assay export`: which samples go where, in which shape, from input in any order, in flat memory."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.export import ExportInputError, export
from assay.export.choose import hard_negatives_first, judged, majority_answer, preference_pairs, text_key, verified
from assay.export.index import Candidate, Problem
from assay.jsonl import write_jsonl
from assay.models import Task

# -- the rules, on one problem --------------------------------------------------------------------------------

_candidates = st.lists(
    st.tuples(
        st.sampled_from([True, False, None]),
        st.sampled_from(["1", "2", "3", None]),
        st.sampled_from(["a", "b", " a ", "c", "d\n", "e", "f", "g"]),
    ),
    max_size=25,
)


def _problem(rows: list[tuple[bool | None, str | None, str]]) -> Problem:
    candidates = [
        Candidate(index=i, text=f"{text}-{answer}", passed=passed, score=None, answer=answer, metadata={})
        for i, (passed, answer, text) in enumerate(rows)
    ]
    return Problem(Task(id="t", prompt="q"), candidates)


def _distinct_keys(candidates: list[Candidate]) -> bool:
    keys = [text_key(c.text) for c in candidates]
    return len(keys) == len(set(keys))


@settings(max_examples=200, deadline=None)
@given(rows=_candidates, limit=st.one_of(st.none(), st.integers(1, 6)), unique=st.booleans())
def test_verified_samples_pass_are_distinct_and_cover_answers_first(
    rows: list[tuple[bool | None, str | None, str]], limit: int | None, unique: bool
) -> None:
    problem = _problem(rows)
    chosen = verified(problem, limit, unique_answers=unique)
    passing_texts = {text_key(c.text) for c in problem.candidates if c.passed is True}
    assert all(c.passed is True for c in chosen)
    assert _distinct_keys(chosen)
    if limit is not None:
        assert len(chosen) <= limit
    answers = [c.answer for c in chosen if c.answer is not None]
    if unique:
        assert len(answers) == len(set(answers))
    else:
        assert len(chosen) == min(limit or len(passing_texts), len(passing_texts))
    # Round the answers: no answer is taken twice before every passing answer is taken once.
    passing_answers = {c.answer for c in problem.candidates if c.passed is True and c.answer is not None}
    first = answers[: len(passing_answers)]
    if len(chosen) >= len(passing_answers) + sum(c.answer is None for c in chosen):
        assert set(first) == passing_answers


@settings(max_examples=200, deadline=None)
@given(rows=_candidates, limit=st.one_of(st.none(), st.integers(1, 6)))
def test_pairs_join_a_pass_with_a_fail_hard_negatives_first(
    rows: list[tuple[bool | None, str | None, str]], limit: int | None
) -> None:
    problem = _problem(rows)
    pairs = list(preference_pairs(problem, limit))
    failing = hard_negatives_first(problem)
    has_pass = any(c.passed is True for c in problem.candidates)
    expected = min(limit or len(failing), len(failing)) if has_pass else 0
    assert len(pairs) == expected
    assert all(chosen.passed is True and rejected.passed is False for chosen, rejected, _ in pairs)
    assert _distinct_keys([rejected for _, rejected, _ in pairs])
    hard_flags = [hard for _, _, hard in pairs]
    assert hard_flags == sorted(hard_flags, reverse=True)  # every hard negative before any other
    majority = majority_answer(problem)
    assert all(hard == (rejected.answer == majority is not None) for _, rejected, hard in pairs)


def test_majority_answer_and_hard_negatives() -> None:
    rows: list[tuple[bool | None, str | None, str]] = [
        (False, "1", "a"),
        (True, "2", "b"),
        (False, "3", "c"),
        (False, "1", "d"),
        (False, "1", "e"),
        (None, "3", "f"),
    ]
    problem = _problem(rows)
    assert majority_answer(problem) == "1"
    assert [c.index for c in hard_negatives_first(problem)] == [0, 3, 4, 2]


@settings(max_examples=100, deadline=None)
@given(rows=_candidates, limit=st.integers(1, 8))
def test_reward_rows_keep_both_classes_while_both_last(
    rows: list[tuple[bool | None, str | None, str]], limit: int
) -> None:
    chosen = judged(_problem(rows), limit)
    assert all(c.passed is not None for c in chosen) and _distinct_keys(chosen)
    labels = [bool(c.passed) for c in chosen]
    both = min(labels.count(True), labels.count(False))
    assert all(labels[2 * i] != labels[2 * i + 1] for i in range(both - 1))


# -- end to end, from files in any order ------------------------------------------------------------------


def _world(tmp_path: Path, *, shuffle: bool, seed: int = 0) -> tuple[Path, Path, Path]:
    """12 problems x 10 samples: problem p is solved by samples with index < p % 4 (so p % 4 == 0: none)."""
    rng = random.Random(seed)
    tasks = [{"id": f"p{p}", "prompt": f"question {p}", "reference": {"answer": str(p)}} for p in range(12)]
    samples, verdicts = [], []
    for p in range(12):
        for i in range(10):
            right = i < p % 4
            answer = str(p) if right else ("99" if i % 2 else str(i))
            samples.append({"task_id": f"p{p}", "index": i, "text": f"work {i % 7} so {answer}"})
            status = "pass" if right else "fail"
            verdicts.append(
                {
                    "task_id": f"p{p}",
                    "sample_index": i,
                    "verifier": "echo@1",
                    "status": status,
                    "passed": right,
                    "score": float(right),
                    "answer": answer,
                }
            )
    if shuffle:
        rng.shuffle(samples)
        rng.shuffle(verdicts)
    return (
        write_jsonl(tmp_path / "tasks.jsonl", tasks),
        write_jsonl(tmp_path / "samples.jsonl", samples),
        write_jsonl(tmp_path / "verdicts.jsonl", verdicts),
    )


def _read(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


@pytest.mark.parametrize(
    ("kind", "fmt"),
    [
        ("sft", "messages"),
        ("sft", "prompt-completion"),
        ("preference", "dpo"),
        ("reward", "reward"),
        ("unsolved", "tasks"),
    ],
)
def test_input_order_does_not_change_the_dataset(tmp_path: Path, kind: str, fmt: str) -> None:
    outputs = []
    for shuffle in (False, True):
        folder = tmp_path / str(shuffle)
        folder.mkdir()
        tasks, samples, verdicts = _world(folder, shuffle=shuffle, seed=7)
        summary = export(tasks, samples, [verdicts], kind=kind, format=fmt, out=folder / "out.jsonl", per_problem=2)
        assert summary.problems == 12 and summary.solved == 9
        outputs.append(_read(folder / "out.jsonl"))
    assert outputs[0] == outputs[1]
    assert outputs[0]


def test_rows_say_what_each_library_reads(tmp_path: Path) -> None:
    tasks, samples, verdicts = _world(tmp_path, shuffle=True)
    out = tmp_path / "out.jsonl"
    export(tasks, samples, [verdicts], kind="sft", out=out, per_problem=None)
    rows = _read(out)
    assert len(rows) == sum(min(p % 4, 7) for p in range(12))  # texts repeat every 7 indexes
    assert rows[0]["messages"] == [
        {"role": "user", "content": "question 1"},
        {"role": "assistant", "content": "work 0 so 1"},
    ]
    export(tasks, samples, [verdicts], kind="preference", out=out, per_problem=3)
    pairs = _read(out)
    p3 = [row for row in pairs if row["task_id"] == "p3"]
    assert [row["rejected_index"] for row in p3] == [3, 5, 7]  # answer 99 is the majority: hard negatives
    assert all(row["hard_negative"] for row in p3)
    assert {row["chosen"] for row in p3} == {"work 0 so 3", "work 1 so 3", "work 2 so 3"}
    export(tasks, samples, [verdicts], kind="unsolved", out=out)
    assert [row["id"] for row in _read(out)] == ["p0", "p4", "p8"]
    export(tasks, samples, [verdicts], kind="preference", out=out, per_problem=1, conversational=True)
    first = _read(out)[0]
    assert first["prompt"] == [{"role": "user", "content": "question 1"}]
    assert first["chosen"] == [{"role": "assistant", "content": "work 0 so 1"}]


def test_selections_decide_instead_of_verdicts(tmp_path: Path) -> None:
    tasks, samples, verdicts = _world(tmp_path, shuffle=False)
    # Choose sample 1 of p1 (answer 99, as samples 3, 5, 7, 9); nothing for the other problems.
    selections = write_jsonl(
        tmp_path / "sel.jsonl",
        [{"task_id": "p1", "sample_index": 1, "answer": "99"}, {"task_id": "p2", "sample_index": None, "answer": None}],
    )
    out = tmp_path / "out.jsonl"
    summary = export(tasks, samples, [verdicts], kind="sft", out=out, per_problem=None, selections=selections)
    assert summary.solved == 1
    assert [row["sample_index"] for row in _read(out)] == [1, 3, 5, 7, 9]  # the right sample 0 now fails


def test_bad_lines_are_named_and_skipped_and_the_cli_says_so(tmp_path: Path) -> None:
    tasks, samples, verdicts = _world(tmp_path, shuffle=False)
    with samples.open("ab") as handle:
        handle.write(b'{"task_id": "p1", "index": "7", "text": "x"}\nnot json\n')
    out = tmp_path / "out.jsonl"
    cli = [
        sys.executable,
        "-m",
        "assay",
        "export",
        str(tasks),
        str(samples),
        "--verdicts",
        str(verdicts),
        "--kind",
        "sft",
        "-o",
        str(out),
    ]
    run = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert f"{samples}:121: field 'index'" in run.stderr
    assert f"{samples}:122: not valid JSON" in run.stderr
    assert "2 input lines rejected" in run.stderr
    assert _read(out)  # the good lines were exported
    missing = subprocess.run(
        [*cli[:5], str(tmp_path / "nope.jsonl"), *cli[6:]], capture_output=True, text=True, timeout=120
    )
    assert missing.returncode == 2 and "nope.jsonl: cannot open" in missing.stderr
    wrong = subprocess.run([*cli[:-2], "--format", "dpo"], capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 2 and "kind 'sft' is written as messages or prompt-completion" in wrong.stderr


def test_the_named_verifier_decides_and_others_are_left_out(tmp_path: Path) -> None:
    tasks, samples, verdicts = _world(tmp_path, shuffle=False)
    flipped = [
        {**v, "verifier": "other@2", "status": "pass" if not v["passed"] else "fail", "passed": not v["passed"]}
        for v in _read(verdicts)
    ]
    other = write_jsonl(tmp_path / "other.jsonl", flipped)
    out = tmp_path / "out.jsonl"
    first = export(tasks, samples, [verdicts, other], kind="unsolved", out=out)
    assert first.input.verifier == "echo@1" and first.input.other_verdicts == 120 and first.rows == 3
    second = export(tasks, samples, [verdicts, other], kind="unsolved", out=out, verifier="other@2")
    assert second.rows == 0


def test_nothing_decides_without_verdicts(tmp_path: Path) -> None:
    tasks, samples, _ = _world(tmp_path, shuffle=False)
    with pytest.raises(ExportInputError, match="needs verdicts"):
        export(tasks, samples, [], kind="sft", out=tmp_path / "x.jsonl")
    assert not (tmp_path / "x.jsonl").exists()


def test_verl_parquet_round_trips_through_the_verl_reward_function(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    from assay.integrations.verl import compute_score

    tasks = write_jsonl(
        tmp_path / "tasks.jsonl",
        [
            {"id": "m", "prompt": "1+1?", "reference": {"answer": "2"}},
            {
                "id": "c",
                "prompt": "def f(x):",
                "reference": {"style": "function", "entry_point": "f", "tests": "assert f(1) == 2"},
            },
        ],
    )
    samples = write_jsonl(tmp_path / "samples.jsonl", [{"task_id": "m", "index": 0, "text": "3"}])
    verdicts = write_jsonl(
        tmp_path / "verdicts.jsonl",
        [{"task_id": "m", "sample_index": 0, "verifier": "echo@1", "status": "fail", "passed": False}],
    )
    out = tmp_path / "unsolved.parquet"
    summary = export(tasks, samples, [verdicts], kind="unsolved", format="verl", out=out, data_source="toy")
    assert summary.rows == 2
    table = pq.read_table(out)
    assert table.column_names == ["data_source", "prompt", "ability", "reward_model", "extra_info"]
    rows = table.to_pylist()
    assert rows[0]["prompt"] == [{"role": "user", "content": "1+1?"}]
    assert rows[0]["reward_model"] == {"style": "rule", "ground_truth": "2"}
    assert rows[0]["extra_info"] == {"split": "train", "index": 0, "task_id": "m", "assay_verifier": "echo"}
    assert orjson.loads(rows[1]["reward_model"]["ground_truth"])["entry_point"] == "f"
    assert rows[0]["data_source"] == "toy" and rows[0]["ability"] == "echo"
    math_row = rows[0]
    scored = compute_score(
        math_row["data_source"],
        "\\boxed{2}",
        math_row["reward_model"]["ground_truth"],
        {**math_row["extra_info"], "assay_verifier": "math"},
    )
    assert scored["score"] == 1.0


def test_flat_memory_whatever_the_sample_count(tmp_path: Path) -> None:
    """Peak memory with 10x the samples (half a KB of text each) grows by far less than their size."""
    script = (
        "import resource, sys\n"
        "from assay.export import export\n"
        "export(sys.argv[1], sys.argv[2], [sys.argv[3]], kind='sft', out=sys.argv[4], per_problem=2)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    peaks = []
    for count in (10_000, 100_000):
        folder = tmp_path / str(count)
        folder.mkdir()
        per = 50
        write_jsonl(folder / "t.jsonl", ({"id": f"p{p}", "prompt": "q"} for p in range(count // per)))
        filler = "x" * 500
        write_jsonl(
            folder / "s.jsonl",
            ({"task_id": f"p{i % (count // per)}", "index": i, "text": f"{i} {filler}"} for i in range(count)),
        )
        write_jsonl(
            folder / "v.jsonl",
            (
                {
                    "task_id": f"p{i % (count // per)}",
                    "sample_index": i,
                    "verifier": "e@1",
                    "status": "pass",
                    "passed": True,
                }
                for i in range(count)
            ),
        )
        args = [str(folder / name) for name in ("t.jsonl", "s.jsonl", "v.jsonl", "out.jsonl")]
        run = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr
        peaks.append(int(run.stdout.strip()) * 1024)
        assert len(_read(folder / "out.jsonl")) == 2 * (count // per)
    held = 90_000 * 500  # what holding the extra samples' texts alone would cost
    assert peaks[1] - peaks[0] < held / 2, peaks
