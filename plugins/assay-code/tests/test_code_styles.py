"""Each task style end to end through the real sandbox, and the conformance suite every verifier runs."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from assay import Sample, Task
from assay.testing import VerifierConformance
from assay_code import codet
from assay_code.verifier import CodeVerifier, pytest_unreachable

ADD = Task(
    id="add",
    prompt="def add(a, b):\n",
    reference={"style": "function", "entry_point": "add", "tests": "def check(c):\n    assert c(1, 2) == 3\n"},
)


def sample(text: str, task: Task = ADD, index: int = 0) -> Sample:
    return Sample(task_id=task.id, index=index, text=text)


class TestConformance(VerifierConformance):  # type: ignore[misc]
    @pytest.fixture
    def verifier(self, code_verifier: CodeVerifier) -> CodeVerifier:
        return code_verifier

    @pytest.fixture
    def cases(self) -> list[tuple[Task, Sample]]:
        io = Task(id="io", reference={"style": "io", "cases": [{"input": "2\n", "output": "4\n"}]})
        return [
            (ADD, sample("    return a + b\n")),
            (ADD, sample("    return a - b\n", index=1)),
            (ADD, sample("    return (\n", index=2)),
            (io, sample("print(int(input()) * 2)", io)),
            (io, sample("print(5)", io, 1)),
        ]


# -- function ----------------------------------------------------------------------------------------------


def test_function_verdict_details(code_verifier: CodeVerifier) -> None:
    good = code_verifier.verify(ADD, sample("    return a + b\n"))
    assert (good.status, good.passed, good.score, good.reason) == ("pass", True, 1.0, None)
    assert good.details["calls"] == 1
    bad = code_verifier.verify(ADD, sample("    print('adding')\n    return a - b\n"))
    assert (bad.status, bad.reason, bad.score) == ("fail", "wrong_answer", 0.0)
    assert bad.details["last_call"] == "add(1, 2)" and bad.details["last_result"] == "-1"
    assert bad.details["at"] == "<tests>:2: assert c(1, 2) == 3"
    assert bad.details["output"].startswith("adding")
    syntax = code_verifier.verify(ADD, sample("    return (\n"))
    assert (syntax.status, syntax.reason) == ("fail", "syntax_error")
    missing = code_verifier.verify(
        Task(id="m", prompt=ADD.prompt, reference={**ADD.reference, "entry_point": "plus"}),
        sample("    return a + b\n"),
    )
    assert (missing.status, missing.reason) == ("fail", "missing_entry_point")
    raised = code_verifier.verify(ADD, sample("    return {}[a]\n"))
    assert (raised.status, raised.reason) == ("fail", "runtime_error")
    assert "KeyError" in raised.details["message"] and "raised by the candidate" in raised.details["message"]


@pytest.mark.parametrize(
    ("reference", "field"),
    [
        ({"style": "function", "tests": "x"}, "entry_point"),
        ({"style": "function", "entry_point": "not an identifier", "tests": "x"}, "entry_point"),
        ({"style": "io", "cases": []}, "cases"),
        ({"style": "io", "language": "rust", "cases": [{"output": ""}]}, "language"),
        ({"style": "nope"}, ""),
    ],
)
def test_bad_references_name_the_field(code_verifier: CodeVerifier, reference: dict[str, Any], field: str) -> None:
    verdict = code_verifier.verify(Task(id="bad", reference=reference), sample("x"))
    assert (verdict.status, verdict.reason) == ("error", "bad_reference")
    assert field in verdict.details["field"] and "bad" in verdict.details["message"]


def test_tests_that_do_not_compile_are_the_references_fault(code_verifier: CodeVerifier) -> None:
    task = Task(id="t", reference={"style": "function", "entry_point": "f", "tests": "def check(:\n"})
    verdict = code_verifier.verify(task, sample("def f():\n    return 1\n", task))
    assert (verdict.status, verdict.reason) == ("error", "bad_reference")


def test_unsupported_arguments_are_not_the_samples_fault(code_verifier: CodeVerifier) -> None:
    task = Task(
        id="t", reference={"style": "function", "entry_point": "f", "tests": "def check(c):\n    c(lambda x: x)\n"}
    )
    verdict = code_verifier.verify(task, sample("def f(g):\n    return g(1)\n", task))
    assert (verdict.status, verdict.reason) == ("error", "unsupported_test")


# -- io ----------------------------------------------------------------------------------------------------

IO = Task(
    id="io",
    reference={
        "style": "io",
        "cases": [
            {"input": "1 2\n", "output": "3\n"},
            {"input": "0.5 0.25\n", "output": "0.750000\n"},
            {"input": "-4 4\n", "output": "0"},
        ],
    },
)
PY_SUM = "a, b = map(float, input().split())\ns = a + b\nprint(int(s) if s == int(s) else s)\n"


def test_io_python(code_verifier: CodeVerifier) -> None:
    good = code_verifier.verify(IO, sample(f"Here it is:\n```python\n{PY_SUM}```\n", IO))
    assert (good.status, good.score, good.details["cases_passed"]) == ("pass", 1.0, 3)
    partial = code_verifier.verify(IO, sample("print(3)", IO))
    assert partial.status == "fail" and partial.reason == "wrong_answer"
    assert partial.score == pytest.approx(1 / 3)
    assert partial.details["first_failure"]["case"] == 1
    crashed = code_verifier.verify(IO, sample("raise SystemExit(3)", IO))
    assert (crashed.status, crashed.reason) == ("fail", "runtime_error")


def test_io_time_limit(code_verifier: CodeVerifier) -> None:
    with CodeVerifier({"time_limit_s": 2, "case_time_limit_s": 0.5}) as verifier:
        verdict = verifier.verify(IO, sample("while True:\n    pass\n", IO))
    assert (verdict.status, verdict.reason) == ("timeout", "time_limit")
    assert verdict.elapsed_s < 4


@pytest.mark.skipif(shutil.which("g++") is None, reason="no g++ on this machine")
def test_io_cpp(code_verifier: CodeVerifier) -> None:
    task = Task(id="cpp", reference={**IO.reference, "language": "cpp"})
    program = (
        '#include <cstdio>\nint main(){double a,b;scanf("%lf %lf",&a,&b);double s=a+b;'
        'if(s==(long long)s)printf("%lld\\n",(long long)s);else printf("%.6f\\n",s);}\n'
    )
    good = code_verifier.verify(task, sample(f"```cpp\n{program}```", task))
    assert good.status == "pass", good.details
    broken = code_verifier.verify(task, sample("int main( {", task))
    assert (broken.status, broken.reason) == ("fail", "compile_error")
    assert "error" in broken.details["message"]
    wrong = code_verifier.verify(task, sample('#include <cstdio>\nint main(){puts("3");}', task))
    assert (wrong.status, wrong.reason) == ("fail", "wrong_answer")
    assert wrong.score == pytest.approx(1 / 3)


# -- pytest ------------------------------------------------------------------------------------------------

PYTEST_FILE = """
import pytest
from solution import add, Stack, LIMIT

