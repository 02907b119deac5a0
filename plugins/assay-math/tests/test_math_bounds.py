"""Size and time bounds on hostile answers: huge powers, towers, factorials, long numbers, deep nesting.

Every verdict is made in a separate process behind a hard timeout, so that a computation the deadline cannot
stop (sympy raising a number to a huge power in C) fails the test instead of hanging the suite.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

LIMIT_S = 5.0  # the default time_limit_s: every verdict must come back within it, on its own
SLACK_S = 1.0  # a loaded machine
START_S = 120.0  # importing sympy and warming the verifier in a fresh process, on a loaded machine

_WORKER = r"""
import json, sys, time
from assay import Sample, Task
from assay_math import MathVerifier
verifier = MathVerifier()
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    reference, text = json.loads(line)
    started = time.monotonic()
    verdict = verifier.verify(Task(id="t", reference={"answer": reference}), Sample(task_id="t", index=0, text=text))
    elapsed = time.monotonic() - started
    out = {"status": verdict.status, "reason": verdict.reason, "answer": verdict.answer, "elapsed": elapsed}
    print(json.dumps(out), flush=True)
"""


class VerifierProcess:
    """A MathVerifier in a child process; a verdict that does not come back in time kills it and fails."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        assert self._read(START_S)["ready"]

    def _read(self, timeout: float) -> dict[str, object]:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            self.close()
            pytest.fail(f"no verdict within {timeout:.0f} s: the verifier is stuck")
        line = self.process.stdout.readline()
        if not line:
            pytest.fail(f"the verifier process died (exit code {self.process.wait()})")
        return dict(json.loads(line))

    def verify(self, reference: str, text: str) -> dict[str, object]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps([reference, text]) + "\n")
        self.process.stdin.flush()
        started = time.monotonic()
        verdict = self._read(LIMIT_S + SLACK_S + 5.0)
        wall = time.monotonic() - started
        assert float(str(verdict["elapsed"])) < LIMIT_S + SLACK_S, (reference[:80], text[:80], verdict)
        assert wall < LIMIT_S + SLACK_S + 2.0, (reference[:80], text[:80], wall)
        return verdict

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


@pytest.fixture(scope="module")
def worker() -> Iterator[VerifierProcess]:
    process = VerifierProcess()
    try:
        yield process
    finally:
        process.close()


N = "10^{10^{10}}"

EQUAL = [
    ("1", f"\\boxed{{{N}/{N}}}"),
    ("1", f"\\boxed{{{N} - {N} + 1}}"),
    ("10^{5000000000}", f"\\boxed{{\\sqrt{{{N}}}}}"),
    (N, "\\boxed{10^(10^10-1)*10}"),
    (N, "\\boxed{10^{10^{10}-1} \\cdot 10}"),
    (N, "1e10000000000"),
    ("2^{10^{10}+1}", "\\boxed{2^{10^{10}} + 2^{10^{10}}}"),
    ("2^{10^{10}}", "\\boxed{3 \\cdot 2^{10^{10}} - 2^{10^{10}+1}}"),
    ("3^{10^{10}} 4^{10^{10}}", "\\boxed{12^{10^{10}}}"),
    ("1", "\\boxed{\\frac{4^{10^{10}}}{2^{2 \\cdot 10^{10}}}}"),
    ("2^{65536}", "\\boxed{2^{2^{2^{2^{2}}}}}"),
    ("10^{-10^{10}}", "\\boxed{0.1^{10^{10}}}"),
    ("2^{15000000000}", "\\boxed{\\sqrt{8^{10^{10}}}}"),
    ("\\sqrt{2} \\cdot 2^{10^{10}}", "\\boxed{2^{10^{10} + \\frac{1}{2}}}"),
    ("1", "\\boxed{\\frac{(10^{10})!}{(10^{10})!}}"),
    ("1", "\\boxed{(-1)^{10^{10}}}"),
    ("0", "\\boxed{0^{10^{10}}}"),
    ("1", "\\boxed{1^{10^{10^{10}}}}"),
    ("0", f"\\boxed{{0 \\cdot {N}}}"),
    ("49999999995000000000", "\\boxed{\\binom{10^{10}}{2}}"),
    ("\\left(10^{10^{10}}, 1\\right)", "\\boxed{(10^{10^{10}}, 1)}"),
    ("x = 10^{10^{10}}", "\\boxed{x = 10 \\cdot 10^{10^{10}-1}}"),
    ("2^{59999 \\cdot 10^{10}}", "\\boxed{(2^{30000} \\cdot 2^{29999})^{10^{10}}}"),
    ("7" * 1999, "\\boxed{\\sqrt{" + "7" * 1999 + "^{2}}}"),
]

