"""A label model: how accurate is each weak signal, learned without ground truth.

Every signal casts a vote on every row (an answer of a problem): +1 (looks right), -1 (looks wrong) or 0
(abstains; abstaining is taken to say nothing about the truth). The model assumes a hidden label y (the row
is right or not) and signals that vote independently given y, each with two rates: alpha = P(+1 | right,
voted) and beta = P(+1 | wrong, voted) (the one-coin-per-class model of Dawid and Skene, 1979, as weak
supervision uses it). The posterior log-odds that a row is right are a sum over signals: log(alpha/beta)
for a +1 vote, log((1-alpha)/(1-beta)) for a -1 vote, nothing for an abstention.

**Without labels: moment matching over triplets** (the triplet method of Fu et al., 2020, "Fast and Three-
rious", in its asymmetric form). If two signals are independent given y, their covariance is p(1-p) d_i d_j,
where d_i = E[vote_i | right] - E[vote_i | wrong] and p the share of right rows: a rank-one matrix. For any
three signals, q_i^2 = C_ij C_ik / C_jk recovers p(1-p) d_i^2; each signal's value is the median over every
pair (j, k) whose covariances are clearly non-zero and consistent (independent signals make the product of
the three covariances positive; a negative one reveals a dependence), so that one dependent pair cannot
sway it. The sign comes
from the anchor (a signal known to be better than chance, the vote) or, without one, from the assumption
that the signals are better than chance on the whole. The mean vote then gives both rates, clipped to
[ACCURACY_CLIP, 1 - ACCURACY_CLIP] so that no single signal's weight is unbounded. Closed form, no
iterations, no start point: nothing to lock onto.

- **Correlated signals**: two signals whose votes correlate beyond DUPLICATE_CORRELATION (where both vote)
  carry the same information; the later one (by name) is merged into the earlier and weighs nothing.
- **Class balance**: where rows come in groups of which exactly one is right (the answers of a problem),
  p = groups / rows; otherwise p is read from the moments (the mean vote over the spread, Fu et al.).
- **Unidentifiable fits**: with fewer than three distinct signals, or an anchor whose accuracy no triplet
  pins down, the moments say nothing; the model then falls back to fixed rates on the anchor and its
  strongest partner (the given partner whose votes agree most with the anchor's), or, without an anchor,
  to an unweighted vote of the signals, and says so (`fallback`).

**With labels** on some rows, expectation-maximisation with those rows held at their label fits the rates
(semi-supervised Dawid-Skene): a few labels anchor it to the truth.

Pair statistics are sums of integers and the triplets are taken in a fixed order, so the fit does not
depend on the order of rows or groups, and it is deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
Votes = NDArray[np.int8]

#: Where EM starts (labelled fits): every signal a little better than chance.
START_ALPHA, START_BETA = 0.7, 0.3
#: Pseudo-votes per rate in EM (Laplace smoothing): keeps every weight finite.
PSEUDO_VOTES = 1.0
#: Two signals whose votes correlate at least this much (where both vote) count as one.
DUPLICATE_CORRELATION = 0.9
#: A pair of signals is a usable denominator of a triplet only where its votes correlate at least this much
#: over at least MIN_ROWS rows; below that its covariance is mostly sampling noise.
MIN_CORRELATION = 0.05
MIN_ROWS = 20
#: Rates are kept in [ACCURACY_CLIP, 1 - ACCURACY_CLIP]: a +1 vote moves the log-odds by at most ~9.2.
ACCURACY_CLIP = 0.01
#: The rates the fallback gives the signal it trusts (a weight of 2 log 4), and the anchor when it only breaks
#: the partner's ties (a smaller weight, 2 log(7/3), so that it never outvotes the partner).
FALLBACK_ALPHA, FALLBACK_BETA = 0.8, 0.2
FALLBACK_TIE_ALPHA, FALLBACK_TIE_BETA = 0.7, 0.3


@dataclass
class SignalFit:
    """One signal's learned rates and weight."""

    name: str
    alpha: float  # P(+1 | right, voted)
    beta: float  # P(+1 | wrong, voted)
    coverage: float  # share of rows it voted on
    #: Another signal it duplicates (its votes then count once, under that name).
    duplicate_of: str | None = None

    @property
    def weight_for(self) -> float:
        """Log-odds added by a +1 vote."""
        return float(np.log(self.alpha / self.beta))

    @property
    def weight_against(self) -> float:
        """Log-odds added by a -1 vote (negative for a useful signal)."""
        return float(np.log((1.0 - self.alpha) / (1.0 - self.beta)))

    @property
    def weight(self) -> float:
        """How far a +1 vote moves the log-odds from a -1 vote: 0 for noise, large for a reliable signal."""
        return self.weight_for - self.weight_against

    def accuracy(self, prior: float) -> float:
        """P(its vote matches the hidden label | it voted), under the fitted prior."""
        return prior * self.alpha + (1.0 - prior) * (1.0 - self.beta)

    def to_json(self, prior: float) -> dict[str, Any]:
        return {
            "signal": self.name,
            "weight": round(self.weight, 4) if self.duplicate_of is None else 0.0,
            "accuracy": round(self.accuracy(prior), 4),
            "alpha": round(self.alpha, 4),
            "beta": round(self.beta, 4),
            "coverage": round(self.coverage, 4),
            "duplicate_of": self.duplicate_of,
        }


