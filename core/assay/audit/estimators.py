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
Carlo with the standard error across replicates reported. A replicate either draws a random order of the
samples, whose prefixes are uniform k-subsets for every k at once, or, for votes over many samples with
few distinct answers, draws each answer group's count in the k-subset (multivariate hypergeometric).

Tie convention: vote ties go to the answer that appears first (lowest sample index) among all of the
problem's n samples; that is what the vote selectors do with all n samples, so every curve at k = n
equals the selector's own choice on the full set. (A selector handed only a subset can only see the
subset's first appearances; the two rules differ only on ties.) A group whose members disagree on the
label counts as the fraction labelled correct.

Arrays are padded (problems x samples): a problem's samples sit in its row's first n columns in
sample-index order; `valid` marks them. Answer group ids number answers by first appearance in that
order (`first_appearance_ids` renumbers arbitrary ids).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

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

    `group`: the answer group of each sample (-1: no answer), numbered by first appearance (the tie order);
    `passed`: 1 pass, 0 fail, -1 undecided; `score`: NaN where there is none.
    """

    valid: BoolArray
    correct: FloatArray
    group: NDArray[np.int32] | None = None
    passed: NDArray[np.int8] | None = None
    score: FloatArray | None = None
    #: Named numbers about each sample (problems, samples, signals), NaN where missing: every verifier's
    #: score and pass/fail and the samples' own signals (for the `ensemble` selector).
    signals: FloatArray | None = None
    signal_names: list[str] = field(default_factory=list)
    #: Shared by the pools of one data set (same labels and answers): the vote over all samples.
    shared: dict[str, Any] = field(default_factory=dict)

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
    #: What a selector learned to draw the curve (the ensemble's signal weights), for the report.
    details: dict[str, Any] | None = None

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
    """Best-of-k: the highest-ranked sample of the subset (score desc, then sample index asc).

    The sample with b samples ranked below it is chosen in C(b, k-1) of the C(n, k) subsets, so each
    problem's curve is its row of labels in rank order times a (rank x k) table of those ratios.
    """
    n = pool.n
    order = rank_order(effective_scores(pool), pool.valid)
    ranked = np.take_along_axis(pool.correct, order, axis=1)  # best first; padding last
    value = np.zeros((pool.problems, len(ks)))
    lf = log_factorials(int(n.max(initial=0)))
    for size in np.unique(n):
        if size == 0:
            continue
        rows = np.nonzero(n == size)[0]
        k = np.minimum(ks, size)
        below = np.arange(int(size) - 1, -1, -1)  # the best sample has size - 1 below it
        all_subsets = log_comb(lf, np.full(len(k), size, dtype=np.int64), k)
        table = np.exp(log_comb(lf, below[:, None], k[None, :] - 1) - all_subsets[None, :])
        value[rows] = ranked[rows, : int(size)] @ table
    return CurveEstimate(value, "exact")


def rank_order(scores: FloatArray, valid: BoolArray) -> IntArray:
    """Each row's columns from the best sample to the worst (higher score first, then lower index), padding
    last."""
    levels = np.isin(scores, (0.0, 1.0)) | (scores == -np.inf)
    if bool(levels[valid].all()):
        # Pass/fail (or 0/1 scores): a stable sort of a few small integers (a radix sort, no comparisons).
        code = np.where(valid, np.where(scores == 1.0, -3, np.where(scores == 0.0, -2, -1)), 0).astype(np.int8)
        out: IntArray = np.argsort(code, axis=1, kind="stable")
        return out
    # Unjudged samples (-inf) tie among themselves below every score; padding sorts last of all.
    key = np.where(valid, np.minimum(-scores, np.finfo(np.float64).max), np.inf)
    order = np.argsort(key, axis=1)  # fast but not stable: redo the rows where equal scores meet
    ordered = np.take_along_axis(key, order, axis=1)
    tied = ((ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] < np.inf)).any(axis=1)
    if tied.any():
        order[tied] = np.argsort(key[tied], axis=1, kind="stable")
    return order


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

    fraction_correct: FloatArray = field(init=False)

    def __post_init__(self) -> None:
        self.fraction_correct = np.where(self.sizes > 0, self.correct / np.maximum(self.sizes, 1), 0.0)


def vote_pool(group: NDArray[np.int32], correct: FloatArray, member: BoolArray) -> VotePool:
    """The answer groups of a pool's members. Group ids keep their meaning (and so their tie order: ids
    number answers by first appearance among all of a problem's samples)."""
    problems = group.shape[0]
    answering = member & (group >= 0)
    ids = np.where(answering, group, -1).astype(np.int32)
    n_groups = int(ids.max(initial=-1)) + 1
    if n_groups == 0:
        empty = np.zeros((problems, 0), np.int64)
        return VotePool(empty, empty.astype(np.float64), member.sum(axis=1).astype(np.int64), ids)
    flat = flat_bins(ids, n_groups)
    sizes = np.bincount(flat.ravel(), minlength=problems * n_groups + 1)[:-1].reshape(problems, n_groups)
    correct_sum = np.bincount(flat.ravel(), weights=correct.ravel(), minlength=problems * n_groups + 1)[:-1]
    return VotePool(
        sizes=sizes.astype(np.int64),
        correct=correct_sum.reshape(problems, n_groups).astype(np.float64),
        abstain=(member & (group < 0)).sum(axis=1).astype(np.int64),
        ids=ids,
    )


