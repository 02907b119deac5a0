"""The `ensemble` selector: many weak signals, combined by a label model learned without ground truth.

For every sample of a problem it reads the answer it votes for and its signals (see
`assay.selection.signals`: metadata numbers, every verifier's score and pass/fail, plugin checks, text
features), and judges answers by what the samples giving them show together: the share of samples giving
the answer (`vote_share`) and, for every signal, its mean over those samples (`answer_mean:<signal>`: for
code whose answer is its behaviour on generated tests, the share of tests the cluster passes). Samples
without an answer are judged by their own signals.

Each of these is turned into a vote relative to its problem (normalised per problem): +1 above the
problem's mean, -1 below it, 0 where the sample has no value or every sample has the same. A label model
(`assay.selection.label_model`) learns each signal's rates from these votes over every answer of every
problem, with the problem's structure built in: exactly one answer of a problem is taken to be right, so
the posterior is a softmax over the problem's answers. The answer with the highest log-odds is chosen
(ties: more samples, then the answer seen first), and its lowest-index sample.

Without labels, the model starts from self-consistency (each answer right with its vote share) and fits
the rates against that in `rounds` EM rounds (default 1: each signal's rates measured against the vote,
then combined). Run to convergence, EM trusts whichever block of mutually correlated signals is largest,
because it assumes signals independent given the truth and these are not (an answer's mean length and
mean log-prob move together; so do its size and its share of tests passed): on the training problems of
SVAMP, HumanEval and Game24 no number of rounds did better than one. With labels on some samples
(`fit(..., use_labels=True)`), those answers keep their label through the fit, which anchors the rates
to the truth; the report says how many were used.

Fit once over many problems, then select:

    fitted = Ensemble().fit(problems)       # problems: one list of Candidate per problem
    fitted.select(candidates)
    fitted.report()                         # each signal's learned accuracy and weight

An ensemble that was not fitted fits itself on the one problem it is given (a weak fit; fit on many).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from assay.selection import BaseSelector, Candidate, Choice, Input, SelectionError
from assay.selection.label_model import LabelModel

if TYPE_CHECKING:
    from assay.audit.estimators import CurveEstimate, Pool

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

VOTE_SHARE = "vote_share"
ANSWER_MEAN = "answer_mean:"
#: Differences from the problem's mean smaller than this (relative) are ties: the signal abstains.
TIE_TOLERANCE = 1e-9


@dataclass
class SignalTable:
    """Problems x samples, padded: the answer group of each sample (-1: none), its sample index (for ties),
    its raw signals (NaN: missing) and, where known, its label (NaN: unknown)."""

    valid: BoolArray
    group: NDArray[np.int32]
    index: IntArray
    values: FloatArray  # (P, N, S)
    names: list[str]
    label: FloatArray | None = None

    @classmethod
    def from_candidates(
        cls, problems: Sequence[Sequence[Candidate]], names: Sequence[str] | None = None
    ) -> SignalTable:
        """One row per problem. `names` fixes the signals read (others are ignored); default: every signal
        that any candidate has, sorted."""
        if names is None:
            names = sorted({name for candidates in problems for c in candidates for name in c.signals})
        column = {name: i for i, name in enumerate(names)}
        width = max((len(c) for c in problems), default=0)
        shape = (len(problems), width)
        valid = np.zeros(shape, dtype=bool)
        group = np.full(shape, -1, dtype=np.int32)
        index = np.full(shape, -1, dtype=np.int64)
        values = np.full((*shape, len(names)), np.nan)
        label = np.full(shape, np.nan)
        for row, candidates in enumerate(problems):
            ids: dict[str, int] = {}
            ordered = sorted(candidates, key=lambda c: c.index)
            for col, candidate in enumerate(ordered):
                valid[row, col] = True
                index[row, col] = candidate.index
                if candidate.answer is not None:
                    group[row, col] = ids.setdefault(candidate.answer, len(ids))
                for name, value in candidate.signals.items():
                    where = column.get(name)
                    if where is not None and value is not None and math.isfinite(value):
                        values[row, col, where] = value
                if candidate.label is not None:
                    label[row, col] = float(candidate.label)
        return cls(valid, group, index, values, list(names), label)

    def rows(self, start: int, stop: int) -> SignalTable:
        """Problems start..stop-1 (views, no copies)."""
        label = None if self.label is None else self.label[start:stop]
        return SignalTable(
            self.valid[start:stop],
            self.group[start:stop],
            self.index[start:stop],
            self.values[start:stop],
            self.names,
            label,
        )

    def take(self, columns: IntArray) -> SignalTable:
        """Per problem, the samples at `columns` (problems, k): a random k-subset as its own table."""

        def gather(array: NDArray[Any]) -> NDArray[Any]:
            return np.take_along_axis(array, columns, axis=1)

        values = np.take_along_axis(self.values, columns[..., None], axis=1)
        label = None if self.label is None else gather(self.label)
        return SignalTable(gather(self.valid), gather(self.group), gather(self.index), values, self.names, label)


#: Problems are processed in chunks of about this many (sample, signal) cells, to bound memory.
CHUNK_CELLS = 4_000_000


def row_chunks(table: SignalTable) -> list[tuple[int, int]]:
    problems, width = table.valid.shape
    step = max(1, CHUNK_CELLS // max(1, width * (2 * len(table.names) + 1)))
    return [(start, min(start + step, problems)) for start in range(0, problems, step)]


def answer_bins(table: SignalTable, mask: BoolArray) -> tuple[IntArray, int]:
    """Per sample in `mask`, a bin for its answer within its problem (a sample without an answer is an
    answer of its own); outside the mask, the last bin. Returns (bins, number of bins + 1)."""
    problems, width = mask.shape
    n_groups = int(table.group.max(initial=-1)) + 1
    own = np.where(table.group >= 0, table.group, n_groups + np.arange(width)[None, :])
    total = n_groups + width
    bins: IntArray = np.where(mask, np.arange(problems)[:, None] * total + own, problems * total).astype(np.int64)
    return bins, problems * total + 1


def features(table: SignalTable, mask: BoolArray | None = None) -> tuple[FloatArray, list[str]]:
    """Every answer-level signal the label model sees, for the samples in `mask` (default: all): the share
    of the samples giving the sample's answer, and each raw signal's mean over those samples (a sample
    without an answer is an answer of its own). (P, N, 1 + S), NaN outside the mask; the names depend on
    the raw signals' names only."""
    mask = table.valid if mask is None else mask & table.valid
    bins, size = answer_bins(table, mask)
    flat = bins.ravel()
    counts = np.bincount(flat, minlength=size).astype(np.float64)
    counts[-1] = 0.0
    per_row = mask.sum(axis=1, keepdims=True)
    columns = [np.where(mask, counts[bins] / np.maximum(per_row, 1), np.nan)]
    names = [VOTE_SHARE]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for s, name in enumerate(table.names):
            column = table.values[..., s]
            present = mask & np.isfinite(column)
            sums = np.bincount(flat, weights=np.where(present, column, 0.0).ravel(), minlength=size)
            seen = np.bincount(flat, weights=present.ravel().astype(np.float64), minlength=size)
            seen[-1] = 0.0
            mean = np.where(seen[bins] > 0, sums[bins] / np.where(seen[bins] > 0, seen[bins], 1.0), np.nan)
            columns.append(np.where(mask & np.isfinite(mean), mean, np.nan))
            names.append(ANSWER_MEAN + name)
    return np.stack(columns, axis=-1), names


