"""Selection from files: tasks, samples and `assay verify`'s verdicts in, one chosen sample per task out
(what `assay select` writes). The selectors themselves are in `assay.selection`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.plugins import UnknownComponent
from assay.selection import Candidate, SelectionError, get_selector

if TYPE_CHECKING:
    from assay.audit.data import VerifierData


def missing_inputs(selector: Any, verifier: VerifierData | None) -> str | None:
    """Why `selector` cannot run as documented on what the verifier gives (None: it can). A selector that
    reads pass/fail or scores never silently falls back to sample 0 or a plain vote."""
    uses = set(getattr(selector, "uses", ()))
    reads = [what for what in ("passed", "score") if what in uses]
    if not reads:
        return None
    wanted = " or ".join({"passed": "pass/fail", "score": "scores"}[what] for what in reads)
    if verifier is None:
        return f"selector {selector.name!r} reads a verifier's {wanted}: give --verdicts FILE (from `assay verify`)"
    gives = ("passed" in reads and verifier.decides) or ("score" in reads and verifier.has_scores)
    if not gives:
        return f"selector {selector.name!r} reads a verifier's {wanted}, and {verifier.id} gives none"
    return None


def select_files(
    tasks: str | Path,
    samples: str | Path,
    verdicts: Sequence[str | Path] = (),
    selector: str = "majority",
    *,
    verifier: str | None = None,
    labels: str | None = None,
    answer_key: bool = False,
) -> tuple[Iterator[dict[str, Any]], dict[str, Any]]:
    """One chosen sample per task, as `assay select` writes them: (the lines, lazily; a summary that is
    complete once the lines are consumed). `verifier` names whose verdicts a selector reads (default: the
    first file's; `exact` means `exact@0.1.0` when only one version is present); `labels` the samples' field
    with the ground truth, to count correct choices. Raises `AuditInputError`, `InputFileError`,
    `UnknownComponent` or `SelectionError` (a selector that cannot run on what the verdicts give)."""
    from assay.audit.data import AuditInputError, load

    chosen = get_selector(selector)
    data = load(tasks, samples, list(verdicts), labels=labels or "label", require_labels=False, answer_key=answer_key)
    if labels is not None and data.label is None:
        raise AuditInputError([f"--labels {labels!r}: not every sample in {samples} has this field"])
    verifier_id = verifier or next(iter(data.verifiers), None)
    if verifier_id is not None:
        try:
            verifier_id = resolve_verifier_id(verifier_id, list(data.verifiers))
        except LookupError as exc:
            raise UnknownComponent(str(exc)) from None
    verifier_data = data.verifiers[verifier_id] if verifier_id is not None else None
    missing = missing_inputs(chosen, verifier_data)
    if missing is not None:
        raise SelectionError(missing)
    answers = data.answers()
    summary: dict[str, Any] = {
        "tasks": data.problems,
        "selected": 0,
        "correct": 0,
        "fallbacks": 0,
        "labelled": data.label is not None,
    }
    reads_signals = "signals" in getattr(chosen, "uses", ())
    table, names = data.signal_table() if reads_signals else (None, [])

    def candidates_of(row: int) -> list[Candidate]:
        candidates = []
        for col in range(int(data.n[row])):
            group = int(answers.group[row, col]) if answers is not None else -1
            passed = int(verifier_data.passed[0, row, col]) if verifier_data is not None else -1
            score = float(verifier_data.score[0, row, col]) if verifier_data is not None else float("nan")
            signals: dict[str, float] = {}
            if table is not None:
                signals = {name: float(v) for name, v in zip(names, table[row, col], strict=True) if v == v}
            candidates.append(
                Candidate(
                    index=int(data.index[row, col]),
                    answer=answers.answers[row][group] if answers is not None and group >= 0 else None,
                    passed=None if passed < 0 else bool(passed),
                    score=None if score != score else score,
                    label=bool(data.label[row, col]) if data.label is not None else None,
                    signals=signals,
                )
            )
        return candidates

    # A selector that learns across problems (the ensemble) is fitted on all of them first, without labels.
    fit = getattr(chosen, "fit", None)
    if callable(fit):
        chosen = fit([candidates_of(row) for row in range(data.problems)])

    def rows() -> Iterator[dict[str, Any]]:
        for row, task_id in enumerate(data.task_ids):
            candidates = candidates_of(row)
            choice = chosen.select(candidates)
            line: dict[str, Any] = {"task_id": task_id, "selector": chosen.name}
            if choice is None:
                line.update({"sample_index": None, "answer": None, "support": None})
            else:
                summary["selected"] += 1
                line.update({"sample_index": choice.index, "answer": choice.answer, "support": choice.support})
                if choice.fallback:
                    line["fallback"] = True
                    summary["fallbacks"] += 1
                if data.label is not None:
                    correct = next(c.label for c in candidates if c.index == choice.index)
                    line["label"] = correct
                    summary["correct"] += bool(correct)
            yield line

    return rows(), summary


def resolve_verifier_id(name: str, known: Sequence[str]) -> str:
    """`exact` names `exact@0.1.0` when that is the only version present; `name@version` must match exactly.
    Raises LookupError naming the verifiers present."""
    if name in known:
        return name
    matches = [verifier_id for verifier_id in known if verifier_id.split("@", 1)[0] == name] if "@" not in name else []
    if len(matches) == 1:
        return matches[0]
    have = ", ".join(known) or "none"
    if matches:
        raise LookupError(f"--verifier {name!r} is ambiguous: name one of {', '.join(matches)}")
    raise LookupError(f"--verifier {name!r}: no verdicts from it (have: {have})")
