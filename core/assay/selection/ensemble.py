"""The `ensemble` selector: many weak signals, no ground truth, and no blind trust in any of them.

For every sample of a problem it reads the answer it votes for and its signals (see
`assay.selection.signals`: metadata numbers, every verifier's score and pass/fail, plugin checks, text
features). A signal whose values all lie in [0, 1] (a verifier's score or pass/fail, a check, a
probability) is a *check*: a sample's value says how far it passes. Any other signal (a log-prob, a length,
a rank) is put on [0, 1] by its mid-rank within the problem. Samples without an answer are answers of
their own.

**Rules.** The ensemble picks with one simple rule, ties going to more samples, then to the answer seen
first:

- `majority`: the largest answer;
- `vote weighted by c1 x c2 ...`: each sample votes with the product of its checks, so an answer counts the
  samples that back it and pass; with one check this is its dual agreement (for code whose answer is its
  behaviour on generated tests and the check the share of those tests passed, CodeT's);
- with labels only, also `signal:<s>` (the answer whose samples have the highest mean of `s`) and either
  rule with a signal turned upside down (`low <s>`).

**Without labels** every signal is measured against the vote (`Check`): the mean of its value over the
samples of each problem's largest answer minus that over the other samples, and the t statistic of that
difference over problems. If samples err independently of a check, given whether they are right, and the
largest answer is right more often than the others (the premise of majority vote itself), a useful check
comes out positive. The rule is the vote weighted by every check with t >= MIN_T; with none, or with fewer
than MIN_PROBLEMS problems, it is majority vote and its choices are marked `fallback`. Nothing is ever
turned upside down without labels, and signals that are not checks weight nothing (`rules_from` says why),
so a noise or adversarial signal leaves the vote as it is.

**With labels** on some answers (`fit(..., use_labels=True)`), every rule is scored on the labelled
problems, and labels overrule the unlabelled choice only on clear evidence (`compare_on_labels`: a bootstrap
bound and an exact sign test). The report counts the labelled answers.

A label model (`assay.selection.label_model`: triplets of answer-level signals, the vote as the anchor;
EM with labels) estimates each signal's accuracy for the report; the choice of rule does not rest on it,
because the answer-level signals of one problem are not independent (one cluster of failing samples can be
the largest answer), which its estimates assume.

Everything is deterministic: the bootstrap is seeded (`seed`) and runs over problems in an order given by a
hash of their content, and no sum depends on the order of samples or problems.

Fit once over many problems, then select:

    fitted = Ensemble().fit(problems)       # problems: one list of Candidate per problem
    fitted.select(candidates)
    fitted.report()                         # the rule and why, each check, each signal's accuracy

An ensemble that was not fitted fits itself on the one problem it is given: too few problems to learn
from, so it votes.
"""

from __future__ import annotations

import hashlib
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
#: Folds of problems on each of which a check must hold.
FOLDS = 5
#: With fewer problems than this there is nothing to learn the signals from: the ensemble votes.
MIN_PROBLEMS = 10
#: Bootstrap resamples of problems, and the quantile of the gain over majority that must be above zero.
BOOTSTRAP = 200
GAIN_QUANTILE = 0.05
#: A check weights the vote only where the vote confirms it this clearly (its t statistic over problems).
MIN_T = 3.0


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


def bounded_signals(table: SignalTable) -> BoolArray:
    """Per raw signal: every value it takes lies in [0, 1] (a score, a pass/fail, a check), so it is used
    as it is; the others are ranked within each problem."""
    present = np.isfinite(table.values) & table.valid[..., None]
    inside = ~present | ((table.values >= 0.0) & (table.values <= 1.0))
    out: BoolArray = np.asarray(np.all(inside, axis=(0, 1)), dtype=bool)
    return out