def binarise(values: FloatArray, mask: BoolArray) -> NDArray[np.int8]:
    """+1 above the problem's mean (over the samples in `mask` that have a value), -1 below, 0 otherwise."""
    present = np.isfinite(values) & mask[..., None]
    filled = np.where(present, values, 0.0)
    count = present.sum(axis=1, keepdims=True)
    with np.errstate(over="ignore", invalid="ignore"):
        mean = filled.sum(axis=1, keepdims=True) / np.maximum(count, 1)
        tolerance = TIE_TOLERANCE * (1.0 + np.abs(mean))
        difference = filled - mean
    votes = np.where(difference > tolerance, 1, np.where(difference < -tolerance, -1, 0)).astype(np.int8)
    votes[~present] = 0
    return votes


def representatives(table: SignalTable, mask: BoolArray) -> BoolArray:
    """The first sample (lowest column) in `mask` of each answer of each problem; a sample without an
    answer is an answer of its own."""
    mask = mask & table.valid
    width = mask.shape[1]
    bins, size = answer_bins(table, mask)
    first = np.full(size, width)
    np.minimum.at(first, bins.ravel(), np.broadcast_to(np.arange(width), mask.shape).ravel())
    out: BoolArray = mask & (first[bins] == np.arange(width)[None, :])
    return out


