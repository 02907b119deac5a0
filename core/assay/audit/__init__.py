"""The audit: how good are the verifiers, and what does each selection method turn coverage into.

From Python::

    from assay.audit import audit_files

    report = audit_files("tasks.jsonl", "samples.jsonl", ["verdicts.jsonl"], ks=[1, 2, 4, 8, 16, 30])
    report.write("out/report")          # report.json, report.html, the PNG plots
    print(report.markdown())

`audit(data)` does the same on `AuditData` already in memory (see `assay.audit.data`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from assay import __version__
from assay.audit import estimators, stats
from assay.audit.data import AuditData, AuditInputError, load
from assay.audit.estimators import CurveEstimate, Pool
from assay.selection import Candidate, Selector

DEFAULT_TARGETS = (0.9, 0.95, 0.99)
#: The oracle's curve is coverage; it is always first.
COVERAGE = "coverage"


@dataclass
class AuditOptions:
    """How the audit computes. `mc_samples=None` picks a replicate count that fits the data's size."""

    ks: Sequence[int] | None = None
    bootstrap: int = 1000
    confidence: float = 0.95
    seed: int = 0
    mc_samples: int | None = None
    targets: Sequence[float] = DEFAULT_TARGETS
    selectors: Sequence[str] | None = None
    exact: bool | None = None


@dataclass
class Curve:
    name: str
    selector: str
    verifier: str | None
    #: Whose answers the votes were grouped by (a verifier id or "text"); None for selectors that do not vote.
    answers_from: str | None
    estimate: CurveEstimate
    ci_low: np.ndarray
    ci_high: np.ndarray

    def to_json(self) -> dict[str, Any]:
        se = self.estimate.mc_se
        return {
            "name": self.name,
            "selector": self.selector,
            "verifier": self.verifier,
            "answers_from": self.answers_from,
            "method": self.estimate.method,
            "mc_samples": self.estimate.mc_samples,
            "value": _rounded(self.estimate.value),
            "ci_low": _rounded(self.ci_low),
            "ci_high": _rounded(self.ci_high),
            "mc_se": _rounded(se) if se is not None else None,
            **({"details": self.estimate.details} if self.estimate.details is not None else {}),
        }


@dataclass
class AuditReport:
    """The audit's results: `json` is what report.json holds; `write` adds the HTML and the plots."""

    json: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)

    def write(self, directory: str | Path, html: bool = True) -> dict[str, Path]:
        from assay.audit.report import write_report

        return write_report(self, Path(directory), html=html)

    def markdown(self, html_path: str | Path | None = None) -> str:
        from assay.audit.report import markdown

        return markdown(self.json, html_path)

    def curve(self, name: str) -> dict[str, Any]:
        for curve in self.json["curves"]:
            if curve["name"] == name:
                return dict(curve)
        known = ", ".join(c["name"] for c in self.json["curves"])
        raise KeyError(f"no curve {name!r} (have: {known})")

    def at(self, name: str, k: int) -> float:
        """A curve's value at k."""
        curve = self.curve(name)
        try:
            return float(curve["value"][self.json["k"].index(k)])
        except ValueError:
            raise KeyError(f"k={k} is not among the audited ks {self.json['k']}") from None


def default_ks(n_max: int) -> list[int]:
    """Powers of two up to the largest sample count, and that count itself."""
    ks = [1]
    while ks[-1] * 2 < n_max:
        ks.append(ks[-1] * 2)
    if n_max > 1:
        ks.append(n_max)
    return ks


def audit_files(
    tasks: str | Path | None,
    samples: str | Path,
    verdicts: Sequence[str | Path] = (),
    *,
    labels: str = "label",
    answer_key: bool = False,
    **options: Any,
) -> AuditReport:
    """Read the files (see `assay.audit.data.load`) and audit them; `options` are `AuditOptions` fields."""
    started = time.perf_counter()
    data = load(tasks, samples, verdicts, labels=labels, answer_key=answer_key)
    loaded = time.perf_counter() - started
    report = audit(data, AuditOptions(**options))
    report.timings["load_s"] = round(loaded, 3)
    return report