def normalise(table: SignalTable, mask: BoolArray, bounded: BoolArray) -> FloatArray:
    """Every raw signal on [0, 1], higher for higher values, for the samples in `mask` (NaN elsewhere and
    where a sample has no value): a bounded signal as it is, any other by its mid-rank among the problem's
    values (the share below it plus half the share equal to it), so that neither its scale nor an outlier
    matters."""
    out = np.where(mask[..., None] & np.isfinite(table.values), table.values, np.nan)
    problems = mask.shape[0]
    for s in map(int, np.flatnonzero(~bounded)):
        column = out[..., s]
        present = np.isfinite(column)
        rows = np.broadcast_to(np.arange(problems, dtype=np.int64)[:, None], mask.shape)[present]
        # One sorted array of (problem, value) keys: a value's rank in its problem is a search in it.
        distinct, code = np.unique(column[present], return_inverse=True)
        stride = len(distinct) + 1
        keys = rows * stride + code.astype(np.int64)
        ordered = np.sort(keys)
        left = np.searchsorted(ordered, keys, side="left")
        below = left - np.searchsorted(ordered, rows * stride, side="left")
        equal = np.searchsorted(ordered, keys, side="right") - left
        column[present] = (below + 0.5 * equal) / present.sum(axis=1)[rows]
    return out


def features(
    table: SignalTable, mask: BoolArray | None = None, bounded: BoolArray | None = None
) -> tuple[FloatArray, list[str]]:
    """Every answer-level signal, for the samples in `mask` (default: all): the share of the samples giving
    the sample's answer (`vote_share`), and each normalised raw signal's mean over those samples
    (`answer_mean:<signal>`). (P, N, 1 + S), NaN outside the mask; the names depend on the raw signals'
    names only. `bounded` (default: read from the table) says which signals are used as they are."""
    bounded = bounded_signals(table) if bounded is None else bounded
    mask = table.valid if mask is None else mask & table.valid
    bins, size = answer_bins(table, mask)
    flat = bins.ravel()
    counts = np.bincount(flat, minlength=size).astype(np.float64)
    counts[-1] = 0.0
    per_row = mask.sum(axis=1, keepdims=True)
    columns = [np.where(mask, counts[bins] / np.maximum(per_row, 1), np.nan)]
    names = [VOTE_SHARE]
    scaled = normalise(table, mask, bounded)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for s, name in enumerate(table.names):
            column = scaled[..., s]
            present = mask & np.isfinite(column)
            sums = np.bincount(flat, weights=np.where(present, column, 0.0).ravel(), minlength=size)
            seen = np.bincount(flat, weights=present.ravel().astype(np.float64), minlength=size)
            seen[-1] = 0.0
            mean = np.where(seen[bins] > 0, sums[bins] / np.where(seen[bins] > 0, seen[bins], 1.0), np.nan)
            columns.append(np.where(mask & np.isfinite(mean), mean, np.nan))
            names.append(ANSWER_MEAN + name)
    return np.stack(columns, axis=-1), names


def binarise(values: FloatArray, mask: BoolArray, names: Sequence[str] | None = None) -> NDArray[np.int8]:
    """Each signal's vote on each sample, relative to its problem (thresholds from the samples alone, never
    from labels): for the vote share, +1 for the problem's largest answer and -1 for the others (the
    runner-up is no better than the rest); for the others, +1 above the problem's mean (over the samples
    in `mask` that have a value) and -1 below. 0 where the sample has no value, or where every sample of the
    problem has the same."""
    present = np.isfinite(values) & mask[..., None]
    filled = np.where(present, values, 0.0)
    count = present.sum(axis=1, keepdims=True)
    top = np.array([name == VOTE_SHARE for name in (names or [""] * values.shape[-1])], dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):
        mean = filled.sum(axis=1, keepdims=True) / np.maximum(count, 1)
        highest = np.where(present, values, -np.inf).max(axis=1, keepdims=True)
        lowest = np.where(present, values, np.inf).min(axis=1, keepdims=True)
        spread = TIE_TOLERANCE * (1.0 + np.abs(mean))
        threshold = np.where(top, highest - spread, mean)
        difference = filled - threshold
        flat = highest - lowest <= spread
    above = np.where(top, difference >= 0, difference > spread)
    below = np.where(top, difference < 0, difference < -spread)
    votes = np.where(above, 1, np.where(below, -1, 0)).astype(np.int8)
    votes[~present | np.broadcast_to(flat, votes.shape)] = 0
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