UNEQUAL = [
    ("2^{10^{10}}", "\\boxed{2^{10^{10}} + 1}"),
    (f"{N} + 1", f"\\boxed{{{N}}}"),
    ("3^{10^{10}} 4^{10^{10}-1}", "\\boxed{12^{10^{10}}}"),
    ("0", "\\boxed{10^{-10^{10}}}"),
    ("3^{6309297536}", "\\boxed{2^{10^{10}}}"),  # within a factor of 1.0000001 of each other
    ("1", "\\boxed{9^{9^{9}}}"),
    ("\\sqrt{2} \\cdot 2^{10^{10}}", "\\boxed{2^{10^{10}}}"),
    ("1", "\\boxed{\\frac{(10^{10}+1)!}{(10^{10})!}}"),
    (N, "\\boxed{10^{10^{10}} \\cdot 1.0000000001}"),
    # values that agree to far more than 30 digits and still differ
    ("1", "\\boxed{\\sqrt[" + "3" * 300 + "]{2}}"),
    ("1", "\\boxed{2^{1/" + "3" * 400 + "}}"),
    ("\\pi^{100}", "\\boxed{\\pi^{100} + 1}"),
    ("e^{10^{10}}", "\\boxed{e^{10^{10}} + 1}"),
    ("1", "\\boxed{\\frac{\\pi^{10^{4}}}{\\pi^{10^{4}} + 1}}"),
    ("1", "\\boxed{\\frac{e^{10^{5}}}{e^{10^{5}} + 1}}"),
    # an inequality of huge degree is not solved (that would build the polynomial)
    ("x < 1", "\\boxed{x^{10^{10}} < 1}"),
]

TOO_LARGE = [
    ("0", f"\\boxed{{\\sin({N})}}"),
    ("1", f"\\boxed{{\\log({N})}}"),
    ("3", f"\\boxed{{\\lfloor {N}/3 \\rfloor}}"),
    ("1", "\\boxed{(10^100000)!}"),
    ("1", "(10^100000)!"),
    ("100000", "(10^100000)!"),
    ("1", "\\boxed{9^(9^(9^9))}"),
    ("x", f"\\boxed{{x + {N}}}"),
    ("0", f"\\boxed{{\\frac{{1}}{{{N} + 1}}}}"),
    ("0", "\\boxed{(2x)^{10^{10}}}"),
    ("0", "\\boxed{(\\frac{x}{3})^{10^{10}}}"),
    ("1", "\\boxed{\\binom{10^{10}}{10^{5}}}"),
    ("10", f"\\boxed{{\\gcd({N}, 10)}}"),
    ("1", "\\boxed{x^{10^{10^{10}}}}"),
    ("1", f"\\boxed{{\\sum_{{i=1}}^{{3}} {N}}}"),
    # sympy would factor the number, in one C call of seconds
    ("1", "\\boxed{\\sqrt{" + "7" * 1999 + "}}"),
    ("2", "\\boxed{" + "7" * 1999 + "^{1/2}}"),
    # closed forms sympy would write out in full: long products, sums of powers, the integer part of e^{10^{10}}
    ("1", "\\boxed{\\prod_{n=1}^{10^{10}} n}"),
    ("1", "\\boxed{\\sum_{n=1}^{10^{10}} 10^{n}}"),
    ("1", "\\boxed{\\lfloor e^{10^{10}} \\rfloor}"),
]