@dataclass
class LabelModel:
    """Fitted rates for a fixed list of signals (the columns of the vote matrix)."""

    names: list[str]
    prior: float = 0.5
    signals: list[SignalFit] = field(default_factory=list)
    iterations: int = 0
    labels_used: int = 0
    #: How the rates were found: "triplets" (moments, no labels), "em" (with labels) or "fallback".
    method: str = "triplets"
    #: Why the fit fell back to fixed rates (None: it did not).
    fallback: str | None = None

    @classmethod
    def fit(
        cls,
        votes: Votes,
        names: list[str],
        labels: FloatArray | None = None,
        start: FloatArray | None = None,
        groups: NDArray[np.int64] | None = None,
        max_iterations: int = 200,
        tolerance: float = 1e-7,
        anchor: str | None = None,
        partners: Sequence[str] = (),
    ) -> LabelModel:
        """Fit on a (rows, signals) matrix of -1/0/+1 votes.

        `groups` (optional) says which rows compete: exactly one row of each group is right (the answers of
        one problem); it sets the class balance, and EM normalises the posterior within a group. `anchor`
        names a signal known to be better than chance (it fixes the direction of every other), `partners`
        the signals the fallback may pair with it. `labels` (optional, NaN where unknown) holds 1.0/0.0
        for rows whose truth is known: then EM fits the rates, starting from the posterior `start` if given,
        for at most `max_iterations` rounds.
        """
        votes = np.asarray(votes, dtype=np.int8)
        if votes.ndim != 2 or votes.shape[1] != len(names):
            raise ValueError(f"votes must be (samples, {len(names)}), got {votes.shape}")
        if anchor is not None and anchor not in names:
            raise ValueError(f"anchor {anchor!r} is not one of the signals {names}")
        stats = _PairStatistics(votes)
        duplicate_of = _duplicates(stats, names, anchor)
        known = np.zeros(len(votes), dtype=bool) if labels is None else np.isfinite(labels)
        if known.any():
            assert labels is not None
            return cls._fit_em(votes, names, labels, start, groups, max_iterations, tolerance, duplicate_of)
        return cls._fit_triplets(stats, names, groups, duplicate_of, anchor, partners)

    # -- without labels: triplets --------------------------------------------------------------------------------

    @classmethod
    def _fit_triplets(
        cls,
        stats: _PairStatistics,
        names: list[str],
        groups: NDArray[np.int64] | None,
        duplicate_of: list[str | None],
        anchor: str | None,
        partners: Sequence[str],
    ) -> LabelModel:
        width = len(names)
        active = [i for i in range(width) if duplicate_of[i] is None]
        covariance, correlation, usable = stats.covariance(), stats.correlation(), stats.usable()
        # q[i]^2 = p(1-p) d_i^2, the median over usable triplets (i, j, k) of C_ij C_ik / C_jk.
        q = np.full(width, np.nan)
        for i in active:
            estimates = [
                covariance[i, j] * covariance[i, k] / covariance[j, k]
                for a, j in enumerate(active)
                for k in active[a + 1 :]
                if i not in (j, k)
                and usable[j, k]
                and usable[i, j]
                and usable[i, k]
                # Independent given y, the three covariances multiply to p^3(1-p)^3 (d_i d_j d_k)^2 > 0; a
                # negative product shows a dependence within the triplet, whose estimate would be wrong.
                and covariance[i, j] * covariance[i, k] * covariance[j, k] > 0
            ]
            if estimates:
                q[i] = float(np.sqrt(max(0.0, float(np.median(estimates)))))
        anchor_at = None if anchor is None else names.index(anchor)
        if anchor_at is not None and duplicate_of[anchor_at] is not None:
            anchor_at = names.index(duplicate_of[anchor_at])  # type: ignore[arg-type]
        reason = None
        if len(active) < 3:
            reason = f"{len(active)} distinct signal(s): three are needed to tell their accuracies apart"
        elif anchor_at is not None and not np.isfinite(q[anchor_at]):
            reason = f"no triplet pins down the accuracy of {names[anchor_at]} (its votes agree with too few)"
        elif not np.isfinite(q).any():
            reason = "no triplet of signals whose votes clearly agree"
        coverage = stats.coverage()
        if reason is not None:
            return cls._fallback(stats, names, groups, duplicate_of, anchor_at, partners, reason)
        sign = _signs(q, correlation, anchor_at)
        prior = _class_balance(stats, q, sign, groups)
        spread = np.sqrt(prior * (1.0 - prior))
        fits = []
        for i, name in enumerate(names):
            d = sign[i] * q[i] / spread if np.isfinite(q[i]) and duplicate_of[i] is None else 0.0
            mean = stats.mean_vote[i]
            alpha = _clip((1.0 + mean + (1.0 - prior) * d) / 2.0)
            beta = _clip((1.0 + mean - prior * d) / 2.0)
            if d == 0.0:
                alpha = beta = 0.5
            fits.append(SignalFit(name, alpha, beta, float(coverage[i]), duplicate_of[i]))
        return cls(list(names), prior, fits, 0, 0, "triplets", None)

    @classmethod
    def _fallback(
        cls,
        stats: _PairStatistics,
        names: list[str],
        groups: NDArray[np.int64] | None,
        duplicate_of: list[str | None],
        anchor_at: int | None,
        partners: Sequence[str],
        reason: str,
    ) -> LabelModel:
        correlation, coverage = stats.correlation(), stats.coverage()
        rates = dict.fromkeys(range(len(names)), (0.5, 0.5))
        if anchor_at is None:
            trusted = [i for i in range(len(names)) if duplicate_of[i] is None]
            rates.update(dict.fromkeys(trusted, (FALLBACK_ALPHA, FALLBACK_BETA)))
            what = "an unweighted vote of the signals"
        else:
            # The partner that backs the anchor on the most rows (agreement x rows where both vote).
            candidates = [names.index(p) for p in partners if p in names and duplicate_of[names.index(p)] is None]
            candidates = [i for i in candidates if i != anchor_at and correlation[i, anchor_at] > 0]
            partner = max(
                candidates, key=lambda i: (correlation[i, anchor_at] * stats.both[i, anchor_at], -i), default=None
            )
            rates[anchor_at] = (FALLBACK_ALPHA, FALLBACK_BETA)
            what = names[anchor_at]
            if partner is not None:
                # The partner leads and the anchor breaks its ties: the partner (the vote weighted by a
                # check) refines the anchor (the vote) where it sees a difference.
                rates[anchor_at] = (FALLBACK_TIE_ALPHA, FALLBACK_TIE_BETA)
                rates[partner] = (FALLBACK_ALPHA, FALLBACK_BETA)
                what = f"{names[partner]}, {names[anchor_at]} breaking its ties"
        fits = [
            SignalFit(name, rates[i][0], rates[i][1], float(coverage[i]), duplicate_of[i])
            for i, name in enumerate(names)
        ]
        prior = _one_of_prior(groups, stats.rows) if groups is not None else 0.5
        return cls(list(names), prior, fits, 0, 0, "fallback", f"{reason}; fell back to {what}")

    # -- with labels: EM ------------------------------------------------------------------------------------------

    @classmethod
    def _fit_em(
        cls,
        votes: Votes,
        names: list[str],
        labels: FloatArray,
        start: FloatArray | None,
        groups: NDArray[np.int64] | None,
        max_iterations: int,
        tolerance: float,
        duplicate_of: list[str | None],
    ) -> LabelModel:
        cells = votes.shape[0]
        known = np.isfinite(labels)
        truth = np.where(known, labels, 0.0)
        active = np.array([d is None for d in duplicate_of], dtype=bool)
        positive = (votes == 1).astype(np.float64)
        voted = (votes != 0).astype(np.float64)
        alpha = np.full(len(names), START_ALPHA)
        beta = np.full(len(names), START_BETA)
        prior = 0.5
        iterations = 0
        for iterations in range(1, max_iterations + 1):
            if iterations == 1 and start is not None:
                right = np.asarray(start, dtype=np.float64)
            elif groups is not None:
                right = _posterior_one_of(votes, alpha, beta, active, groups)
            else:
                right = _posterior(votes, alpha, beta, prior, active)
            right = np.where(known, truth, right)
            wrong = 1.0 - right
            new_alpha = (right @ positive + PSEUDO_VOTES) / (right @ voted + 2 * PSEUDO_VOTES)
            new_beta = (wrong @ positive + PSEUDO_VOTES) / (wrong @ voted + 2 * PSEUDO_VOTES)
            new_prior = float(np.clip((right.sum() + 1.0) / (cells + 2.0), 0.01, 0.99))
            change = max(
                float(np.abs(new_alpha - alpha).max(initial=0.0)),
                float(np.abs(new_beta - beta).max(initial=0.0)),
                abs(new_prior - prior),
            )
            alpha, beta, prior = new_alpha, new_beta, new_prior
            if change < tolerance:
                break
        coverage = voted.mean(axis=0) if cells else np.zeros(len(names))
        fits = [
            SignalFit(name, float(a), float(b), float(c), dup)
            for name, a, b, c, dup in zip(names, alpha, beta, coverage, duplicate_of, strict=True)
        ]
        return cls(list(names), prior, fits, iterations, int(known.sum()), "em", None)

    # -- using the fit --------------------------------------------------------------------------------------------

    def weights(self) -> tuple[FloatArray, FloatArray]:
        """Per signal: the log-odds of a +1 vote and of a -1 vote (0 for duplicates)."""
        for_ = np.array([s.weight_for if s.duplicate_of is None else 0.0 for s in self.signals])
        against = np.array([s.weight_against if s.duplicate_of is None else 0.0 for s in self.signals])
        return for_, against

    def log_odds(self, votes: Votes) -> FloatArray:
        """Posterior log-odds that each row is right, for votes over the same signals (any leading shape)."""
        for_, against = self.weights()
        votes = np.asarray(votes)
        prior_odds = float(np.log(self.prior / (1.0 - self.prior)))
        out: FloatArray = prior_odds + (votes == 1) @ for_ + (votes == -1) @ against
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "fallback": self.fallback,
            "prior": round(self.prior, 4),
            "iterations": self.iterations,
            "labels_used": self.labels_used,
            "signals": sorted(
                (s.to_json(self.prior) for s in self.signals), key=lambda row: (-abs(row["weight"]), row["signal"])
            ),
        }


