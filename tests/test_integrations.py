"""The adapters' shared parts (conversion, the grader in-process and over HTTP) and the verl adapter, which
verl loads by file path and calls by keyword; with the real `math` verifier where it is installed."""

from __future__ import annotations

import functools
import importlib.util
import inspect
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import assay.integrations.verl as verl_adapter
from assay.integrations.convert import (
    as_reference,
    completion_text,
    response_of,
    reward_of,
    strip_end_markers,
)
from assay.integrations.grader import Grader, close_graders, get_grader
from assay.models import Sample, Task, Verdict
from assay.plugins import UnknownComponent
from assay.server import BackgroundServer, ServerSettings


@pytest.fixture(autouse=True)
def fresh_graders() -> Iterator[None]:
    close_graders()
    yield
    close_graders()


# -- conversion ------------------------------------------------------------------------------------------


def test_references_from_every_shape_a_harness_uses() -> None:
    assert as_reference("1/2") == {"answer": "1/2"}
    assert as_reference(" 42 ", field="expected") == {"expected": " 42 "}
    assert as_reference({"tests": ["assert f()"]}) == {"tests": ["assert f()"]}
    assert as_reference('{"inputs": ["1"], "outputs": ["2"]}') == {"inputs": ["1"], "outputs": ["2"]}
    assert as_reference("{not json") == {"answer": "{not json"}
    assert as_reference(7) == {"answer": 7}
    assert as_reference(None) is None


@given(
    st.one_of(st.none(), st.text(), st.integers(), st.floats(allow_nan=False), st.dictionaries(st.text(), st.text()))
)
def test_as_reference_never_raises_and_is_a_dict_or_none(value: Any) -> None:
    reference = as_reference(value)
    assert reference is None or isinstance(reference, dict)
    assert (reference is None) == (value is None)


def test_completion_text_reads_strings_and_conversations() -> None:
    assert completion_text("x") == "x"
    conversation = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    assert completion_text(conversation) == "a"
    assert (
        completion_text([{"role": "assistant", "content": [{"type": "text", "text": "p"}, {"type": "image"}]}]) == "p"
    )
    assert completion_text([]) == ""


@given(prompt=st.text(max_size=30), response=st.text(max_size=30))
def test_response_of_recovers_the_response_from_a_decoded_query(prompt: str, response: str) -> None:
    got = response_of(prompt + response + "<|im_end|>", prompt)
    assert got == strip_end_markers(response)


def test_reward_policy() -> None:
    def verdict(status: str, **fields: Any) -> Verdict:
        passed = {"pass": True, "fail": False, "timeout": False}.get(status)
        return Verdict(task_id="t", sample_index=0, verifier="x@1", status=status, passed=passed, **fields)  # type: ignore[arg-type]

    assert reward_of(verdict("pass")) == 1.0
    assert reward_of(verdict("fail")) == 0.0
    assert reward_of(verdict("pass", score=0.75)) == 0.75
    assert reward_of(verdict("timeout")) == 0.0
    assert reward_of(verdict("error", reason="bad_reference")) is None
    assert reward_of(verdict("skipped")) is None


# -- the grader -------------------------------------------------------------------------------------------


def test_remote_grader_gives_the_in_process_verdicts(math_installed: None) -> None:
    pairs = [
        (Task(id="a", reference={"answer": "1/2"}), Sample(task_id="a", index=i, text=text))
        for i, text in enumerate(["\\boxed{0.5}", "The answer is 1/3", "\\frac{1}{2}", ""])
    ]
    local = Grader("math").verify(pairs)
    with BackgroundServer(ServerSettings(workers=1, token="t0k")) as url:
        remote = Grader("math", url=url, token="t0k").verify(pairs)
        with pytest.raises(RuntimeError, match="401"):
            Grader("math", url=url, token="wrong").verify(pairs)
    strip = [v.model_dump(exclude={"elapsed_s"}) for v in local]
    assert [v.model_dump(exclude={"elapsed_s"}) for v in remote] == strip
    assert [v.status for v in local] == ["pass", "fail", "pass", "fail"]


