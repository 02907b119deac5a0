"""Reading tasks, samples (with their ground-truth labels) and verdict files into padded arrays.

Every problem's samples are laid out in sample-index order in the first n columns of its row; the same
layout holds every verifier's verdicts. A verifier that judged the same sample more than once (two verdict
files of one `name@version`, or a file holding repeats) gives several runs: the first is audited and the
differences between runs are its flakiness.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import ValidationError

from assay.audit.estimators import Pool
from assay.jsonl import InputError, read_lines, read_models, validation_error
from assay.models import Sample, Task, Verdict
from assay.selection.signals import TEXT_CHARS, metadata_signals

MAX_REPORTED_ERRORS = 10
#: Lines named when only some samples lack a label (the rest are counted).
SHOWN_UNLABELLED = 3


class AuditInputError(ValueError):
    """Input the audit cannot use; the message names the file, the line and the field of each problem."""

    def __init__(self, errors: Sequence[InputError | str]) -> None:
        self.errors = [str(error) for error in errors]
        shown = self.errors[:MAX_REPORTED_ERRORS]
        more = len(self.errors) - len(shown)
        super().__init__("\n".join(shown) + (f"\n... and {more} more" if more > 0 else ""))


@dataclass
class AnswerGroups:
    """Answers grouped per problem: `group[p, col]` (-1: no answer) indexes `answers[p]`; ids follow first
    appearance in sample-index order."""

    group: NDArray[np.int32]
    answers: list[list[str]]

    @classmethod
    def build(cls, keys: list[list[str | None]], width: int) -> AnswerGroups:
        group = np.full((len(keys), width), -1, dtype=np.int32)
        answers: list[list[str]] = []
        for row, row_keys in enumerate(keys):
            ids: dict[str, int] = {}
            for col, key in enumerate(row_keys):
                if key is None:
                    continue
                group[row, col] = ids.setdefault(key, len(ids))
            answers.append(list(ids))
        return cls(group, answers)


@dataclass
class VerifierData:
    """One verifier's verdicts, aligned with the samples: `passed` 1/0/-1 and `score` (NaN: none) per run."""

    id: str
    passed: NDArray[np.int8]  # (runs, P, N)
    score: NDArray[np.float64]  # (runs, P, N)
    answers: AnswerGroups | None  # from the first run; None when the verifier gives no answers
    reason: NDArray[np.int32]  # (P, N) index into `reasons`, -1: none (first run)
    reasons: list[str]
    statuses: Counter[str] = field(default_factory=Counter)
    missing: int = 0  # samples without a verdict in the first run

    @property
    def runs(self) -> int:
        return int(self.passed.shape[0])

    @property
    def decides(self) -> bool:
        return bool((self.passed[0] >= 0).any())

    @property
    def has_scores(self) -> bool:
        return bool(np.isfinite(self.score[0]).any())

    @property
    def graded(self) -> bool:
        """Scores that carry more than pass/fail (some value other than 0 and 1)."""
        scores = self.score[0][np.isfinite(self.score[0])]
        return bool(((scores != 0.0) & (scores != 1.0)).any())