def first_appearance_ids(group: NDArray[np.int64] | NDArray[np.int32]) -> NDArray[np.int32]:
    """Renumber each row's answer groups (-1: none) by first appearance in column order, which is the tie
    order every vote uses (`AnswerGroups` numbers them so when files are read)."""
    problems, width = group.shape
    answering = group >= 0
    n_groups = int(group.max(initial=-1)) + 1
    if n_groups == 0:
        return np.full(group.shape, -1, np.int32)
    flat = flat_bins(group, n_groups)
    first = np.full(problems * n_groups + 1, width, dtype=np.int64)
    np.minimum.at(first, flat.ravel(), np.broadcast_to(np.arange(width), group.shape).ravel())
    order = np.argsort(first[:-1].reshape(problems, n_groups), axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(n_groups), order.shape), axis=1)
    renumbered = np.take_along_axis(rank, np.where(answering, group, 0), axis=1)
    return np.where(answering, renumbered, -1).astype(np.int32)


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
    votes = all_votes(pool)
    s_max = int(min(ks.max(initial=0), pool.n.max(initial=0)))
    if _use_exact(exact, exact_vote_cost(votes, s_max)):
        return CurveEstimate(_gather(vote_table(votes, s_max), effective_k(ks, pool.n)), "exact")
    if _counts_are_cheaper([votes], pool.valid.shape[1], ks):
        return _exact_at_one(counts_monte_carlo([votes], pool.n, ks, rng, mc_samples), pool, ks)
    return _exact_at_one(monte_carlo(pool, ks, rng, mc_samples, _vote_evaluator(votes, None)), pool, ks)


def _exact_at_one(estimate: CurveEstimate, pool: Pool, ks: IntArray) -> CurveEstimate:
    """A vote over one sample picks it when it has an answer: at k=1 the exact value replaces Monte Carlo's,
    so that no vote reads above coverage there by noise alone."""
    ones = np.flatnonzero(ks == 1)
    if not len(ones) or pool.group is None:
        return estimate
    answered = pool.valid & (pool.group >= 0)
    exact = (pool.correct * answered).sum(axis=1) / np.maximum(pool.n, 1)
    estimate.per_problem[:, ones] = exact[:, None]
    if estimate.replicate_means is not None:
        estimate.replicate_means[:, ones] = exact.mean() if len(exact) else 0.0
    return estimate