def test_graders_are_shared_and_reject_bad_config(math_installed: None) -> None:
    assert get_grader("math", {"time_limit_s": 5}) is get_grader("math", {"time_limit_s": 5})
    assert get_grader("math") is not get_grader("math", {"time_limit_s": 5})
    with pytest.raises(ValueError, match="time_limit_s"):
        Grader("math", {"time_limit_s": -1})
    with pytest.raises(UnknownComponent):
        Grader("no-such-verifier")


# -- verl ------------------------------------------------------------------------------------------------


def _load_like_verl(path: str, name: str, reward_kwargs: dict[str, Any]) -> Any:
    """What verl's `get_custom_reward_fn` does: load the file by path (not as a package module), take the
    named function, and merge `custom_reward_function.reward_kwargs` into every call."""
    spec = importlib.util.spec_from_file_location("custom_module", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    raw_fn = getattr(module, name)
    assert not inspect.iscoroutinefunction(raw_fn)

    def call_with_kwargs(*args: Any, **kwargs: Any) -> Any:
        return raw_fn(*args, **{**kwargs, **reward_kwargs})

    return functools.partial(call_with_kwargs)


def test_verl_compute_score_loaded_by_path_and_called_by_keyword(math_installed: None) -> None:
    compute_score = _load_like_verl(verl_adapter.__file__, "compute_score", {})
    # How verl's NaiveRewardManager calls it, per response.
    rows = [
        ("openai/gsm8k", "Let's see... #### 72", "72"),
        ("lighteval/MATH", "so the answer is $\\boxed{\\frac{3}{4}}$", "0.75"),
        ("DigitalLearningGmbH/MATH-lighteval", "\\boxed{5}", "6"),
    ]
    results = [
        compute_score(data_source=source, solution_str=solution, ground_truth=truth, extra_info={"index": i})
        for i, (source, solution, truth) in enumerate(rows)
    ]
    assert [r["score"] for r in results] == [1.0, 1.0, 0.0]
    assert [r["acc"] for r in results] == [True, True, False]
    # verl gathers every key but "score" into reward_extra_info: each response must carry the same keys.
    assert all(set(r) == set(results[0]) for r in results)
    assert json.dumps(results)  # plain values only


def test_verl_reward_kwargs_choose_the_verifier_and_the_batch_form_agrees(math_installed: None) -> None:
    compute_score = _load_like_verl(verl_adapter.__file__, "compute_score", {"verifier": "math"})
    assert compute_score(data_source="my/own-set", solution_str="\\boxed{2}", ground_truth="2")["score"] == 1.0
    with pytest.raises(ValueError, match=r"reward_kwargs\.verifier"):
        verl_adapter.compute_score("my/own-set", "\\boxed{2}", "2")
    assert verl_adapter.compute_score("x", "\\boxed{2}", "2", extra_info={"assay_verifier": "math"})["acc"] is True

    batch = _load_like_verl(verl_adapter.__file__, "compute_score_batch", {})
    sources = ["openai/gsm8k", "lighteval/MATH", "openai/gsm8k"]
    solutions = ["#### 3", "\\boxed{x^2}", "#### 4"]
    truths = ["3", "x**2", None]
    results = batch(data_sources=sources, solution_strs=solutions, ground_truths=truths, extra_infos=[{}, {}, {}])
    assert [r["score"] for r in results] == [1.0, 1.0, 0.0]
    assert results[2]["assay_status"] == "skipped"
    single = [
        verl_adapter.compute_score(s, x, t) for s, x, t in zip(sources[:2], solutions[:2], truths[:2], strict=True)
    ]
    assert results[:2] == single


def test_verl_compute_score_through_a_server(math_installed: None) -> None:
    with BackgroundServer(ServerSettings(workers=1)) as url:
        result = verl_adapter.compute_score("lighteval/MATH", "\\boxed{0.5}", "1/2", url=url)
    assert result["score"] == 1.0 and result["pred"]