def answer_labels(table: SignalTable) -> FloatArray:
    """Each sample's answer's label: the mean label of the answer's labelled samples (NaN: none labelled)."""
    assert table.label is not None
    problems = table.valid.shape[0]
    n_groups = int(table.group.max(initial=-1)) + 1
    labelled = table.valid & np.isfinite(table.label)
    out = np.where(labelled, table.label, np.nan)
    if n_groups:
        answered = labelled & (table.group >= 0)
        bins = np.where(answered, np.arange(problems)[:, None] * n_groups + table.group, problems * n_groups)
        size = problems * n_groups + 1
        sums = np.bincount(bins.ravel(), weights=np.where(answered, table.label, 0.0).ravel(), minlength=size)
        counts = np.bincount(bins.ravel(), weights=answered.ravel().astype(np.float64), minlength=size)
        counts[-1] = 0.0
        group_bins = np.where(table.group >= 0, np.arange(problems)[:, None] * n_groups + table.group, size - 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(counts[group_bins] > 0, sums[group_bins] / np.maximum(counts[group_bins], 1.0), np.nan)
        out = np.where(table.group >= 0, mean, out)
    return out


def choose(score: FloatArray, table: SignalTable, mask: BoolArray) -> IntArray:
    """Per problem, the column chosen (-1: nothing to choose): the answer whose samples in `mask` have the
    highest mean score; ties go to the larger answer, then to the answer seen first; within it, the
    lowest sample index. Samples without an answer stand alone."""
    problems, width = mask.shape
    mask = mask & table.valid
    all_bins, size = answer_bins(table, mask)
    rows = np.broadcast_to(np.arange(problems)[:, None], (problems, width))[mask]
    bins = all_bins[mask]
    cols, index = np.broadcast_to(np.arange(width), (problems, width))[mask], table.index[mask]
    counts = np.bincount(bins, minlength=size)
    sums = np.bincount(bins, weights=score[mask], minlength=size)
    first = np.full(size, np.iinfo(np.int64).max)
    np.minimum.at(first, bins, index)
    mean = np.round(sums[bins] / counts[bins], 9)
    count, lead = counts[bins], first[bins]
    # Narrow each problem's candidates key by key (mean, then size, then first index): linear, no sort.
    best_mean = np.full(problems, -np.inf)
    np.maximum.at(best_mean, rows, mean)
    keep = mean == best_mean[rows]
    best_count = np.full(problems, -1)
    np.maximum.at(best_count, rows[keep], count[keep])
    keep &= count == best_count[rows]
    best_first = np.full(problems, np.iinfo(np.int64).max)
    np.minimum.at(best_first, rows[keep], lead[keep])
    keep &= (lead == best_first[rows]) & (index == lead)
    chosen = np.full(problems, -1, dtype=np.int64)
    chosen[rows[keep]] = cols[keep]
    return chosen


class Ensemble(BaseSelector):
    name = "ensemble"
    description = (
        "the answer whose samples score best on many weak signals (votes, verifier scores, metadata), "
        "weighted by a label model fitted without ground truth"
    )
    uses: ClassVar[frozenset[Input]] = frozenset({"answer", "signals"})

    def __init__(
        self, model: LabelModel | None = None, raw_names: Sequence[str] | None = None, rounds: int = 1
    ) -> None:
        if rounds < 1:
            raise ValueError(f"rounds must be at least 1, got {rounds}")
        self.model = model
        self.raw_names = list(raw_names) if raw_names is not None else None
        self.rounds = rounds

    # -- fitting ------------------------------------------------------------------------------------------------

    def fit(self, problems: Sequence[Sequence[Candidate]], use_labels: bool = False) -> Ensemble:
        """A fitted copy, learned from every candidate of every problem. Labels on candidates are read only
        with `use_labels` (then the report says how many were used)."""
        return self.fit_table(SignalTable.from_candidates(problems), use_labels=use_labels)

    def fit_table(self, table: SignalTable, use_labels: bool = False) -> Ensemble:
        votes_parts, start_parts, problem_parts, label_parts = [], [], [], []
        names: list[str] = []
        for first, stop in row_chunks(table):
            part = table.rows(first, stop)
            values, names = features(part)
            votes = binarise(values, part.valid)
            # One row per answer of each problem (its first sample: every answer-level signal is the same
            # for all its samples); a sample without an answer is an answer of its own.
            rows, cols = np.nonzero(representatives(part, part.valid))
            votes_parts.append(votes[rows, cols])
            problem_parts.append(rows.astype(np.int64) + first)
            start_parts.append(np.nan_to_num(values[rows, cols, 0], nan=0.0))
            if use_labels and part.label is not None:
                label_parts.append(answer_labels(part)[rows, cols])
        if not votes_parts:
            values, names = features(table)
        votes = np.concatenate(votes_parts) if votes_parts else np.zeros((0, len(names)), dtype=np.int8)
        problem = np.concatenate(problem_parts) if problem_parts else np.zeros(0, dtype=np.int64)
        labels = np.concatenate(label_parts) if label_parts else None
        # Self-consistency is the starting labeller: each answer starts as right with its vote share.
        start = np.concatenate(start_parts) if start_parts else None
        model = LabelModel.fit(votes, names, labels, start=start, groups=problem, max_iterations=self.rounds)
        return Ensemble(model, table.names, self.rounds)

    def report(self) -> dict[str, Any]:
        """Each signal's learned accuracy and weight, the prior, and how many labels the fit used."""
        if self.model is None:
            return {"fitted": False}
        return {"fitted": True, **self.model.to_json()}

    # -- scoring and choosing -----------------------------------------------------------------------------------

    def scores(self, table: SignalTable, mask: BoolArray | None = None) -> FloatArray:
        """Each sample's log-odds of being right, given the samples in `mask` (NaN outside it)."""
        if self.model is None:
            raise SelectionError("the ensemble is not fitted")
        mask = table.valid if mask is None else mask & table.valid
        out = np.full(mask.shape, np.nan)
        for first, stop in row_chunks(table):
            part, part_mask = table.rows(first, stop), mask[first:stop]
            values, names = features(part, part_mask)
            if names != self.model.names:
                raise SelectionError(f"signals {names} do not match the fitted ones {self.model.names}")
            out[first:stop] = np.where(part_mask, self.model.log_odds(binarise(values, part_mask)), np.nan)
        return out

    def choices(self, table: SignalTable, mask: BoolArray | None = None) -> IntArray:
        """Per problem, the column of the chosen sample among those in `mask` (-1: none)."""
        mask = table.valid if mask is None else mask & table.valid
        score = np.nan_to_num(self.scores(table, mask))
        out = np.full(mask.shape[0], -1, dtype=np.int64)
        for first, stop in row_chunks(table):
            out[first:stop] = choose(score[first:stop], table.rows(first, stop), mask[first:stop])
        return out

    def select(self, candidates: Sequence[Candidate]) -> Choice | None:
        if not candidates:
            return None
        fitted = self if self.model is not None else self.fit([candidates])
        table = SignalTable.from_candidates([candidates], fitted.raw_names)
        score = fitted.scores(table)
        column = int(choose(np.nan_to_num(score), table, table.valid)[0])
        if column < 0:
            return None
        index = int(table.index[0, column])
        chosen = next(c for c in candidates if c.index == index)
        # Rounded: sums in another order differ in the last bits, and the choice must not depend on order.
        return Choice(index=index, answer=chosen.answer, support=round(float(score[0, column]), 9))

    def expected_accuracy(
        self, pool: Pool, ks: NDArray[np.int64], rng: np.random.Generator, mc_samples: int
    ) -> CurveEstimate:
        """Accuracy over random k-subsets (Monte Carlo): fitted once on every sample of the pool without its
        labels, then for each subset the signals are recomputed from the subset alone."""
        from assay.audit import estimators

        table = table_from_pool(pool)
        fitted = self if self.model is not None else self.fit_table(table)
        rows = np.arange(pool.problems)

        def evaluate(orders: IntArray, kk: IntArray) -> FloatArray:
            out = np.zeros((len(orders), pool.problems, len(kk)))
            for replicate, order in enumerate(orders):
                full = np.ascontiguousarray(np.broadcast_to(order, pool.valid.shape))
                for column, k in enumerate(kk):
                    # The k-subset as a table of its own: work grows with k, not with every sample.
                    columns = full[:, : int(k)]
                    chosen = fitted.choices(table.take(columns))
                    hit = chosen >= 0
                    picked = columns[rows[hit], chosen[hit]]
                    out[replicate, rows[hit], column] = pool.correct[rows[hit], picked]
            return out

        # Each replicate recomputes every signal for every k: keep the work near 5 * 10^7 (sample, k) cells.
        budget = 5 * 10**7 // max(1, int(np.minimum(ks, pool.valid.shape[1]).sum()) * pool.problems)
        estimate = estimators.monte_carlo(pool, ks, rng, max(2, min(mc_samples, 64, budget)), evaluate)
        estimate.details = {"ensemble": fitted.report()}
        return estimate


def table_from_pool(pool: Pool) -> SignalTable:
    """The audit's view of the samples as a signal table (the pool's labels are not copied)."""
    if pool.signals is None:
        values = np.zeros((*pool.valid.shape, 0))
        names: list[str] = []
    else:
        values, names = pool.signals, list(pool.signal_names)
    group = pool.group if pool.group is not None else np.full(pool.valid.shape, -1, dtype=np.int32)
    index = np.where(pool.valid, np.arange(pool.valid.shape[1])[None, :], -1).astype(np.int64)
    return SignalTable(pool.valid, group, index, values, names)