def test_add():
    assert add(1, 2) == 3

@pytest.mark.parametrize("a, b", [(0, 0), (5, -5)])
def test_zero(a, b):
    assert add(a, b) == 0

def test_stack():
    s = Stack()
    s.push(1); s.push(2)
    assert s.pop() == 2 and s.size() == 1

def test_limit():
    assert LIMIT == 10

def test_raises():
    with pytest.raises(ValueError):
        add(None, 1)
"""
GOOD_MODULE = """
LIMIT = 10
def add(a, b):
    if a is None:
        raise ValueError("no")
    return a + b
class Stack:
    def __init__(self):
        self.items = []
    def push(self, x):
        self.items.append(x)
    def pop(self):
        return self.items.pop()
    def size(self):
        return len(self.items)
"""


def test_pytest_style(code_verifier: CodeVerifier) -> None:
    unreachable = pytest_unreachable()
    if unreachable:
        pytest.skip(unreachable)
    task = Task(id="py", reference={"style": "pytest", "tests": PYTEST_FILE})
    good = code_verifier.verify(task, sample(GOOD_MODULE, task))
    assert good.status == "pass", good.details
    assert good.details["tests"] == 6
    wrong = code_verifier.verify(task, sample(GOOD_MODULE.replace("self.items.pop()", "self.items[0]"), task))
    assert wrong.status == "fail" and wrong.reason == "wrong_answer"
    assert wrong.score == pytest.approx(5 / 6)
    rigged = GOOD_MODULE.replace("LIMIT = 10", "class _Any:\n    def __eq__(self, o): return True\nLIMIT = _Any()")
    cheat = code_verifier.verify(task, sample(rigged, task))
    assert cheat.status == "fail" and cheat.score == pytest.approx(5 / 6)


# -- generated tests (CodeT) ---------------------------------------------------------------------------------

GENERATED = Task(
    id="g",
    prompt="def f(x):\n",
    reference={
        "style": "generated_tests",
        "entry_point": "f",
        "tests": ["assert f(1) == 1", "assert f(2) == 2", "assert f(3) == 3", "assert f(4) == 5", "this is not python"],
    },
)


def test_generated_tests_signature(code_verifier: CodeVerifier) -> None:
    honest = code_verifier.verify(GENERATED, sample("    return x\n", GENERATED))
    assert honest.answer == "5:7" and honest.score == pytest.approx(3 / 5)
    assert honest.status == "fail" and honest.reason == "generated_tests_failed"
    assert codet.tests_passed(honest.answer) == 3


def test_generated_tests_survive_a_hang_and_a_crash(code_verifier: CodeVerifier) -> None:
    with CodeVerifier({"time_limit_s": 8, "call_time_limit_s": 0.5}) as verifier:
        hang = verifier.verify(GENERATED, sample("    while x == 2:\n        pass\n    return x\n", GENERATED))
        crash = verifier.verify(
            GENERATED, sample("    import os\n    if x == 1: os._exit(0)\n    return x\n", GENERATED)
        )
    assert hang.answer == "5:5", hang.details  # tests 0 and 2: the hang on test 1 fails test 1 only
    assert hang.details["restarts"] == 1
    assert crash.answer == "5:6", crash.details


def test_codet_scores_and_curves() -> None:
    signatures: list[str | None] = ["3:7", "3:7", "3:1", None, "3:3"]
    assert list(codet.codet_scores(signatures)) == [6.0, 6.0, 1.0, 0.0, 2.0]
    other: list[str | None] = ["1:1", "1:0"]
    problems = {"p": (signatures, [True, True, False, False, False]), "q": (other, [False, True])}
    curves = codet.selection_curves(problems, ks=(1, 2, 5), draws=50)
    assert curves["coverage"][5] == pytest.approx(1.0)
    assert curves["random"][1] == pytest.approx((0.4 + 0.5) / 2)
    assert curves["codet"][5] == pytest.approx((1.0 + 0.0) / 2)
    assert curves["codet"][1] == curves["majority"][1] == curves["random"][1]
    for k in (1, 2, 5):
        assert curves["codet"][k] <= curves["coverage"][k] + 1e-9
