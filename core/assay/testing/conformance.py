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
within the configured time limit, determinism where claimed, and `verify_batch` agreeing with `verify`.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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

    @pytest.fixture
    def verifier(self) -> Verifier:
        raise NotImplementedError("define a `verifier` fixture returning a configured verifier")

    @pytest.fixture
    def cases(self) -> list[Case]:
        raise NotImplementedError("define a `cases` fixture returning [(Task, Sample), ...]")

    # -- helpers --------------------------------------------------------------------------------------------------

    def check_verdict(self, verifier: Verifier, task: Task, sample: Sample, verdict: Verdict) -> None:
        assert isinstance(verdict, Verdict), f"verify returned {type(verdict).__name__}, not a Verdict"
        Verdict.model_validate(verdict.model_dump())  # the invariants hold after any mutation
        assert verdict.task_id == task.id
        assert verdict.sample_index == sample.index
        assert verdict.verifier == f"{verifier.name}@{verifier.version}"
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
