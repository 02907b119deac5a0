from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from assay import STATUSES, Sample, Task, Verdict

_statuses_with_passed = [
    ("pass", True),
    ("fail", False),
    ("timeout", False),
    ("timeout", None),
    ("error", None),
    ("skipped", None),
]


@pytest.mark.parametrize(("status", "passed"), _statuses_with_passed)
def test_verdict_accepts_consistent_status_and_passed(status: str, passed: bool | None) -> None:
    Verdict(task_id="t", sample_index=0, verifier="x@1", status=status, passed=passed)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "passed"),
    [
        ("pass", False),
        ("pass", None),
        ("fail", True),
        ("fail", None),
        ("error", True),
        ("skipped", False),
        ("timeout", True),
    ],
)
def test_verdict_rejects_status_that_contradicts_passed(status: str, passed: bool | None) -> None:
    with pytest.raises(ValidationError):
        Verdict(task_id="t", sample_index=0, verifier="x@1", status=status, passed=passed)  # type: ignore[arg-type]


@pytest.mark.parametrize("verifier", ["math", "math@", "@1", "ma th@1", ""])
def test_verdict_verifier_must_be_name_at_version(verifier: str) -> None:
    with pytest.raises(ValidationError):
        Verdict(task_id="t", sample_index=0, verifier=verifier, status="skipped")


def test_unknown_input_keys_are_ignored_but_verdict_keys_are_not() -> None:
    sample = Sample.model_validate({"task_id": "t", "index": 3, "text": "x", "model": "gpt", "logprob": -1.5})
    assert sample.index == 3
    task = Task.model_validate({"id": "t", "reference": {"answer": 1}, "dataset": "svamp"})
    assert task.reference == {"answer": 1}
    with pytest.raises(ValidationError):
        Verdict.model_validate(
            {"task_id": "t", "sample_index": 0, "verifier": "x@1", "status": "skipped", "passd": None}
        )


def test_negative_sample_index_and_empty_ids_are_rejected() -> None:
    with pytest.raises(ValidationError):
        Sample(task_id="t", index=-1, text="")
    with pytest.raises(ValidationError):
        Sample(task_id="", index=0, text="")
    with pytest.raises(ValidationError):
        Task(id="")


_text = st.text(max_size=40)
_json_scalar = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False) | _text


@given(
    status_passed=st.sampled_from(_statuses_with_passed),
    score=st.none() | st.floats(0, 1),
    answer=st.none() | _text,
    reason=st.none() | _text,
    details=st.dictionaries(_text, _json_scalar, max_size=4),
    elapsed=st.floats(0, 1e6),
)
def test_verdict_round_trips_through_jsonl(
    status_passed: tuple[str, bool | None],
    score: float | None,
    answer: str | None,
    reason: str | None,
    details: dict[str, object],
    elapsed: float,
) -> None:
    status, passed = status_passed
    verdict = Verdict(
        task_id="t/1",
        sample_index=7,
        verifier="code@0.1.0",
        status=status,  # type: ignore[arg-type]
        passed=passed,
        score=score,
        answer=answer,
        reason=reason,
        details=details,
        elapsed_s=elapsed,
    )
    line = orjson.dumps(verdict.model_dump(mode="json"))
    assert Verdict.model_validate(orjson.loads(line)) == verdict


def test_statuses_are_the_documented_five() -> None:
    assert set(STATUSES) == {"pass", "fail", "error", "timeout", "skipped"}
