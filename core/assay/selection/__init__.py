"""Selection: pick one sample per problem from its candidates.

A `Selector` sees every candidate of one problem (its answer key for voting, the verifier's decision, a
score, and the ground-truth label where one is known) and returns a `Choice`, or None when it has nothing
to choose from. Selectors are registered through the `register_selectors` hook; the built-in ones
(`majority`, `weighted_majority`, `best_of_n`, `verified_majority`, `oracle`) live in
`assay.selection.builtin` and are registered the same way as a third party's.

Every built-in is deterministic: the same candidates give the same choice, whatever their order. Ties go
to the answer (or sample) that comes first by sample index.

From Python::

    from assay.selection import Candidate, select

    choice = select("majority", [Candidate(0, answer="1/2"), Candidate(1, answer="1/2"), Candidate(2, answer="3")])
    choice.index, choice.answer, choice.support     # (0, '1/2', 2.0)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from assay.models import Sample, Task, Verdict
    from assay.verifier import Verifier

#: What a selector may look at, beyond the sample's index.
Input = Literal["answer", "passed", "score", "label", "signals"]


class SelectionError(ValueError):
    """The candidates lack what the selector needs (the oracle without labels, ...)."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """One sample as a selector sees it.

    `answer` is the canonical answer that votes are grouped by (a verifier's `answer_key`, or the
    `answer` of its verdict); None abstains from votes. `passed` and `score` come from one verifier's
    verdict. `label` is the ground truth, known only in audits. `signals` are named numbers about the
    sample from every source (metadata, every verifier, text features; see `assay.selection.signals`),
    read by the `ensemble` selector.
    """

    index: int
    answer: str | None = None
    passed: bool | None = None
    score: float | None = None
    label: bool | None = None
    signals: Mapping[str, float] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class Choice:
    """What a selector picked: the sample `index`, its `answer`, and how strongly it was backed
    (`support`: votes for majority, summed scores for weighted majority, the score for best-of-n).
    `fallback` is True when the selector could not apply its own rule and used a plain vote instead
    (verified majority when no candidate passed)."""

    index: int
    answer: str | None
    support: float
    fallback: bool = False


@runtime_checkable
class Selector(Protocol):
    """A selection strategy. `select` must be deterministic and must not depend on candidate order.

    A selector may also define `expected_accuracy(pool, ks, rng, mc_samples)`: its accuracy over random
    k-subsets of every problem's samples, vectorised (see `assay.audit.estimators`). The audit uses it
    when present and otherwise simulates `select` on random subsets.
    """

    name: str
    description: str
    #: The candidate fields this selector reads.
    uses: frozenset[Input]

    def select(self, candidates: Sequence[Candidate]) -> Choice | None: ...


class BaseSelector:
    """Convenience base for selectors: a name, a one-line description, what it reads."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    uses: ClassVar[frozenset[Input]] = frozenset()

    def select(self, candidates: Sequence[Candidate]) -> Choice | None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<selector {self.name}>"


def get_selector(name: str) -> Selector:
    """A registered selector by name (built-ins and plugins); raises `UnknownComponent` naming what exists."""
    from assay.plugins import get_registry

    selector: Selector = get_registry().selector(name)
    return selector


def select(selector: str | Selector, candidates: Iterable[Candidate]) -> Choice | None:
    """Apply a selector (by name or object) to one problem's candidates."""
    chosen = get_selector(selector) if isinstance(selector, str) else selector
    return chosen.select(list(candidates))


def candidates_for(
    task: Task,
    samples: Sequence[Sample],
    verdicts: Sequence[Verdict] | None = None,
    verifier: Verifier | None = None,
    other_verdicts: Sequence[Verdict] = (),
) -> list[Candidate]:
    """Candidates for one task from its samples, their verdicts (one verifier, any order) and optionally
    the verifier itself.

    The answer to vote with is, in order of preference: the verifier's `answer_key(task, sample)`, the
    verdict's `answer`, and (when neither a verdict nor a verifier was given) the stripped sample text.
    Every candidate's `signals` hold the sample's own (`sample_signals`) and those of its verdicts, from
    `verdicts` and `other_verdicts` (any verifiers).
    """
    from assay.selection.signals import sample_signals, verdict_signals

    by_index: dict[int, Verdict] = {}
    signals: dict[int, dict[str, float]] = {}
    for verdict in [*(verdicts or ()), *other_verdicts]:
        if verdict.task_id != task.id:
            raise SelectionError(f"verdict for task {verdict.task_id!r} given with task {task.id!r}")
        signals.setdefault(verdict.sample_index, {}).update(verdict_signals(verdict))
    for verdict in verdicts or ():
        by_index[verdict.sample_index] = verdict
    judged = verifier is not None or verdicts is not None
    candidates = []
    for sample in samples:
        judgement = by_index.get(sample.index)
        answer: str | None
        if verifier is not None:
            answer = verifier.answer_key(task, sample)
        elif judgement is not None:
            answer = judgement.answer
        else:
            answer = None if judged else (sample.text.strip() or None)
        if verifier is not None and answer is None and judgement is not None:
            answer = judgement.answer
        candidates.append(
            Candidate(
                index=sample.index,
                answer=answer,
                passed=judgement.passed if judgement is not None else None,
                score=judgement.score if judgement is not None else None,
                label=sample.label,
                signals={**sample_signals(sample), **signals.get(sample.index, {})},
            )
        )
    return candidates


__all__ = [
    "BaseSelector",
    "Candidate",
    "Choice",
    "Input",
    "SelectionError",
    "Selector",
    "candidates_for",
    "get_selector",
    "select",
]
