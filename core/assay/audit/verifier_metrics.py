"""Each verifier against the labels (confusion, rates, flakiness, scores' AUROC and calibration) and the
agreement between verifiers, with bootstrap intervals over problems."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from assay.audit import stats
from assay.audit.data import AuditData


def verifier_report(data: AuditData, verifier_id: str, boot: stats.Bootstrap) -> dict[str, Any]:
    verifier = data.verifiers[verifier_id]
    assert data.label is not None
    label, valid = data.label, data.valid
    passed = verifier.passed[0]
    per_problem = stats.confusion_per_problem(passed, label, valid)
    totals = per_problem.sum(axis=0)
    point = stats.rates(totals)
    spread = stats.rates(boot.sums(per_problem))
    figures = {}
    for name, value in point.items():
        low, high = boot.interval(spread[name])
        figures[name] = stats.figure(float(value), float(low), float(high))

    kappa_cells = stats.kappa_cells(passed == 1, label, valid & (passed >= 0))
    kappa_low, kappa_high = boot.interval(stats.cohen_kappa(boot.sums(kappa_cells)))
    kappa = stats.figure(float(stats.cohen_kappa(kappa_cells.sum(axis=0))), float(kappa_low), float(kappa_high))

    # Resampling until the verifier says yes ends on a correct sample with probability TP / (TP + FP) for
    # that problem (never, if it says yes to nothing): the ceiling that no budget can lift (Stroebl et al.).
    tp, fp = per_problem[:, 0], per_problem[:, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        limit = np.where(tp + fp > 0, tp / np.where(tp + fp > 0, tp + fp, 1), 0.0)
    limit_low, limit_high = boot.interval(boot.means(limit))

    report: dict[str, Any] = {
        "id": verifier_id,
        "runs": verifier.runs,
        "statuses": dict(verifier.statuses),
        "missing": verifier.missing,
        "confusion": {name: int(count) for name, count in zip(stats.CONFUSION, totals, strict=True)},
        **figures,
        "kappa_with_labels": kappa,
        "resampling_limit": stats.figure(float(limit.mean()), float(limit_low), float(limit_high)),
        "reasons": _reasons(verifier, passed, label, valid),
        "flakiness": _flakiness(verifier, valid, boot),
        "scores": _scores(verifier, label, valid),
    }
    return report


def _reasons(verifier: Any, passed: np.ndarray, label: np.ndarray, valid: np.ndarray) -> dict[str, dict[str, int]]:
    cells = {
        "false_positive": valid & (passed == 1) & ~label,
        "false_negative": valid & (passed == 0) & label,
        "undecided": valid & (passed < 0),
    }
    out: dict[str, dict[str, int]] = {}
    for cell, mask in cells.items():
        # Reason codes shifted by one so that "no reason" (-1) gets bin 0.
        counted = np.bincount(verifier.reason[mask] + 1, minlength=len(verifier.reasons) + 1)
        top = np.argsort(-counted, kind="stable")[:12]
        named = {("none" if c == 0 else verifier.reasons[c - 1]): int(counted[c]) for c in top if counted[c] > 0}
        if named:
            out[cell] = named
    return out


def _flakiness(verifier: Any, valid: np.ndarray, boot: stats.Bootstrap) -> dict[str, Any] | None:
    if verifier.runs < 2:
        return None
    decided = (verifier.passed >= 0).sum(axis=0)
    repeated = valid & (decided >= 2)
    as_pass = np.where(verifier.passed >= 0, verifier.passed == 1, False).sum(axis=0)
    flaky = repeated & (as_pass > 0) & (as_pass < decided)
    per_problem = np.stack([flaky.sum(axis=1), repeated.sum(axis=1)], axis=1).astype(np.float64)
    sums = boot.sums(per_problem)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate_boot = np.where(sums[:, 1] > 0, sums[:, 0] / np.where(sums[:, 1] > 0, sums[:, 1], 1), np.nan)
    low, high = boot.interval(rate_boot)
    total_repeated = int(repeated.sum())
    rate = float(flaky.sum() / total_repeated) if total_repeated else math.nan
    score_spread = (
        np.nanmax(verifier.score, axis=0) - np.nanmin(verifier.score, axis=0) if verifier.has_scores else None
    )
    return {
        "runs": verifier.runs,
        "samples_judged_repeatedly": total_repeated,
        "flaky_samples": int(flaky.sum()),
        "rate": stats.figure(rate, float(low), float(high)),
        "max_score_spread": None
        if score_spread is None or not np.isfinite(score_spread[repeated]).any()
        else round(float(np.nanmax(score_spread[repeated])), 6),
    }


def _scores(verifier: Any, label: np.ndarray, valid: np.ndarray) -> dict[str, Any] | None:
    if not verifier.has_scores:
        return None
    score = verifier.score[0]
    scored = valid & np.isfinite(score)
    values, truth = score[scored], label[scored]
    area, se = stats.auroc(values, truth)
    out: dict[str, Any] = {
        "scored_samples": int(scored.sum()),
        "graded": verifier.graded,
        "auroc": None if math.isnan(area) else round(area, 6),
        "auroc_ci": None
        if math.isnan(area)
        else [round(max(0.0, area - 1.96 * se), 6), round(min(1.0, area + 1.96 * se), 6)],
    }
    if values.size and values.min() >= 0.0 and values.max() <= 1.0:
        out["calibration"] = stats.reliability(values, truth)
    else:
        out["calibration"] = None
        out["calibration_skipped"] = "scores outside [0, 1] are not probabilities"
    return out


def agreement(data: AuditData, boot: stats.Bootstrap) -> list[dict[str, Any]]:
    ids = list(data.verifiers)
    out = []
    for i, first_id in enumerate(ids):
        for second_id in ids[i + 1 :]:
            first, second = data.verifiers[first_id].passed[0], data.verifiers[second_id].passed[0]
            both = data.valid & (first >= 0) & (second >= 0)
            cells = stats.kappa_cells(first == 1, second == 1, both)
            low, high = boot.interval(stats.cohen_kappa(boot.sums(cells)))
            total = cells.sum(axis=0)
            judged = int(total.sum())
            out.append(
                {
                    "a": first_id,
                    "b": second_id,
                    "samples": judged,
                    "agreement": round(float((total[0] + total[3]) / judged), 6) if judged else None,
                    "kappa": stats.figure(float(stats.cohen_kappa(total)), float(low), float(high)),
                }
            )
    return out