def audit(data: AuditData, options: AuditOptions | None = None) -> AuditReport:
    """Audit data in memory: selection curves, verifier accuracy, agreement, calibration, coverage fit."""
    options = options or AuditOptions()
    if data.label is None:
        raise AuditInputError(["the audit needs ground-truth labels on every sample"])
    if data.problems == 0:
        raise AuditInputError(["no problems to audit"])
    started = time.perf_counter()
    n = data.n
    n_max = int(n.max(initial=0))
    if n_max == 0:
        raise AuditInputError(["no samples to audit"])
    ks = _ks(options.ks, n_max)
    rng = np.random.default_rng(options.seed)
    mc_samples = options.mc_samples or auto_mc_samples(data.valid.size)
    boot = stats.Bootstrap.draw(
        data.problems, options.bootstrap, np.random.default_rng([options.seed, 1]), options.confidence
    )

    curves = _curves(data, ks, rng, mc_samples, boot, options)
    curves_done = time.perf_counter()
    verifiers = [_verifier_report(data, verifier_id, boot) for verifier_id in data.verifiers]
    agreement = _agreement(data, boot)
    fit = _coverage_fit(data, options.targets, boot)
    finished = time.perf_counter()

    answers = data.answer_source()
    label = data.label
    report = {
        "assay_version": __version__,
        "inputs": data.sources,
        "problems": data.problems,
        "samples": int(n.sum()),
        "samples_per_problem": {"min": int(n.min()), "max": n_max, "mean": round(float(n.mean()), 3)},
        "mean_accuracy": round(float((label & data.valid).sum() / max(int(n.sum()), 1)), 6),
        "answers_from": answers or "text",
        "k": [int(k) for k in ks],
        "options": {
            "bootstrap": boot.replicates,
            "confidence": options.confidence,
            "seed": options.seed,
            "mc_samples": mc_samples,
        },
        "curves": [curve.to_json() for curve in curves],
        "verifiers": verifiers,
        "agreement": agreement,
        "coverage_fit": fit,
        "problems_detail": [
            {"id": task_id, "samples": int(n[row]), "correct": int(label[row].sum())}
            for row, task_id in enumerate(data.task_ids)
        ],
    }
    return AuditReport(
        report, {"curves_s": round(curves_done - started, 3), "metrics_s": round(finished - curves_done, 3)}
    )


