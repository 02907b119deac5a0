"""Property tests: an expression equals itself written another way; a perturbed constant never does."""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay import Sample, Task
from assay_math import MathVerifier

VERIFIER = MathVerifier()
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Term:
    coefficient: Fraction  # never zero
    kind: str  # 'x^a y^b' | 'sqrt' | 'sin' | 'one'
    a: int
    b: int

    def latex(self, scale: int) -> str:
        body = self._latex_body()
        c = abs(self.coefficient)
        coefficient = f"\\frac{{{c.numerator * scale}}}{{{c.denominator * scale}}}"
        return f"{coefficient}{body}" if body else coefficient

    def plain(self) -> str:
        c = abs(self.coefficient)
        coefficient = f"({c.numerator}/{c.denominator})"
        body = self._plain_body()
        return f"{coefficient}*{body}" if body else coefficient

    def _latex_body(self) -> str:
        if self.kind == "sqrt":
            return f"\\sqrt{{{self.a}}}"
        if self.kind == "sin":
            return "\\sin(x)"
        if self.kind == "one":
            return ""
        return "".join(f"{v}^{{{p}}}" for v, p in (("x", self.a), ("y", self.b)) if p)

    def _plain_body(self) -> str:
        if self.kind == "sqrt":
            return f"sqrt({self.a})"
        if self.kind == "sin":
            return "sin(x)"
        if self.kind == "one":
            return ""
        return "*".join(f"{v}^{p}" for v, p in (("x", self.a), ("y", self.b)) if p) or "1"


coefficients = st.builds(
    Fraction, st.integers(min_value=-40, max_value=40).filter(bool), st.integers(min_value=1, max_value=12)
)
terms = st.builds(
    Term,
    coefficients,
    st.sampled_from(["xy", "sqrt", "sin", "one"]),
    st.integers(min_value=0, max_value=3),
    st.integers(min_value=0, max_value=3),
).map(lambda t: Term(t.coefficient, t.kind, max(t.a, 2) if t.kind == "sqrt" else t.a, t.b))
expressions = st.lists(terms, min_size=1, max_size=4)


def join(parts: list[tuple[Fraction, str]]) -> str:
    out = ""
    for index, (coefficient, text) in enumerate(parts):
        sign = "-" if coefficient < 0 else ("+" if index else "")
        out += f" {sign} {text}" if index else f"{sign}{text}"
    return out.strip()


def latex(expression: list[Term], scale: int = 1) -> str:
    return join([(t.coefficient, t.latex(scale)) for t in expression])


def plain(expression: list[Term]) -> str:
    return join([(t.coefficient, t.plain()) for t in expression])


def equal(reference: str, text: str) -> bool | None:
    task = Task(id="p", reference={"answer": reference})
    return VERIFIER.verify(task, Sample(task_id="p", index=0, text=text)).passed


@SETTINGS
@given(expressions, st.integers(min_value=1, max_value=9), st.randoms(use_true_random=False))
def test_an_expression_equals_itself_in_other_notations(expression: list[Term], scale: int, rnd: random.Random) -> None:
    reference = latex(expression)
    assert equal(f"${reference}$", f"$\\boxed{{{plain(expression)}}}$"), plain(expression)
    shuffled = list(expression)
    rnd.shuffle(shuffled)
    assert equal(reference, f"The answer is ${latex(shuffled, scale)}$."), latex(shuffled, scale)
    assert equal(plain(expression), latex(shuffled)), latex(shuffled)


@SETTINGS
@given(expressions, st.data())
def test_a_perturbed_constant_is_not_equal(expression: list[Term], data: st.DataObject) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(expression) - 1))
    bump = data.draw(st.sampled_from([Fraction(1), Fraction(-1), Fraction(1, 1000)]))
    changed = list(expression)
    old = changed[index]
    new_coefficient = old.coefficient + bump
    if new_coefficient == 0:
        new_coefficient = old.coefficient * 2
    changed[index] = Term(new_coefficient, old.kind, old.a, old.b)
    assert not equal(latex(expression), f"\\boxed{{{latex(changed)}}}"), latex(changed)
    assert not equal(plain(expression), plain(changed)), plain(changed)


@SETTINGS
@given(st.integers(min_value=-(10**30), max_value=10**30), st.integers(min_value=1, max_value=10**6))
def test_exact_fractions_equal_their_decimal_and_latex_forms(numerator: int, denominator: int) -> None:
    value = Fraction(numerator, denominator)
    reference = f"\\frac{{{value.numerator}}}{{{value.denominator}}}"
    assert equal(reference, f"{value.numerator}/{value.denominator}")
    if 10**12 % value.denominator == 0:  # a finite decimal
        decimal = f"{value.numerator * (10**12 // value.denominator) / 10**12:.12f}" if abs(value) < 10**3 else None
        if decimal is not None and Fraction(decimal) == value:
            assert equal(reference, decimal)
    assert not equal(reference, f"{value.numerator + 1}/{value.denominator}")
