"""How good a score is as a probability of correctness: AUROC, Brier score, calibration error."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


def auroc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Area under the ROC curve (the probability that a random positive outscores a random negative, ties
    counting half), by ranks; None when one class is missing."""
    import numpy as np

    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores), dtype=np.float64)
    # average ranks over ties
    start = 0
    while start < len(sorted_scores):
        stop = start
        while stop + 1 < len(sorted_scores) and sorted_scores[stop + 1] == sorted_scores[start]:
            stop += 1
        ranks[order[start : stop + 1]] = 0.5 * (start + stop) + 1.0
        start = stop + 1
    rank_sum = ranks[labels].sum()
    return float((rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives))


def brier(probabilities: np.ndarray, labels: np.ndarray) -> float:
    import numpy as np

    return float(np.mean((np.asarray(probabilities, dtype=np.float64) - np.asarray(labels, dtype=np.float64)) ** 2))


def calibration(probabilities: np.ndarray, labels: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """Expected calibration error over equal-width bins, and the reliability table behind it."""
    import numpy as np

    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(probabilities, edges[1:-1]), 0, bins - 1)
    table = []
    ece = 0.0
    for b in range(bins):
        members = which == b
        count = int(members.sum())
        if not count:
            continue
        mean_p = float(probabilities[members].mean())
        rate = float(labels[members].mean())
        ece += count / len(labels) * abs(mean_p - rate)
        table.append({"bin": [round(edges[b], 2), round(edges[b + 1], 2)], "count": count,
                      "mean_score": round(mean_p, 4), "fraction_correct": round(rate, 4)})
    return {"ece": float(ece), "bins": table}


def summarise(probabilities: np.ndarray, labels: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    """AUROC, Brier, ECE, and the confusion counts at `threshold`."""
    import numpy as np

    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    predicted = probabilities >= threshold
    cal = calibration(probabilities, labels)
    return {
        "samples": len(labels),
        "positives": int(labels.sum()),
        "auroc": auroc(probabilities, labels),
        "brier": brier(probabilities, labels),
        "ece": cal["ece"],
        "threshold": threshold,
        "true_positive": int((predicted & labels).sum()),
        "false_positive": int((predicted & ~labels).sum()),
        "true_negative": int((~predicted & ~labels).sum()),
        "false_negative": int((~predicted & labels).sum()),
        "reliability": cal["bins"],
    }