def auto_mc_samples(cells: int) -> int:
    """Monte Carlo replicates: about 5 million simulated samples in all, between 8 and 1000 replicates
    (the standard error of each figure is reported; `--mc-samples` asks for more)."""
    return int(min(1000, max(8, 5e6 // max(cells, 1))))


def _ks(requested: Sequence[int] | None, n_max: int) -> np.ndarray:
    ks = sorted({int(k) for k in (requested or default_ks(n_max))})
    if not ks or ks[0] < 1:
        raise AuditInputError([f"k must be positive integers, got {list(requested or [])}"])
    if ks[-1] > n_max:
        too_large = ",".join(str(k) for k in ks if k > n_max)
        raise AuditInputError([f"--k {too_large}: more than the samples per problem (at most {n_max})"])
    return np.asarray(ks, dtype=np.int64)


# -- selection curves -----------------------------------------------------------------------------------------------


def _selectors(names: Sequence[str] | None) -> list[Selector]:
    from assay.plugins import get_registry

    registry = get_registry()
    if names is None:
        return list(registry.selectors.values())
    return [registry.selector(name) for name in names]


def _curves(
    data: AuditData,
    ks: np.ndarray,
    rng: np.random.Generator,
    mc_samples: int,
    boot: stats.Bootstrap,
    options: AuditOptions,
) -> list[Curve]:
    curves: list[Curve] = []
    label_pool = data.pool()
    coverage_per_problem: np.ndarray | None = None
    for selector in _selectors(options.selectors):
        uses = set(getattr(selector, "uses", ()))
        pools: list[tuple[str | None, Pool]]
        if "signals" in uses:
            pools = [(None, data.pool(signals=True))]
        elif "passed" in uses or "score" in uses:
            targets = [v for v in data.verifiers.values() if _verifier_fits(selector, v)]
            pools = [(v.id, data.pool(v.id)) for v in targets]
        else:
            pools = [(None, label_pool)]
        if options.selectors is not None and not pools:
            graded_only = uses & {"passed", "score"} == {"score"}
            wanted = "graded scores (values other than 0 and 1)" if graded_only else "pass/fail or scores"
            have = ", ".join(data.verifiers) or "no --verdicts"
            raise AuditInputError([f"selector {selector.name!r} needs a verifier with {wanted}; have: {have}"])
        for verifier_id, pool in pools:
            if "answer" in uses and pool.group is None:
                continue
            estimate = _estimate(selector, data, pool, ks, rng, mc_samples, options.exact)
            if estimate.method == "monte_carlo":
                # No selection beats coverage on a problem: Monte Carlo noise above the exact pass@k is cut.
                if coverage_per_problem is None:
                    coverage_per_problem = estimators.pass_at_k(label_pool, ks).per_problem
                estimate.per_problem = np.minimum(estimate.per_problem, coverage_per_problem)
            low, high = boot.interval(boot.means(estimate.per_problem))
            name = COVERAGE if selector.name == "oracle" else selector.name
            if verifier_id is not None:
                name = f"{name}[{verifier_id}]"
            answers_from = (data.answer_source() or "text") if "answer" in uses else None
            curves.append(Curve(name, selector.name, verifier_id, answers_from, estimate, low, high))
    curves.sort(key=lambda c: c.name != COVERAGE)
    return curves


def _verifier_fits(selector: Selector, verifier: Any) -> bool:
    """Pass/fail readers need decisions, score readers graded scores, readers of either either one."""
    uses = set(getattr(selector, "uses", ()))
    if "passed" in uses and "score" in uses:
        return bool(verifier.decides or verifier.has_scores)
    if "passed" in uses:
        return bool(verifier.decides)
    return bool(verifier.graded)


def _estimate(
    selector: Selector,
    data: AuditData,
    pool: Pool,
    ks: np.ndarray,
    rng: np.random.Generator,
    mc_samples: int,
    exact: bool | None,
) -> CurveEstimate:
    expected = getattr(selector, "expected_accuracy", None)
    if callable(expected):
        if exact is None:
            estimate: CurveEstimate = expected(pool, ks, rng, mc_samples)
        else:
            try:
                estimate = expected(pool, ks, rng, mc_samples, exact=exact)
            except TypeError:
                estimate = expected(pool, ks, rng, mc_samples)
        return estimate
    return simulate(selector, data, pool, ks, rng, min(mc_samples, 64))


def simulate(
    selector: Selector, data: AuditData, pool: Pool, ks: np.ndarray, rng: np.random.Generator, mc_samples: int
) -> CurveEstimate:
    """Any selector's accuracy over random k-subsets by calling its `select` (for selectors without a
    vectorised `expected_accuracy`)."""
    answers = data.answers()
    candidates_by_row: list[list[Candidate]] = []
    for row in range(data.problems):
        row_candidates = []
        for col in np.flatnonzero(pool.valid[row]):
            group = int(pool.group[row, col]) if pool.group is not None else -1
            passed = int(pool.passed[row, col]) if pool.passed is not None else -1
            score = float(pool.score[row, col]) if pool.score is not None else math.nan
            row_candidates.append(
                Candidate(
                    index=int(data.index[row, col]),
                    answer=answers.answers[row][group] if answers is not None and group >= 0 else None,
                    passed=None if passed < 0 else bool(passed),
                    score=None if math.isnan(score) else score,
                    label=bool(pool.correct[row, col] > 0),
                )
            )
        candidates_by_row.append(row_candidates)

    def evaluate(orders: np.ndarray, kk: np.ndarray) -> np.ndarray:
        out = np.zeros((len(orders), data.problems, len(kk)))
        for replicate, order in enumerate(orders):
            for row, row_candidates in enumerate(candidates_by_row):
                row_order = order if order.ndim == 1 else order[row]
                for column, k in enumerate(kk):
                    chosen = [row_candidates[int(i)] for i in row_order[: min(int(k), len(row_candidates))]]
                    choice = selector.select(chosen)
                    if choice is not None:
                        label = next(c.label for c in chosen if c.index == choice.index)
                        out[replicate, row, column] = float(bool(label))
        return out

    return estimators.monte_carlo(pool, ks, rng, mc_samples, evaluate)


# -- verifiers --------------------------------------------------------------------------------------------------------


def _verifier_report(data: AuditData, verifier_id: str, boot: stats.Bootstrap) -> dict[str, Any]:
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


def _agreement(data: AuditData, boot: stats.Bootstrap) -> list[dict[str, Any]]:
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


# -- coverage fit -----------------------------------------------------------------------------------------------------


#: Bootstrap replicates refitted for the fit's band (each is a small least-squares fit).
FIT_REPLICATES = 200
#: The fit is extrapolated to at most this many times the largest observed k.
FIT_REACH = 100


def _coverage_fit(data: AuditData, targets: Sequence[float], boot: stats.Bootstrap | None = None) -> dict[str, Any]:
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
        "observed": {"k": dense.tolist(), "coverage": _rounded(coverage)},
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
    return {"k": grid.tolist(), "low": _rounded(low), "high": _rounded(high), "targets": intervals}


def _finite_or_none(x: float) -> float | None:
    return round(x, 1) if math.isfinite(x) else None


def _rounded(values: Any) -> list[float | None]:
    return [None if not math.isfinite(float(v)) else round(float(v), 6) for v in np.asarray(values).ravel()]


__all__ = [
    "AuditData",
    "AuditInputError",
    "AuditOptions",
    "AuditReport",
    "audit",
    "audit_files",
    "default_ks",
    "load",
]
