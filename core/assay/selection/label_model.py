"""A label model: how accurate is each weak signal, learned without ground truth.

Every signal casts a vote on every sample: +1 (looks right), -1 (looks wrong) or 0 (abstains). The model
assumes a hidden label y (the sample is right or not) and signals that vote independently given y, each
with its own two rates: alpha = P(+1 | right, voted) and beta = P(+1 | wrong, voted) (the one-coin-per-
class model of Dawid and Skene, 1979, as weak supervision uses it). Expectation-maximisation fits the rates
and the prior from the votes alone; a sample whose label is known keeps it during the fit (semi-
supervised), so a few labels anchor the rates.

The posterior log-odds that a sample is right are then a sum over signals: log(alpha/beta) for a +1 vote,
log((1-alpha)/(1-beta)) for a -1 vote, nothing for an abstention. A signal that votes at random has
alpha = beta and weighs nothing; a signal that is never wrong has rates near 0 and 1 and outweighs the
others (its weight is capped by smoothing: one pseudo-vote per class and rate).

Everything is a sum over samples, so the fit does not depend on the order of samples or problems, and it
is deterministic: the start (every signal a little better than chance) is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
Votes = NDArray[np.int8]

#: Where EM starts: every signal a little better than chance (which also fixes which latent class is "right").
START_ALPHA, START_BETA = 0.7, 0.3
#: Pseudo-votes per rate (Laplace smoothing): keeps every weight finite.
PSEUDO_VOTES = 1.0
#: Two signals whose votes agree this often (where both vote) count as one: the model assumes independence.
DUPLICATE_AGREEMENT = 0.995


@dataclass
class SignalFit:
    """One signal's learned rates and weight."""

    name: str
    alpha: float  # P(+1 | right, voted)
    beta: float  # P(+1 | wrong, voted)
    coverage: float  # share of samples it voted on
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
    ) -> LabelModel:
        """Fit on a (rows, signals) matrix of -1/0/+1 votes.

        `labels` (optional, NaN where unknown) holds 1.0/0.0 for the rows whose ground truth is known.
        `start` (optional) is the first posterior, instead of the fixed start rates. `groups` (optional)
        says which rows compete: exactly one row of each group is right (the answers of one problem), so
        the posterior is normalised within the group (a softmax of the log-odds) rather than row by row.
        """
        votes = np.asarray(votes, dtype=np.int8)
        if votes.ndim != 2 or votes.shape[1] != len(names):
            raise ValueError(f"votes must be (samples, {len(names)}), got {votes.shape}")
        cells = votes.shape[0]
        known = np.zeros(cells, dtype=bool) if labels is None else np.isfinite(labels)
        truth = np.zeros(cells) if labels is None else np.where(known, labels, 0.0)
        duplicate_of = _duplicates(votes, names)
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
        return cls(list(names), prior, fits, iterations, int(known.sum()))

    def weights(self) -> tuple[FloatArray, FloatArray]:
        """Per signal: the log-odds of a +1 vote and of a -1 vote (0 for duplicates)."""
        for_ = np.array([s.weight_for if s.duplicate_of is None else 0.0 for s in self.signals])
        against = np.array([s.weight_against if s.duplicate_of is None else 0.0 for s in self.signals])
        return for_, against

    def log_odds(self, votes: Votes) -> FloatArray:
        """Posterior log-odds that each sample is right, for votes over the same signals (any leading shape)."""
        for_, against = self.weights()
        votes = np.asarray(votes)
        prior_odds = float(np.log(self.prior / (1.0 - self.prior)))
        out: FloatArray = prior_odds + (votes == 1) @ for_ + (votes == -1) @ against
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "prior": round(self.prior, 4),
            "iterations": self.iterations,
            "labels_used": self.labels_used,
            "signals": sorted(
                (s.to_json(self.prior) for s in self.signals), key=lambda row: (-abs(row["weight"]), row["signal"])
            ),
        }


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


def _duplicates(votes: Votes, names: list[str]) -> list[str | None]:
    """For each signal, the earlier signal (by name) whose votes it repeats, else None. Duplicates would be
    counted twice by a model that assumes independent signals."""
    order = sorted(range(len(names)), key=lambda i: names[i])
    kept: list[int] = []
    out: list[str | None] = [None] * len(names)
    for i in order:
        column = votes[:, i]
        for j in kept:
            other = votes[:, j]
            both = (column != 0) & (other != 0)
            either = (column != 0) | (other != 0)
            if not either.any():
                continue
            agree = float(((column == other) & both).sum()) / float(either.sum())
            if agree >= DUPLICATE_AGREEMENT:
                out[i] = names[j]
                break
        if out[i] is None:
            kept.append(i)
    return out
