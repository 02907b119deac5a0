"""`assay audit` end to end: real verdicts from `assay verify`, the report files, and bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from assay.audit import audit_files
from assay.cli import main
from assay.jsonl import load_jsonl, write_jsonl


@pytest.fixture
def labelled(echo_data: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """echo_data with ground truth that the echo verifier gets wrong twice per task: sample 4 (passes, but
    labelled wrong) and sample 1 (fails, but labelled right)."""
    tasks, samples = echo_data
    rows = []
    for sample in load_jsonl(samples):
        j = sample["index"]
        rows.append({**sample, "label": (j % 4 == 0 and j != 4) or j == 1})
    return tasks, write_jsonl(tmp_path / "labelled.jsonl", rows)


@pytest.fixture
def echo_verdicts(echo_installed: Path, store_path: Path, labelled: tuple[Path, Path], tmp_path: Path) -> list[Path]:
    """The echo verifier's real verdicts, twice (the second run without the cache), for flakiness."""
    tasks, samples = labelled
    out = []
    for run, extra in enumerate(([], ["--no-cache"])):
        path = tmp_path / f"echo-{run}.jsonl"
        args = ["verify", str(tasks), str(samples), "--verifier", "echo", "-o", str(path), "--jobs", "0", "-q"]
        assert main(args + extra) == 0
        out.append(path)
    return out


def test_audit_reports_verifier_errors_selection_and_flakiness(
    labelled: tuple[Path, Path], echo_verdicts: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks, samples = labelled
    report_dir = tmp_path / "report"
    args = ["audit", str(tasks), str(samples), "--verdicts", *map(str, echo_verdicts), "--k", "1,2,5,20"]
    assert main([*args, "-o", str(report_dir), "--bootstrap", "200"]) == 0
    printed = capsys.readouterr().out
    assert ": 10 problems, 200 samples (20 per problem)" in printed
    assert printed == (report_dir / "report.md").read_text()
    assert f"Report: {report_dir / 'report.html'}" in printed

    report = json.loads((report_dir / "report.json").read_text())
    assert report["k"] == [1, 2, 5, 20]
    assert report["answers_from"] == "echo@1"
    (verifier,) = report["verifiers"]
    assert verifier["id"] == "echo@1" and verifier["runs"] == 2
    assert verifier["confusion"] == {"tp": 40, "fp": 10, "tn": 140, "fn": 10, "undecided": 0}
    assert verifier["precision"]["value"] == pytest.approx(0.8)
    assert verifier["false_positive_rate"]["value"] == pytest.approx(10 / 150, abs=1e-6)  # rounded to 6 places
    assert verifier["false_negative_rate"]["value"] == pytest.approx(0.2)
    assert verifier["reasons"]["false_negative"] == {"wrong_answer": 10}
    # Every problem is identical, so every bootstrap replicate agrees.
    assert verifier["precision"]["ci_low"] == verifier["precision"]["ci_high"] == pytest.approx(0.8)
    # The echo verifier is deterministic: judged twice, never flaky.
    assert verifier["flakiness"]["samples_judged_repeatedly"] == 200
    assert verifier["flakiness"]["flaky_samples"] == 0
    # Resampling until echo says yes lands on a right sample 4 times in 5.
    assert verifier["resampling_limit"]["value"] == pytest.approx(0.8)

    curves = {c["name"]: c for c in report["curves"]}
    assert list(curves) == ["coverage", "majority", "best_of_n[echo@1]", "verified_majority[echo@1]", "ensemble"]
    assert curves["coverage"]["value"][0] == pytest.approx(0.25)  # 5 of 20 labelled right
    assert curves["coverage"]["value"][-1] == 1.0
    # All four answers tie at 5 votes; the tie goes to sample 0's answer, whose group is 4/5 right.
    assert curves["majority"]["value"][-1] == pytest.approx(0.8)
    assert curves["verified_majority[echo@1]"]["value"][-1] == pytest.approx(0.8)
    assert all(c["method"] == "exact" for name, c in curves.items() if name != "ensemble")
    assert curves["ensemble"]["details"]["ensemble"]["fitted"] is True

    html = (report_dir / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 2
    assert not re.search(r"""(src|href)=['"]?(https?:|//|[^'"#d])""", html), "the report must stand alone"
    assert (report_dir / "selection.png").read_bytes()[:4] == b"\x89PNG"


def test_graded_scores_get_auroc_calibration_and_weighted_votes(labelled: tuple[Path, Path], tmp_path: Path) -> None:
    tasks, samples = labelled
    # A scorer's verdicts: status "skipped" (it decides nothing), a score that tracks the label.
    scores = [
        {
            "task_id": s["task_id"],
            "sample_index": s["index"],
            "verifier": "scorer@2",
            "status": "skipped",
            "score": 0.9 if s["label"] else (0.6 if s["index"] % 3 == 0 else 0.1),
        }
        for s in load_jsonl(samples)
    ]
    verdicts = write_jsonl(tmp_path / "scores.jsonl", scores)
    report = audit_files(tasks, samples, [verdicts], ks=[1, 20], bootstrap=100)
    (scorer,) = report.json["verifiers"]
    assert scorer["confusion"]["undecided"] == 200
    assert scorer["scores"]["auroc"] == pytest.approx(1.0)
    assert scorer["scores"]["calibration"]["ece"] > 0
    names = [c["name"] for c in report.json["curves"]]
    assert names == ["coverage", "majority", "weighted_majority[scorer@2]", "best_of_n[scorer@2]", "ensemble"]
    assert report.at("best_of_n[scorer@2]", 20) == 1.0
    written = report.write(tmp_path / "scored")
    assert (tmp_path / "scored" / "reliability_scorer_2.png").exists()
    assert written["html"].read_text().count("data:image/png;base64,") == 3


def test_labels_from_another_field(echo_data: tuple[Path, Path], tmp_path: Path) -> None:
    tasks, samples = echo_data
    rows = [{**s, "metadata": {"ok": s["index"] < 10}} for s in load_jsonl(samples)]
    report = audit_files(tasks, write_jsonl(tmp_path / "s.jsonl", rows), labels="metadata.ok", ks=[1], bootstrap=10)
    assert report.at("coverage", 1) == 0.5


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda rows: rows[0].pop("label"), r"samples\.jsonl:1: field 'label': no ground-truth label"),
        (
            lambda rows: rows[3].update(label="maybe"),
            r"samples\.jsonl:4: field 'label': Input should be a valid boolean",
        ),
        (lambda rows: rows[2].update(task_id="t99"), r"samples\.jsonl:3: field 'task_id': no task 't99'"),
        (lambda rows: rows[5].update(index=0), r"samples\.jsonl:6: field 'index': sample 0 of task 't0' appears twice"),
    ],
)
def test_bad_samples_are_named_by_file_line_and_field(
    echo_data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], mutate: object, message: str
) -> None:
    tasks, samples = echo_data
    rows = [{**s, "label": True} for s in load_jsonl(samples)]
    mutate(rows)  # type: ignore[operator]
    path = write_jsonl(tmp_path / "samples.jsonl", rows)
    assert main(["audit", str(tasks), str(path), "-o", str(tmp_path / "r")]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "r").exists()


