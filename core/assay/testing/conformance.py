"""The conformance suite every verifier plugin runs.

Subclass `VerifierConformance` in your plugin's tests and give it two fixtures:

    class TestMathConformance(VerifierConformance):
        @pytest.fixture
        def verifier(self):
            return MathVerifier({"time_limit_s": 5})

        @pytest.fixture
        def cases(self):
            return [(task, sample), ...]   # real examples; a passing and a failing one at least

pytest then runs every `test_*` below against it: the verdict schema, never raising on garbage, answering
within the configured time limit, determinism where claimed, `verify_batch` agreeing with `verify`, and that
the cases (and the optional `sample_data` fixture: a tasks and a samples JSONL with labels) are judged as
their labels say, so a verifier that never passes anything cannot pass the suite.

It needs pytest and hypothesis only: `pip install 'assay[testing]'`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError as missing:  # the one dependency beyond pytest: say how to get it
    needed = "assay's conformance suite needs hypothesis (and pytest): pip install 'assay[testing]'"
    raise ImportError(needed) from missing

from assay.jsonl import InputError, read_models
from assay.models import STATUSES, Sample, Task, Verdict
from assay.verifier import Verifier

Case = tuple[Task, Sample]

#: Sample texts that have broken real verifiers: empty, huge, binary-ish, unbalanced, deeply nested.
HOSTILE_TEXTS = [
    "",
    " ",
    "\x00\x01\x02",
    "\ufffd\ufeff\u202e",
    "{" * 5000,
    "(" * 5000 + ")" * 4999,
    "\\boxed{" * 200,
    "x" * 1_000_000,
    "```\n" * 100,
    "é" * 1000 + "🙂" * 1000,
    "\n".join(str(i) for i in range(20000)),
]

_json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=50)
_json = st.recursive(
    _json_leaf,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
_garbage_settings = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _comparable(verdict: Verdict) -> dict[str, Any]:
    body = verdict.model_dump()
    body.pop("elapsed_s")
    return body


class VerifierConformance:
    """Inherit this class in a test module and provide the `verifier` and `cases` fixtures."""

    #: Extra wall-clock slack over `config.time_limit_s` (process start-up, a loaded machine).
    time_slack_s: float = 2.0
    #: True for verifiers that judge a sample without the task's reference (a learned scorer): then any
    #: reference, garbage or empty, must give the same verdict instead of an error.
    reference_free: bool = False
    #: The share of labelled cases and `sample_data` samples whose verdict must agree with the label; None: 0.9,
    #: or 0.6 for a learned verifier (a scorer is judged by how it ranks, in the audit, not by exact agreement).
    min_label_agreement: float | None = None
    #: How many samples of `sample_data` are judged (the first ones of the samples file).
    sample_data_limit: int = 500

    @pytest.fixture
    def verifier(self) -> Verifier:
        raise NotImplementedError("define a `verifier` fixture returning a configured verifier")

    @pytest.fixture
    def cases(self) -> list[Case]:
        raise NotImplementedError("define a `cases` fixture returning [(Task, Sample), ...]")

    @pytest.fixture
    def sample_data(self) -> tuple[Path, Path] | None:
        """(tasks JSONL, samples JSONL with `label`): real data the plugin ships with; None skips that test."""
        return None

    # -- helpers --------------------------------------------------------------------------------------------------

    def check_verdict(self, verifier: Verifier, task: Task, sample: Sample, verdict: Verdict) -> None:
        assert isinstance(verdict, Verdict), f"verify returned {type(verdict).__name__}, not a Verdict"
        Verdict.model_validate(verdict.model_dump())  # the invariants hold after any mutation
        assert verdict.task_id == task.id
        assert verdict.sample_index == sample.index
        assert verdict.verifier == verifier.id
        assert verdict.status in STATUSES
        if verdict.score is not None:
            assert verdict.score == verdict.score, "score is NaN"
        if verdict.status in ("fail", "error", "timeout"):
            assert verdict.reason, f"a {verdict.status!r} verdict must say why (reason)"
        assert verdict.elapsed_s >= 0

    def timed_verify(self, verifier: Verifier, task: Task, sample: Sample) -> Verdict:
        started = time.monotonic()
        verdict = verifier.verify(task, sample)
        elapsed = time.monotonic() - started
        limit = float(verifier.config.time_limit_s) + self.time_slack_s
        assert elapsed <= limit, f"verify took {elapsed:.2f}s, over its time limit ({limit:.2f}s with slack)"
        self.check_verdict(verifier, task, sample, verdict)
        return verdict

    # -- the suite ------------------------------------------------------------------------------------------------

    def test_identity(self, verifier: Verifier) -> None:
        assert verifier.name and verifier.name.replace("-", "").replace("_", "").isalnum()
        assert verifier.kind in ("execution", "proof", "symbolic", "learned")
        assert isinstance(verifier.version, str) and verifier.version

    def test_cases_give_valid_verdicts(self, verifier: Verifier, cases: list[Case]) -> None:
        assert cases, "give the suite at least one real case"
        for task, sample in cases:
            self.timed_verify(verifier, task, sample)

    def test_cases_decide_something(self, verifier: Verifier, cases: list[Case]) -> None:
        statuses = {verifier.verify(task, sample).status for task, sample in cases}
        assert statuses & {"pass", "fail"}, f"no case was decided (statuses {statuses})"

    def label_agreement_needed(self, verifier: Verifier) -> float:
        if self.min_label_agreement is not None:
            return self.min_label_agreement
        return 0.6 if verifier.kind == "learned" else 0.9

    def test_cases_are_judged_as_labelled(self, verifier: Verifier, cases: list[Case]) -> None:
        """At least one case passes and one fails (a verifier that passes nothing, or everything, is caught),
        and the cases that carry a `label` are judged as it says (all but a share for a learned scorer)."""
        verdicts = [(sample, verifier.verify(task, sample)) for task, sample in cases]
        statuses = {verdict.status for _, verdict in verdicts}
        assert "pass" in statuses, f"no case passes (statuses {statuses}): give a right answer among the cases"
        assert "fail" in statuses, f"no case fails (statuses {statuses}): give a wrong answer among the cases"
        labelled = [(sample, verdict) for sample, verdict in verdicts if sample.label is not None]
        wrong = [
            f"sample {sample.index} of {sample.task_id!r}: labelled {sample.label}, got {verdict.status} "
            f"({verdict.reason})"
            for sample, verdict in labelled
            if verdict.passed is not sample.label
        ]
        needed = self.label_agreement_needed(verifier)
        assert len(labelled) - len(wrong) >= needed * len(labelled), (
            f"{len(wrong)} of {len(labelled)} labelled cases judged against their labels (at most "
            f"{1 - needed:.0%} may be): " + "; ".join(wrong[:10])
        )

    def test_sample_data_agrees_with_labels(self, verifier: Verifier, sample_data: tuple[Path, Path] | None) -> None:
        """The plugin's own data, judged: most verdicts agree with the labels, and some samples pass."""
        if sample_data is None:
            pytest.skip("no sample_data fixture")
        tasks_path, samples_path = sample_data
        tasks: dict[str, Task] = {}
        for _, task in read_models(tasks_path, Task):
            assert not isinstance(task, InputError), str(task)
            tasks[task.id] = task
        agree = judged = passed = labelled_right = 0
        for line, sample in read_models(samples_path, Sample):
            if judged >= self.sample_data_limit:
                break
            assert not isinstance(sample, InputError), str(sample)
            assert sample.task_id in tasks, f"{samples_path}:{line}: no task {sample.task_id!r} in {tasks_path}"
            if sample.label is None:
                continue
            verdict = verifier.verify(tasks[sample.task_id], sample)
            judged += 1
            passed += verdict.passed is True
            labelled_right += sample.label
            agree += verdict.passed is sample.label
        assert judged, f"{samples_path}: no labelled sample to judge"
        assert passed or not labelled_right, (
            f"{verifier.name} passed none of {judged} samples, {labelled_right} of them labelled right"
        )
        needed = self.label_agreement_needed(verifier)
        assert agree >= needed * judged, (
            f"{verifier.name} agrees with the labels on {agree} of {judged} samples (at least {needed:.0%} expected)"
        )

    def test_hostile_texts_do_not_raise(self, verifier: Verifier, cases: list[Case]) -> None:
        task, sample = cases[0]
        for text in HOSTILE_TEXTS:
            self.timed_verify(verifier, task, sample.model_copy(update={"text": text}))

    def test_random_texts_do_not_raise(self, verifier: Verifier, cases: list[Case]) -> None:
        task, sample = cases[0]

        @given(text=st.text(max_size=300))
        @_garbage_settings
        def check(text: str) -> None:
            self.timed_verify(verifier, task, sample.model_copy(update={"text": text}))

        check()

    def test_garbage_references_give_error_verdicts(self, verifier: Verifier, cases: list[Case]) -> None:
        task, sample = cases[0]

        @given(reference=st.dictionaries(st.text(max_size=12), _json, max_size=5))
        @_garbage_settings
        def check(reference: dict[str, Any]) -> None:
            self.timed_verify(verifier, task.model_copy(update={"reference": reference}), sample)

        check()
        verdict = self.timed_verify(verifier, task.model_copy(update={"reference": {}}), sample)
        if self.reference_free:
            expected = verifier.verify(task, sample)
            assert (verdict.status, verdict.score) == (expected.status, expected.score), "the reference changed it"
        else:
            assert verdict.status in ("error", "skipped", "fail"), "an empty reference cannot pass"

    def test_misuse_raises(self, verifier: Verifier, cases: list[Case]) -> None:
        task, sample = cases[0]
        with pytest.raises(TypeError):
            verifier.verify(task.model_dump(), sample)  # type: ignore[arg-type]

    def test_deterministic(self, verifier: Verifier, cases: list[Case]) -> None:
        if not verifier.deterministic:
            pytest.skip(f"{verifier.name} does not claim to be deterministic")
        for task, sample in cases:
            first = _comparable(verifier.verify(task, sample))
            second = _comparable(verifier.verify(task, sample))
            first.get("details", {}).pop("timing", None)
            second.get("details", {}).pop("timing", None)
            assert first == second

    def test_batch_equals_map(self, verifier: Verifier, cases: list[Case]) -> None:
        by_task: dict[str, list[Case]] = {}
        for task, sample in cases:
            by_task.setdefault(task.id, []).append((task, sample))
        for group in by_task.values():
            task = group[0][0]
            samples = [sample for _, sample in group]
            batch = verifier.verify_batch(task, samples)
            assert len(batch) == len(samples)
            for sample, verdict in zip(samples, batch, strict=True):
                self.check_verdict(verifier, task, sample, verdict)
                if verifier.deterministic:
                    single = verifier.verify(task, sample)
                    assert (single.status, single.passed, single.answer, single.reason) == (
                        verdict.status,
                        verdict.passed,
                        verdict.answer,
                        verdict.reason,
                    )

    def test_answer_key(self, verifier: Verifier, cases: list[Case]) -> None:
        for task, sample in cases:
            key = verifier.answer_key(task, sample)
            assert key is None or isinstance(key, str)
            if verifier.deterministic:
                assert key == verifier.answer_key(task, sample)