@dataclass(frozen=True)
class Rule:
    """One simple way to pick an answer (module docstring): a vote in which each sample counts by its
    checks, or, with `signal`, the answer whose samples have the highest (`direction` -1: lowest) mean of
    one signal.

    A sample's count is the product of its oriented value of each of `checks` (none: majority; one: that
    check's dual agreement) and of its likelihood ratio under each of `ratios`: (check, rate right, rate
    wrong), the ratio (rate right / rate wrong)^v ((1 - rate right) / (1 - rate wrong))^(1 - v) of its
    value v, so that a check counts as much as it tells apart right and wrong samples (naive Bayes)."""

    #: (signal, direction) pairs: direction +1 counts a sample by its normalised value, -1 by one minus it.
    checks: tuple[tuple[str, int], ...] = ()
    ratios: tuple[tuple[str, float, float], ...] = ()
    signal: str | None = None
    direction: int = 1

    @property
    def name(self) -> str:
        def term(name: str, direction: int) -> str:
            return name if direction > 0 else f"low {name}"

        if self.signal is not None:
            return f"signal:{term(self.signal, self.direction)}"
        if not self.checks and not self.ratios:
            return "majority"
        terms = [term(name, direction) for name, direction in self.checks]
        terms += [f"{name} ({right:.3f}/{wrong:.3f})" for name, right, wrong in self.ratios]
        return "vote weighted by " + " x ".join(terms)

    def answer_scores(self, table: SignalTable, mask: BoolArray, bounded: BoolArray) -> FloatArray:
        """Each sample's answer's score under this rule (higher wins; ties go to more samples, then to the
        answer seen first), from the samples in `mask` alone; NaN outside it."""
        scaled = normalise(table, mask, bounded)
        column = {name: i for i, name in enumerate(table.names)}

        def value(name: str) -> FloatArray:
            out: FloatArray = scaled[..., column[name]] if name in column else np.full(mask.shape, np.nan)
            return out

        def oriented(name: str, direction: int) -> FloatArray:
            # A sample without the signal is neither backed nor opposed by it.
            values = np.where(np.isfinite(value(name)), value(name), 0.5)
            out: FloatArray = values if direction > 0 else 1.0 - values
            return out

        if self.signal is not None:
            weight, per_sample = oriented(self.signal, self.direction), False
        else:
            weight, per_sample = np.ones(mask.shape), True
            for name, direction in self.checks:
                weight = weight * oriented(name, direction)
            for name, right, wrong in self.ratios:
                v = value(name)
                log_ratio = v * math.log(right / wrong) + (1.0 - v) * math.log((1.0 - right) / (1.0 - wrong))
                weight = weight * np.exp(np.where(np.isfinite(v), log_ratio, 0.0))
        bins, size = answer_bins(table, mask)
        sums = np.bincount(bins.ravel(), weights=np.where(mask, weight, 0.0).ravel(), minlength=size)
        counts = np.bincount(bins.ravel(), minlength=size).astype(np.float64)
        counts[-1] = 1.0
        total = mask.sum(axis=1, keepdims=True)
        # Backing: the answer's summed weight over all samples; a signal alone: its mean over the answer's.
        score = sums[bins] / (np.maximum(total, 1) if per_sample else counts[bins])
        out: FloatArray = np.where(mask, score, np.nan)
        return out


MAJORITY = Rule()


@dataclass(frozen=True)
class Check:
    """What the vote says of one signal: the mean of its normalised value over the samples of each
    problem's largest answer minus that over the other samples (`effect`), and its t statistic over
    problems. Where samples err independently of the signal, given whether they are right, and the
    largest answer is right more often than the others (the premise of majority vote), the effect has the
    sign of the signal's own accuracy."""

    signal: str
    effect: float
    t: float
    problems: int
    #: The effect on each fold of the problems.
    by_fold: tuple[float, ...] = ()
    #: The signal's mean over every sample of the largest answers, and over every other sample (smoothed):
    #: its pass rates on right and wrong samples, as far as the vote tells them apart.
    rate_top: float = 0.5
    rate_rest: float = 0.5

    @property
    def confirmed(self) -> bool:
        """Clearly positive over all problems (t >= MIN_T), and positive on every fold: an effect that a few
        problems carry is not trusted."""
        return self.t >= MIN_T and all(effect > 0 for effect in self.by_fold)

    def to_json(self) -> dict[str, Any]:
        return {
            "signal": self.signal,
            "effect": round(self.effect, 4),
            "t": round(self.t, 2),
            "problems": self.problems,
            "effect_by_fold": [round(effect, 4) for effect in self.by_fold],
            "rate_top": round(self.rate_top, 4),
            "rate_rest": round(self.rate_rest, 4),
            "confirmed": self.confirmed,
        }


