"""Statistics for the audit: the bootstrap over problems, verifier accuracy against the ground truth,
agreement, calibration, and the power-law fit of coverage.

Confidence intervals come from one bootstrap over problems (percentile intervals), shared by every
figure of a report so that the intervals are paired: samples of one problem are correlated, so problems,
not samples, are what is resampled.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass
class Bootstrap:
    """`weights[b, p]`: how often problem p is drawn in replicate b (each row sums to the problem count)."""

    weights: FloatArray
    confidence: float

    @classmethod
    def draw(cls, problems: int, replicates: int, rng: np.random.Generator, confidence: float = 0.95) -> Bootstrap:
        if problems == 0 or replicates <= 0:
            return cls(np.zeros((0, problems)), confidence)
        draws = rng.integers(0, problems, size=(replicates, problems))
        draws += (np.arange(replicates) * problems)[:, None]
        counts = np.bincount(draws.ravel(), minlength=replicates * problems).reshape(replicates, problems)
        return cls(counts.astype(np.float64), confidence)

    @property
    def replicates(self) -> int:
        return int(self.weights.shape[0])

    def means(self, per_problem: FloatArray) -> FloatArray:
        """Bootstrap replicates of the mean over problems (replicates x ...)."""
        problems = per_problem.shape[0]
        flat = per_problem.reshape(problems, -1)
        out: FloatArray = (self.weights @ flat / max(problems, 1)).reshape((self.replicates, *per_problem.shape[1:]))
        return out

    def sums(self, per_problem: FloatArray) -> FloatArray:
        problems = per_problem.shape[0]
        out: FloatArray = (self.weights @ per_problem.reshape(problems, -1)).reshape(
            (self.replicates, *per_problem.shape[1:])
        )
        return out

    def interval(self, replicates: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Percentile interval over axis 0, ignoring replicates where the figure is undefined (NaN)."""
        if self.replicates == 0:
            nan = np.full(replicates.shape[1:], np.nan)
            return nan, nan
        tail = (1.0 - self.confidence) / 2.0
        # All-NaN slices (a rate with no denominator in any replicate) are expected, not worth a warning.
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            low = np.nanquantile(replicates, tail, axis=0)
            high = np.nanquantile(replicates, 1.0 - tail, axis=0)
        return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)


def _ratio(numerator: NDArray[Any], denominator: NDArray[Any]) -> FloatArray:
    with np.errstate(invalid="ignore", divide="ignore"):
        out: FloatArray = np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan)
    return out


def figure(value: float, low: float, high: float) -> dict[str, float | None]:
    """A figure with its interval, JSON-ready (NaN becomes null)."""

    def clean(x: float) -> float | None:
        return None if x is None or not math.isfinite(x) else round(float(x), 6)

    return {"value": clean(value), "ci_low": clean(low), "ci_high": clean(high)}


# -- a verifier against the ground truth ---------------------------------------------------------------------

CONFUSION = ("tp", "fp", "tn", "fn", "undecided")


def confusion_per_problem(passed: NDArray[np.int8], label: NDArray[np.bool_], valid: NDArray[np.bool_]) -> FloatArray:
    """(problems, 5): true/false positives and negatives, and samples the verifier did not decide."""
    decided = valid & (passed >= 0)
    says_pass = passed == 1
    cells = np.stack(
        [
            decided & says_pass & label,
            decided & says_pass & ~label,
            decided & ~says_pass & ~label,
            decided & ~says_pass & label,
            valid & ~decided,
        ],
        axis=-1,
    )
    out: FloatArray = cells.sum(axis=1).astype(np.float64)
    return out


def rates(counts: FloatArray) -> dict[str, FloatArray]:
    """Precision, recall, FPR, FNR, accuracy from confusion counts (... x 5)."""
    tp, fp, tn, fn = (counts[..., i] for i in range(4))
    return {
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "false_positive_rate": _ratio(fp, fp + tn),
        "false_negative_rate": _ratio(fn, fn + tp),
        "accuracy": _ratio(tp + tn, tp + fp + tn + fn),
        "undecided_rate": _ratio(counts[..., 4], counts.sum(axis=-1)),
    }


def kappa_cells(first: NDArray[np.bool_], second: NDArray[np.bool_], both: NDArray[np.bool_]) -> FloatArray:
    """(problems, 4) counts of (yes, yes), (yes, no), (no, yes), (no, no) where both decided."""
    cells = np.stack(
        [both & first & second, both & first & ~second, both & ~first & second, both & ~first & ~second], -1
    )
    out: FloatArray = cells.sum(axis=1).astype(np.float64)
    return out


def cohen_kappa(cells: FloatArray) -> FloatArray:
    """Cohen's kappa from (... x 4) agreement counts; NaN where it is undefined."""
    yy, yn, ny, nn = (cells[..., i] for i in range(4))
    total = yy + yn + ny + nn
    observed = _ratio(yy + nn, total)
    chance = _ratio((yy + yn) * (yy + ny) + (ny + nn) * (yn + nn), total * total)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: FloatArray = np.where(chance < 1, (observed - chance) / (1 - chance), np.nan)
    return out