def test_bad_verdicts_are_named_by_file_line_and_field(
    labelled: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks, samples = labelled
    good = {"task_id": "t0", "sample_index": 0, "verifier": "v@1", "status": "pass", "passed": True}
    path = tmp_path / "verdicts.jsonl"
    path.write_text(
        json.dumps(good)
        + "\n{not json\n"
        + json.dumps({**good, "sample_index": 99})
        + "\n"
        + json.dumps({**good, "status": "pass", "passed": False})
        + "\n"
    )
    assert main(["audit", str(tasks), str(samples), "--verdicts", str(path), "-o", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "verdicts.jsonl:2: not valid JSON" in err
    assert "verdicts.jsonl:3: field 'sample_index': no sample 99 of task 't0'" in err
    assert "verdicts.jsonl:4: Value error, status 'pass' needs passed=True" in err


def test_a_plugin_selector_is_simulated_through_select(
    assay_plugin,
    labelled: tuple[Path, Path],
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    """A selector without `expected_accuracy` gets Monte Carlo through its own `select`; problems with
    different sample counts take per-problem random orders."""
    from assay import hookimpl
    from assay.selection import BaseSelector, Choice

    class AnyRight(BaseSelector):
        name = "any_right"
        uses = frozenset({"label"})

        def select(self, candidates):  # type: ignore[no-untyped-def]
            right = [c for c in candidates if c.label]
            best = min(right or candidates, key=lambda c: c.index)
            return Choice(best.index, best.answer, float(len(right)))

    class Plugin:
        @hookimpl
        def register_selectors(self, register):  # type: ignore[no-untyped-def]
            register(AnyRight())

    assay_plugin(Plugin())
    tasks, samples = labelled
    rows = [s for s in load_jsonl(samples) if not (s["task_id"] in ("t1", "t2") and s["index"] >= 12)]
    ragged = write_jsonl(tmp_path / "ragged.jsonl", rows)
    report = audit_files(
        tasks, ragged, ks=[1, 3, 8, 20], bootstrap=50, selectors=["oracle", "any_right"], mc_samples=400
    )
    simulated, coverage = report.curve("any_right"), report.curve("coverage")
    assert simulated["method"] == "monte_carlo" and simulated["mc_samples"] == 64  # capped: `select` is slow
    for value, exact, se in zip(simulated["value"], coverage["value"], simulated["mc_se"], strict=True):
        assert abs(value - exact) <= 4 * se + 1e-9
    assert simulated["value"][-1] == coverage["value"][-1] == 1.0


def test_answer_key_regroups_votes_with_the_installed_verifier(
    echo_installed: Path, labelled: tuple[Path, Path], tmp_path: Path
) -> None:
    """Verdict answers that all differ vote alone; the echo verifier's answer_key (the stripped text)
    groups them back by what the samples say."""
    tasks, samples = labelled
    verdicts = write_jsonl(
        tmp_path / "echo.jsonl",
        [
            {
                "task_id": s["task_id"],
                "sample_index": s["index"],
                "verifier": "echo@1",
                "status": "fail",
                "passed": False,
                "answer": f"{s['text']} #{s['index']}",
            }
            for s in load_jsonl(samples)
        ],
    )
    raw = audit_files(tasks, samples, [verdicts], ks=[20], bootstrap=10)
    keyed = audit_files(tasks, samples, [verdicts], ks=[20], bootstrap=10, answer_key=True)
    # Every answer alone: the tie goes to sample 0, which is right. Grouped: four answers of 5 votes, the
    # tie again to sample 0's answer, which is right 4 times in 5.
    assert raw.at("majority", 20) == 1.0
    assert keyed.at("majority", 20) == pytest.approx(0.8)
    assert keyed.json["inputs"]["answer_keys"]["echo@1"].startswith("answer_key of echo@1")