@dataclass
class AuditData:
    """Problems x samples, padded. `label` is None when the samples carry no ground truth (`assay select`)."""

    task_ids: list[str]
    index: NDArray[np.int64]  # sample index per cell, -1 in padding
    valid: NDArray[np.bool_]
    label: NDArray[np.bool_] | None
    text_answers: AnswerGroups | None
    verifiers: dict[str, VerifierData] = field(default_factory=dict)
    sources: dict[str, Any] = field(default_factory=dict)
    #: The samples' own signals by name (metadata numbers, text features), (problems, samples), NaN: none.
    signals: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    _shared: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def problems(self) -> int:
        return len(self.task_ids)

    @property
    def n(self) -> NDArray[np.int64]:
        out: NDArray[np.int64] = self.valid.sum(axis=1).astype(np.int64)
        return out

    def answer_source(self) -> str | None:
        """The verifier whose answers votes are grouped by: the first one that gives answers (None: the text)."""
        for verifier in self.verifiers.values():
            if verifier.answers is not None:
                return verifier.id
        return None

    def answers(self) -> AnswerGroups | None:
        source = self.answer_source()
        if source is not None:
            return self.verifiers[source].answers
        return self.text_answers

    def signal_table(self) -> tuple[NDArray[np.float64], list[str]]:
        """Every signal about every sample, (problems, samples, signals), NaN where missing: each verifier's
        score and pass/fail (first run) and the samples' own signals (see `assay.selection.signals`)."""
        columns: list[NDArray[np.float64]] = []
        names: list[str] = []
        for verifier in self.verifiers.values():
            if verifier.has_scores:
                columns.append(verifier.score[0])
                names.append(f"{verifier.id}:score")
            if verifier.decides:
                columns.append(np.where(verifier.passed[0] >= 0, verifier.passed[0], np.nan).astype(np.float64))
                names.append(f"{verifier.id}:passed")
        for name, values in sorted(self.signals.items()):
            columns.append(values)
            names.append(name)
        if not columns:
            return np.zeros((*self.valid.shape, 0)), []
        return np.stack(columns, axis=-1), names

    def pool(self, verifier: str | None = None, signals: bool = False) -> Pool:
        """What a selector sees: labels, answer groups, one verifier's decisions and scores, and (with
        `signals`) every signal about every sample."""
        if "correct" not in self._shared:
            label = self.label if self.label is not None else np.zeros(self.valid.shape, dtype=bool)
            self._shared["correct"] = (label & self.valid).astype(np.float64)
        answers = self.answers()
        chosen = self.verifiers[verifier] if verifier is not None else None
        table, names = self.signal_table() if signals else (None, [])
        return Pool(
            valid=self.valid,
            correct=self._shared["correct"],
            group=answers.group if answers is not None else None,
            passed=chosen.passed[0] if chosen is not None else None,
            score=chosen.score[0] if chosen is not None else None,
            signals=table,
            signal_names=names,
            shared=self._shared.setdefault("pools", {}),
        )


def _label_errors(
    path: str, field_path: str, missing: int, lines: list[int], first_labelled: int | None
) -> list[InputError | str]:
    """One line when no sample has the field (a wrong `--labels`); else the first lines without it and a count."""
    if first_labelled is None:
        return [
            f"{path}: no sample has a ground-truth label in field {field_path!r} (the audit needs one on every "
            "sample; --labels FIELD names another field, dotted for nested)"
        ]
    errors: list[InputError | str] = [
        InputError(path, line, field_path, "no ground-truth label (the audit needs one on every sample)")
        for line in lines
    ]
    if missing > len(lines):
        errors.append(f"{path}: {missing:,} samples in all have no label {field_path!r}")
    return errors