def _check(
    worker: VerifierProcess, cases: list[tuple[str, str]], expected: str, reasons: tuple[str | None, ...]
) -> None:
    for reference, text in cases:
        verdict = worker.verify(reference, text)
        assert verdict["status"] == expected and verdict["reason"] in reasons, (reference, text, verdict)


def test_equal_huge_values_pass_by_exponent_arithmetic(worker: VerifierProcess) -> None:
    _check(worker, EQUAL, "pass", (None,))


def test_unequal_huge_values_fail(worker: VerifierProcess) -> None:
    _check(worker, UNEQUAL, "fail", ("wrong_answer",))


def test_what_cannot_be_decided_within_the_bounds_fails_as_too_large(worker: VerifierProcess) -> None:
    _check(worker, TOO_LARGE, "fail", ("too_large",))


def test_moderate_sizes_are_still_computed(worker: VerifierProcess) -> None:
    assert worker.verify("50000000005000000000", "\\boxed{\\sum_{n=1}^{10^{10}} n}")["status"] == "pass"
    assert worker.verify("2^{50000}", "\\boxed{2^{25000} \\cdot 2^{25000}}")["status"] == "pass"
    assert worker.verify("\\frac{\\pi^2}{6}", "\\boxed{\\sum_{n=1}^{\\infty} \\frac{1}{n^{2}}}")["status"] == "pass"
    assert worker.verify("x < 1", "\\boxed{x^{3} < 1}")["status"] == "pass"


def test_a_huge_reference_is_compared_or_refused_never_hung(worker: VerifierProcess) -> None:
    assert worker.verify(N, "\\boxed{10^{10^{10}}}")["status"] == "pass"
    assert worker.verify(N, "\\boxed{10^{10^{10}-1}}")["status"] == "fail"
    assert worker.verify(f"\\sin({N})", "\\boxed{0}")["status"] == "error"  # bad_reference: nothing to compare


def test_equal_huge_values_vote_together(worker: VerifierProcess) -> None:
    keys = {
        str(worker.verify("1", text)["answer"])
        for text in (
            "\\boxed{10^{10^{10}}}",
            "\\boxed{10^{10^{10}-1} \\cdot 10}",
            "1e10000000000",
            "\\boxed{\\sqrt{10^{2 \\cdot 10^{10}}}}",
        )
    }
    assert len(keys) == 1, keys
    assert worker.verify("1", "\\boxed{10^{10^{10}} + 1}")["answer"] not in keys


def test_long_numbers(worker: VerifierProcess) -> None:
    digits = "7" * 1999
    assert worker.verify(digits, f"\\boxed{{{digits}}}")["status"] == "pass"
    assert worker.verify(digits, f"\\boxed{{{digits[:-1]}8}}")["status"] == "fail"
    assert worker.verify(digits, f"\\boxed{{{digits} + 0}}")["status"] == "pass"
    for length in (3_000, 100_000, 1_000_000):
        text = "1" * length
        assert worker.verify("1", f"\\boxed{{{text}}}")["status"] == "fail"
        assert worker.verify("1", f"The answer is {text}.")["status"] == "fail"
        assert worker.verify("1", f"{text}^{{{text}}}")["status"] == "fail"


def _wrapped(inner: str, depth: int, shape: str) -> str:
    opening, closing = "", ""
    for level in range(depth):
        o, c = {"(": ("(", ")"), "{": ("{", "}"), "({": ("({"[level % 2], ")}"[level % 2])}[shape]
        opening += o
        closing = c + closing
    return opening + inner + closing


@pytest.mark.parametrize("shape", ["(", "{", "({"])
@pytest.mark.parametrize("depth", [1_000, 1_900])
def test_a_correct_answer_inside_deep_redundant_groups_passes(worker: VerifierProcess, shape: str, depth: int) -> None:
    assert worker.verify("7", f"\\boxed{{{_wrapped('7', depth, shape)}}}")["status"] == "pass"
    assert worker.verify("7", f"\\boxed{{{_wrapped('8', depth, shape)}}}")["status"] == "fail"
    assert worker.verify("\\frac{1}{2}", f"\\boxed{{{_wrapped('1/2', depth, shape)}}}")["status"] == "pass"


