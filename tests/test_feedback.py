"""Verdict feedback: what each verifier tells the model, and the per-task switch that limits it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import assay
from assay.jsonl import write_jsonl
from assay.models import Sample, Task, Verdict
from assay.plugins import UnknownComponent, get_registry
from assay.server import BackgroundServer, ServerSettings
from assay.testing.echo import EchoVerifier
from assay.verifier import Verifier

_tokens = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=6, max_size=12)


def _installed(name: str) -> type[Verifier]:
    try:
        return get_registry().verifier_class(name)
    except UnknownComponent:
        pytest.skip(f"the `{name}` verifier plugin is not installed")


def _task(feedback: str | None = None, **reference: Any) -> Task:
    metadata = {} if feedback is None else {"feedback": feedback}
    return Task(id="t", reference=reference, metadata=metadata)


class _Secretive(Verifier):
    """Fails every sample; its feedback quotes a secret test unless the tests are hidden."""

    name = "secretive"
    kind = "execution"

    def verify(self, task: Task, sample: Sample) -> Verdict:
        return self.verdict(task, sample, "fail", reason="wrong_answer", details={"message": "SECRET"})

    def feedback(self, task: Task, verdict: Verdict, *, show_tests: bool) -> str | None:
        return "the test SECRET failed" if show_tests else "a test failed"


class _Batched(_Secretive):
    name = "batched"

    def verify_batch(self, task: Task, samples: Sequence[Sample]) -> list[Verdict]:
        return [self.verdict(task, s, "fail", reason="wrong_answer", details={"message": "SECRET"}) for s in samples]


class _BrokenFeedback(_Secretive):
    name = "broken"

    def feedback(self, task: Task, verdict: Verdict, *, show_tests: bool) -> str | None:
        raise KeyError("a bug")


def test_old_verdicts_load_and_verdicts_without_feedback_dump_without_the_key() -> None:
    old = {"task_id": "t", "sample_index": 0, "verifier": "x@1", "status": "pass", "passed": True}
    verdict = Verdict.model_validate(old)
    assert verdict.feedback is None
    assert "feedback" not in verdict.model_dump(mode="json")
    assert "feedback" not in orjson.loads(verdict.model_dump_json())
    verdict.feedback = "Correct."
    assert Verdict.model_validate_json(verdict.model_dump_json()).feedback == "Correct."


@pytest.mark.parametrize(
    ("switch", "expected"),
    [
        (None, "the test SECRET failed"),
        ("public", "the test SECRET failed"),
        ("hidden", "a test failed"),
        ("none", None),
    ],
)
def test_the_task_switch_decides_what_feedback_reveals(switch: str | None, expected: str | None) -> None:
    sample = Sample(task_id="t", index=3, text="x")
    for verifier in (_Secretive(), _Batched()):
        verdicts = [verifier.verify(_task(switch), sample), *verifier.verify_batch(_task(switch), [sample])]
        assert [v.feedback for v in verdicts] == [expected, expected]
        assert all(v.status == "fail" for v in verdicts)


@pytest.mark.parametrize("switch", ["private", 1, True, ""])
def test_an_unknown_switch_is_an_error_verdict_naming_the_field(switch: Any) -> None:
    verdict = _Secretive().verify(_task(switch), Sample(task_id="t", index=5, text="x"))
    assert (verdict.status, verdict.reason, verdict.sample_index) == ("error", "bad_task", 5)
    assert verdict.details["field"] == "metadata.feedback"
    assert "metadata.feedback" in verdict.details["message"]
    assert verdict.feedback is None


def test_a_bug_in_feedback_keeps_the_verdict_and_reveals_nothing() -> None:
    verdict = _BrokenFeedback().verify(_task("public"), Sample(task_id="t", index=0, text="x"))
    assert verdict.status == "fail" and verdict.reason == "wrong_answer"
    assert verdict.feedback is not None and "SECRET" not in verdict.feedback


def test_generic_feedback_for_a_plugin_without_its_own() -> None:
    echo = EchoVerifier()
    right = echo.verify(_task(answer="4"), Sample(task_id="t", index=0, text="4"))
    wrong = echo.verify(_task(answer="4"), Sample(task_id="t", index=1, text="5"))
    bad = echo.verify(_task(), Sample(task_id="t", index=2, text="5"))
    assert right.feedback == "Correct."
    assert wrong.feedback is not None and "wrong answer" in wrong.feedback
    assert bad.status == "error" and bad.feedback is not None and "could not be judged" in bad.feedback


# -- the plugins ------------------------------------------------------------------------------------------


def test_math_feedback_says_no_final_answer_and_never_gives_the_reference_away() -> None:
    math = _installed("math")()
    task = _task(answer="1234")
    missing = math.verify(task, Sample(task_id="t", index=0, text="I am not sure."))
    assert missing.feedback is not None and missing.feedback.startswith("No final answer found")
    wrong = math.verify(task, Sample(task_id="t", index=1, text="The answer is 57."))
    assert wrong.feedback == "The final answer '57' is wrong."
    right = math.verify(task, Sample(task_id="t", index=2, text="\\boxed{1234}"))
    assert right.feedback == "Correct."


@pytest.fixture(scope="module")
def code() -> Iterator[Verifier]:
    verifier = _installed("code")()
    try:
        yield verifier
    finally:
        verifier.close()


def test_code_feedback_names_the_failing_assertion_and_the_call(code: Verifier) -> None:
    tests = "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(20, 22) == 42\n"
    reference = {"style": "function", "entry_point": "add", "tests": tests}
    sample = Sample(task_id="t", index=0, text="def add(a, b):\n    return a * 2\n")
    public = code.verify(_task("public", **reference), sample).feedback
    hidden = code.verify(_task("hidden", **reference), sample).feedback
    assert public is not None and "assert candidate(1, 2) == 3" in public and "add(1, 2)" in public
    assert public is not None and "gave 2" in public
    assert hidden == "A hidden test failed (wrong answer)."
    raising = Sample(task_id="t", index=1, text="def add(a, b):\n    raise ValueError(f'bad {a}')\n")
    hidden_raise = code.verify(_task("hidden", **reference), raising).feedback
    assert hidden_raise == "A hidden test failed (runtime error: ValueError)."
    public_raise = code.verify(_task("public", **reference), raising).feedback
    assert public_raise is not None and "ValueError: bad 1" in public_raise


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case_input=_tokens, expected=_tokens, printed=_tokens)
def test_code_io_feedback_shows_the_case_only_when_public(
    code: Verifier, case_input: str, expected: str, printed: str
) -> None:
    case_input, expected, printed = "in" + case_input, "want" + expected, "got" + printed  # all different
    reference = {"style": "io", "cases": [{"input": "x\n", "output": "x\n"}, {"input": case_input, "output": expected}]}
    program = f"s = input()\nprint(s if s == 'x' else {printed!r})\n"
    sample = Sample(task_id="t", index=0, text=program)
    public = code.verify(_task("public", **reference), sample)
    hidden = code.verify(_task("hidden", **reference), sample)
    assert public.status == hidden.status == "fail"
    assert public.feedback is not None and hidden.feedback is not None
    assert public.feedback.startswith("Test case 2 of 2 failed (wrong answer).")
    assert case_input in public.feedback and expected in public.feedback and printed in public.feedback
    assert hidden.feedback == "Test case 2 of 2 failed (wrong answer)."
    assert code.verify(_task("none", **reference), sample).feedback is None


def test_lean_feedback_shows_the_first_error_with_its_line_and_goal() -> None:
    _installed("lean")
    from assay_lean.feedback import lean_feedback

    goal = "unsolved goals\nn : Nat\n⊢ n + 0 = n"
    details = {
        "errors": [
            {"severity": "warning", "line": 2, "column": 0, "text": "unused"},
            {"severity": "error", "line": 4, "column": 2, "text": goal},
        ]
    }
    verdict = Verdict(
        task_id="t",
        sample_index=0,
        verifier="lean@1",
        status="fail",
        passed=False,
        reason="lean_error",
        details=details,
    )
    assert lean_feedback(verdict) == f"Lean error at line 4, column 2:\n{goal}"
    sorry = verdict.model_copy(update={"reason": "sorry", "details": {"line": 3, "message": "uses sorry"}})
    assert lean_feedback(sorry) == "The proof is not accepted (sorry) (line 3): uses sorry"


# -- every way out: Python API, CLI, server ---------------------------------------------------------------


@pytest.fixture
def echo_files(tmp_path: Path) -> tuple[Path, Path]:
    tasks = [
        {"id": "a", "reference": {"answer": "1"}},
        {"id": "b", "reference": {"answer": "2"}, "metadata": {"feedback": "none"}},
    ]
    samples = [
        {"task_id": "a", "index": 0, "text": "1"},
        {"task_id": "a", "index": 1, "text": "9"},
        {"task_id": "b", "index": 0, "text": "9"},
    ]
    return write_jsonl(tmp_path / "tasks.jsonl", tasks), write_jsonl(tmp_path / "samples.jsonl", samples)


def _feedbacks(verdicts: list[dict[str, Any]]) -> list[str | None]:
    return [v.get("feedback") for v in verdicts]


def test_python_api_and_cli_return_feedback(
    echo_installed: Path, echo_files: tuple[Path, Path], tmp_path: Path
) -> None:
    tasks, samples = echo_files
    verdicts = [v.model_dump(mode="json") for v in assay.verify(tasks, samples, "echo", jobs=0, use_store=False)]
    expected = ["Correct.", "The sample is wrong (wrong answer).", None]
    assert _feedbacks(verdicts) == expected
    out = tmp_path / "verdicts.jsonl"
    cli = [
        sys.executable,
        "-m",
        "assay",
        "verify",
        str(tasks),
        str(samples),
        "-v",
        "echo",
        "-o",
        str(out),
        "--no-store",
    ]
    run = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    written = [orjson.loads(line) for line in out.read_text().splitlines()]
    assert _feedbacks(written) == expected
    assert "feedback" not in written[2]


def test_server_returns_feedback(echo_installed: Path) -> None:
    server = BackgroundServer(ServerSettings(workers=1, shutdown_timeout_s=10))
    url = server.start()
    try:
        body = {
            "verifier": "echo",
            "tasks": [{"id": "a", "reference": {"answer": "1"}, "metadata": {"feedback": "hidden"}}],
            "samples": [{"task_id": "a", "index": 0, "text": "2"}],
        }
        response = httpx.post(f"{url}/v1/verify", json=body, timeout=30)
        assert response.status_code == 200, response.text
        verdicts = response.json()["verdicts"]
        assert _feedbacks(verdicts) == ["The sample is wrong (wrong answer)."]
    finally:
        server.stop()
