"""The built-in selectors, registered through `register_selectors` like any plugin's.

Tie rules (all deterministic and independent of candidate order):
- votes: the answer with the most votes (or weight); ties go to the answer that appears first (lowest
  sample index) among all the candidates, voters or not; the chosen sample is the winning answer's voter
  with the lowest index.
- best-of-n: the highest score; ties go to the lowest sample index.

Each selector also computes its expected accuracy over random k-subsets for the audit
(`expected_accuracy`), exactly where a closed form exists (see `assay.audit.estimators`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from assay.hookspecs import hookimpl
from assay.selection import BaseSelector, Candidate, Choice, Input, SelectionError

if TYPE_CHECKING:
    import numpy as np

    from assay.audit.estimators import CurveEstimate, Pool


def vote(
    candidates: Sequence[Candidate],
    weight: Callable[[Candidate], float] | None = None,
    voters: Sequence[Candidate] | None = None,
) -> Choice | None:
    """Group the voters (default: every candidate) by answer and pick the group with the most votes (or the
    largest summed weight); ties go to the answer that appears first among all candidates. The chosen
    sample is the winning group's voter with the lowest index."""
    first_seen: dict[str, int] = {}
    for candidate in candidates:
        if candidate.answer is not None and candidate.index < first_seen.get(candidate.answer, candidate.index + 1):
            first_seen[candidate.answer] = candidate.index
    totals: dict[str, float] = {}
    chosen: dict[str, int] = {}
    for candidate in candidates if voters is None else voters:
        if candidate.answer is None:
            continue
        totals[candidate.answer] = totals.get(candidate.answer, 0.0) + (1.0 if weight is None else weight(candidate))
        if candidate.index < chosen.get(candidate.answer, candidate.index + 1):
            chosen[candidate.answer] = candidate.index
    if not totals:
        return None
    winner = max(totals, key=lambda answer: (totals[answer], -first_seen[answer]))
    return Choice(index=chosen[winner], answer=winner, support=totals[winner])


def effective_score(candidate: Candidate) -> float:
    """The score best-of-n ranks by: the verdict's score, else 1/0 for pass/fail, else -inf (unjudged)."""
    if candidate.score is not None and not math.isnan(candidate.score):
        return candidate.score
    if candidate.passed is not None:
        return 1.0 if candidate.passed else 0.0
    return -math.inf


class Majority(BaseSelector):
    name = "majority"
    description = "the most common answer (answers grouped by the verifier's answer key)"
    uses: ClassVar[frozenset[Input]] = frozenset({"answer"})

    def select(self, candidates: Sequence[Candidate]) -> Choice | None:
        return vote(candidates)

    def expected_accuracy(self, pool: Pool, ks: np.ndarray, rng: np.random.Generator, mc_samples: int) -> CurveEstimate:
        from assay.audit import estimators

        return estimators.majority(pool, ks, rng, mc_samples)


class WeightedMajority(BaseSelector):
    name = "weighted_majority"
    description = "the answer with the largest summed score (a missing score weighs 0)"
    uses: ClassVar[frozenset[Input]] = frozenset({"answer", "score"})

    def select(self, candidates: Sequence[Candidate]) -> Choice | None:
        return vote(candidates, weight=lambda c: 0.0 if c.score is None or math.isnan(c.score) else c.score)

    def expected_accuracy(self, pool: Pool, ks: np.ndarray, rng: np.random.Generator, mc_samples: int) -> CurveEstimate:
        from assay.audit import estimators

        return estimators.weighted_majority(pool, ks, rng, mc_samples)


class BestOfN(BaseSelector):
    name = "best_of_n"
    description = "the highest-scored sample (pass/fail counts as 1/0 when there is no score)"
    uses: ClassVar[frozenset[Input]] = frozenset({"score", "passed"})

    def select(self, candidates: Sequence[Candidate]) -> Choice | None:
        if not candidates:
            return None
        best = max(candidates, key=lambda c: (effective_score(c), -c.index))
        return Choice(index=best.index, answer=best.answer, support=effective_score(best))

    def expected_accuracy(self, pool: Pool, ks: np.ndarray, rng: np.random.Generator, mc_samples: int) -> CurveEstimate:
        from assay.audit import estimators

        return estimators.best_of_k(pool, ks)


class VerifiedMajority(BaseSelector):
    name = "verified_majority"
    description = "the most common answer among samples the verifier passed (a plain vote when none passed)"
    uses: ClassVar[frozenset[Input]] = frozenset({"answer", "passed"})

    def select(self, candidates: Sequence[Candidate]) -> Choice | None:
        verified = [c for c in candidates if c.passed is True and c.answer is not None]
        if verified:
            return vote(candidates, voters=verified)
        choice = vote(candidates)
        if choice is None:
            return None
        return Choice(index=choice.index, answer=choice.answer, support=choice.support, fallback=True)

    def expected_accuracy(self, pool: Pool, ks: np.ndarray, rng: np.random.Generator, mc_samples: int) -> CurveEstimate:
        from assay.audit import estimators

        return estimators.verified_majority(pool, ks, rng, mc_samples)


class Oracle(BaseSelector):
    name = "oracle"
    description = "a correct sample whenever there is one (coverage; needs ground-truth labels)"
    uses: ClassVar[frozenset[Input]] = frozenset({"label"})

    def select(self, candidates: Sequence[Candidate]) -> Choice | None:
        if not candidates:
            return None
        if any(c.label is None for c in candidates):
            missing = next(c.index for c in candidates if c.label is None)
            raise SelectionError(f"oracle needs a ground-truth label on every candidate (sample {missing} has none)")
        correct = [c for c in candidates if c.label]
        best = min(correct or candidates, key=lambda c: c.index)
        return Choice(index=best.index, answer=best.answer, support=float(len(correct)))

    def expected_accuracy(self, pool: Pool, ks: np.ndarray, rng: np.random.Generator, mc_samples: int) -> CurveEstimate:
        from assay.audit import estimators

        return estimators.pass_at_k(pool, ks)


def _builtin_selectors() -> tuple[Any, ...]:
    from assay.selection.ensemble import Ensemble

    return (Majority(), WeightedMajority(), BestOfN(), VerifiedMajority(), Oracle(), Ensemble())


BUILTIN_SELECTORS: tuple[Any, ...] = _builtin_selectors()


@hookimpl
def register_selectors(register: Callable[[Any], None]) -> None:
    for selector in BUILTIN_SELECTORS:
        register(selector)