def checks_against_the_vote(table: SignalTable, bounded: BoolArray, seed: int = 0) -> list[Check]:
    """Every raw signal measured against the vote (`Check`), on the problems where both the largest answer
    and the others have samples with a value; and again on each of FOLDS folds of those problems (by a hash
    of their content and `seed`)."""
    mask = table.valid
    scaled = normalise(table, mask, bounded)
    share = MAJORITY.answer_scores(table, mask, bounded)
    top = mask & (share >= np.nanmax(np.where(mask, share, -1.0), axis=1, keepdims=True) - TIE_TOLERANCE)
    fold = (problem_keys(table, seed) % np.uint64(FOLDS)).astype(np.int64)
    out = []
    for s, name in enumerate(table.names):
        present = np.isfinite(scaled[..., s])
        values = np.where(present, scaled[..., s], 0.0)
        inside, outside = top & present, ~top & present
        usable = (inside.sum(axis=1) > 0) & (outside.sum(axis=1) > 0)
        difference = (values * inside).sum(axis=1)[usable] / inside.sum(axis=1)[usable] - (values * outside).sum(
            axis=1
        )[usable] / outside.sum(axis=1)[usable]
        # Sorted, so that the sums do not depend on the order of the problems.
        order = np.argsort(difference, kind="stable")
        difference, folds = difference[order], fold[usable][order]
        count = int(usable.sum())
        effect = float(difference.mean()) if count else 0.0
        spread = float(difference.std(ddof=1)) if count > 1 else 0.0
        t = effect / (spread / math.sqrt(count)) if spread > TIE_TOLERANCE else 0.0
        by_fold = tuple(float(difference[folds == f].mean()) for f in range(FOLDS) if (folds == f).any())
        # Pooled over samples, with one pseudo-sample passing half: never 0 or 1, so every ratio is finite.
        # Sorted sums, so that they do not depend on the order of the problems either.
        rates = [
            (float(np.sort(values[where]).sum()) + 0.5) / (float(where.sum()) + 1.0) for where in (inside, outside)
        ]
        out.append(Check(name, effect, t if count >= MIN_PROBLEMS else 0.0, count, by_fold, rates[0], rates[1]))
    return out


def rules_from(raw_names: Sequence[str], checks: Sequence[Check], bounded: BoolArray, labelled: bool) -> list[Rule]:
    """The rules worth comparing: majority and the vote weighted by the bounded signals (checks, scores,
    pass/fail: a sample's value is how far it passes) that the vote confirms (t >= MIN_T); with labels, also
    each signal alone and each signal's dual agreement, either way up (the labels tell).

    Without labels nothing is turned upside down: a check that the vote finds backing its losers is either a
    bad check or a sign that the vote is fooled (failing samples often fail alike, so a wrong answer can be
    the largest), and in neither case is trusting its opposite safe. A signal that is not bounded (a log-prob,
    a length) is ranked within its problem, and a rank is no pass rate: every sample would weigh from 0 to 1
    however little the signal says, so without labels it weights nothing."""
    out = [MAJORITY]
    confirmed = tuple(
        (check.signal, check.rate_top, check.rate_rest)
        for check, is_bounded in zip(checks, bounded, strict=True)
        if is_bounded and check.confirmed
    )
    if confirmed:
        out.append(Rule(ratios=confirmed))
    if labelled:
        for name in raw_names:
            for direction in (1, -1):
                out += [Rule(((name, direction),)), Rule(signal=name, direction=direction)]
    return list(dict.fromkeys(out))


