"""Selection curves over k: expected accuracy of each selector on a uniformly random k-subset of every
problem's samples, vectorised over problems.

Exact where a closed form exists:
- pass@k (coverage, the oracle): the unbiased estimator of Chen et al. 2021, 1 - C(n-c, k) / C(n, k).
- best-of-k: with samples in a total order (score, then sample index), the sample of rank r (r samples
  below it) is chosen in C(r, k-1) of the C(n, k) subsets.
- maj@k: a sum over the winning group's count j of C(m_c, j) times the number of ways the other groups
  stay below j (or at j, for groups later in the tie order): coefficients of a product of truncated
  binomial polynomials, computed for every j and every k at once.
- verified-vote@k: split by how many verified samples s the subset holds (hypergeometric); given s, those
  are a uniform s-subset of the verified pool, so it is maj@s on that pool (or maj@k on the rest if s=0).

Otherwise (weighted majority; votes where the exact sum is too costly; third-party selectors) seeded Monte
Carlo: each replicate draws a random permutation of every problem's samples, whose prefixes are uniform
k-subsets for all k at once, and the standard error across replicates is reported.

Tie convention: vote ties go to the group that appears first (lowest sample index) in the pool; that is
what the `majority` selector does on all n samples, so every curve at k = n equals the selector's own
choice on the full set. A group whose members disagree on the label counts as the fraction labelled
correct.

Arrays are padded (problems x samples): a problem's samples sit in its row's first n columns in
sample-index order; `valid` marks them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

Method = Literal["exact", "monte_carlo"]
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

#: Above this many multiply-adds the exact vote sum gives way to Monte Carlo.
EXACT_VOTE_BUDGET = 1.5e9
#: Binomial coefficients of larger pools overflow float64 in the exact vote sum.
EXACT_VOTE_MAX_SAMPLES = 1000
_CHUNK_BYTES = 64 * 2**20


@dataclass
class Pool:
    """Every problem's samples as a selector sees them, padded to (problems, max samples).

    `group`: the answer group of each sample (-1: no answer), numbered by first appearance;
    `passed`: 1 pass, 0 fail, -1 undecided; `score`: NaN where there is none.
    """

    valid: BoolArray
    correct: FloatArray
    group: NDArray[np.int32] | None = None
    passed: NDArray[np.int8] | None = None
    score: FloatArray | None = None

    @property
    def n(self) -> IntArray:
        out: IntArray = self.valid.sum(axis=1).astype(np.int64)
        return out

    @property
    def problems(self) -> int:
        return int(self.valid.shape[0])


@dataclass
class CurveEstimate:
    """Expected accuracy per problem (problems x ks), how it was computed, and the Monte Carlo spread."""

    per_problem: FloatArray
    method: Method
    mc_samples: int = 0
    #: Mean over problems of each Monte Carlo replicate (replicates x ks); None when exact.
    replicate_means: FloatArray | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def value(self) -> FloatArray:
        return self.per_problem.mean(axis=0) if len(self.per_problem) else np.zeros(self.per_problem.shape[1])

    @property
    def mc_se(self) -> FloatArray | None:
        """Standard error of `value` from the Monte Carlo replicates (None when exact)."""
        if self.replicate_means is None or len(self.replicate_means) < 2:
            return None
        spread: FloatArray = self.replicate_means.std(axis=0, ddof=1)
        return spread / math.sqrt(len(self.replicate_means))


# -- binomials ------------------------------------------------------------------------------------------


def log_factorials(n_max: int) -> FloatArray:
    table = np.zeros(n_max + 2)
    table[2:] = np.cumsum(np.log(np.arange(2, n_max + 2, dtype=np.float64)))
    return table


def log_comb(lf: FloatArray, n: NDArray[np.int64], k: NDArray[np.int64]) -> FloatArray:
    """log C(n, k), and -inf where k < 0 or k > n."""
    n, k = np.broadcast_arrays(n, k)
    ok = (k >= 0) & (k <= n) & (n >= 0)
    nn, kk = np.where(ok, n, 0), np.where(ok, k, 0)
    out: FloatArray = np.where(ok, lf[nn] - lf[kk] - lf[nn - kk], -np.inf)
    return out


def pascal(n_max: int, k_max: int) -> FloatArray:
    """C(n, k) for n <= n_max, k <= k_max as float64 (exact below 2**53, all positive)."""
    table = np.zeros((n_max + 1, k_max + 1))
    table[:, 0] = 1.0
    for n in range(1, n_max + 1):
        table[n, 1:] = table[n - 1, 1:] + table[n - 1, :-1]
    return table


def effective_k(ks: IntArray, n: IntArray) -> IntArray:
    """k per problem and k: a problem with fewer than k samples contributes its value at all of them."""
    out: IntArray = np.minimum(ks[None, :], n[:, None])
    return out


# -- closed forms -----------------------------------------------------------------------------------------


def pass_at_k(pool: Pool, ks: IntArray) -> CurveEstimate:
    """Coverage: the unbiased pass@k estimator of Chen et al. 2021, per problem."""
    n = pool.n
    c = np.rint((pool.correct * pool.valid).sum(axis=1)).astype(np.int64)
    kk = effective_k(ks, n)
    lf = log_factorials(int(n.max(initial=0)))
    miss = np.exp(log_comb(lf, (n - c)[:, None], kk) - log_comb(lf, n[:, None], kk))
    value = np.where(kk > 0, 1.0 - miss, 0.0)
    return CurveEstimate(value, "exact")


def effective_scores(pool: Pool) -> FloatArray:
    """What best-of-n ranks by: score, else 1/0 for pass/fail, else -inf."""
    eff = np.full(pool.valid.shape, -np.inf)
    if pool.passed is not None:
        eff = np.where(pool.passed == 1, 1.0, np.where(pool.passed == 0, 0.0, eff))
    if pool.score is not None:
        eff = np.where(np.isnan(pool.score), eff, pool.score)
    return eff


def best_of_k(pool: Pool, ks: IntArray) -> CurveEstimate:
    """Best-of-k: the highest-ranked sample of the subset (score desc, then sample index asc)."""
    n = pool.n
    key = -effective_scores(pool)
    key[~pool.valid] = np.inf
    # Stable, so equal scores keep sample-index order; padding sits after every real sample.
    order = np.argsort(key, axis=1, kind="stable")
    correct_sorted = np.take_along_axis(pool.correct * pool.valid, order, axis=1)
    rows, pos = np.nonzero(correct_sorted > 0)
    weight = correct_sorted[rows, pos]
    below = n[rows] - 1 - pos  # valid samples ranked below this one
    lf = log_factorials(int(n.max(initial=0)))
    value = np.zeros((pool.problems, len(ks)))
    kk = effective_k(ks, n)
    for column in range(len(ks)):
        k_rows = kk[rows, column]
        chosen = np.exp(log_comb(lf, below, k_rows - 1) - log_comb(lf, n[rows], k_rows))
        value[:, column] = np.bincount(rows, weights=weight * chosen, minlength=pool.problems)
    return CurveEstimate(value, "exact")


@dataclass
class VotePool:
    """The answer groups of one voting pool per problem, in tie order (first appearance in the pool)."""

    sizes: IntArray  # (P, G)
    correct: FloatArray  # (P, G): members labelled correct
    abstain: IntArray  # (P,): pool members without an answer
    ids: NDArray[np.int32]  # (P, N): the group of each sample in tie order, -1 outside the pool or no answer

    @property
    def n(self) -> IntArray:
        out: IntArray = self.sizes.sum(axis=1) + self.abstain
        return out

    @property
    def fraction_correct(self) -> FloatArray:
        with np.errstate(invalid="ignore", divide="ignore"):
            out: FloatArray = np.where(self.sizes > 0, self.correct / np.maximum(self.sizes, 1), 0.0)
        return out


def vote_pool(group: NDArray[np.int32], correct: FloatArray, member: BoolArray) -> VotePool:
    """Group the members of a pool by answer and order the groups by first appearance within the pool."""
    problems, width = group.shape
    answering = member & (group >= 0)
    n_groups = int(group.max(initial=-1)) + 1
    if n_groups == 0:
        return VotePool(
            np.zeros((problems, 0), np.int64),
            np.zeros((problems, 0)),
            member.sum(axis=1).astype(np.int64),
            np.full(group.shape, -1, np.int32),
        )
    rows, cols = np.nonzero(answering)
    flat = rows * n_groups + group[rows, cols]
    sizes = np.bincount(flat, minlength=problems * n_groups).reshape(problems, n_groups)
    correct_sum = np.bincount(flat, weights=correct[rows, cols], minlength=problems * n_groups)
    first = np.full(problems * n_groups, width, dtype=np.int64)
    # np.nonzero walks rows in column order, so the first hit of each group is its first appearance.
    unique_flat, first_hit = np.unique(flat, return_index=True)
    first[unique_flat] = cols[first_hit]
    order = np.argsort(first.reshape(problems, n_groups), axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(n_groups)[None, :].repeat(problems, axis=0), axis=1)
    ids = np.full(group.shape, -1, np.int32)
    ids[rows, cols] = rank[rows, group[rows, cols]]
    used = int(sizes.astype(bool).sum(axis=1).max(initial=0))
    return VotePool(
        sizes=np.take_along_axis(sizes, order, axis=1)[:, :used].astype(np.int64),
        correct=np.take_along_axis(correct_sum.reshape(problems, n_groups), order, axis=1)[:, :used].astype(np.float64),
        abstain=(member & (group < 0)).sum(axis=1).astype(np.int64),
        ids=ids,
    )


def exact_vote_cost(pool: VotePool, s_max: int) -> float:
    """Multiply-adds of `vote_table` (to choose between it and Monte Carlo)."""
    if pool.sizes.size == 0:
        return 0.0
    n_max = int(pool.n.max(initial=0))
    if n_max > EXACT_VOTE_MAX_SAMPLES:
        return math.inf
    depth = float(np.sort(np.minimum(pool.sizes, s_max), axis=1)[:, ::-1].max(axis=0).sum())
    candidates = float((pool.correct > 0).sum())
    return candidates * min(n_max, s_max) * (s_max + 1) * max(depth, 1.0)


def vote_table(pool: VotePool, s_max: int) -> FloatArray:
    """Expected accuracy of a plain vote over a uniform s-subset of each pool, for s = 0..s_max (P x s_max+1).

    For each group c that holds a correct member: sum over j of C(m_c, j) times the coefficient of
    x^(s-j) in (1+x)^abstain * prod over the other groups g of sum_i C(m_g, i) x^i, with i < j for groups
    before c in the tie order and i <= j for those after it.
    """
    problems = len(pool.sizes)
    n = pool.n
    table = np.zeros((problems, s_max + 1))
    if pool.sizes.shape[1] == 0 or problems == 0:
        return table
    binom = pascal(int(n.max(initial=0)), s_max)
    slots = (pool.correct > 0).sum(axis=1)
    for slot in range(int(slots.max(initial=0))):
        rows = np.nonzero(slots > slot)[0]
        # The slot-th group with a correct member, per problem.
        has = pool.correct[rows] > 0
        c_index = np.argmax(np.cumsum(has, axis=1) > slot, axis=1)
        depth = int(np.minimum(pool.sizes[rows, c_index], s_max).max(initial=0))
        per_row = depth * (s_max + 1) * 8
        step = max(1, _CHUNK_BYTES // max(per_row, 1))
        for start in range(0, len(rows), step):
            part = rows[start : start + step]
            table[part] += _vote_table_rows(pool, part, c_index[start : start + step], s_max, binom)
    with np.errstate(invalid="ignore", divide="ignore"):
        totals = binom[n][:, : s_max + 1] if len(binom) else np.ones_like(table)
        out: FloatArray = np.where(totals > 0, table / np.where(totals > 0, totals, 1.0), 0.0)
    return out


def _vote_table_rows(pool: VotePool, rows: IntArray, c_index: IntArray, s_max: int, binom: FloatArray) -> FloatArray:
    sizes = pool.sizes[rows]
    local = np.arange(len(rows))
    m_c = sizes[local, c_index]
    q = pool.correct[rows][local, c_index] / np.maximum(m_c, 1)
    # The other groups of each row, largest first, and whether each comes before c in the tie order.
    positions = np.broadcast_to(np.arange(sizes.shape[1]), sizes.shape)
    others = np.where(positions == c_index[:, None], 0, sizes)
    order = np.argsort(-others, axis=1, kind="stable")
    other_sizes = np.take_along_axis(others, order, axis=1)
    before_c = np.take_along_axis(positions, order, axis=1) < c_index[:, None]
    # Rows with more competing groups first, so that each group slot works on a prefix (a view, no copy).
    competing = (other_sizes > 0).sum(axis=1)
    by_competition = np.argsort(-competing, kind="stable")
    m_c, q, competing = m_c[by_competition], q[by_competition], competing[by_competition]
    other_sizes, before_c = other_sizes[by_competition], before_c[by_competition]
    abstain = pool.abstain[rows][by_competition]

    depth = int(np.minimum(m_c, s_max).max(initial=0))
    width = s_max + 1
    j = np.arange(1, depth + 1)
    # coefficient[r, j-1, d]: the ways d further samples (abstainers and other groups) can join j samples of
    # group c while every other group stays below j (or at j, for groups after c in the tie order).
    coefficient = np.repeat(binom[abstain][:, None, :width], depth, axis=1)  # (1 + x)^abstain
    for slot in range(int(competing.max(initial=0))):
        count = int((competing > slot).sum())
        m_g = other_sizes[:count, slot]
        top = int(min(m_g.max(initial=0), s_max))
        limit = j[None, :] - before_c[:count, slot][:, None]  # i <= j - 1 before c, i <= j after c
        head = coefficient[:count]
        product = head.copy()
        for i in range(1, top + 1):
            term = np.where((i <= limit) & (i <= m_g[:, None]), binom[m_g, i][:, None], 0.0)
            product[:, :, i:] += head[:, :, : width - i] * term[:, :, None]
        coefficient[:count] = product
    out = np.zeros((len(rows), width))
    for jj in range(1, depth + 1):
        ways = np.where(jj <= m_c, binom[m_c, jj], 0.0) * q
        out[:, jj:] += ways[:, None] * coefficient[:, jj - 1, : width - jj]
    restored = np.empty_like(out)
    restored[by_competition] = out
    return restored


def _gather(table: FloatArray, kk: IntArray) -> FloatArray:
    out: FloatArray = np.take_along_axis(table, np.minimum(kk, table.shape[1] - 1), axis=1)
    return out


# -- the vote-based curves -------------------------------------------------------------------------------


def majority(
    pool: Pool, ks: IntArray, rng: np.random.Generator, mc_samples: int, exact: bool | None = None
) -> CurveEstimate:
    group = _require_groups(pool)
    votes = vote_pool(group, pool.correct, pool.valid)
    s_max = int(min(ks.max(initial=0), pool.n.max(initial=0)))
    if _use_exact(exact, exact_vote_cost(votes, s_max)):
        return CurveEstimate(_gather(vote_table(votes, s_max), effective_k(ks, pool.n)), "exact")
    return monte_carlo(pool, ks, rng, mc_samples, _vote_evaluator(votes, None))


def weighted_majority(
    pool: Pool, ks: IntArray, rng: np.random.Generator, mc_samples: int, exact: bool | None = None
) -> CurveEstimate:
    group = _require_groups(pool)
    if pool.score is None:
        raise ValueError("weighted majority needs scores")
    votes = vote_pool(group, pool.correct, pool.valid)
    weights = np.nan_to_num(pool.score, nan=0.0)
    return monte_carlo(pool, ks, rng, mc_samples, _vote_evaluator(votes, weights))


def verified_majority(
    pool: Pool, ks: IntArray, rng: np.random.Generator, mc_samples: int, exact: bool | None = None
) -> CurveEstimate:
    group = _require_groups(pool)
    if pool.passed is None:
        raise ValueError("verified majority needs pass/fail verdicts")
    verified_member = pool.valid & (pool.passed == 1) & (group >= 0)
    verified = vote_pool(group, pool.correct, verified_member)
    rest = vote_pool(group, pool.correct, pool.valid & ~verified_member)
    s_max = int(min(ks.max(initial=0), pool.n.max(initial=0)))
    cost = exact_vote_cost(verified, s_max) + exact_vote_cost(rest, s_max)
    if not _use_exact(exact, cost):
        return monte_carlo(pool, ks, rng, mc_samples, _verified_evaluator(verified, rest))
    verified_table = vote_table(verified, s_max)
    rest_table = vote_table(rest, s_max)
    n, n1 = pool.n, verified.n
    n0 = n - n1
    kk = effective_k(ks, n)
    lf = log_factorials(int(n.max(initial=0)))
    s = np.arange(s_max + 1)
    value = np.zeros((pool.problems, len(ks)))
    for column in range(len(ks)):
        k = kk[:, column][:, None]
        # P(the subset holds s verified samples): hypergeometric.
        h = np.exp(
            log_comb(lf, n1[:, None], s[None, :])
            + log_comb(lf, n0[:, None], k - s[None, :])
            - log_comb(lf, n[:, None], k)
        )
        h = np.where(k > 0, h, 0.0)
        value[:, column] = (h[:, 1:] * verified_table[:, 1:]).sum(axis=1) + h[:, 0] * _gather(rest_table, k)[:, 0]
    return CurveEstimate(value, "exact")


def _require_groups(pool: Pool) -> NDArray[np.int32]:
    if pool.group is None:
        raise ValueError("voting needs answers (answer groups)")
    return pool.group


def _use_exact(exact: bool | None, cost: float) -> bool:
    if exact is None:
        return cost <= EXACT_VOTE_BUDGET
    return exact and math.isfinite(cost)


# -- Monte Carlo ------------------------------------------------------------------------------------------

#: evaluate(order, ks) -> (P, K) accuracies for one replicate; `order[p]` lists row p's columns in a random
#: order with padding last, so `order[p, :k]` is a uniform k-subset.
Evaluator = Callable[[IntArray, IntArray], FloatArray]


def random_orders(valid: BoolArray, rng: np.random.Generator) -> IntArray:
    problems, width = valid.shape
    if valid.all():
        out: IntArray = rng.permuted(np.broadcast_to(np.arange(width), (problems, width)), axis=1)
        return out
    keys = rng.random((problems, width))
    keys[~valid] = 2.0
    return np.argsort(keys, axis=1)


def monte_carlo(
    pool: Pool, ks: IntArray, rng: np.random.Generator, mc_samples: int, evaluate: Evaluator
) -> CurveEstimate:
    replicates = max(2, int(mc_samples))
    kk = np.unique(np.clip(ks, 0, pool.valid.shape[1]))
    total = np.zeros((pool.problems, len(kk)))
    means = np.zeros((replicates, len(kk)))
    for replicate in range(replicates):
        values = evaluate(random_orders(pool.valid, rng), kk)
        total += values
        means[replicate] = values.mean(axis=0) if pool.problems else 0.0
    # Back onto the requested ks (beyond a row's width the subset is the whole row).
    where = np.searchsorted(kk, np.clip(ks, 0, pool.valid.shape[1]))
    return CurveEstimate(total[:, where] / replicates, "monte_carlo", replicates, means[:, where])


def _prefix_winners(
    ids: NDArray[np.int32], weights: FloatArray | None, order: IntArray, ks: IntArray, n_groups: int
) -> tuple[IntArray, BoolArray]:
    """The winning group of every prefix order[:, :k] (highest total weight, ties to the lower id) and
    whether any member of the pool is in it."""
    problems = ids.shape[0]
    winners = np.zeros((problems, len(ks)), dtype=np.int64)
    present = np.zeros((problems, len(ks)), dtype=bool)
    if n_groups == 0:
        return winners, present
    shuffled = np.take_along_axis(ids, order, axis=1)
    shuffled_w = np.take_along_axis(weights, order, axis=1) if weights is not None else None
    totals = np.zeros(problems * n_groups)
    counts = np.zeros(problems * n_groups)
    offsets = (np.arange(problems) * n_groups)[:, None]
    start = 0
    for column, k in enumerate(ks):
        if k > start:
            segment = shuffled[:, start:k]
            member = segment >= 0
            flat = (offsets + segment)[member]
            counts += np.bincount(flat, minlength=problems * n_groups)
            if shuffled_w is None:
                totals = counts
            else:
                totals = totals + np.bincount(
                    flat, weights=shuffled_w[:, start:k][member], minlength=problems * n_groups
                )
            start = int(k)
        shaped = np.where(counts.reshape(problems, n_groups) > 0, totals.reshape(problems, n_groups), -np.inf)
        winners[:, column] = np.argmax(shaped, axis=1)
        present[:, column] = np.isfinite(shaped.max(axis=1))
    return winners, present


def _vote_values(
    votes: VotePool, weights: FloatArray | None, order: IntArray, ks: IntArray
) -> tuple[FloatArray, BoolArray]:
    n_groups = votes.sizes.shape[1]
    winners, present = _prefix_winners(votes.ids, weights, order, ks, n_groups)
    if n_groups == 0:
        return np.zeros(winners.shape), present
    values: FloatArray = np.where(present, np.take_along_axis(votes.fraction_correct, winners, axis=1), 0.0)
    return values, present


def _vote_evaluator(votes: VotePool, weights: FloatArray | None) -> Evaluator:
    def evaluate(order: IntArray, ks: IntArray) -> FloatArray:
        return _vote_values(votes, weights, order, ks)[0]

    return evaluate


def _verified_evaluator(verified: VotePool, rest: VotePool) -> Evaluator:
    def evaluate(order: IntArray, ks: IntArray) -> FloatArray:
        verified_values, any_verified = _vote_values(verified, None, order, ks)
        rest_values, _ = _vote_values(rest, None, order, ks)
        out: FloatArray = np.where(any_verified, verified_values, rest_values)
        return out

    return evaluate