class _PairStatistics:
    """Integer sums over pairs of signals, on the rows where both vote: exact, so independent of row order."""

    def __init__(self, votes: Votes) -> None:
        wide = votes.astype(np.int64)
        voted = (wide != 0).astype(np.int64)
        self.rows = len(votes)
        self.both = voted.T @ voted  # rows where i and j vote
        self.sum_where = wide.T @ voted  # [i, j]: sum of i's votes where j votes too
        self.products = wide.T @ wide
        counts = np.diag(self.both)
        self.mean_vote = np.diag(self.sum_where) / np.maximum(counts, 1)

    def coverage(self) -> FloatArray:
        out: FloatArray = np.diag(self.both) / max(1, self.rows)
        return out

    def covariance(self) -> FloatArray:
        n = np.maximum(self.both, 1)
        out: FloatArray = self.products / n - (self.sum_where / n) * (self.sum_where.T / n)
        return out

    def correlation(self) -> FloatArray:
        n = np.maximum(self.both, 1)
        # A vote is +-1 where it is cast, so its second moment there is 1.
        variance = 1.0 - (self.sum_where / n) ** 2
        with np.errstate(invalid="ignore", divide="ignore"):
            out = self.covariance() / np.sqrt(variance * variance.T)
        result: FloatArray = np.where(np.isfinite(out) & (self.both > 0), out, 0.0)
        return result

    def usable(self) -> NDArray[np.bool_]:
        out: NDArray[np.bool_] = (np.abs(self.correlation()) >= MIN_CORRELATION) & (self.both >= MIN_ROWS)
        return out