def problem_keys(table: SignalTable, seed: int) -> NDArray[np.uint64]:
    """A hash of each problem's content (its samples' indices, answers and signals) and the seed: the same
    problem gets the same key wherever it stands, so folds and bootstrap order do not depend on order."""
    out = np.zeros(table.valid.shape[0], dtype=np.uint64)
    for row in range(len(out)):
        valid = table.valid[row]
        order = np.argsort(table.index[row][valid], kind="stable")
        digest = hashlib.blake2b(digest_size=8)
        digest.update(seed.to_bytes(8, "little", signed=True))
        digest.update(table.index[row][valid][order].tobytes())
        digest.update(table.group[row][valid][order].astype(np.int64).tobytes())
        digest.update(np.nan_to_num(table.values[row][valid][order], nan=-1.5e308).tobytes())
        out[row] = np.uint64(int.from_bytes(digest.digest(), "little"))
    return out


@dataclass
class AnswerRows:
    """One row per answer of each problem (its first sample: every answer-level signal is the same for all
    its samples), and for every sample the row of its answer."""

    problem: IntArray
    votes: NDArray[np.int8]
    share: FloatArray
    label: FloatArray | None
    of_sample: IntArray  # (P, N), -1 outside the table


def answer_rows(table: SignalTable, values: FloatArray, votes: NDArray[np.int8], labels: bool) -> AnswerRows:
    mask = table.valid
    bins, size = answer_bins(table, mask)
    rows, cols = np.nonzero(representatives(table, mask))
    where = np.full(size, -1, dtype=np.int64)
    where[bins[rows, cols]] = np.arange(len(rows))
    of_sample = np.where(mask, where[bins], -1)
    label = answer_labels(table)[rows, cols] if labels and table.label is not None else None
    return AnswerRows(rows.astype(np.int64), votes[rows, cols], values[rows, cols, 0], label, of_sample)


def sign_test(difference: FloatArray) -> float:
    """One-sided p-value that wins (> 0) outnumber losses (< 0) by chance: exact up to 60 differing
    problems, the normal approximation beyond."""
    wins, differing = int((difference > 0).sum()), int((difference != 0).sum())
    if differing <= 60:
        return sum(math.comb(differing, k) for k in range(wins, differing + 1)) / 2.0**differing
    z = (wins - 0.5 - differing / 2.0) / math.sqrt(differing / 4.0)
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def compare_on_labels(
    table: SignalTable, answers: AnswerRows, rules: Sequence[Rule], bounded: BoolArray, seed: int, default: Rule
) -> tuple[Rule, str, list[dict[str, Any]]]:
    """Every rule scored on the labelled problems; labels overrule the unlabelled choice `default` only on
    clear evidence: the most accurate other rule replaces it if it clearly beats it there (the
    GAIN_QUANTILE quantile of a bootstrap over those problems of its gain is above zero), else majority
    does if it clearly beats it, else `default` stays. A pick without a label counts as wrong where another
    answer of its problem is known to be right (one right answer each); a problem where some rule's pick
    cannot be judged is left out."""
    assert answers.label is not None
    problems = table.valid.shape[0]
    known = np.isfinite(answers.label)
    solved = np.bincount(answers.problem, weights=np.where(known, answers.label, 0.0), minlength=problems) > 0
    right = np.where(known, answers.label, np.where(solved[answers.problem], 0.0, np.nan))
    rows = np.arange(problems)
    picked: dict[Rule, FloatArray] = {}
    for rule in rules:
        chosen = choose(np.nan_to_num(rule.answer_scores(table, table.valid, bounded)), table, table.valid)
        value = np.full(problems, np.nan)
        hit = chosen >= 0
        value[~hit] = 0.0
        value[hit] = right[answers.of_sample[rows[hit], chosen[hit]]]
        picked[rule] = value
    judged = np.all([np.isfinite(value) for value in picked.values()], axis=0)
    # Resampled in an order that depends on the problems' content only, not on where they stand.
    order = np.argsort(problem_keys(table, seed), kind="stable")
    order = order[judged[order]]
    if not len(order):
        return default, f"{default.name}: no labelled problem where every rule's pick can be judged", []
    resamples = np.random.default_rng(seed).integers(0, len(order), size=(BOOTSTRAP, len(order)))

    def gain(rule: Rule, over: Rule) -> tuple[float, float]:
        """The mean gain of `rule` over `over` on the labelled problems, and its lower bound: the bootstrap's,
        or 0 where an exact sign test on the problems where they differ does not clear GAIN_QUANTILE (on a
        handful of problems the bootstrap is no test: one problem won is a bound of one)."""
        difference = (picked[rule] - picked[over])[order]
        low = float(np.quantile(difference[resamples].mean(axis=1), GAIN_QUANTILE))
        return float(difference.mean()), low if sign_test(difference) <= GAIN_QUANTILE else min(low, 0.0)

    estimates: list[dict[str, Any]] = []
    for rule, value in picked.items():
        mean, low = gain(rule, MAJORITY)
        estimates.append(
            {
                "rule": rule.name,
                "accuracy": round(float(value[order].mean()), 4),
                "gain_over_majority": round(mean, 4),
                "gain_low": round(low, 4),
            }
        )
    estimates.sort(key=lambda row: (-row["accuracy"], row["rule"]))
    labelled = f"{len(order)} labelled problem(s)"
    bound = f"{100 * GAIN_QUANTILE:.0f} % bound"
    best = next((rule for row in estimates for rule in rules if rule.name == row["rule"] and rule != default), None)
    if best is not None:
        mean, low = gain(best, default)
        if low > 0:
            return (
                best,
                f"{best.name}: {100 * mean:+.1f} points over {default.name} on {labelled} ({bound} {100 * low:+.1f})",
                estimates,
            )
    if default != MAJORITY:
        mean, low = gain(MAJORITY, default)
        if low > 0:
            return (
                MAJORITY,
                f"majority: {100 * mean:+.1f} points over {default.name} on {labelled} ({bound} {100 * low:+.1f})",
                estimates,
            )
    what = "" if best is None else f" (best other: {best.name}, {100 * gain(best, default)[0]:+.1f} points)"
    return default, f"{default.name}: no rule clearly beats it on {labelled}{what}", estimates