@pytest.mark.parametrize(
    "text",
    [
        "\\boxed{" + "-(" * 1_000 + "7" + ")" * 1_000 + "}",
        "\\boxed{" + "\\sqrt{" * 1_000 + "7" + "}" * 1_000 + "}",
        "\\boxed{" + "[" * 1_000 + "7" + "]" * 1_000 + "}",
        "\\boxed{" + "(1+" * 1_000 + "7" + ")" * 1_000 + "}",
        "\\boxed{" + "(" * 10_000 + "7" + ")" * 10_000 + "}",
        "$" + "(" * 10_000 + "7" + ")" * 10_000 + "$",
        "(" * 10_000 + "7" + ")" * 10_000,
        "\\boxed{" + "{" * 1_000_000 + "7" + "}" * 1_000_000 + "}",
        "\\boxed{" + "{}" * 500_000,
        "{" * 2_000_000,
        "}" * 2_000_000 + "7",
        "$" + "{" * 1_000_000 + "7$",
        "\\boxed{7} " + "\\boxed{" * 200_000,
    ],
    ids=lambda text: f"{text[:12]}...{len(text)}",
)
def test_deep_nesting_and_megabytes_of_braces_come_back_in_time(worker: VerifierProcess, text: str) -> None:
    verdict = worker.verify("8", text)
    assert verdict["status"] in ("fail", "timeout")


# ---------------------------------------------------------------------------------------------------------------
# Random hostile math from a grammar
# ---------------------------------------------------------------------------------------------------------------


def _group(draw: st.DrawFn, text: str) -> str:
    depth = draw(st.sampled_from([0, 0, 1, 3, 40, 700]))
    shape = draw(st.sampled_from(["(", "{", "({"]))
    return _wrapped(text, depth, shape)


@st.composite
def hostile(draw: st.DrawFn, level: int = 0) -> str:
    """A closed-form LaTeX number: no variables, no division by what could be zero, nothing infinite."""
    leaf = st.one_of(
        st.integers(min_value=1, max_value=10**6).map(str),
        st.integers(min_value=10**20, max_value=10**60).map(str),
        st.sampled_from(["\\pi", "e", "\\sqrt{2}", "\\frac{1}{3}", "10^{10^{10}}", "9^{9^{9}}", "2^{100000}"]),
    )
    if level >= 3 or draw(st.integers(0, 3)) == 0:
        return _group(draw, draw(leaf))
    a = draw(hostile(level + 1))
    b = draw(hostile(level + 1))
    form = draw(
        st.sampled_from(
            [
                "{a} + {b}",
                "{a} \\cdot {b}",
                "\\frac{{{a}}}{{2 + |{b}|}}",
                "{{{a}}}^{{|{b}|}}",
                "({a})^{{{n}}}",
                "(|{a}|)!",
                "\\sqrt{{{a}}}",
                "\\binom{{{n}}}{{{k}}}",
                "\\sin({a})",
                "\\log(2 + |{a}|)",
                "\\lfloor {a} \\rfloor",
                "10^{{10^{{{n}}}}}",
            ]
        )
    )
    n = draw(st.sampled_from(["2", "10", "100", "10^{10}", "9^{9}", "10^{100}"]))
    k = draw(st.sampled_from(["1", "2", "3"]))
    return _group(draw, form.format(a=a, b=b, n=n, k=k))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(expression=hostile())
def test_random_hostile_math_is_decided_in_time_and_never_passes_unequal(
    worker: VerifierProcess, expression: str
) -> None:
    # x + 1 and x + 10^{-50} are never x, however large x is: neither may pass
    for reference in (f"{expression} + 1", f"{expression} + 10^{{-50}}"):
        verdict = worker.verify(reference, f"\\boxed{{{expression}}}")
        assert verdict["status"] != "pass", (expression[:300], verdict)
    # the same expression, once more wrapped: equal when decidable, and never a crash
    verdict = worker.verify(expression, f"\\boxed{{(({expression}))}}")
    assert verdict["status"] in ("pass", "fail", "timeout") or verdict["reason"] == "bad_reference", verdict
