"""The audit's statistics against hand computations and brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.audit import stats


def test_cohen_kappa_by_hand() -> None:
    # 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no: observed 0.7, chance (25*30 + 25*20) / 50^2 = 0.5.
    assert float(stats.cohen_kappa(np.array([20.0, 5, 10, 15]))) == pytest.approx(0.4)
    assert float(stats.cohen_kappa(np.array([10.0, 0, 0, 10]))) == pytest.approx(1.0)
    assert math.isnan(float(stats.cohen_kappa(np.array([10.0, 0, 0, 0]))))  # one category only: undefined


def test_confusion_and_rates() -> None:
    passed = np.array([[1, 1, 0, 0, -1, 1]], dtype=np.int8)
    label = np.array([[True, False, True, False, True, False]])
    valid = np.array([[True] * 5 + [False]])
    counts = stats.confusion_per_problem(passed, label, valid)
    assert counts.tolist() == [[1, 1, 1, 1, 1]]
    rates = stats.rates(counts.sum(axis=0))
    assert rates["precision"] == 0.5 and rates["false_positive_rate"] == 0.5 and rates["undecided_rate"] == 0.2


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0, -2.0]), st.booleans()), min_size=2, max_size=40))
def test_auroc_is_the_pairwise_win_rate(pairs: list[tuple[float, bool]]) -> None:
    score = np.array([s for s, _ in pairs])
    label = np.array([y for _, y in pairs])
    area, se = stats.auroc(score, label)
    right, wrong = score[label], score[~label]
    if not len(right) or not len(wrong):
        assert math.isnan(area)
        return
    expected = np.mean([(r > w) + 0.5 * (r == w) for r in right for w in wrong])
    assert area == pytest.approx(expected)
    assert se >= 0


def test_reliability_and_ece() -> None:
    rng = np.random.default_rng(0)
    score = np.repeat([0.15, 0.85], 10_000)
    calibrated = rng.random(score.size) < score
    result = stats.reliability(score, calibrated)
    assert result["ece"] < 0.01
    filled = [b for b in result["bins"] if b["count"]]
    assert [b["count"] for b in filled] == [10_000, 10_000]
    overconfident = stats.reliability(score, rng.random(score.size) < 0.5)
    assert overconfident["ece"] == pytest.approx(0.35, abs=0.01)


def test_power_law_fit_recovers_its_parameters() -> None:
    k = np.arange(1, 200, dtype=np.float64)
    coverage = np.exp(-1.3 * k**-0.45)
    fit = stats.fit_power_law(k, coverage)
    assert isinstance(fit, stats.PowerLawFit)
    assert fit.a == pytest.approx(-1.3, rel=1e-6) and fit.b == pytest.approx(-0.45, rel=1e-6)
    assert fit.r2 == pytest.approx(1.0) and fit.rmse < 1e-9
    k99 = fit.k_for(0.99)
    assert float(fit.coverage(k99)) == pytest.approx(0.99)
    assert stats.fit_power_law(k[:2], coverage[:2]) == "fewer than three k with non-zero coverage"
    assert stats.fit_power_law(k, np.ones_like(k)) == "coverage is already 100 % at (almost) every k"


def test_power_law_fit_on_noisy_coverage() -> None:
    rng = np.random.default_rng(1)
    k = np.unique(np.round(np.geomspace(1, 1000, 30)))
    coverage = np.clip(np.exp(-2.0 * k**-0.3) + rng.normal(0, 0.003, k.size), 1e-3, 0.999)
    fit = stats.fit_power_law(k, coverage)
    assert isinstance(fit, stats.PowerLawFit)
    assert fit.a == pytest.approx(-2.0, abs=0.1) and fit.b == pytest.approx(-0.3, abs=0.03)


def test_bootstrap_is_seeded_and_its_intervals_cover_the_mean() -> None:
    first = stats.Bootstrap.draw(50, 400, np.random.default_rng(7))
    again = stats.Bootstrap.draw(50, 400, np.random.default_rng(7))
    assert (first.weights == again.weights).all()
    assert (first.weights.sum(axis=1) == 50).all()
    values = np.random.default_rng(0).random((50, 3))
    low, high = first.interval(first.means(values))
    assert ((low <= values.mean(axis=0)) & (values.mean(axis=0) <= high)).all()
    # The standard error of a mean of 50 uniforms is about 0.041: the 95 % interval spans about 0.16.
    assert ((high - low) > 0.08).all() and ((high - low) < 0.25).all()
