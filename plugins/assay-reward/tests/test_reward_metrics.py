"""AUROC and calibration against their definitions."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from assay_reward.metrics import auroc, calibration, summarise


def _pairwise_auroc(scores: list[float], labels: list[bool]) -> float:
    positives = [s for s, y in zip(scores, labels, strict=True) if y]
    negatives = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


@given(
    data=st.lists(st.tuples(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]) | st.floats(0, 1), st.booleans()),
                  min_size=2, max_size=60)
)
@settings(max_examples=200, deadline=None)
def test_auroc_is_the_pairwise_win_rate(data: list[tuple[float, bool]]) -> None:
    scores = [s for s, _ in data]
    labels = [y for _, y in data]
    value = auroc(np.array(scores), np.array(labels))
    if all(labels) or not any(labels):
        assert value is None
    else:
        assert value is not None
        assert abs(value - _pairwise_auroc(scores, labels)) < 1e-9


def test_calibration_of_perfect_and_overconfident_scores() -> None:
    labels = np.array([True] * 30 + [False] * 70)
    honest = np.full(100, 0.3)
    assert calibration(honest, labels)["ece"] < 1e-9
    overconfident = np.full(100, 0.9)
    assert abs(calibration(overconfident, labels)["ece"] - 0.6) < 1e-9


def test_summary_counts_add_up() -> None:
    scores = np.array([0.9, 0.8, 0.2, 0.6, 0.1])
    labels = np.array([True, False, False, True, True])
    summary = summarise(scores, labels, threshold=0.5)
    assert (summary["true_positive"], summary["false_positive"], summary["true_negative"],
            summary["false_negative"]) == (2, 1, 1, 1)
    assert summary["samples"] == 5 and summary["positives"] == 3