def _label_value(obj: dict[str, Any], field_path: str) -> Any:
    value: Any = obj
    for part in field_path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def load(
    tasks: str | Path | None,
    samples: str | Path,
    verdicts: Sequence[str | Path] = (),
    *,
    labels: str | None = "label",
    require_labels: bool = True,
    text_answers: bool = True,
    answer_key: bool = False,
) -> AuditData:
    """Read the files. Raises `AuditInputError` listing every bad line (file, line, field).

    `tasks` fixes the problems and their order (a task without samples counts as unsolved); without it the
    problems are those the samples name, in order of first appearance. `labels` is the samples' field that
    holds the ground truth (dotted for nested: `metadata.correct`).

    Votes group samples by the `answer` of their verdicts. With `answer_key`, each verifier that is
    installed here regroups them by its `answer_key(task, sample)` (a canonical form: `0.5` and `1/2` vote
    together), computed once per distinct (task, text).
    """
    errors: list[InputError | str] = []
    task_ids: list[str] = []
    task_objects: list[Task] = []
    known: dict[str, int] = {}
    if answer_key and tasks is None:
        raise AuditInputError(["answer keys need the tasks file (a verifier's answer_key reads the task)"])
    if tasks is not None:
        for line, task in read_models(tasks, Task):
            if isinstance(task, InputError):
                errors.append(task)
            elif task.id in known:
                errors.append(InputError(str(tasks), line, "id", f"duplicate task id {task.id!r}"))
            else:
                known[task.id] = len(task_ids)
                task_ids.append(task.id)
                if answer_key:
                    task_objects.append(task)

    rows: list[list[tuple[int, bool | None, str]]] = [[] for _ in task_ids]
    # Metadata signals only where there is metadata: most samples have none, and there may be 10^7 of them.
    own_signals: dict[tuple[int, int], dict[str, float]] = {}
    seen: set[tuple[int, int]] = set()
    samples_path = str(samples)
    label_field = labels or "label"
    missing_labels = 0
    unlabelled: list[int] = []  # the first few lines without a label
    first_labelled: int | None = None
    described: dict[str, str] = {}  # the samples' own metadata.dataset and metadata.model, for the report's title
    # Bytes decoded line by line (jsonl.read_lines): invalid UTF-8 or JSON is one bad line, named with its number.
    for line, obj in read_lines(samples):
        if isinstance(obj, InputError):
            errors.append(obj)
            continue
        try:
            sample = Sample.model_validate(obj)
        except ValidationError as exc:
            errors.append(validation_error(samples_path, line, exc))
            continue
        row = known.get(sample.task_id)
        if row is None:
            if tasks is not None:
                errors.append(InputError(samples_path, line, "task_id", f"no task {sample.task_id!r} in {tasks}"))
                continue
            row = known[sample.task_id] = len(task_ids)
            task_ids.append(sample.task_id)
            rows.append([])
        if (row, sample.index) in seen:
            errors.append(
                InputError(
                    samples_path, line, "index", f"sample {sample.index} of task {sample.task_id!r} appears twice"
                )
            )
            continue
        seen.add((row, sample.index))
        label: bool | None = sample.label
        if label_field != "label":
            raw_label = _label_value(obj, label_field)
            if raw_label is not None and not (isinstance(raw_label, bool) or raw_label in (0, 1)):
                errors.append(InputError(samples_path, line, label_field, f"expected true or false, got {raw_label!r}"))
                continue
            label = None if raw_label is None else bool(raw_label)
        if label is None:
            missing_labels += 1
            if require_labels and len(unlabelled) < SHOWN_UNLABELLED:
                unlabelled.append(line)
        elif first_labelled is None:
            first_labelled = line
        if sample.metadata and len(described) < 2:
            for key in ("dataset", "model"):
                value = sample.metadata.get(key)
                if isinstance(value, str) and value:
                    described.setdefault(key, value)
        rows[row].append((sample.index, label, sample.text))
        if sample.metadata:
            own_signals[(row, sample.index)] = metadata_signals(sample.metadata)
    if require_labels and missing_labels:
        errors.extend(_label_errors(samples_path, label_field, missing_labels, unlabelled, first_labelled))
    if errors:
        raise AuditInputError(errors)

    width = max((len(r) for r in rows), default=0)
    problems = len(task_ids)
    index = np.full((problems, width), -1, dtype=np.int64)
    label_array = np.zeros((problems, width), dtype=bool)
    has_labels = not missing_labels
    text_keys: list[list[str | None]] = []
    flat_cells: list[int] = []
    flat_index: list[int] = []
    flat_label: list[bool] = []
    for row, items in enumerate(rows):
        items.sort(key=lambda item: item[0])
        text_keys.append([text.strip() or None for _, _, text in items])
        flat_cells.extend(range(row * width, row * width + len(items)))
        flat_index.extend(item[0] for item in items)
        flat_label.extend(bool(item[1]) for item in items)
    index.reshape(-1)[flat_cells] = flat_index
    label_array.reshape(-1)[flat_cells] = flat_label
    valid = index >= 0
    position = (
        dict(zip(zip((c // width for c in flat_cells), flat_index, strict=True), flat_cells, strict=True))
        if verdicts
        else {}
    )
    data = AuditData(
        task_ids=task_ids,
        index=index,
        valid=valid,
        label=label_array if has_labels else None,
        text_answers=AnswerGroups.build(text_keys, width) if text_answers else None,
        sources={
            "tasks": str(tasks) if tasks is not None else None,
            "samples": samples_path,
            "verdicts": [str(v) for v in verdicts],
            "labels": label_field,
            **described,
        },
    )
    data.signals = _signal_arrays(own_signals, flat_cells, flat_index, width, index.shape)
    text_length = np.full(index.shape, np.nan)
    text_length.reshape(-1)[flat_cells] = [len(text) for items in rows for _, _, text in items]
    data.signals[TEXT_CHARS] = np.log1p(text_length)
    for path in verdicts:
        _read_verdicts(data, path, known, position, width, errors, samples_path)
    if errors:
        raise AuditInputError(errors)
    if answer_key:
        texts = [[text for _, _, text in items] for items in rows]
        data.sources["answer_keys"] = regroup_by_answer_key(data, task_objects, texts)
    return data


def _signal_arrays(
    own: dict[tuple[int, int], dict[str, float]],
    cells: list[int],
    indices: list[int],
    width: int,
    shape: tuple[int, ...],
) -> dict[str, NDArray[np.float64]]:
    names = sorted({name for values in own.values() for name in values})
    out = {name: np.full(shape, np.nan) for name in names}
    if own:
        for cell, sample_index in zip(cells, indices, strict=True):
            for name, value in own.get((cell // width, sample_index), {}).items():
                out[name].reshape(-1)[cell] = value
    return out


def regroup_by_answer_key(data: AuditData, tasks: Sequence[Task], texts: list[list[str]]) -> dict[str, str]:
    """Regroup each installed verifier's answers by its `answer_key`; says per verifier what was done."""
    from assay.plugins import get_registry
    from assay.verifier import Verifier

    registry = get_registry()
    done: dict[str, str] = {}
    for verifier_id, verifier in data.verifiers.items():
        if verifier.answers is None:
            continue
        name = verifier_id.split("@", 1)[0]
        cls = registry.verifiers.get(name)
        if cls is None or cls.answer_key is Verifier.answer_key:
            done[verifier_id] = "verdict answers (no answer_key here: the verifier is not installed or has none)"
            continue
        instance = cls()
        cache: dict[tuple[int, str], str | None] = {}
        keys: list[list[str | None]] = []
        decided = verifier.answers.group >= 0
        for row, row_texts in enumerate(texts):
            row_keys: list[str | None] = []
            for col, text in enumerate(row_texts):
                if not decided[row, col]:
                    row_keys.append(None)
                    continue
                cached = (row, text)
                if cached not in cache:
                    sample = Sample(task_id=data.task_ids[row], index=int(data.index[row, col]), text=text)
                    try:
                        cache[cached] = instance.answer_key(tasks[row], sample)
                    except Exception:  # a verifier bug: that sample abstains rather than stopping the audit
                        cache[cached] = None
                row_keys.append(cache[cached])
            keys.append(row_keys)
        instance.close()
        verifier.answers = AnswerGroups.build(keys, data.valid.shape[1])
        done[verifier_id] = f"answer_key of {instance.id} ({len(cache)} distinct answers)"
    return done


@dataclass
class _Collected:
    cells: list[int] = field(default_factory=list)
    runs: list[int] = field(default_factory=list)
    passed: list[int] = field(default_factory=list)
    score: list[float] = field(default_factory=list)
    answer: list[str | None] = field(default_factory=list)
    reason: list[str | None] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    seen: Counter[int] = field(default_factory=Counter)


def _read_verdicts(
    data: AuditData,
    path: str | Path,
    known: dict[str, int],
    position: dict[tuple[int, int], int],
    width: int,
    errors: list[InputError | str],
    samples_path: str,
) -> None:
    collected: dict[str, _Collected] = {}
    path_str = str(path)
    for line, obj in read_lines(path):
        if isinstance(obj, InputError):
            errors.append(obj)
            continue
        try:
            verdict = Verdict.model_validate(obj)
        except ValidationError as exc:
            errors.append(validation_error(path_str, line, exc))
            continue
        row = known.get(verdict.task_id)
        cell = position.get((row, verdict.sample_index)) if row is not None else None
        if cell is None:
            errors.append(
                InputError(
                    path_str,
                    line,
                    "sample_index",
                    f"no sample {verdict.sample_index} of task {verdict.task_id!r} in {samples_path}",
                )
            )
            continue
        bucket = collected.get(verdict.verifier)
        if bucket is None:
            bucket = collected[verdict.verifier] = _Collected()
        bucket.cells.append(cell)
        bucket.runs.append(bucket.seen[cell])
        bucket.seen[cell] += 1
        bucket.passed.append(-1 if verdict.passed is None else int(verdict.passed))
        bucket.score.append(np.nan if verdict.score is None else float(verdict.score))
        bucket.answer.append(verdict.answer)
        bucket.reason.append(verdict.reason)
        bucket.statuses[verdict.status] += 1
    for verifier_id, bucket in collected.items():
        _merge(data, verifier_id, bucket, width)


def _merge(data: AuditData, verifier_id: str, bucket: _Collected, width: int) -> None:
    problems = data.problems
    previous = data.verifiers.get(verifier_id)
    offset = previous.runs if previous is not None else 0
    runs = offset + (max(bucket.runs) + 1 if bucket.runs else 0)
    passed = np.full((runs, problems, width), -1, dtype=np.int8)
    score = np.full((runs, problems, width), np.nan)
    if previous is not None:
        passed[:offset], score[:offset] = previous.passed, previous.score
    cells = np.asarray(bucket.cells, dtype=np.int64)
    run_index = offset + np.asarray(bucket.runs, dtype=np.int64)
    passed.reshape(runs, -1)[run_index, cells] = np.asarray(bucket.passed, dtype=np.int8)
    score.reshape(runs, -1)[run_index, cells] = np.asarray(bucket.score)
    if previous is not None:
        previous.passed, previous.score = passed, score
        previous.statuses.update(bucket.statuses)
        return
    first = np.asarray(bucket.runs) == 0
    first_cells = cells[first]
    keys: list[list[str | None]] = [[None] * width for _ in range(problems)]
    has_answers = False
    reasons: dict[str, int] = {}
    reason = np.full(problems * width, -1, dtype=np.int32)
    for cell, answer, why in zip(
        first_cells.tolist(),
        (a for a, f in zip(bucket.answer, first, strict=True) if f),
        (r for r, f in zip(bucket.reason, first, strict=True) if f),
        strict=True,
    ):
        if answer is not None:
            keys[cell // width][cell % width] = answer
            has_answers = True
        if why is not None:
            reason[cell] = reasons.setdefault(why, len(reasons))
    decided = np.zeros(problems * width, dtype=bool)
    decided[first_cells] = True
    data.verifiers[verifier_id] = VerifierData(
        id=verifier_id,
        passed=passed,
        score=score,
        answers=AnswerGroups.build(keys, width) if has_answers else None,
        reason=reason.reshape(problems, width),
        reasons=list(reasons),
        statuses=bucket.statuses,
        missing=int((data.valid.reshape(-1) & ~decided).sum()),
    )