def weighted_majority(
    pool: Pool, ks: IntArray, rng: np.random.Generator, mc_samples: int, exact: bool | None = None
) -> CurveEstimate:
    if pool.score is None:
        raise ValueError("weighted majority needs scores")
    votes = all_votes(pool)
    weights = np.nan_to_num(pool.score, nan=0.0)
    return _exact_at_one(monte_carlo(pool, ks, rng, mc_samples, _vote_evaluator(votes, weights)), pool, ks)


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
        if _counts_are_cheaper([verified, rest], pool.valid.shape[1], ks):
            return _exact_at_one(counts_monte_carlo([verified, rest], pool.n, ks, rng, mc_samples), pool, ks)
        return _exact_at_one(monte_carlo(pool, ks, rng, mc_samples, _verified_evaluator(verified, rest)), pool, ks)
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


def all_votes(pool: Pool) -> VotePool:
    """The vote over every sample (computed once per data set)."""
    if "votes" not in pool.shared:
        pool.shared["votes"] = vote_pool(_require_groups(pool), pool.correct, pool.valid)
    votes: VotePool = pool.shared["votes"]
    return votes


def _require_groups(pool: Pool) -> NDArray[np.int32]:
    if pool.group is None:
        raise ValueError("voting needs answers (answer groups)")
    return pool.group


def _use_exact(exact: bool | None, cost: float) -> bool:
    if exact is None:
        return cost <= EXACT_VOTE_BUDGET
    return exact and math.isfinite(cost)


# -- Monte Carlo ------------------------------------------------------------------------------------------

#: evaluate(orders, ks) -> (B, P, K) accuracies for a batch of B replicates. `orders` are random orders of
#: the columns: one per replicate shared by every row, (B, N), when every problem has all N samples; else one
#: per replicate and row, (B, P, N), padding last. The first k columns of an order are a uniform k-subset of
#: each problem's samples.
Evaluator = Callable[[IntArray, IntArray], FloatArray]

#: Replicates are simulated in batches of about this many (replicate x sample) cells.
BATCH_CELLS = 4_000_000


def random_orders(valid: BoolArray, rng: np.random.Generator, batch: int) -> IntArray:
    problems, width = valid.shape
    if valid.all():
        # One permutation per replicate for every problem: each problem still sees a uniform subset, a
        # gather of whole columns is far cheaper than a permutation per problem, and replicates stay
        # independent (problems within one are not, which the spread across replicates accounts for).
        return rng.permuted(np.broadcast_to(np.arange(width), (batch, width)), axis=1)
    keys = rng.random((batch, problems, width))
    keys[:, ~valid] = 2.0
    return np.argsort(keys, axis=2)


class Columns:
    """A (problems x samples) array whose columns are gathered in random orders. Shared orders gather rows
    of the transposed copy (contiguous memory)."""

    def __init__(self, values: NDArray[Any]) -> None:
        self.values = values
        self._transposed: NDArray[Any] | None = None

    def take(self, orders: IntArray, start: int, stop: int) -> NDArray[Any]:
        """Columns orders[..., start:stop] of every row: (B, stop - start, P) or (B, P, stop - start)."""
        if orders.ndim == 2:
            if self._transposed is None:
                self._transposed = np.ascontiguousarray(self.values.T)
            return self._transposed[orders[:, start:stop]]
        out: NDArray[Any] = np.take_along_axis(self.values[None], orders[:, :, start:stop], axis=2)
        return out