class Ensemble(BaseSelector):
    name = "ensemble"
    description = (
        "the answer many weak signals back (votes, verifier scores, metadata): a rule chosen without labels "
        "by a label model, kept only where it clearly beats majority vote"
    )
    uses: ClassVar[frozenset[Input]] = frozenset({"answer", "signals"})

    def __init__(self, rounds: int = 1, seed: int = 0) -> None:
        if rounds < 1:
            raise ValueError(f"rounds must be at least 1, got {rounds}")
        #: EM rounds of the label model when labels are used.
        self.rounds = rounds
        self.seed = seed
        self.rule: Rule | None = None
        self.model: LabelModel | None = None
        self.raw_names: list[str] | None = None
        self.bounded: BoolArray | None = None
        self.reason = ""
        self.estimates: list[dict[str, Any]] = []
        self.checks: list[Check] = []
        self.problems = 0

    # -- fitting ------------------------------------------------------------------------------------------------

    def fit(self, problems: Sequence[Sequence[Candidate]], use_labels: bool = False) -> Ensemble:
        """A fitted copy, learned from every candidate of every problem. Labels on candidates are read only
        with `use_labels` (then the report says how many were used)."""
        return self.fit_table(SignalTable.from_candidates(problems), use_labels=use_labels)

    def _label_model(self, answers: AnswerRows, names: list[str], keys: NDArray[np.uint64]) -> LabelModel:
        # Rows in an order given by the problems' content, so that no sum depends on where a problem stood.
        order = np.argsort(keys[answers.problem], kind="stable")
        return LabelModel.fit(
            answers.votes[order],
            names,
            None if answers.label is None else answers.label[order],
            start=answers.share[order],
            groups=answers.problem[order],
            max_iterations=self.rounds,
            anchor=VOTE_SHARE,
        )

    def fit_table(self, table: SignalTable, use_labels: bool = False) -> Ensemble:
        fitted = Ensemble(self.rounds, self.seed)
        bounded = fitted.bounded = bounded_signals(table)
        fitted.raw_names = list(table.names)
        problems = fitted.problems = table.valid.shape[0]
        values, names = features(table, bounded=bounded)
        answers = answer_rows(table, values, binarise(values, table.valid, names), use_labels)
        labelled = answers.label is not None and bool(np.isfinite(answers.label).any())
        fitted.model = self._label_model(answers, names, problem_keys(table, self.seed))
        fitted.checks = checks_against_the_vote(table, bounded, self.seed)
        rules = rules_from(table.names, fitted.checks, bounded, labelled)
        fitted.rule = MAJORITY
        if problems < MIN_PROBLEMS:
            fitted.reason = f"{problems} problem(s): at least {MIN_PROBLEMS} are needed to learn from; majority vote"
        else:
            if len(rules) > 1 and rules[1].ratios:
                fitted.rule = rules[1]
                fitted.reason = (
                    f"{fitted.rule.name}: the checks that the vote confirms (t >= {MIN_T:g}, positive on every fold)"
                )
            else:
                fitted.reason = (
                    f"no check is confirmed by the vote (t >= {MIN_T:g}, positive on every fold); majority vote"
                )
            if labelled:
                fitted.rule, fitted.reason, fitted.estimates = compare_on_labels(
                    table, answers, rules, bounded, self.seed, fitted.rule
                )
        return fitted

    def using(self, rule: Rule) -> Ensemble:
        """A copy of this fitted ensemble that picks with `rule` instead (to compare rules on one fit)."""
        if self.bounded is None:
            raise SelectionError("the ensemble is not fitted")
        copy = Ensemble(self.rounds, self.seed)
        copy.__dict__.update(self.__dict__)
        copy.rule, copy.reason = rule, f"{rule.name}: given"
        return copy

    def report(self) -> dict[str, Any]:
        """The rule chosen and why, each signal measured against the vote, each rule's accuracy on the
        labelled problems (with labels), each signal's accuracy as the label model learned it, and how many
        labels the fit used."""
        if self.model is None or self.rule is None:
            return {"fitted": False}
        return {
            "fitted": True,
            "rule": self.rule.name,
            "reason": self.reason,
            "problems": self.problems,
            "checks": [check.to_json() for check in self.checks],
            "rules": self.estimates,
            **self.model.to_json(),
        }

    # -- choosing -----------------------------------------------------------------------------------------------

    def answer_scores(self, table: SignalTable, mask: BoolArray | None = None) -> FloatArray:
        """Each sample's answer's score under the chosen rule, given the samples in `mask` (NaN outside)."""
        if self.rule is None or self.bounded is None:
            raise SelectionError("the ensemble is not fitted")
        mask = table.valid if mask is None else mask & table.valid
        out = np.full(mask.shape, np.nan)
        for first, stop in row_chunks(table):
            out[first:stop] = self.rule.answer_scores(table.rows(first, stop), mask[first:stop], self.bounded)
        return out

    def choices(self, table: SignalTable, mask: BoolArray | None = None) -> IntArray:
        """Per problem, the column of the chosen sample among those in `mask` (-1: none)."""
        mask = table.valid if mask is None else mask & table.valid
        score = np.nan_to_num(self.answer_scores(table, mask))
        out = np.full(mask.shape[0], -1, dtype=np.int64)
        for first, stop in row_chunks(table):
            out[first:stop] = choose(score[first:stop], table.rows(first, stop), mask[first:stop])
        return out

    def select(self, candidates: Sequence[Candidate]) -> Choice | None:
        if not candidates:
            return None
        fitted = self if self.rule is not None else self.fit([candidates])
        table = SignalTable.from_candidates([candidates], fitted.raw_names)
        score = np.nan_to_num(fitted.answer_scores(table))
        column = int(choose(score, table, table.valid)[0])
        if column < 0:
            return None
        index = int(table.index[0, column])
        chosen = next(c for c in candidates if c.index == index)
        # Rounded: sums in another order differ in the last bits, and the choice must not depend on order.
        return Choice(
            index=index,
            answer=chosen.answer,
            support=round(float(score[0, column]), 9),
            fallback=fitted.rule == MAJORITY,
        )

    def expected_accuracy(
        self, pool: Pool, ks: NDArray[np.int64], rng: np.random.Generator, mc_samples: int
    ) -> CurveEstimate:
        """Accuracy over random k-subsets (Monte Carlo): fitted once on every sample of the pool without its
        labels, then for each subset the signals are recomputed from the subset alone."""
        from assay.audit import estimators

        table = table_from_pool(pool)
        fitted = self if self.rule is not None else self.fit_table(table)
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
