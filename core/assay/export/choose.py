"""Which samples of one problem go into each kind of dataset. Pure functions of one `Problem`.

- verified (rejection sampling / STaR): passing samples, at most `limit`, no two with the same text
  (compared with whitespace collapsed); the pick goes round the answer keys, so that every distinct
  passing answer (a canonical form, a generated-test signature) is taken before any is taken twice;
  `unique_answers` keeps only the first sample of each answer key.
- preference pairs: a passing and a failing sample of the problem. Failing samples whose answer is the
  problem's majority answer come first (hard negatives: the mistake most samples make), then the rest in
  index order; each failing sample is used once, the passing ones in turn.
- judged (reward-model data): decided samples once per text, with their label and score, passing and
  failing in turn (so that a limit keeps both classes while both last).
- unsolved: no sample passed (including a problem with no decided sample at all).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from assay.export.index import Candidate, Problem


def text_key(text: str) -> str:
    """Texts that differ only in whitespace are one sample."""
    return " ".join(text.split())


def _distinct_texts(candidates: list[Candidate]) -> list[Candidate]:
    seen: set[str] = set()
    kept = []
    for candidate in candidates:
        key = text_key(candidate.text)
        if key not in seen:
            seen.add(key)
            kept.append(candidate)
    return kept


def majority_answer(problem: Problem) -> str | None:
    """The answer most decided samples give (ties: the answer seen first); None when none gives one."""
    counts = Counter(c.answer for c in problem.candidates if c.answer is not None and c.passed is not None)
    if not counts:
        return None
    return max(counts, key=lambda answer: counts[answer])  # max keeps the first of equal counts


def verified(problem: Problem, limit: int | None, *, unique_answers: bool = False) -> list[Candidate]:
    passing = _distinct_texts([c for c in problem.candidates if c.passed is True])
    by_answer: dict[str | None, list[Candidate]] = {}
    for candidate in passing:
        # A sample without an answer key is its own group: it repeats nobody's answer.
        key = candidate.answer if candidate.answer is not None else f"\0{candidate.index}"
        by_answer.setdefault(key, []).append(candidate)
    groups = list(by_answer.values())
    if unique_answers:
        groups = [group[:1] for group in groups]
    chosen: list[Candidate] = []
    depth = 0
    while limit is None or len(chosen) < limit:
        layer = [group[depth] for group in groups if depth < len(group)]
        if not layer:
            break
        chosen.extend(layer)
        depth += 1
    return chosen[:limit] if limit is not None else chosen


def hard_negatives_first(problem: Problem) -> list[Candidate]:
    failing = _distinct_texts([c for c in problem.candidates if c.passed is False])
    majority = majority_answer(problem)
    if majority is None:
        return failing
    return [c for c in failing if c.answer == majority] + [c for c in failing if c.answer != majority]


def preference_pairs(problem: Problem, limit: int | None) -> Iterator[tuple[Candidate, Candidate, bool]]:
    """(chosen, rejected, rejected is a hard negative), at most `limit` pairs."""
    passing = _distinct_texts([c for c in problem.candidates if c.passed is True])
    if not passing:
        return
    majority = majority_answer(problem)
    for number, rejected in enumerate(hard_negatives_first(problem)):
        if limit is not None and number >= limit:
            return
        yield passing[number % len(passing)], rejected, majority is not None and rejected.answer == majority


def judged(problem: Problem, limit: int | None) -> list[Candidate]:
    decided = _distinct_texts([c for c in problem.candidates if c.passed is not None])
    passing = [c for c in decided if c.passed]
    failing = [c for c in decided if not c.passed]
    alternated = [c for pair in zip(passing, failing, strict=False) for c in pair]
    shorter = min(len(passing), len(failing))
    alternated += passing[shorter:] + failing[shorter:]
    return alternated[:limit] if limit is not None else alternated


def solved(problem: Problem) -> bool:
    return any(c.passed is True for c in problem.candidates)
