"""The label model's invariants and the `ensemble` selector end to end (Python, `assay select`, the audit)."""

from __future__ import annotations

import gzip
import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from assay.models import Sample, Task, Verdict
from assay.selection import Candidate, candidates_for, get_selector, select
from assay.selection.ensemble import Ensemble, SignalTable, binarise, features
from assay.selection.label_model import LabelModel
from assay.selection.signals import metadata_signals, sample_signals, verdict_signals

ROOT = Path(__file__).resolve().parents[1]
SVAMP = ROOT / "examples" / "data" / "svamp-pot-codex"


def synthetic_votes(
    seed: int, rows: int, accuracies: list[float], abstain: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """Votes of signals with the given accuracies (0.5: pure noise) about hidden labels."""
    rng = np.random.default_rng(seed)
    truth = rng.random(rows) < 0.4
    columns = []
    for accuracy in accuracies:
        right = rng.random(rows) < accuracy
        vote = np.where(right == truth, 1, -1).astype(np.int8)
        vote[rng.random(rows) < abstain] = 0
        columns.append(vote)
    return np.stack(columns, axis=1), truth


# -- the label model ------------------------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(2, 300), signals=st.integers(1, 6))
@example(seed=0, rows=30, signals=2)  # a prior whose fourth digit depends on the order of the sum
def test_label_model_does_not_depend_on_row_order(seed: int, rows: int, signals: int) -> None:
    rng = np.random.default_rng(seed)
    votes = rng.integers(-1, 2, size=(rows, signals)).astype(np.int8)
    names = [f"s{i}" for i in range(signals)]
    groups = rng.integers(0, max(1, rows // 5), size=rows).astype(np.int64)
    permutation = rng.permutation(rows)
    for grouped in (None, groups):
        first = LabelModel.fit(votes, names, groups=grouped)
        second = LabelModel.fit(votes[permutation], names, groups=None if grouped is None else grouped[permutation])
        # The same fit up to the order of a floating-point sum (a rounded report may differ in its last digit).
        assert (first.iterations, first.labels_used) == (second.iterations, second.labels_used)
        assert first.prior == pytest.approx(second.prior, abs=1e-9)
        for one, other in zip(first.signals, second.signals, strict=True):
            assert (one.name, one.duplicate_of) == (other.name, other.duplicate_of)
            assert (one.alpha, one.beta, one.coverage) == pytest.approx(
                (other.alpha, other.beta, other.coverage), abs=1e-9
            )
        np.testing.assert_allclose(first.log_odds(votes)[permutation], second.log_odds(votes[permutation]), atol=1e-9)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_a_pure_noise_signal_gets_about_zero_weight(seed: int) -> None:
    votes, _ = synthetic_votes(seed, 4000, [0.8, 0.75, 0.85, 0.5])
    model = LabelModel.fit(votes, ["good1", "good2", "good3", "noise"])
    weights = {s.name: s.weight for s in model.signals}
    assert abs(weights["noise"]) < 0.3
    assert min(weights["good1"], weights["good2"], weights["good3"]) > 1.5


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_a_perfect_signal_dominates(seed: int) -> None:
    votes, truth = synthetic_votes(seed, 3000, [0.7, 0.7, 0.65, 0.7, 1.0], abstain=0.0)
    model = LabelModel.fit(votes, ["a", "b", "c", "d", "perfect"])
    weights = {s.name: s.weight for s in model.signals}
    # Its weight dwarfs each other signal's (their sum may come near it: four agreeing 0.7 signals outvote it
    # only where all four say the opposite, the case allowed for below).
    assert weights["perfect"] > 2 * max(abs(weights[name]) for name in "abcd")
    # The posterior follows the perfect signal except (at most) where all four others say the opposite,
    # which happens to 0.3^4 of the rows: the model cannot tell those from the perfect signal's mistakes.
    # 0.3^4 is 0.81 %, with a standard deviation of 0.16 % over 3,000 rows: 1.5 % leaves four of them.
    follows = (model.log_odds(votes) > 0) == truth
    assert follows.mean() > 0.985
    against_all = (votes[:, :4] == -votes[:, 4:5]).all(axis=1)
    assert follows[~against_all].all()


def test_a_signal_that_points_the_wrong_way_gets_a_negative_weight() -> None:
    votes, _ = synthetic_votes(3, 3000, [0.8, 0.8, 0.2])
    weights = {s.name: s.weight for s in LabelModel.fit(votes, ["a", "b", "reversed"]).signals}
    assert weights["reversed"] < -1.0 < 1.0 < min(weights["a"], weights["b"])


def test_labels_anchor_the_fit_and_are_counted() -> None:
    # Two signals that agree with each other but not with the truth, and one that is right: without labels
    # the agreeing pair wins; labels on a tenth of the rows show which one is right.
    rng = np.random.default_rng(0)
    truth = rng.random(2000) < 0.5
    decoy = np.where(rng.random(2000) < 0.5, 1, -1).astype(np.int8)
    right = np.where(truth, 1, -1).astype(np.int8)
    votes = np.stack([decoy, decoy, right], axis=1)
    labels = np.full(2000, np.nan)
    labels[:200] = truth[:200]
    model = LabelModel.fit(votes, ["decoy", "decoy_copy", "right"], labels=labels)
    assert model.labels_used == 200
    fits = {s.name: s for s in model.signals}
    assert fits["decoy_copy"].duplicate_of == "decoy"  # counted once
    assert fits["right"].weight > 5 * abs(fits["decoy"].weight)


def test_label_model_rejects_a_misshapen_vote_matrix() -> None:
    with pytest.raises(ValueError, match="votes must be"):
        LabelModel.fit(np.zeros((3, 2), dtype=np.int8), ["only one"])


def test_label_model_with_no_rows_or_no_signals_still_fits() -> None:
    assert LabelModel.fit(np.zeros((0, 2), dtype=np.int8), ["a", "b"]).to_json()["signals"]
    empty = LabelModel.fit(np.zeros((5, 0), dtype=np.int8), [])
    assert empty.log_odds(np.zeros((5, 0), dtype=np.int8)).shape == (5,)


# -- signals ---------------------------------------------------------------------------------------------------------


def test_signals_read_numbers_from_metadata_and_verdicts_and_ignore_the_rest() -> None:
    hostile = {
        "logprob": -3.5,
        "ok": True,
        "huge": 10**400,
        "nan": float("nan"),
        "text": "7",
        "list": [1, 2],
        "judge": {"score": 0.9, "deep": {"deeper": {"deepest": {"x": 1.0}}}},
    }
    signals = metadata_signals(hostile)
    assert signals == {"metadata:logprob": -3.5, "metadata:ok": 1.0, "metadata:judge.score": 0.9}
    own = sample_signals(Sample(task_id="t", index=0, text="x" * 99, metadata=hostile))
    assert own["text:chars"] == pytest.approx(math.log(100))
    verdict = Verdict(
        task_id="t",
        sample_index=0,
        verifier="check@1",
        status="fail",
        passed=False,
        score=0.25,
        details={"signals": {"uses_all_numbers": 1, "name": "x"}},
    )
    assert verdict_signals(verdict) == {"check@1:score": 0.25, "check@1:passed": 0.0, "check@1:uses_all_numbers": 1.0}


def test_candidates_for_carries_the_signals_of_every_verifier() -> None:
    task = Task(id="t", prompt="p")
    samples = [Sample(task_id="t", index=i, text=str(i % 2), metadata={"rank": i}) for i in range(4)]
    first = [Verdict(task_id="t", sample_index=i, verifier="a@1", status="pass", passed=True) for i in range(4)]
    second = [Verdict(task_id="t", sample_index=i, verifier="b@1", status="skipped", score=i / 4) for i in range(4)]
    candidates = candidates_for(task, samples, first, other_verdicts=second)
    assert candidates[3].signals["b@1:score"] == 0.75
    assert candidates[3].signals["a@1:passed"] == 1.0
    assert candidates[3].signals["metadata:rank"] == 3.0


# -- the selector ----------------------------------------------------------------------------------------------------


def problems_with_a_telling_signal(seed: int, count: int = 60) -> list[list[Candidate]]:
    """Problems where the right answer is a minority that a signal marks; the vote is often wrong."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        candidates = []
        for index in range(12):
            right = index < 4
            answer = "right" if right else ("popular" if index < 10 else f"odd{index}")
            signals = {"check": float(right if rng.random() < 0.95 else not right), "noise": float(rng.random())}
            candidates.append(Candidate(index, answer, label=right, signals=signals))
        out.append([candidates[i] for i in rng.permutation(len(candidates))])
    return out


def test_ensemble_choices_do_not_depend_on_the_order_of_samples_or_problems() -> None:
    problems = problems_with_a_telling_signal(1)
    fitted = Ensemble().fit(problems)
    rng = np.random.default_rng(2)
    shuffled = [[p[i] for i in rng.permutation(len(p))] for p in problems]
    order = rng.permutation(len(problems))
    refitted = Ensemble().fit([shuffled[i] for i in order])
    assert fitted.report() == refitted.report()
    for problem, reordered in zip(problems, shuffled, strict=True):
        assert fitted.select(problem) == refitted.select(reordered)


def test_ensemble_with_a_few_labels_follows_the_signal_that_is_right() -> None:
    problems = problems_with_a_telling_signal(3)
    # Labels on five problems only; the others are unlabelled.
    partly = [
        [c if row < 5 else Candidate(c.index, c.answer, signals=c.signals) for c in problem]
        for row, problem in enumerate(problems)
    ]
    fitted = Ensemble(rounds=50).fit(partly, use_labels=True)
    assert fitted.report()["labels_used"] == 5 * 4  # labelled answers: right, popular and two odd ones each
    chosen = [fitted.select(p) for p in problems]
    assert sum(c is not None and c.answer == "right" for c in chosen) >= 0.9 * len(problems)
    assert sum(select("majority", p).answer == "right" for p in problems) == 0  # type: ignore[union-attr]


def test_ensemble_never_raises_on_thin_input() -> None:
    ensemble = get_selector("ensemble")
    assert ensemble.select([]) is None
    lone = ensemble.select([Candidate(7)])
    assert lone is not None and lone.index == 7
    no_answers = ensemble.select([Candidate(1, signals={"s": 0.1}), Candidate(0, signals={"s": 0.9})])
    assert no_answers is not None and no_answers.index == 0
    fitted = Ensemble().fit([[Candidate(0, "a", signals={"s": 1.0})]])
    # Signals it was not fitted on are ignored; missing ones abstain.
    assert fitted.select([Candidate(0, "a", signals={"other": 1.0}), Candidate(1, "b")]) is not None


def test_features_are_normalised_per_problem() -> None:
    table = SignalTable.from_candidates(
        [
            [Candidate(0, "x", signals={"s": 100.0}), Candidate(1, "x", signals={"s": 101.0}), Candidate(2, "y")],
            [Candidate(0, "z", signals={"s": 1.0}), Candidate(1, "w", signals={"s": 2.0})],
        ]
    )
    values, names = features(table)
    assert names == ["vote_share", "answer_mean:s"]
    votes = binarise(values, table.valid)
    # Problem 0: answer x has 2 of 3 votes (above the mean share), y one; y has no `s` (abstains).
    assert votes[0, :3, 0].tolist() == [1, 1, -1]
    assert votes[0, 2, 1] == 0
    # Problem 1: the same scale-free vote, whatever the raw magnitudes.
    assert votes[1, :2, 1].tolist() == [-1, 1]


# -- assay select and the audit --------------------------------------------------------------------------------------


def bundled_svamp(tmp_path: Path, problems: int = 80) -> tuple[Path, Path]:
    """The first problems of the bundled SVAMP set, each sample with a made-up weak signal in metadata."""
    with gzip.open(SVAMP / "tasks.jsonl.gz", "rt") as handle:
        tasks = [json.loads(line) for line in handle][:problems]
    keep = {t["id"] for t in tasks}
    rng = np.random.default_rng(0)
    samples = []
    with gzip.open(SVAMP / "samples.jsonl.gz", "rt") as handle:
        rows = [json.loads(line) for line in handle]
    for sample in rows:
        if sample["task_id"] in keep:
            sample["metadata"] = {"judge": float(sample["label"]) if rng.random() < 0.8 else float(rng.random() < 0.5)}
            samples.append(sample)
    tasks_path, samples_path = tmp_path / "tasks.jsonl", tmp_path / "samples.jsonl"
    tasks_path.write_text("".join(json.dumps(t) + "\n" for t in tasks))
    samples_path.write_text("".join(json.dumps(s) + "\n" for s in samples))
    return tasks_path, samples_path


def test_assay_select_fits_the_ensemble_over_every_task(tmp_path: Path) -> None:
    tasks, samples = bundled_svamp(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "assay", "select", str(tasks), str(samples), "--selector", "ensemble"],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 80 and all(line["selector"] == "ensemble" for line in lines)
    ensemble_right = sum(bool(line["label"]) for line in lines)
    majority = subprocess.run(
        [sys.executable, "-m", "assay", "select", str(tasks), str(samples), "--selector", "majority"],
        capture_output=True,
        text=True,
        check=True,
    )
    majority_right = sum(bool(json.loads(line)["label"]) for line in majority.stdout.splitlines())
    # The judge (right 90 % of the time) lifts the choice above the plain vote.
    assert ensemble_right > majority_right
    assert "correct by the labels" in result.stderr


def test_the_audit_reports_the_ensemble_and_its_weights(tmp_path: Path) -> None:
    from assay.audit import audit_files

    tasks, samples = bundled_svamp(tmp_path, problems=40)
    report = audit_files(tasks, samples, selectors=["majority", "ensemble"], ks=[1, 30], bootstrap=50)
    curve = report.curve("ensemble")
    assert curve["method"] == "monte_carlo"
    assert curve["ci_low"][-1] <= curve["value"][-1] <= curve["ci_high"][-1]
    # At k = 1 every selector takes the one sample.
    assert curve["value"][0] == pytest.approx(report.at("majority", 1), abs=0.08)
    weights = {s["signal"]: s for s in curve["details"]["ensemble"]["signals"]}
    assert weights["answer_mean:metadata:judge"]["weight"] > 0
    assert curve["details"]["ensemble"]["labels_used"] == 0  # the audit never fits on the labels
    assert report.at("ensemble", 30) > report.at("majority", 30)


def test_the_readme_example_runs_as_written() -> None:
    readme = (ROOT / "core" / "assay" / "selection" / "README.md").read_text()
    example = readme.split("## The ensemble")[1].split("```python\n")[1].split("```")[0]
    result = subprocess.run(
        [sys.executable, "-c", example], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    lines = result.stdout.splitlines()
    assert lines[0] == "majority 9 of 100"
    assert lines[1] == "ensemble 14 of 100"


# -- robustness: properties on synthetic problems ----------------------------------------------------------------


def synthetic_problems(
    seed: int,
    count: int,
    samples: int,
    right_share: float,
    checks: dict[str, tuple[float, float]],
    noise: int = 0,
) -> list[list[Candidate]]:
    """Problems whose right answer ("right") has about `right_share` of the samples and whose wrong samples
    scatter over six wrong answers; each check passes a right sample with its first rate and a wrong one
    with its second (bounded 0/1 signals); `noise` extra signals are unbounded random numbers."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        candidates = []
        for index in rng.permutation(samples):
            right = bool(rng.random() < right_share)
            answer = "right" if right else f"wrong{rng.integers(6)}"
            signals = {name: float(rng.random() < rates[0 if right else 1]) for name, rates in checks.items()}
            signals.update({f"noise{i}": float(rng.normal() * 1e3) for i in range(noise)})
            candidates.append(Candidate(int(index), answer, label=right, signals=signals))
        out.append(candidates)
    return out


def share_right(selector: object, problems: list[list[Candidate]]) -> float:
    chosen = [select(selector, p) for p in problems]  # type: ignore[arg-type]
    return sum(c is not None and c.answer == "right" for c in chosen) / len(problems)


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    right_share=st.floats(0.2, 0.5),
    adversarial=st.floats(0.5, 0.9),
    noise=st.integers(0, 3),
)
def test_where_majority_is_right_the_ensemble_is_not_worse_beyond_noise(
    seed: int, right_share: float, adversarial: float, noise: int
) -> None:
    # A pure-noise check, a check that passes wrong samples more often than right ones, and unbounded noise.
    problems = synthetic_problems(
        seed, 150, 15, right_share, {"coin": (0.5, 0.5), "adversarial": (1 - adversarial, adversarial)}, noise
    )
    fitted = Ensemble().fit(problems)
    majority = share_right("majority", problems)
    # Beyond noise: a pick that changes on a close call is a coin flip; 150 problems allow about 4 of them.
    assert share_right(fitted, problems) >= majority - 0.03, fitted.report()["reason"]


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), right_share=st.floats(0.25, 0.45))
def test_a_perfect_check_is_followed(seed: int, right_share: float) -> None:
    # The premise of every unlabelled rule is a vote better than chance: here the right answer has a quarter
    # to almost half of 20 samples, against six wrong answers, so majority is right on about half the problems.
    problems = synthetic_problems(seed, 120, 20, right_share, {"perfect": (1.0, 0.0), "coin": (0.5, 0.5)}, noise=1)
    problems = [p for p in problems if any(c.label for c in p)]  # coverage 1 where a right sample exists
    fitted = Ensemble().fit(problems)
    assert "perfect" in fitted.report()["rule"]
    # Followed wherever the right answer has more than a sample or two: the check counts by its likelihood
    # ratio as the vote sees it, which understates it, so one passing sample can still lose to many failing.
    assert share_right(fitted, problems) >= 0.95
    assert share_right(fitted, problems) >= share_right("majority", problems)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), adversarial=st.floats(0.65, 0.95))
