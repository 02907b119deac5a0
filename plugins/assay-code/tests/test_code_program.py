"""From raw samples to programs (prompt + completion, fences, prose), and stdout comparison."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay_code.compare import first_mismatch
from assay_code.humaneval import STOP_SEQUENCES
from assay_code.program import assemble, cut_at_stop, extract_source, prompt_for_tests, strip_prose

PROMPT = 'from typing import List\n\n\ndef total(xs: List[int]) -> int:\n    """Sum of xs."""\n'
BARE_PROMPT = "from typing import List\n\n\ndef total(xs: List[int]) -> int:\n"


def run(source: str) -> int:
    namespace: dict[str, object] = {}
    exec(source, namespace)
    total = namespace["total"]
    assert callable(total)
    return int(total([1, 2, 3]))


@pytest.mark.parametrize(
    ("prompt", "text", "how"),
    [
        (PROMPT, "    return sum(xs)\n", "continuation"),
        (PROMPT, "def total(xs):\n    return sum(xs)\n", "continuation"),
        (BARE_PROMPT, "def total(xs: List[int]) -> int:\n    return sum(xs)\n", "text+prompt_imports"),
        (PROMPT, "```python\ndef total(xs):\n    return sum(xs)\n```", "fenced+prompt"),
        (
            PROMPT,
            "Here you go:\n```py\ndef total(xs: List[int]) -> int:\n    return sum(xs)\n```\nDone!",
            "fenced+prompt",
        ),
        (PROMPT, "~~~\ndef total(xs):\n    return sum(xs)\n~~~\n", "fenced+prompt"),
        (
            PROMPT,
            "Sure, here is the code.\n\ndef total(xs):\n    return sum(xs)\n\nThis sums the list in one pass.\n",
            "prose_stripped+prompt",
        ),
        # the last block that defines the entry point, not the usage example after it
        (
            PROMPT,
            "```python\ndef total(xs):\n    return sum(xs)\n```\n```python\nassert total([1]) == 2\n```",
            "fenced+prompt",
        ),
        # an unclosed fence (the generation was cut off after the code)
        (PROMPT, "```python\ndef total(xs):\n    return sum(xs)\n", "fenced+prompt"),
        ("Write a function total(xs).", "def total(xs):\n    return sum(xs)\n", "text"),
    ],
)
def test_readings_that_run(prompt: str, text: str, how: str) -> None:
    program = assemble(prompt, text, "total")
    assert program.ok, program.syntax_error
    assert program.how == how
    assert run(program.source) == 6


@pytest.mark.parametrize(
    "text",
    [
        "    return sum(xs\n",  # cut off mid-expression
        '    return sum(xs)\n\nassert total([1, 2]) == "a a a\n',  # a test line cut off mid-string
        "elements(xs) -> int:\n    return sum(xs)\n",  # a half-repeated signature
        "    return 1\n  return 2\n",  # bad indentation
    ],
)
def test_broken_code_stays_a_syntax_error(text: str) -> None:
    program = assemble(PROMPT, text, "total")
    assert not program.ok
    assert program.syntax_error and "Error" in program.syntax_error


def test_stop_sequences_cut_the_completion() -> None:
    text = "    return sum(xs)\n\nif __name__ == '__main__':\n    print(total([1]))\ndef broken(:\n"
    assert not assemble(PROMPT, text, "total").ok
    program = assemble(PROMPT, text, "total", stop_sequences=STOP_SEQUENCES)
    assert program.ok and run(program.source) == 6
    assert cut_at_stop("a\nprint(1)\n#x", ["\n#", "\nprint"]) == "a"


def test_prose_lines_only_are_stripped() -> None:
    assert strip_prose("Here is the answer:\nx = 1\nThat is all.\n") == "x = 1\n"
    assert strip_prose("assert f('a b c\n") == "assert f('a b c\n"
    assert strip_prose("print(f(1, 2\n") == "print(f(1, 2\n"


def test_prompt_for_tests() -> None:
    assert prompt_for_tests(PROMPT, "total") == PROMPT
    helper = "def helper(x):\n    return x\n\n\ndef total(xs):\n"
    assert "pass" in prompt_for_tests(helper, "total")
    assert prompt_for_tests("Write a function.", "total") == ""


def test_extract_source_for_whole_programs() -> None:
    assert extract_source("print(1)\n", "python") == "print(1)\n"
    assert extract_source("Code:\n```python\nprint(1)\n```\n", "python") == "print(1)\n"
    cpp = "Here:\n```cpp\nint main() { return 0; }\n```\n"
    assert extract_source(cpp, "cpp") == "int main() { return 0; }\n"


@given(st.text(max_size=400))
@settings(max_examples=300, deadline=None)
def test_assemble_never_raises(text: str) -> None:
    program = assemble(PROMPT, text, "total")
    assert program.ok or program.syntax_error


@pytest.mark.parametrize(
    ("actual", "expected", "match"),
    [
        ("3\n", "3", True),
        ("1 2  3\n\n", "1\n2\n3", True),
        ("0.3333333", "0.333333333", True),
        ("2.0000001", "2.000000", True),
        ("2.1", "2.0", False),
        ("2.0", "2", False),  # integers are compared as text
        ("12345678901234567891", "12345678901234567890", False),
        ("1e-9", "0.000000001", True),
        ("nan", "0.5", False),
        ("1_0.5", "10.5", False),
        ("YES", "yes", False),
        ("1 2", "1 2 3", False),
        ("1 2 3", "1 2", False),
        ("", "", True),
    ],
)
def test_token_comparison(actual: str, expected: str, match: bool) -> None:
    assert (first_mismatch(actual, expected) is None) is match


def test_mismatch_says_where() -> None:
    mismatch = first_mismatch("1 5 3", "1 2 3")
    assert mismatch is not None and mismatch.index == 1 and "expected '2', got '5'" in str(mismatch)