def auroc(score: FloatArray, label: NDArray[np.bool_]) -> tuple[float, float]:
    """Area under the ROC curve (the chance a correct sample outscores a wrong one, ties counting half) and
    its Hanley-McNeil standard error."""
    positives = int(label.sum())
    negatives = int(label.size - positives)
    if positives == 0 or negatives == 0:
        return math.nan, math.nan
    wrong = np.sort(score[~label])
    right = np.sort(score[label])  # sorted queries walk the sorted array in order: far fewer cache misses
    below = np.searchsorted(wrong, right, side="left").astype(np.float64)
    equal = np.searchsorted(wrong, right, side="right") - below
    area = float((below.sum() + 0.5 * equal.sum()) / (positives * negatives))
    q1, q2 = area / (2 - area), 2 * area * area / (1 + area)
    variance = (area * (1 - area) + (positives - 1) * (q1 - area**2) + (negatives - 1) * (q2 - area**2)) / (
        positives * negatives
    )
    return area, float(math.sqrt(max(variance, 0.0)))


def reliability(score: FloatArray, label: NDArray[np.bool_], bins: int = 10) -> dict[str, Any]:
    """Expected calibration error over equal-width bins on [0, 1], and the reliability diagram's points."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(score, edges[1:-1]), 0, bins - 1)
    count = np.bincount(which, minlength=bins).astype(np.float64)
    confidence = _ratio(np.bincount(which, weights=score, minlength=bins), count)
    accuracy = _ratio(np.bincount(which, weights=label.astype(np.float64), minlength=bins), count)
    filled = count > 0
    ece = float(np.sum(count[filled] / count.sum() * np.abs(accuracy[filled] - confidence[filled])))
    return {
        "ece": ece,
        "bins": [
            {
                "low": float(edges[i]),
                "high": float(edges[i + 1]),
                "count": int(count[i]),
                "mean_score": None if not filled[i] else float(confidence[i]),
                "fraction_correct": None if not filled[i] else float(accuracy[i]),
            }
            for i in range(bins)
        ],
    }


# -- coverage ---------------------------------------------------------------------------------------------------


@dataclass
class PowerLawFit:
    """log c(k) = a * k^b (Large Language Monkeys' exponentiated power law); a < 0, b < 0."""

    a: float
    b: float
    r2: float  # on log coverage
    rmse: float  # on coverage
    points: int

    def coverage(self, k: FloatArray | float) -> FloatArray:
        out: FloatArray = np.exp(self.a * np.power(np.asarray(k, dtype=np.float64), self.b))
        return out

    def k_for(self, target: float) -> float:
        """The k at which the fitted curve reaches `target` coverage (inf when it never does)."""
        if not 0 < target < 1 or self.b >= 0 or self.a >= 0:
            return math.inf
        try:
            return float((math.log(target) / self.a) ** (1.0 / self.b))
        except OverflowError:  # a flat fit: the target is out of any reach
            return math.inf


def fit_power_law(k: FloatArray, coverage: FloatArray) -> PowerLawFit | str:
    """Least squares on log coverage, started from the straight line log(-log c) = log(-a) + b log k.

    Returns a reason (a string) when the curve cannot be fitted.
    """
    k = np.asarray(k, dtype=np.float64)
    coverage = np.asarray(coverage, dtype=np.float64)
    usable = (coverage > 0) & np.isfinite(coverage)
    if usable.sum() < 3:
        return "fewer than three k with non-zero coverage"
    k, coverage = k[usable], coverage[usable]
    log_c = np.log(np.minimum(coverage, 1.0))
    inner = (coverage < 1.0) & (coverage > 0.0)
    if inner.sum() < 2:
        return "coverage is already 100 % at (almost) every k"
    slope, intercept = np.polyfit(np.log(k[inner]), np.log(-log_c[inner]), 1)
    a, b = -math.exp(intercept), float(slope)
    # Gauss-Newton on the residuals of log c, with step halving: two parameters, a handful of steps.
    log_k = np.log(k)

    def loss(a_: float, b_: float) -> float:
        with np.errstate(over="ignore", invalid="ignore"):  # a wild trial step just loses
            value = float(np.sum((log_c - a_ * np.exp(b_ * log_k)) ** 2))
        return value if math.isfinite(value) else math.inf

    current = loss(a, b)
    for _ in range(100):
        power = np.exp(b * log_k)  # b stays finite: only steps that lower the loss are taken
        residual = log_c - a * power
        jacobian = np.stack([power, a * power * log_k], axis=1)
        step, *_ = np.linalg.lstsq(jacobian, residual, rcond=None)
        scale = 1.0
        while scale > 1e-6:
            trial_a, trial_b = a + scale * step[0], b + scale * step[1]
            trial = loss(trial_a, trial_b)
            if trial_a < 0 and trial <= current:
                break
            scale /= 2
        else:
            break
        improvement = current - trial
        a, b, current = trial_a, trial_b, trial
        if improvement <= 1e-15 * max(current, 1e-300):
            break
    predicted = a * np.exp(b * log_k)
    total = float(np.sum((log_c - log_c.mean()) ** 2))
    r2 = 1.0 - current / total if total > 0 else float("nan")
    rmse = float(np.sqrt(np.mean((np.exp(predicted) - coverage) ** 2)))
    return PowerLawFit(a=float(a), b=float(b), r2=r2, rmse=rmse, points=len(k))


def rounded(values: Any) -> list[float | None]:
    """Values as report.json holds them: six places, None for what is not finite."""
    return [None if not math.isfinite(float(v)) else round(float(v), 6) for v in np.asarray(values).ravel()]