def test_an_adversarial_signal_never_weighs_for_an_answer(seed: int, adversarial: float) -> None:
    # It passes wrong samples more often than right ones: the vote finds it backing its losers, and without
    # labels it weights nothing (never its opposite either: the vote may be the one that is fooled).
    problems = synthetic_problems(seed, 150, 15, 0.4, {"adversarial": (1 - adversarial, adversarial)})
    fitted = Ensemble().fit(problems)
    report = fitted.report()
    check = next(c for c in report["checks"] if c["signal"] == "adversarial")
    assert check["effect"] < 0 and not check["confirmed"]
    assert fitted.rule is not None and not fitted.rule.checks
    weight = next(s["weight"] for s in report["signals"] if s["signal"] == "answer_mean:adversarial")
    assert weight <= 0.0


def shuffled(problems: list[list[Candidate]], seed: int) -> tuple[list[list[Candidate]], list[int]]:
    """The problems in another order, each with its samples in another order; and where each one went."""
    rng = np.random.default_rng(seed)
    inner = [[p[i] for i in rng.permutation(len(p))] for p in problems]
    order = [int(i) for i in rng.permutation(len(inner))]
    where = [0] * len(order)
    for position, original in enumerate(order):
        where[original] = position
    return [inner[i] for i in order], where


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), labelled=st.booleans())
def test_the_ensemble_does_not_depend_on_the_order_of_samples_or_problems(seed: int, labelled: bool) -> None:
    problems = synthetic_problems(seed, 40, 9, 0.4, {"check": (0.8, 0.3), "coin": (0.5, 0.5)}, noise=2)
    # Missing values, samples without an answer, and (sometimes) labels on a few problems only.
    problems = [
        [
            Candidate(
                c.index,
                None if c.index == 0 else c.answer,
                label=c.label if labelled and row < 10 else None,
                signals={k: v for k, v in c.signals.items() if not (k == "noise0" and c.index % 3 == 0)},
            )
            for c in p
        ]
        for row, p in enumerate(problems)
    ]
    fitted = Ensemble(seed=seed % 7).fit(problems, use_labels=labelled)
    other, where = shuffled(problems, seed)
    refitted = Ensemble(seed=seed % 7).fit(other, use_labels=labelled)
    assert fitted.report() == refitted.report()
    for row, problem in enumerate(problems):
        assert fitted.select(problem) == refitted.select(other[where[row]])