def _clip(rate: float) -> float:
    return float(np.clip(rate, ACCURACY_CLIP, 1.0 - ACCURACY_CLIP))


def _one_of_prior(groups: NDArray[np.int64], rows: int) -> float:
    return float(np.clip(len(np.unique(groups)) / max(1, rows), ACCURACY_CLIP, 0.5))


def _signs(q: FloatArray, correlation: FloatArray, anchor_at: int | None) -> FloatArray:
    """Each signal's direction: the anchor's is +1; the others follow, strongest first, the sign of their
    agreement with the signals already placed (weighted by strength)."""
    sign = np.zeros(len(q))
    strength = np.nan_to_num(q)
    order = sorted(range(len(q)), key=lambda i: (i != anchor_at, -strength[i], i))
    for i in order:
        if not strength[i]:
            continue
        if i == anchor_at:
            sign[i] = 1.0
            continue
        pull = float((correlation[i] * sign * strength).sum())
        sign[i] = -1.0 if pull < 0 else 1.0
    if anchor_at is None and float((sign * strength).sum()) < 0:
        sign = -sign  # taken: the signals are better than chance on the whole
    return sign


def _class_balance(stats: _PairStatistics, q: FloatArray, sign: FloatArray, groups: NDArray[np.int64] | None) -> float:
    """The share of right rows: one per group where rows come in groups; otherwise from the moments, as if each
    signal were as accurate on right rows as on wrong ones (then mean vote / q = (2p-1) / sqrt(1-(2p-1)^2))."""
    if groups is not None:
        return _one_of_prior(groups, stats.rows)
    strong = np.isfinite(q) & (np.nan_to_num(q) > 1e-3)
    if not strong.any():
        return 0.5
    ratio = float(np.median(stats.mean_vote[strong] / (sign[strong] * q[strong])))
    balance = ratio / np.sqrt(1.0 + ratio**2)  # 2p - 1
    return float(np.clip((1.0 + balance) / 2.0, 0.05, 0.95))


