from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from assay import BadReference, Sample, Task, Verdict, Verifier, VerifierConfig
from assay.testing.echo import EchoVerifier


class _NeedsAnswer(BaseModel):
    answer: int


class _Buggy(Verifier):
    name = "buggy"
    version = "2"
    kind = "symbolic"

    def verify(self, task: Task, sample: Sample) -> Verdict:
        if sample.text == "ref":
            self.parse_reference(task, _NeedsAnswer)
        if sample.text == "bad":
            raise BadReference("the reference makes no sense", field="reference.answer")
        return {}["missing"]  # type: ignore[no-any-return]


TASK = Task(id="t", reference={"answer": "x"})


def test_exceptions_in_verify_become_error_verdicts_with_a_reason() -> None:
    verdict = _Buggy().verify(TASK, Sample(task_id="t", index=4, text="anything"))
    assert verdict.status == "error"
    assert verdict.passed is None
    assert verdict.reason == "verifier_error"
    assert "KeyError" in verdict.details["message"]
    assert "traceback" in verdict.details
    assert verdict.verifier == "buggy@2"
    assert (verdict.task_id, verdict.sample_index) == ("t", 4)


def test_bad_reference_names_the_field() -> None:
    verdict = _Buggy().verify(TASK, Sample(task_id="t", index=0, text="ref"))
    assert verdict.status == "error"
    assert verdict.reason == "bad_reference"
    assert verdict.details["field"] == "reference.answer"
    assert "reference.answer" in verdict.details["message"]
    explicit = _Buggy().verify(TASK, Sample(task_id="t", index=0, text="bad"))
    assert explicit.reason == "bad_reference"
    assert explicit.details["field"] == "reference.answer"


@pytest.mark.parametrize("bad_args", [({"id": "t"}, Sample(task_id="t", index=0, text="")), (TASK, "text")])
def test_misuse_of_the_api_raises_type_error(bad_args: tuple[Any, Any]) -> None:
    with pytest.raises(TypeError):
        EchoVerifier().verify(*bad_args)


def test_config_from_dict_is_validated_and_names_the_field() -> None:
    assert EchoVerifier({"casefold": True}).config.casefold is True
    with pytest.raises(Exception, match="time_limit_s"):
        EchoVerifier({"time_limit_s": -1})
    with pytest.raises(Exception, match="no_such_option"):
        EchoVerifier({"no_such_option": 1})
    with pytest.raises(TypeError):
        EchoVerifier(VerifierConfig())  # a base config is not an EchoConfig


def test_elapsed_is_measured_when_the_verifier_does_not_set_it() -> None:
    verdict = EchoVerifier().verify(Task(id="t", reference={"answer": "1"}), Sample(task_id="t", index=0, text="1"))
    assert verdict.status == "pass"
    assert verdict.elapsed_s > 0
