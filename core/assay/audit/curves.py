"""The selection curves: coverage and every selector's expected accuracy against k, with bootstrap
intervals over problems (exact expectations where a selector has them, seeded Monte Carlo otherwise)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from assay.audit import estimators, stats
from assay.audit.data import AuditData, AuditInputError
from assay.audit.estimators import CurveEstimate, Pool
from assay.audit.stats import rounded
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
            "value": rounded(self.estimate.value),
            "ci_low": rounded(self.ci_low),
            "ci_high": rounded(self.ci_high),
            "mc_se": rounded(se) if se is not None else None,
            **({"details": self.estimate.details} if self.estimate.details is not None else {}),
        }


def default_ks(n_max: int) -> list[int]:
    """Powers of two up to the largest sample count, and that count itself."""
    ks = [1]
    while ks[-1] * 2 < n_max:
        ks.append(ks[-1] * 2)
    if n_max > 1:
        ks.append(n_max)
    return ks


def auto_mc_samples(cells: int) -> int:
    """Monte Carlo replicates: about 5 million simulated samples in all, between 8 and 1000 replicates
    (the standard error of each figure is reported; `--mc-samples` asks for more)."""
    return int(min(1000, max(8, 5e6 // max(cells, 1))))


def ks_for(requested: Sequence[int] | None, n_max: int) -> np.ndarray:
    ks = sorted({int(k) for k in (requested or default_ks(n_max))})
    if not ks or ks[0] < 1:
        raise AuditInputError([f"k must be positive integers, got {list(requested or [])}"])
    if ks[-1] > n_max:
        too_large = ",".join(str(k) for k in ks if k > n_max)
        raise AuditInputError([f"--k {too_large}: more than the samples per problem (at most {n_max})"])
    return np.asarray(ks, dtype=np.int64)


def _selectors(names: Sequence[str] | None) -> list[Selector]:
    from assay.plugins import get_registry

    registry = get_registry()
    if names is None:
        return list(registry.selectors.values())
    return [registry.selector(name) for name in names]


def selection_curves(
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