def test_with_labels_every_rule_is_scored_on_them_and_the_labels_are_counted() -> None:
    problems = synthetic_problems(5, 60, 12, 0.3, {"good": (0.9, 0.2), "coin": (0.5, 0.5)})
    unlabelled = Ensemble().fit(problems)
    assert unlabelled.report()["labels_used"] == 0
    fitted = Ensemble().fit(problems, use_labels=True)
    report = fitted.report()
    assert report["labels_used"] == sum(len({c.answer for c in p}) for p in problems)
    assert "good" in report["rule"] and "labelled problem" in report["reason"]
    accuracy = {row["rule"]: row["accuracy"] for row in report["rules"]}
    assert accuracy[report["rule"]] > accuracy["majority"]
    assert share_right(fitted, problems) > share_right("majority", problems)


def test_too_few_problems_or_no_confirmed_signal_means_a_marked_majority_vote() -> None:
    problems = synthetic_problems(9, 5, 10, 0.4, {"check": (0.9, 0.1)})
    fitted = Ensemble().fit(problems)
    assert fitted.report()["rule"] == "majority" and "at least" in fitted.report()["reason"]
    choice = fitted.select(problems[0])
    assert choice is not None and choice.fallback
    assert choice.index == select("majority", problems[0]).index  # type: ignore[union-attr]
    noise_only = synthetic_problems(9, 80, 10, 0.4, {}, noise=2)
    assert "no check is confirmed" in Ensemble().fit(noise_only).report()["reason"]


