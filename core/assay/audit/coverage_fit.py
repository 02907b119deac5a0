"""Coverage against k fitted as log c(k) = a k^b, extrapolated (never past `FIT_REACH` times the largest k
seen) with a bootstrap band, and the k each target coverage needs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from assay.audit import estimators, stats
from assay.audit.data import AuditData
from assay.audit.stats import rounded

#: Bootstrap replicates refitted for the fit's band (each is a small least-squares fit).
FIT_REPLICATES = 200


#: The fit is extrapolated to at most this many times the largest observed k.
FIT_REACH = 100


def coverage_fit(data: AuditData, targets: Sequence[float], boot: stats.Bootstrap | None = None) -> dict[str, Any]:
    n_max = int(data.n.max(initial=0))
    dense = np.unique(np.round(np.geomspace(1, max(n_max, 1), num=min(40, max(n_max, 1)))).astype(np.int64))
    estimate = estimators.pass_at_k(data.pool(), dense)
    coverage = estimate.value
    fit = stats.fit_power_law(dense.astype(np.float64), coverage)
    if isinstance(fit, str):
        return {"error": fit}
    band = _fit_band(dense, estimate.per_problem, boot, targets, n_max) if boot is not None else None
    ceiling = float(estimators.pass_at_k(data.pool(), np.asarray([n_max])).value[0])
    return {
        "model": "log c(k) = a * k^b",
        "a": round(fit.a, 6),
        "b": round(fit.b, 6),
        "r2": round(fit.r2, 6),
        "rmse": round(fit.rmse, 6),
        "points": fit.points,
        "k_range": [int(dense[0]), int(dense[-1])],
        "observed": {"k": dense.tolist(), "coverage": rounded(coverage)},
        "reach": FIT_REACH * n_max,
        "targets": [
            {
                "coverage": target,
                "k": _finite_or_none(fit.k_for(target)),
                "k_interval": band["targets"][i] if band is not None else None,
                "observed": ceiling >= target,
            }
            for i, target in enumerate(targets)
        ],
        "band": {key: band[key] for key in ("k", "low", "high")} if band is not None else None,
        "predicted": [{"k": int(k), "coverage": round(float(fit.coverage(k)), 6)} for k in (10 * n_max, 100 * n_max)],
    }


def _fit_band(
    dense: np.ndarray, per_problem: np.ndarray, boot: stats.Bootstrap, targets: Sequence[float], n_max: int
) -> dict[str, Any] | None:
    """Refit the power law on bootstrap replicates of coverage over problems: a band around the fitted curve up
    to FIT_REACH times the observed k, and an interval on the k each target needs (None: not reached there)."""
    replicates = boot.means(per_problem)[:FIT_REPLICATES]
    grid = np.unique(np.geomspace(1, FIT_REACH * max(n_max, 1), 60))
    curves, needed = [], []
    for coverage in replicates:
        fit = stats.fit_power_law(dense.astype(np.float64), coverage)
        if isinstance(fit, str):
            continue
        curves.append(fit.coverage(grid))
        needed.append([fit.k_for(target) for target in targets])
    if len(curves) < 20:
        return None
    low, high = boot.interval(np.asarray(curves))
    need = np.asarray(needed, dtype=np.float64)
    need[~np.isfinite(need) | (need > FIT_REACH * n_max)] = np.inf  # past what the fit supports
    tail = (1.0 - boot.confidence) / 2.0
    intervals: list[list[float] | None] = []
    for column in range(len(targets)):
        with np.errstate(invalid="ignore"):  # inf - inf between two replicates past the reach: no interval
            lo, hi = np.quantile(need[:, column], [tail, 1.0 - tail])
        intervals.append([round(float(lo), 1), round(float(hi), 1)] if math.isfinite(hi) else None)
    return {"k": grid.tolist(), "low": rounded(low), "high": rounded(high), "targets": intervals}


def _finite_or_none(x: float) -> float | None:
    return round(x, 1) if math.isfinite(x) else None
