"""Responses of reasoning and chat models: the code graded is the code the response gives as its answer,
never a draft inside its hidden reasoning; `<answer>` tags, a byte-order mark and no-break-space indentation
are read as a user would read them. Each case runs through the real verifier and sandbox."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay import Sample, Task
from assay_code.program import assemble, extract_source
from assay_code.verifier import CodeVerifier

from .conftest import ADD_PROMPT, ADD_TESTS

RIGHT = "def add(a, b):\n    return a + b\n"
WRONG = "def add(a, b):\n    return a * b\n"


def fenced(code: str) -> str:
    return f"```python\n{code}```"


def verdict_status(verifier: CodeVerifier, text: str) -> str:
    task = Task(id="t", prompt=ADD_PROMPT, reference={"style": "function", "entry_point": "add", "tests": ADD_TESTS})
    return verifier.verify(task, Sample(task_id="t", index=0, text=text)).status


@pytest.mark.parametrize(
    ("text", "status"),
    [
        # The answer after the reasoning is graded, whatever the drafts inside it were.
        (f"<think>\nFirst try ```python\n{WRONG}``` no.\n</think>\nHere:\n{fenced(RIGHT)}", "pass"),
        (f"<think>\n{fenced(RIGHT)}\n</think>\nSo:\n{fenced(WRONG)}", "fail"),
        # Right code only in the reasoning, nothing after it: the response gives no answer.
        (f"<think>\n{fenced(RIGHT)}\n</think>\nI could not finish.", "fail"),
        (f"<|im_start|>assistant\n<THINK>hmm</THINK>\n{fenced(RIGHT)}<|im_end|>\n<|im_start|>user\nthanks", "pass"),
        (f"<answer>\n{RIGHT}</answer>", "pass"),
        (f"<think>x</think><answer>{fenced(RIGHT)}</answer>", "pass"),
        (f"<answer>\n{WRONG}</answer>", "fail"),
        ("\ufeff" + fenced(RIGHT), "pass"),
        (fenced(RIGHT.replace("    ", "\u00a0" * 4)), "pass"),
        (fenced(WRONG.replace("    ", "\u00a0\u00a0  ")), "fail"),
    ],
    ids=[
        "draft-in-reasoning",
        "right-draft-wrong-answer",
        "no-answer-after-reasoning",
        "chat-template",
        "answer-tag",
        "answer-tag-fenced",
        "answer-tag-wrong",
        "byte-order-mark",
        "nbsp-indent",
        "nbsp-indent-wrong",
    ],
)
def test_the_answer_the_response_shows_is_graded(code_verifier: CodeVerifier, text: str, status: str) -> None:
    assert verdict_status(code_verifier, text) == status


def test_a_program_that_mentions_the_tags_is_run_as_written(code_verifier: CodeVerifier) -> None:
    # It compiles as it is, so no tag is taken apart: the strings are part of the program.
    program = (
        "def add(a, b):\n"
        "    wrapped = '<answer>' + str(a + b) + '</answer>'\n"
        "    return int(wrapped[len('<answer>'):-len('</answer>')])\n"
    )
    assert verdict_status(code_verifier, program) == "pass"


def test_whole_programs_read_from_stdin_are_read_the_same_way() -> None:
    program = "print(int(input()) * 2)\n"
    assert extract_source(f"<think>\n{fenced('print(0)')}\n</think>\n{fenced(program)}", "python") == program
    assert extract_source(f"<answer>\n{program}</answer>", "python").strip() == program.strip()
    assert extract_source(program.replace("print", "\ufeffprint", 1), "python") == program


@given(drafts=st.lists(st.sampled_from([WRONG, RIGHT, "def add(a, b:\n", "print('x')\n"]), max_size=3))
@settings(max_examples=50, deadline=None)
def test_no_draft_in_the_reasoning_changes_the_program(drafts: list[str]) -> None:
    reasoning = "<think>\n" + "\n".join(fenced(draft) for draft in drafts) + "\n</think>\n"
    with_reasoning = assemble(ADD_PROMPT, reasoning + fenced(WRONG), "add")
    without = assemble(ADD_PROMPT, fenced(WRONG), "add")
    assert with_reasoning.source == without.source and with_reasoning.ok
