"""The conformance suite must fail verifiers that break the contract, each for the right reason."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

SVAMP = Path(__file__).resolve().parents[1] / "examples" / "data" / "svamp-pot-codex"

BROKEN_VERIFIERS = """
import time
from pathlib import Path
import pytest
from assay import Sample, Task, Verifier
from assay.testing import VerifierConformance

SVAMP = Path("__SVAMP__")

class Base(Verifier):
    version = "1"
    kind = "symbolic"

    def verify(self, task, sample):
        ok = sample.text == task.reference.get("answer")
        return self.verdict(task, sample, "pass" if ok else "fail", reason=None if ok else "wrong_answer")


class WrongIndex(Base):
    name = "wrong-index"

    def verify(self, task, sample):
        return self.verdict(task, sample.model_copy(update={"index": sample.index + 1}), "fail", reason="x")


class Flaky(Base):
    name = "flaky"
    calls = 0

    def verify(self, task, sample):
        Flaky.calls += 1
        return self.verdict(task, sample, "fail", reason=f"call {Flaky.calls}", answer=str(Flaky.calls))


class Slow(Base):
    name = "slow"

    def verify(self, task, sample):
        if sample.text in ("yes", "no"):
            time.sleep(0.6)
        return self.verdict(task, sample, "fail", reason="slow")


class BatchDiffers(Base):
    name = "batch-differs"

    def verify_batch(self, task, samples):
        return [self.verdict(task, s, "fail", reason="batch") for s in samples]


class NoReason(Base):
    name = "no-reason"

    def verify(self, task, sample):
        return self.verdict(task, sample, "fail")


class StringCompare(Base):
    # Compares the text with the reference as written: SVAMP's references are floats (51.0), so it never
    # passes anything there.

    name = "string-compare"

    def verify(self, task, sample):
        ok = sample.text.strip() == task.reference["answer"]
        return self.verdict(task, sample, "pass" if ok else "fail", reason=None if ok else "wrong_answer")


class TestStringCompareOnSvamp(VerifierConformance):
    @pytest.fixture
    def verifier(self):
        return StringCompare()

    @pytest.fixture
    def cases(self):
        task = Task(id="t", reference={"answer": 51.0})
        return [(task, Sample(task_id="t", index=0, text="51.0", label=True)),
                (task, Sample(task_id="t", index=1, text="50", label=False))]

    @pytest.fixture
    def sample_data(self):
        return SVAMP / "tasks.jsonl.gz", SVAMP / "samples.jsonl.gz"


def make_suite(cls, limit=10.0):
    class Suite(VerifierConformance):
        time_slack_s = 0.1

        @pytest.fixture
        def verifier(self):
            return cls({"time_limit_s": limit})

        @pytest.fixture
        def cases(self):
            task = Task(id="t", reference={"answer": "yes"})
            return [(task, Sample(task_id="t", index=0, text="yes")), (task, Sample(task_id="t", index=1, text="no"))]

    return Suite


TestWrongIndex = make_suite(WrongIndex)
TestFlaky = make_suite(Flaky)
TestSlow = make_suite(Slow, limit=0.2)
TestBatchDiffers = make_suite(BatchDiffers)
TestNoReason = make_suite(NoReason)
"""


EXPECTED = {
    "TestWrongIndex::test_cases_give_valid_verdicts": "failed",
    "TestFlaky::test_deterministic": "failed",
    "TestFlaky::test_answer_key": "passed",
    "TestSlow::test_cases_give_valid_verdicts": "failed",
    "TestBatchDiffers::test_batch_equals_map": "failed",
    "TestNoReason::test_cases_give_valid_verdicts": "failed",
    "TestWrongIndex::test_cases_are_judged_as_labelled": "failed",
    "TestStringCompareOnSvamp::test_cases_are_judged_as_labelled": "failed",
    "TestStringCompareOnSvamp::test_sample_data_agrees_with_labels": "failed",
    # and the same suites pass what these verifiers do right:
    "TestWrongIndex::test_identity": "passed",
    "TestBatchDiffers::test_cases_are_judged_as_labelled": "passed",
    "TestStringCompareOnSvamp::test_identity": "passed",
    "TestSlow::test_hostile_texts_do_not_raise": "passed",
    "TestBatchDiffers::test_deterministic": "passed",
    "TestBatchDiffers::test_garbage_references_give_error_verdicts": "passed",
    "TestNoReason::test_misuse_raises": "passed",
}


def test_the_suite_fails_contract_breakers_for_the_right_reason(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_broken=BROKEN_VERIFIERS.replace("__SVAMP__", str(SVAMP)))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q", "--hypothesis-seed=0")
    reports = result.reprec.getreports("pytest_runtest_logreport")  # type: ignore[attr-defined]
    outcomes = {r.nodeid.split("::", 1)[1]: r.outcome for r in reports if r.when == "call"}
    wrong = {
        test: (outcomes.get(test), expected) for test, expected in EXPECTED.items() if outcomes.get(test) != expected
    }
    assert not wrong, f"(got, expected) per test: {wrong}"
