"""Selection curves against brute force: every k-subset of small problems, run through the real selectors."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.audit import estimators
from assay.selection import Candidate, Choice
from assay.selection.builtin import BestOfN, Oracle, vote

ANSWERS = ["a", "b", "c", "d"]


def brute_force(name: str, candidates: list[Candidate], k: int) -> float:
    """Mean over every k-subset of the label of what the selector picks. Votes use the tie order of all n
    samples (the audit's convention), so the vote is called with every candidate and the subset as voters."""
    by_index = {c.index: c for c in candidates}
    total = 0.0
    subsets = list(itertools.combinations(candidates, k))
    for subset in subsets:
        choice: Choice | None
        if name == "majority":
            choice = vote(candidates, voters=subset)
        elif name == "weighted_majority":
            choice = vote(candidates, weight=lambda c: c.score or 0.0, voters=subset)
        elif name == "verified_majority":
            verified = [c for c in subset if c.passed and c.answer is not None]
            choice = vote(candidates, voters=verified or subset)
        elif name == "best_of_n":
            choice = BestOfN().select(subset)
        else:
            choice = Oracle().select(subset)
        total += bool(choice is not None and by_index[choice.index].label)
    return total / len(subsets)


def as_pool(candidates: list[Candidate], width: int | None = None) -> estimators.Pool:
    """One problem, padded to `width` columns."""
    width = width or len(candidates)
    n = len(candidates)
    keys = {answer: i for i, answer in enumerate(dict.fromkeys(c.answer for c in candidates if c.answer is not None))}
    group = np.full((1, width), -1, np.int32)
    group[0, :n] = [keys[c.answer] if c.answer is not None else -1 for c in candidates]
    correct = np.zeros((1, width))
    correct[0, :n] = [float(bool(c.label)) for c in candidates]
    passed = np.full((1, width), -1, np.int8)
    passed[0, :n] = [-1 if c.passed is None else int(c.passed) for c in candidates]
    score = np.full((1, width), np.nan)
    score[0, :n] = [np.nan if c.score is None else c.score for c in candidates]
    valid = np.zeros((1, width), bool)
    valid[0, :n] = True
    return estimators.Pool(valid=valid, correct=correct, group=group, passed=passed, score=score)


@st.composite
def problems(draw: st.DrawFn, max_samples: int = 8) -> list[Candidate]:
    """Samples in index order. An answer is right or wrong as a whole (labels follow answers); samples
    without an answer carry their own label (they matter to best-of-n and the oracle)."""
    n = draw(st.integers(1, max_samples))
    right = draw(st.sets(st.sampled_from(ANSWERS), max_size=2))
    out = []
    for index in range(n):
        answer = draw(st.one_of(st.none(), st.sampled_from(ANSWERS)))
        label = answer in right if answer is not None else draw(st.booleans())
        passed = draw(st.one_of(st.none(), st.booleans()))
        score = draw(st.one_of(st.none(), st.sampled_from([0.0, 0.5, 1.0, 0.25])))
        out.append(Candidate(index, answer, passed, score, label))
    return out


def curve(name: str, pool: estimators.Pool, ks: np.ndarray, exact: bool | None, replicates: int = 8) -> np.ndarray:
    rng = np.random.default_rng(0)
    if name == "majority":
        return estimators.majority(pool, ks, rng, replicates, exact=exact).per_problem[0]
    if name == "verified_majority":
        return estimators.verified_majority(pool, ks, rng, replicates, exact=exact).per_problem[0]
    if name == "weighted_majority":
        return estimators.weighted_majority(pool, ks, rng, replicates).per_problem[0]
    if name == "best_of_n":
        return estimators.best_of_k(pool, ks).per_problem[0]
    return estimators.pass_at_k(pool, ks).per_problem[0]


@pytest.mark.parametrize("name", ["majority", "verified_majority", "best_of_n", "oracle"])
@settings(max_examples=150, deadline=None)
@given(candidates=problems(), padding=st.integers(0, 3))
def test_closed_forms_equal_brute_force(name: str, candidates: list[Candidate], padding: int) -> None:
    ks = np.arange(1, len(candidates) + padding + 1)
    values = curve(name, as_pool(candidates, len(candidates) + padding), ks, exact=True)
    for k, value in zip(ks, values, strict=True):
        # Beyond n samples a problem contributes its value at all of them.
        assert value == pytest.approx(brute_force(name, candidates, min(int(k), len(candidates))), abs=1e-9)


@pytest.mark.parametrize("name", ["majority", "verified_majority", "weighted_majority", "best_of_n"])
@settings(max_examples=100, deadline=None)
@given(candidates=problems(max_samples=12))
def test_every_curve_at_n_is_the_selectors_own_choice(name: str, candidates: list[Candidate]) -> None:
    """At k = n there is one subset: Monte Carlo has nothing to average, and votes, on all the samples,
    use the same tie order as the selector."""
    n = len(candidates)
    for exact in (True, False):
        value = curve(name, as_pool(candidates), np.array([n]), exact=exact)[0]
        assert value == pytest.approx(brute_force(name, candidates, n), abs=1e-12)


def fixed_problems(seed: int, count: int, width: int) -> list[list[Candidate]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        n = int(rng.integers(max(2, width // 2), width + 1))
        right = set(rng.choice(ANSWERS, size=int(rng.integers(0, 3)), replace=False).tolist())
        rows = []
        for index in range(n):
            answer = None if rng.random() < 0.15 else str(rng.choice(ANSWERS, p=[0.4, 0.3, 0.2, 0.1]))
            label = answer in right if answer is not None else bool(rng.random() < 0.3)
            passed = None if rng.random() < 0.1 else bool(rng.random() < (0.8 if label else 0.2))
            rows.append(Candidate(index, answer, passed, float(np.round(rng.random(), 2)), label))
        out.append(rows)
    return out


def stack(problems_: list[list[Candidate]], width: int) -> estimators.Pool:
    pools = [as_pool(p, width) for p in problems_]
    return estimators.Pool(
        valid=np.concatenate([p.valid for p in pools]),
        correct=np.concatenate([p.correct for p in pools]),
        group=np.concatenate([p.group for p in pools]),  # type: ignore[arg-type]
        passed=np.concatenate([p.passed for p in pools]),  # type: ignore[arg-type]
        score=np.concatenate([p.score for p in pools]),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("name", ["majority", "verified_majority", "weighted_majority"])
def test_monte_carlo_agrees_with_brute_force_within_its_error(name: str) -> None:
    width = 9
    problems_ = fixed_problems(seed=3, count=12, width=width)
    pool = stack(problems_, width)
    ks = np.array([1, 2, 3, 5, 9])
    estimate = (
        estimators.weighted_majority(pool, ks, np.random.default_rng(1), 3000)
        if name == "weighted_majority"
        else (getattr(estimators, name)(pool, ks, np.random.default_rng(1), 3000, exact=False))
    )
    assert estimate.method == "monte_carlo" and estimate.mc_samples == 3000
    expected = np.array([[brute_force(name, p, min(int(k), len(p))) for k in ks] for p in problems_]).mean(axis=0)
    se = estimate.mc_se
    assert se is not None
    assert np.all(np.abs(estimate.value - expected) <= 4 * se + 1e-12)
    assert se[-1] == pytest.approx(0.0, abs=1e-12)  # k = n: every replicate sees every sample


def test_hypergeometric_draws_follow_the_exact_distribution() -> None:
    sizes = np.array([[2, 1, 1, 3, 0]] * 100_000)
    counts = estimators.hypergeometric_counts(sizes, np.full(len(sizes), 3), np.random.default_rng(0))
    assert (counts.sum(axis=1) == 3).all() and (counts <= sizes).all()
    items = [0, 0, 1, 2, 3, 3, 3]
    exact: dict[tuple[int, ...], int] = {}
    for subset in itertools.combinations(range(7), 3):
        cell = [0] * 5
        for i in subset:
            cell[items[i]] += 1
        exact[tuple(cell)] = exact.get(tuple(cell), 0) + 1
    seen = {tuple(row): 0 for row in exact}
    for row in map(tuple, counts.tolist()):
        seen[row] += 1
    for cell, ways in exact.items():
        assert seen[cell] / len(counts) == pytest.approx(ways / 35, abs=0.006)


def test_counting_monte_carlo_matches_the_exact_vote() -> None:
    """Many samples, few answers: the hypergeometric route, checked against the exact sum."""
    rng = np.random.default_rng(5)
    problems_, width = 25, 150
    group = estimators.first_appearance_ids(
        np.where(rng.random((problems_, width)) < 0.1, -1, rng.integers(0, 4, (problems_, width)))
    )
    correct = (group == 0).astype(float)
    passed = (rng.random((problems_, width)) < np.where(correct > 0, 0.7, 0.2)).astype(np.int8)
    pool = estimators.Pool(valid=np.ones((problems_, width), bool), correct=correct, group=group, passed=passed)
    ks = np.array([1, 4, 30, 150])
    for name in ("majority", "verified_majority"):
        exact = getattr(estimators, name)(pool, ks, rng, 0, exact=True)
        votes = estimators.vote_pool(group, correct, pool.valid)
        if name == "majority":
            pools = [votes]
        else:
            verified = pool.valid & (passed == 1)
            pools = [estimators.vote_pool(group, correct, verified), estimators.vote_pool(group, correct, ~verified)]
        sampled = estimators.counts_monte_carlo(pools, pool.n, ks, np.random.default_rng(2), 2000)
        assert sampled.mc_se is not None
        assert np.all(np.abs(sampled.value - exact.value) <= 4 * sampled.mc_se + 1e-12), name


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 60), data=st.data())
def test_pass_at_k_is_chens_estimator(n: int, data: st.DataObject) -> None:
    c = data.draw(st.integers(0, n))
    k = data.draw(st.integers(1, n))
    pool = estimators.Pool(valid=np.ones((1, n), bool), correct=(np.arange(n) < c).astype(float)[None, :])
    # Chen et al. 2021, the numerically stable form.
    expected = 1.0 if n - c < k else 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))
    assert estimators.pass_at_k(pool, np.array([k])).value[0] == pytest.approx(expected, abs=1e-12)


def test_first_appearance_ids_renumber_in_column_order() -> None:
    group = np.array([[5, -1, 2, 5, 9, 2], [0, 0, 3, -1, 1, 3]])
    assert estimators.first_appearance_ids(group).tolist() == [[0, -1, 1, 0, 2, 1], [0, 0, 1, -1, 2, 1]]


def test_rank_order_puts_higher_scores_first_and_ties_by_index() -> None:
    scores = np.array([[0.5, 0.9, 0.5, -math.inf, 0.1, 0.0], [1.0, 0.0, 1.0, -math.inf, 0.0, 0.0]])
    valid = np.array([[True] * 5 + [False], [True] * 6])
    assert estimators.rank_order(scores, valid)[0].tolist()[:5] == [1, 0, 2, 4, 3]
    assert estimators.rank_order(scores, valid)[1].tolist() == [0, 2, 1, 4, 5, 3]