def _posterior(
    votes: Votes, alpha: FloatArray, beta: FloatArray, prior: float, active: NDArray[np.bool_]
) -> FloatArray:
    for_ = np.where(active, np.log(alpha / beta), 0.0)
    against = np.where(active, np.log((1.0 - alpha) / (1.0 - beta)), 0.0)
    odds = np.log(prior / (1.0 - prior)) + (votes == 1) @ for_ + (votes == -1) @ against
    out: FloatArray = 1.0 / (1.0 + np.exp(-np.clip(odds, -50.0, 50.0)))
    return out


def _posterior_one_of(
    votes: Votes, alpha: FloatArray, beta: FloatArray, active: NDArray[np.bool_], groups: NDArray[np.int64]
) -> FloatArray:
    for_ = np.where(active, np.log(alpha / beta), 0.0)
    against = np.where(active, np.log((1.0 - alpha) / (1.0 - beta)), 0.0)
    odds = (votes == 1) @ for_ + (votes == -1) @ against
    if odds.size == 0:
        return np.zeros(0)
    _, dense = np.unique(groups, return_inverse=True)
    top = np.full(int(dense.max()) + 1, -np.inf)
    np.maximum.at(top, dense, odds)
    weight = np.exp(odds - top[dense])
    out: FloatArray = weight / np.bincount(dense, weights=weight)[dense]
    return out


def _duplicates(stats: _PairStatistics, names: list[str], anchor: str | None = None) -> list[str | None]:
    """For each signal, the earlier signal (the anchor first, then by name) whose votes it repeats
    (correlation of at least DUPLICATE_CORRELATION either way, where both vote), else None. A model that
    assumes independent signals would count duplicates twice; the anchor is never merged into another."""
    correlation = stats.correlation()
    order = sorted(range(len(names)), key=lambda i: (names[i] != anchor, names[i]))
    kept: list[int] = []
    out: list[str | None] = [None] * len(names)
    for i in order:
        if stats.both[i, i] == 0:
            kept.append(i)
            continue
        for j in kept:
            if stats.both[i, j] >= MIN_ROWS and abs(correlation[i, j]) >= DUPLICATE_CORRELATION:
                out[i] = names[j]
                break
        if out[i] is None:
            kept.append(i)
    return out