@settings(max_examples=25, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just(1e308), st.just(-1e308)),
        min_size=1,
        max_size=12,
    ),
    answers=st.lists(st.one_of(st.none(), st.sampled_from("ab")), min_size=1, max_size=12),
)
def test_the_ensemble_never_raises_on_hostile_signals(values: list[float], answers: list[str | None]) -> None:
    problem = [
        Candidate(i, answers[i % len(answers)], signals={"x": value, "y": float(i % 2)})
        for i, value in enumerate(values)
    ]
    fitted = Ensemble().fit([problem] * 12)
    choice = fitted.select(problem)
    assert choice is not None and choice.index in range(len(values))
    assert math.isfinite(choice.support)


def test_assay_select_marks_the_ensemble_s_majority_fallback(tmp_path: Path) -> None:
    # The bundled SVAMP samples with no check at all: nothing for the vote to confirm, so the ensemble is
    # majority vote, and every line says it fell back.
    with gzip.open(SVAMP / "tasks.jsonl.gz", "rt") as handle:
        tasks = [json.loads(line) for line in handle][:30]
    keep = {t["id"] for t in tasks}
    with gzip.open(SVAMP / "samples.jsonl.gz", "rt") as handle:
        samples = [s for s in map(json.loads, handle) if s["task_id"] in keep]
    tasks_path, samples_path = tmp_path / "tasks.jsonl", tmp_path / "samples.jsonl"
    tasks_path.write_text("".join(json.dumps(t) + "\n" for t in tasks))
    samples_path.write_text("".join(json.dumps({**s, "metadata": {}}) + "\n" for s in samples))
    chosen = {}
    for selector in ("ensemble", "majority"):
        result = subprocess.run(
            [sys.executable, "-m", "assay", "select", str(tasks_path), str(samples_path), "--selector", selector],
            capture_output=True,
            text=True,
            check=True,
        )
        chosen[selector] = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(line["fallback"] for line in chosen["ensemble"])
    pick = [(line["task_id"], line["sample_index"]) for line in chosen["ensemble"]]
    assert pick == [(line["task_id"], line["sample_index"]) for line in chosen["majority"]]


def test_labels_overrule_the_unlabelled_rule_only_on_clear_evidence() -> None:
    # The vote confirms the check, but the labels on many problems show that the signal it does not see
    # ("oracle", not bounded: it weights nothing without labels) is far better: they overrule.
    problems = synthetic_problems(11, 80, 12, 0.35, {"check": (0.7, 0.4)})
    problems = [
        [Candidate(c.index, c.answer, label=c.label, signals={**c.signals, "oracle": 5.0 * c.label}) for c in p]
        for p in problems
    ]
    unlabelled = Ensemble().fit(problems)
    assert "check" in unlabelled.report()["rule"] and "oracle" not in unlabelled.report()["rule"]
    assert "oracle" in Ensemble().fit(problems, use_labels=True).report()["rule"]
    # Labels on one problem prove nothing: the unlabelled rule stays.
    one = [p if row == 0 else [replace(c, label=None) for c in p] for row, p in enumerate(problems)]
    assert Ensemble().fit(one, use_labels=True).report()["rule"] == unlabelled.report()["rule"]