def monte_carlo(
    pool: Pool, ks: IntArray, rng: np.random.Generator, mc_samples: int, evaluate: Evaluator
) -> CurveEstimate:
    replicates = max(2, int(mc_samples))
    kk = np.unique(np.clip(ks, 0, pool.valid.shape[1]))
    total = np.zeros((pool.problems, len(kk)))
    means = np.zeros((replicates, len(kk)))
    batch = int(max(1, min(replicates, BATCH_CELLS // max(pool.valid.size, 1))))
    for first in range(0, replicates, batch):
        size = min(batch, replicates - first)
        values = evaluate(random_orders(pool.valid, rng, size), kk)
        total += values.sum(axis=0)
        means[first : first + size] = values.mean(axis=1) if pool.problems else 0.0
    # Back onto the requested ks (beyond a row's width the subset is the whole row).
    where = np.searchsorted(kk, np.clip(ks, 0, pool.valid.shape[1]))
    return CurveEstimate(total[:, where] / replicates, "monte_carlo", replicates, means[:, where])


def _winners(totals: FloatArray, counts: FloatArray) -> tuple[IntArray, BoolArray]:
    """Over the last axis: the group with the largest total among those present (ties to the lower id),
    and whether any is present."""
    if totals.shape[-1] == 0:
        return np.zeros(totals.shape[:-1], dtype=np.int64), np.zeros(totals.shape[:-1], dtype=bool)
    shaped = np.where(counts > 0, totals, -np.inf)
    winners: IntArray = np.argmax(shaped, axis=-1)
    present: BoolArray = counts.max(axis=-1, initial=0) > 0
    return winners, present


def flat_bins(ids: NDArray[np.int32] | NDArray[np.int64], n_groups: int) -> IntArray:
    """One bin per (problem, group), and the last bin (problems * n_groups) for samples outside the pool."""
    problems = ids.shape[0]
    out: IntArray = np.where(ids >= 0, (np.arange(problems) * n_groups)[:, None] + ids, problems * n_groups)
    return out


def _prefix_winners(
    flat: Columns, weights: Columns | None, orders: IntArray, ks: IntArray, n_groups: int
) -> tuple[IntArray, BoolArray]:
    """The winning group of every prefix of every order (highest total weight, ties to the lower id) and
    whether any member of the pool is in it: (B, P, K) each. `flat` holds each sample's `flat_bins`."""
    batch, problems = orders.shape[0], flat.values.shape[0]
    winners = np.zeros((batch, problems, len(ks)), dtype=np.int64)
    present = np.zeros((batch, problems, len(ks)), dtype=bool)
    if n_groups == 0:
        return winners, present
    block = problems * n_groups + 1  # a replicate's bins, the last one for samples outside the pool
    offsets = (np.arange(batch) * block)[:, None, None]
    totals = np.zeros(batch * block)
    counts = np.zeros(batch * block)
    start = 0
    for column, k in enumerate(ks):
        if k > start:
            segment = flat.take(orders, start, int(k))
            segment = (segment + offsets if batch > 1 else segment).ravel()
            counts += np.bincount(segment, minlength=batch * block)
            if weights is not None:
                totals += np.bincount(
                    segment, weights=weights.take(orders, start, int(k)).ravel(), minlength=batch * block
                )
            start = int(k)
        shape = (batch, problems, n_groups)
        winners[:, :, column], present[:, :, column] = _winners(
            (counts if weights is None else totals).reshape(batch, block)[:, :-1].reshape(shape),
            counts.reshape(batch, block)[:, :-1].reshape(shape),
        )
    return winners, present


def _vote_values(
    votes: VotePool, flat: Columns, weights: Columns | None, orders: IntArray, ks: IntArray
) -> tuple[FloatArray, BoolArray]:
    n_groups = votes.sizes.shape[1]
    winners, present = _prefix_winners(flat, weights, orders, ks, n_groups)
    if n_groups == 0:
        return np.zeros(winners.shape), present
    fraction = np.broadcast_to(votes.fraction_correct[None], (len(orders), *votes.fraction_correct.shape))
    values: FloatArray = np.where(present, np.take_along_axis(fraction, winners, axis=2), 0.0)
    return values, present


def _vote_evaluator(votes: VotePool, weights: FloatArray | None) -> Evaluator:
    flat = Columns(flat_bins(votes.ids, votes.sizes.shape[1]))
    weight_columns = Columns(weights) if weights is not None else None

    def evaluate(orders: IntArray, ks: IntArray) -> FloatArray:
        return _vote_values(votes, flat, weight_columns, orders, ks)[0]

    return evaluate


def _verified_evaluator(verified: VotePool, rest: VotePool) -> Evaluator:
    verified_ids = Columns(flat_bins(verified.ids, verified.sizes.shape[1]))
    rest_ids = Columns(flat_bins(rest.ids, rest.sizes.shape[1]))

    def evaluate(orders: IntArray, ks: IntArray) -> FloatArray:
        verified_values, any_verified = _vote_values(verified, verified_ids, None, orders, ks)
        rest_values, _ = _vote_values(rest, rest_ids, None, orders, ks)
        out: FloatArray = np.where(any_verified, verified_values, rest_values)
        return out

    return evaluate


# Votes with many samples and few answers: the counts of each group in a random k-subset are multivariate
# hypergeometric, so a replicate draws them directly and never touches the samples themselves.


def hypergeometric_counts(sizes: IntArray, k: IntArray, rng: np.random.Generator) -> IntArray:
    """Counts of each colour (column) in a uniform k-subset of each row's sizes.sum() items.

    Down a binary tree of the colours: the draws of a node split between its two halves as a hypergeometric
    variable, so one vectorised draw per level (log2 of the colours) replaces one per colour.
    """
    problems, colours = sizes.shape
    depth = max(1, math.ceil(math.log2(max(colours, 1))))
    padded = np.zeros((problems, 2**depth), dtype=np.int64)
    padded[:, :colours] = sizes
    levels = [padded]
    while levels[-1].shape[1] > 1:
        levels.append(levels[-1][:, 0::2] + levels[-1][:, 1::2])
    draws = np.minimum(k, levels[-1][:, 0])[:, None]
    for level in reversed(levels[:-1]):
        left, right = level[:, 0::2], level[:, 1::2]
        left_draws = rng.hypergeometric(left, right, draws)
        draws = np.stack([left_draws, draws - left_draws], axis=2).reshape(problems, -1)
    counts: IntArray = draws[:, :colours]
    return counts


def _counts_winner_values(counts: IntArray, fraction: FloatArray) -> tuple[FloatArray, BoolArray]:
    winners, present = _winners(counts.astype(np.float64), counts.astype(np.float64))
    if fraction.shape[1] == 0:
        return np.zeros(len(counts)), present
    values: FloatArray = np.where(present, np.take_along_axis(fraction, winners[:, None], axis=1)[:, 0], 0.0)
    return values, present


def counts_monte_carlo(
    pools: list[VotePool], n: IntArray, ks: IntArray, rng: np.random.Generator, mc_samples: int
) -> CurveEstimate:
    """A vote over `pools[0]` (falling back to `pools[1]` when the subset holds none of the first pool's
    voters), from hypergeometric draws of every group's count; replicates are drawn in batches."""
    problems = len(n)
    sizes = np.concatenate([p.sizes for p in pools] + [(n - sum(p.sizes.sum(axis=1) for p in pools))[:, None]], axis=1)
    edges = np.cumsum([0] + [p.sizes.shape[1] for p in pools])
    replicates = max(2, int(mc_samples))
    batch = int(max(1, min(replicates, BATCH_CELLS // max(sizes.size, 1))))
    kk = effective_k(ks, n)
    total = np.zeros((problems, len(ks)))
    means = np.zeros((replicates, len(ks)))
    for first in range(0, replicates, batch):
        size = min(batch, replicates - first)
        tiled = np.tile(sizes, (size, 1))
        fractions = [np.tile(p.fraction_correct, (size, 1)) for p in pools]
        for column in range(len(ks)):
            counts = hypergeometric_counts(tiled, np.tile(kk[:, column], size), rng)
            values, present = _counts_winner_values(counts[:, edges[0] : edges[1]], fractions[0])
            if len(pools) > 1:
                fallback, _ = _counts_winner_values(counts[:, edges[1] : edges[2]], fractions[1])
                values = np.where(present, values, fallback)
            by_replicate = values.reshape(size, problems)
            total[:, column] += by_replicate.sum(axis=0)
            means[first : first + size, column] = by_replicate.mean(axis=1) if problems else 0.0
    return CurveEstimate(total / replicates, "monte_carlo", replicates, means)


def _counts_are_cheaper(pools: list[VotePool], width: int, ks: IntArray) -> bool:
    """Hypergeometric draws cost one draw per group and k; a permutation, one gather per sample (several
    times cheaper than a draw)."""
    groups = sum(p.sizes.shape[1] for p in pools) + 1
    return bool(8 * groups * len(ks) < width)
