"""One output limit, whatever the path: a sample (or the tests) that writes more than a run may, through
`print`, `sys.stdout`, `sys.stderr`, their buffers, `os.write` or a child process, in the candidate's
process or in the tester, fails with `output_limit`; on every backend. Printing less still passes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay import Sample, Task, Verdict
from assay_code.harness.tester import CappedOutput, OutputLimitExceeded
from assay_code.verifier import CodeVerifier

from .conftest import Judge

#: Far past the limit (1 MiB a stream), in 1 MiB pieces: each path written in a loop, as a flood would be.
FLOODS = {
    "print": "for _ in range(200):\n    print('x' * (1 << 20))",
    "sys.stdout.write": "import sys\nfor _ in range(200):\n    sys.stdout.write('x' * (1 << 20))",
    "sys.stderr.write": "import sys\nfor _ in range(200):\n    sys.stderr.write('x' * (1 << 20))",
    "sys.stdout.buffer": "import sys\nfor _ in range(200):\n    sys.stdout.buffer.write(b'x' * (1 << 20))",
    "sys.__stdout__": "import sys\nfor _ in range(200):\n    sys.__stdout__.write('x' * (1 << 20))",
    "print_non_ascii": "for _ in range(200):\n    print('\\u00e9\\ud800' * (1 << 19))",
    "os.write(1)": "import os\nfor _ in range(200):\n    os.write(1, b'x' * (1 << 20))",
    "os.write(2)": "import os\nfor _ in range(200):\n    os.write(2, b'x' * (1 << 20))",
    "child_process": "import os\nos.system('head -c 200000000 /dev/zero')",
}


def _indent(code: str) -> str:
    return "".join(f"    {line}\n" for line in code.splitlines())


def assert_output_limit(verdict: Verdict) -> None:
    assert verdict.status == "fail", (verdict.status, verdict.reason, verdict.details)
    assert verdict.passed is False
    assert verdict.reason == "output_limit", (verdict.reason, verdict.details)


@pytest.mark.parametrize("when", ["in_a_call", "at_load"])
@pytest.mark.parametrize("how", list(FLOODS))
def test_a_flooding_candidate_fails_with_output_limit(judge: Judge, how: str, when: str) -> None:
    # The answer is right: only the flood may make it fail.
    if when == "in_a_call":
        text = _indent(FLOODS[how]) + "    return a + b\n"
    else:
        text = "    return a + b\n" + FLOODS[how] + "\n"
    assert_output_limit(judge(text))


def test_printing_within_the_limit_still_passes(judge: Judge) -> None:
    # ~200 KB on stdout and as much on stderr a call, four calls: under the limit of each stream.
    text = _indent("import sys\nfor i in range(200):\n    print('y' * 1000)\n    sys.stderr.write('z' * 1000)")
    verdict = judge(text + "    return a + b\n")
    assert verdict.status == "pass", (verdict.reason, verdict.details)
    assert verdict.details["output"].startswith("y" * 100)


@pytest.mark.parametrize(
    "flood",
    [
        "print('t' * (200 << 20))",
        "import sys\nfor _ in range(200):\n    sys.stdout.write('t' * (1 << 20))",
        "import os\nfor _ in range(200):\n    os.write(1, b'ASSAY-RESULT ' * (1 << 16))",
        "import os\nfor _ in range(200):\n    os.write(2, b't' * (1 << 20))",
        "for _ in range(200):\n    try:\n        print('t' * (1 << 20))\n    except BaseException:\n        pass",
    ],
    ids=["print", "sys.stdout.write", "os.write(1)", "os.write(2)", "caught"],
)
def test_tests_that_flood_fail_with_output_limit(judge: Judge, flood: str) -> None:
    tests = "def check(candidate):\n    assert candidate(1, 2) == 3\n" + _indent(flood)
    tests += "    assert candidate(2, 2) == 4\n"
    assert_output_limit(judge("    return a + b\n", tests))


@pytest.fixture(scope="module", params=["local", "docker"])
def verifier(request: pytest.FixtureRequest) -> Iterator[CodeVerifier]:
    if request.param == "docker":
        yield request.getfixturevalue("docker_verifier")
    else:
        yield request.getfixturevalue("code_verifier")


def _verify(verifier: CodeVerifier, reference: dict[str, Any], text: str, prompt: str = "") -> Verdict:
    task = Task(id="t", prompt=prompt, reference=reference)
    return verifier.verify(task, Sample(task_id="t", index=0, text=text))


IO_REFERENCE = {"style": "io", "cases": [{"input": "2 3\n", "output": "5\n"}]}


@pytest.mark.parametrize("how", ["sys.stdout.write", "sys.stderr.write", "os.write(1)", "child_process"])
def test_a_flooding_program_fails_with_output_limit(verifier: CodeVerifier, how: str) -> None:
    program = "a, b = map(int, input().split())\n" + FLOODS[how] + "\nprint(a + b)\n"
    verdict = _verify(verifier, IO_REFERENCE, f"```python\n{program}```")
    assert_output_limit(verdict)
    assert verdict.details["first_failure"]["message"].startswith("output_limit")


def test_a_flooding_cpp_program_fails_with_output_limit(verifier: CodeVerifier) -> None:
    program = (
        '#include <cstdio>\nint main() { int a, b; scanf("%d %d", &a, &b);\n'
        "  for (int i = 0; i < 200000000; i++) putchar('x');\n  printf(\"%d\\n\", a + b); }\n"
    )
    assert_output_limit(_verify(verifier, {**IO_REFERENCE, "language": "cpp"}, f"```cpp\n{program}```"))


def test_a_generated_test_that_floods_fails_alone(verifier: CodeVerifier) -> None:
    reference = {
        "style": "generated_tests",
        "entry_point": "add",
        "tests": ["assert add(1, 2) == 3", "print('g' * (200 << 20))\nassert add(2, 2) == 4", "assert add(0, 0) == 0"],
    }
    verdict = _verify(verifier, reference, "def add(a, b):\n    return a + b\n")
    assert verdict.details["tests_passed"] == 2, verdict.details
    assert verdict.answer == "3:5"  # tests 0 and 2


def test_a_pytest_file_that_floods_fails_with_output_limit(code_verifier: CodeVerifier) -> None:
    # `local` only: the docker backend's `host` image has no pytest for the tester to import.
    from assay_code.verifier import pytest_unreachable

    if pytest_unreachable():
        pytest.skip(str(pytest_unreachable()))
    tests = "from solution import add\n\ndef test_add():\n    assert add(1, 2) == 3\n    print('p' * (200 << 20))\n"
    reference = {"style": "pytest", "module": "solution", "tests": tests}
    assert_output_limit(_verify(code_verifier, reference, "def add(a, b):\n    return a + b\n"))


@settings(max_examples=200, deadline=None)
@given(
    pieces=st.lists(st.text(max_size=300), max_size=40),
    limit=st.integers(min_value=0, max_value=4000),
)
def test_the_tests_output_is_counted_as_the_sandbox_counts_a_stream(pieces: list[str], limit: int) -> None:
    # In UTF-8 bytes, lone surrogates included: past the limit every write raises, and the outcome says so.
    output = CappedOutput(limit)
    written = 0
    for piece in pieces:
        written += len(piece.encode("utf-8", "surrogatepass"))
        if written > limit:
            with pytest.raises(OutputLimitExceeded):
                output.write(piece)
        else:
            assert output.write(piece) == len(piece)
    assert output.exceeded is (written > limit)
    fault = output.fault()
    assert (fault is not None and fault["reason"] == "output_limit") is (written > limit)
    assert output.getvalue() == ""  # nothing kept: the tests' prints are counted, not stored


@settings(max_examples=15, deadline=None)
@given(
    writes=st.lists(
        st.tuples(
            st.sampled_from(["print", "sys.stdout.write", "sys.stderr.write", "os.write(1)"]),
            st.integers(min_value=1, max_value=300_000),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_a_candidate_fails_for_output_exactly_when_a_stream_passes_the_limit(
    code_verifier: CodeVerifier, writes: list[tuple[str, int]]
) -> None:
    statements = {
        "print": "print('x' * {})",  # and its newline
        "sys.stdout.write": "sys.stdout.write('x' * {})",
        "sys.stderr.write": "sys.stderr.write('x' * {})",
        "os.write(1)": "os.write(1, b'x' * {})",
    }
    code = "import os, sys\n" + "\n".join(statements[how].format(size) for how, size in writes)
    stdout = sum(size + (how == "print") for how, size in writes if how != "sys.stderr.write")
    stderr = sum(size for how, size in writes if how == "sys.stderr.write")
    # Written once, at load: the tests then make their calls (the program prints nothing more).
    verdict = _verify(
        code_verifier,
        {"style": "function", "entry_point": "add", "tests": "assert add(1, 2) == 3\n"},
        "def add(a, b):\n    return a + b\n" + code + "\n",
    )
    if max(stdout, stderr) > 1 << 20:
        assert_output_limit(verdict)
    else:
        assert verdict.status == "pass", (verdict.reason, verdict.details)
