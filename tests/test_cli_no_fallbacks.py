"""`assay select` and `assay audit` refuse what they cannot do as asked, in one clear line, instead of falling
back silently; and they read damaged input line by line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay.cli import main
from assay.jsonl import load_jsonl, write_jsonl
from assay.selection.files import resolve_verifier_id


@pytest.fixture
def labelled(echo_data: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    tasks, samples = echo_data
    rows = [{**row, "label": row["index"] % 4 == 0} for row in load_jsonl(samples)]
    return tasks, write_jsonl(tmp_path / "labelled.jsonl", rows)


@pytest.fixture
def verdicts(echo_installed: Path, store_path: Path, labelled: tuple[Path, Path], tmp_path: Path) -> Path:
    tasks, samples = labelled
    path = tmp_path / "echo.jsonl"
    assert main(["verify", str(tasks), str(samples), "--verifier", "echo", "-o", str(path), "--jobs", "0", "-q"]) == 0
    return path


def _error_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


@pytest.mark.parametrize("selector", ["best_of_n", "verified_majority", "weighted_majority"])
def test_select_refuses_a_verifier_selector_without_verdicts(
    labelled: tuple[Path, Path], selector: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks, samples = labelled
    assert main(["select", str(tasks), str(samples), "--selector", selector]) == 2
    (line,) = _error_lines(capsys)
    assert selector in line and "--verdicts" in line


def test_audit_refuses_weighted_majority_without_graded_scores(
    labelled: tuple[Path, Path], verdicts: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks, samples = labelled
    out = tmp_path / "report"
    args = ["audit", str(tasks), str(samples), "--verdicts", str(verdicts), "--selectors", "weighted_majority"]
    assert main([*args, "-o", str(out)]) == 2
    (line,) = _error_lines(capsys)
    assert "weighted_majority" in line and "graded scores" in line and "echo@1" in line
    assert not out.exists()


@pytest.mark.parametrize("command", ["select", "audit"])
def test_labels_naming_a_field_no_sample_has_is_one_line(
    labelled: tuple[Path, Path], command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks, samples = labelled
    assert main([command, str(tasks), str(samples), "--labels", "nope", "-o", str(tmp_path / "out")]) == 2
    (line,) = _error_lines(capsys)
    assert "'nope'" in line and str(samples) in line


def test_k_beyond_the_samples_per_problem_is_refused(
    labelled: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks, samples = labelled
    assert main(["audit", str(tasks), str(samples), "--k", "1,64", "-o", str(tmp_path / "r")]) == 2
    (line,) = _error_lines(capsys)
    assert "--k 64" in line and "20" in line


@pytest.mark.parametrize("command", ["select", "audit"])
def test_verdicts_given_first_leave_the_positionals(
    labelled: tuple[Path, Path], verdicts: Path, command: str, tmp_path: Path
) -> None:
    tasks, samples = labelled
    out = tmp_path / "out"
    assert main([command, "--verdicts", str(verdicts), str(tasks), str(samples), "-o", str(out), "-q"]) == 0
    assert out.exists()


def test_missing_positionals_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["select", "only-one.jsonl"])
    assert stopped.value.code == 2
    assert "TASKS SAMPLES" in capsys.readouterr().err


def test_a_bare_verifier_name_is_accepted_when_unambiguous(
    labelled: tuple[Path, Path], verdicts: Path, tmp_path: Path
) -> None:
    tasks, samples = labelled
    out = tmp_path / "chosen.jsonl"
    args = ["select", str(tasks), str(samples), "--verdicts", str(verdicts), "--selector", "best_of_n"]
    assert main([*args, "--verifier", "echo", "-o", str(out), "-q"]) == 0
    rows = load_jsonl(out)
    assert len(rows) == 10 and all(row["label"] for row in rows)  # echo passes exactly the right samples


@given(st.lists(st.sampled_from(["a@1", "a@2", "b@1", "c@0.1.0"]), unique=True), st.sampled_from("abcd"))
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
def test_resolve_verifier_id_never_guesses(known: list[str], name: str) -> None:
    matches = [k for k in known if k.split("@")[0] == name]
    if len(matches) == 1:
        assert resolve_verifier_id(name, known) == matches[0]
    else:
        with pytest.raises(LookupError):
            resolve_verifier_id(name, known)
    for verifier_id in known:
        assert resolve_verifier_id(verifier_id, known) == verifier_id


@pytest.mark.parametrize("command", ["select", "audit"])
def test_invalid_utf8_is_a_bad_line_not_a_crash(
    labelled: tuple[Path, Path], command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks, samples = labelled
    raw = samples.read_bytes().splitlines(keepends=True)
    raw[2] = raw[2].replace(b'"text":"', b'"text":"\xff\xfe')
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"".join(raw))
    assert main([command, str(tasks), str(bad), "-o", str(tmp_path / "out")]) == 2
    (line,) = _error_lines(capsys)
    assert f"{bad}:3:" in line and "UTF-8" in line


def test_audit_writes_the_markdown_summary(labelled: tuple[Path, Path], tmp_path: Path) -> None:
    tasks, samples = labelled
    out = tmp_path / "r"
    assert main(["audit", str(tasks), str(samples), "--no-html", "-o", str(out), "-q", "--title", "Echo · test"]) == 0
    summary = (out / "report.md").read_text()
    assert summary.startswith("## Echo · test: 10 problems")
    assert "At k = 20 samples per problem: coverage" in summary


@given(st.lists(st.lists(st.tuples(st.booleans(), st.integers(0, 3), st.floats(0, 1)), min_size=1, max_size=6),
                min_size=1, max_size=6), st.integers(0, 2**16))  # fmt: skip
@settings(max_examples=40, deadline=None)
def test_no_vote_reads_above_coverage_at_k1(problems: list[list[tuple[bool, int, float]]], seed: int) -> None:
    """At k=1 every vote picks the one sample (when it has an answer): exactly coverage's pass@1 or below,
    even where the curve is estimated by Monte Carlo."""
    import numpy as np

    from assay.audit import estimators

    width = max(len(row) for row in problems)
    valid = np.zeros((len(problems), width), dtype=bool)
    correct = np.zeros((len(problems), width))
    group = np.full((len(problems), width), -1, dtype=np.int32)
    score = np.full((len(problems), width), np.nan)
    for row, cells in enumerate(problems):
        for col, (right, answer, weight) in enumerate(cells):
            valid[row, col], correct[row, col], group[row, col], score[row, col] = True, right, answer, weight
    passed = (correct > 0).astype(np.int8)
    pool = estimators.Pool(valid=valid, correct=correct, group=group, passed=passed, score=score, shared={})
    ks = np.asarray([1, 2], dtype=np.int64)
    coverage = estimators.pass_at_k(pool, ks).value[0]
    rng = np.random.default_rng(seed)
    for estimate in (
        estimators.majority(pool, ks, rng, 8, exact=False),
        estimators.weighted_majority(pool, ks, rng, 8),
        estimators.verified_majority(pool, ks, rng, 8, exact=False),
    ):
        assert estimate.value[0] <= coverage + 1e-12


def test_select_says_how_many_tasks_fell_back_to_a_plain_vote(
    labelled: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks, samples = labelled
    rows = [
        {"task_id": row["task_id"], "sample_index": row["index"], "verifier": "strict@1", "status": "fail",
         "passed": False, "answer": row["text"], "reason": "rejected"}
        for row in load_jsonl(samples)
        if row["task_id"] in ("t0", "t1")
    ] + [
        {"task_id": row["task_id"], "sample_index": row["index"], "verifier": "strict@1", "status": "pass",
         "passed": True, "answer": row["text"]}
        for row in load_jsonl(samples)
        if row["task_id"] not in ("t0", "t1")
    ]  # fmt: skip
    verdicts = write_jsonl(tmp_path / "strict.jsonl", rows)
    out = tmp_path / "chosen.jsonl"
    args = ["select", str(tasks), str(samples), "--verdicts", str(verdicts), "--selector", "verified_majority"]
    assert main([*args, "-o", str(out)]) == 0
    assert "; 2 of them by a plain vote" in capsys.readouterr().err
    assert sorted(row["task_id"] for row in load_jsonl(out) if row.get("fallback")) == ["t0", "t1"]


def test_no_monte_carlo_curve_reads_above_coverage(
    labelled: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No selection estimated by Monte Carlo reads above coverage at any k (a perfect verifier's verified vote
    comes closest)."""
    from assay.audit import estimators

    monkeypatch.setattr(estimators, "EXACT_VOTE_BUDGET", 0)  # every vote by Monte Carlo
    tasks, samples = labelled
    rows = [
        {"task_id": row["task_id"], "sample_index": row["index"], "verifier": "perfect@1",
         "status": "pass" if row["label"] else "fail", "passed": row["label"], "answer": row["text"],
         "reason": None if row["label"] else "wrong_answer"}
        for row in load_jsonl(samples)
    ]  # fmt: skip
    verdicts = write_jsonl(tmp_path / "perfect.jsonl", rows)
    from assay.audit import audit_files

    for seed in range(10):  # small Monte Carlo runs, where noise alone would cross coverage
        report = audit_files(tasks, samples, [verdicts], mc_samples=8, bootstrap=20, seed=seed).json
        curves = {curve["name"]: curve for curve in report["curves"]}
        assert curves["verified_majority[perfect@1]"]["method"] == "monte_carlo"
        coverage = curves["coverage"]["value"]
        for curve in report["curves"]:
            assert all(v <= c + 1e-9 for v, c in zip(curve["value"], coverage, strict=True)), (seed, curve["name"])
