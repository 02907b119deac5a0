"""Answers that must not pass: equal only under unstated assumptions, rounded, written as code, in another order,
restating the question; and references that cannot be read. One class per test, each with cases of its own."""

from __future__ import annotations

import time
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay import Sample, Task
from assay_math import MathVerifier

VERIFIER = MathVerifier()
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def verdict(
    reference: object, text: str, prompt: str = "", verifier: MathVerifier = VERIFIER
) -> tuple[str, str | None]:
    task = Task(id="t", prompt=prompt, reference={"answer": reference})
    result = verifier.verify(task, Sample(task_id="t", index=0, text=text))
    return result.status, result.reason


def passes(reference: object, text: str, prompt: str = "") -> bool:
    return verdict(reference, text, prompt)[0] == "pass"


# -- no assumptions the problem did not state ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "text"),
    [
        ("|x|", "\\boxed{x}"),
        ("x", "\\boxed{|x|}"),
        ("\\sqrt{x^2}", "\\boxed{x}"),
        ("|x| + |y|", "\\boxed{x + |y|}"),
        ("|xy|", "\\boxed{x|y|}"),
        ("\\log(xy)", "\\boxed{\\log x + \\log y}"),
        ("\\sqrt{ab}", "\\boxed{\\sqrt{a}\\sqrt{b}}"),
        ("\\max(x, 0)", "\\boxed{x}"),
        ("|x - 1|", "\\boxed{x - 1}"),
        ("\\frac{|x|}{x}", "\\boxed{1}"),
        ("|x|", "\\boxed{\\sqrt{x}|\\sqrt{x}|}"),  # not real where the reference is: no narrower domain
        ("\\log|x|", "\\boxed{\\log x}"),
        ("\\sqrt{x-3}", "\\boxed{\\sqrt{3-x}}"),
        ("x + i", "\\boxed{x - i}"),
        ("\\overline{z}", "\\boxed{z}"),  # a conjugate (or a mean) is a name of its own
        ("\\bar{x} + 1", "\\boxed{x + 1}"),
    ],
)
def test_identities_that_need_a_sign_do_not_hold(reference: str, text: str) -> None:
    assert verdict(reference, text) == ("fail", "wrong_answer")


@pytest.mark.parametrize(
    ("reference", "text"),
    [
        ("|x|", "\\boxed{\\sqrt{x^2}}"),
        ("x^2", "\\boxed{|x|^2}"),
        ("|xy|", "\\boxed{|x||y|}"),
        ("\\frac{x^2 - 1}{x - 1}", "\\boxed{x + 1}"),
        ("2\\sin x \\cos x", "\\boxed{\\sin 2x}"),
        ("e^{a+b}", "\\boxed{e^a e^b}"),
        # on the reference's real domain
        ("\\sqrt{x^3}", "\\boxed{x\\sqrt{x}}"),
        ("\\sqrt{8x^3}", "\\boxed{2x\\sqrt{2x}}"),
        ("\\log x", "\\boxed{\\log|x|}"),
        ("(x+i)^2", "\\boxed{x^2 + 2ix - 1}"),
        ("\\bar{z} + 1", "\\boxed{1 + \\overline{z}}"),
    ],
)
def test_identities_that_hold_for_every_sign_still_pass(reference: str, text: str) -> None:
    assert passes(reference, text)


# -- decimals -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "text"),
    [
        ("\\frac{1}{3}", "\\boxed{0.33}"),
        ("\\frac{1}{3}", "\\boxed{0.333333}"),
        ("\\frac{2}{3}", "\\boxed{0.667}"),
        ("4", "\\boxed{4.0000000001}"),
        ("4", "\\boxed{3.9999999999}"),
        ("4", "\\boxed{4.01}"),
        ("-7", "\\boxed{-7.000001}"),
        ("\\frac{1}{8}", "\\boxed{0.1250001}"),
        ("\\log_2 8", "\\boxed{3.0000000001}"),
        ("\\sqrt{2}", "\\boxed{1.414}"),
        ("\\pi", "\\boxed{3.14}"),
        ("\\pi", "\\boxed{3.14159}"),
        ("(1, 4)", "\\boxed{(1, 4.0000000001)}"),
        ("x + 4", "\\boxed{x + 4.0000001}"),
        ("50\\%", "\\boxed{0.5000001}"),
        ("4", "\\boxed{3." + "9" * 80 + "}"),  # past any evaluation precision: compared exactly
        ("\\pi", "\\boxed{\\frac{" + "31415926535897932384626433832795028841971" + "}{1" + "0" * 40 + "}}"),
        ("\\sqrt{2}", "\\boxed{\\frac{" + "14142135623730950488016887242096980785697" + "}{1" + "0" * 40 + "}}"),
    ],
)
def test_a_decimal_matches_an_exact_reference_only_to_float_noise(reference: str, text: str) -> None:
    assert verdict(reference, text) == ("fail", "wrong_answer")


@pytest.mark.parametrize(
    ("reference", "text"),
    [
        ("4", "\\boxed{4.0}"),
        ("4", "\\boxed{4.000}"),
        ("\\frac{1}{8}", "\\boxed{0.125}"),
        ("\\frac{1}{3}", "0.3333333333333333"),  # a double's best
        ("\\sqrt{2}", "1.4142135623730951"),
        ("0.3", "0.30000000000000004"),
        ("0.33", "\\boxed{\\frac{1}{3}}"),  # the reference states two places
        ("1.41", "\\boxed{\\sqrt{2}}"),
    ],
)
def test_exact_decimals_float_noise_and_the_references_own_precision_pass(reference: str, text: str) -> None:
    assert passes(reference, text)


def test_a_doubles_rounding_noise_matches_an_integer_only_when_asked_for() -> None:
    assert not passes("17", "17.000000000000004")
    assert not passes("\\frac{3}{10}", "0.30000000000000004")
    noisy = MathVerifier({"float_noise": 1e-15})
    assert verdict("17", "17.000000000000004", verifier=noisy)[0] == "pass"
    assert verdict("\\frac{3}{10}", "0.30000000000000004", verifier=noisy)[0] == "pass"
    assert verdict("4", "4.0000000001", verifier=noisy)[0] == "fail"


def test_the_tolerances_are_configurable() -> None:
    loose = MathVerifier({"relative_tolerance": 1e-4, "float_noise": 1e-10})
    assert verdict("\\frac{1}{3}", "\\boxed{0.33333}", verifier=loose)[0] == "pass"
    assert verdict("\\frac{1}{3}", "\\boxed{0.333}", verifier=loose)[0] == "fail"
    assert verdict("4", "\\boxed{4.00000000001}", verifier=loose)[0] == "pass"
    assert verdict("4", "\\boxed{4.0001}", verifier=loose)[0] == "fail"


# -- code is never math -------------------------------------------------------------------------------------------

CODE = [
    "(lambda: 0)()",
    "(lambda x: x)(0)",
    "0*__import__('time').sleep(60)",
    "__import__('os').getpid() * 0",
    "import os; 0",
    "x.real",
    "().__class__",
    "f()",
    "0; print(0)",
    "eval('0')",
    "getattr(0, 'real')",
    "os.system('true') * 0",
    "math.floor(0.5)",
    "0 if True else 1",
    "sum(range(1))",
    "len('')",
    "[0][0]",
    "0//1",
    "[0 for _ in range(3)][0]",
    "(0).real",
    "(0).numerator",
    "0 .real",
    "[0].pop",
    "(0 * 7).imag",
    "n.denominator * 0",
]


@pytest.mark.parametrize("code", CODE)
def test_code_is_never_read_nor_evaluated_nor_mined_for_a_number(code: str) -> None:
    for text in (code, f"\\boxed{{{code}}}", f"The answer is {code}.", f"So we get ${code}$", f"Answer: {code}"):
        started = time.monotonic()
        status, _ = verdict("0", text)
        assert status == "fail", text
        assert time.monotonic() - started < 2.0  # nothing slept


def test_the_last_number_fallback_skips_programs() -> None:
    program = "```python\nanswer = 6 * 7\nprint(answer)\n```"
    assert not passes("42", program)
    assert not passes("7", program)
    assert not passes("0", "We run it:\n__import__('os').getpid() * 0")
    # prose after the program still counts
    assert passes("42", program + "\nSo there are 42 apples.")


def test_math_that_looks_a_little_like_code_is_still_math() -> None:
    assert passes("f'(x) + g'(x)", "\\boxed{f'(x)+g'(x)}")
    assert passes("x^2 - 1", "\\boxed{(x+1)(x-1)}")
    assert passes("\\lambda + 1", "\\boxed{1 + \\lambda}")
    assert passes("(5, 2), (7, 2)", "\\boxed{p=5,q=2; p=7,q=2}")


# -- prose words are not variables --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "text", "expected"),
    [
        ("4", "is 4", True),
        ("4", "it is 4", True),
        ("4", "The answer is 4", True),
        ("x = 5", "x equals 5", True),
        ("5", "x equals 5", True),
        ("x = 5", "x is equal to 5", True),
        ("x \\ne 5", "x is not 5", True),
        ("x = 5", "x \\not= 5", False),
        ("4 i s", "is 4", False),
        ("4 i t s", "it is 4", False),
        ("2xy", "\\boxed{2yx}", True),  # letters glued to a number are still variables
        ("\\sin x", "sin(x)", True),  # and function names still functions
        ("1", "it is sin(pi/2)", True),
        # a negated number is no answer, and no fall-back picks it
        ("4", "The answer is not 4", False),
        ("4", "it is not 4", False),
        ("4", "The answer isn't 4.", False),
        ("4", "\\boxed{\\ne 4}", False),
        ("5", "The answer isn't 4, it is 5", True),
        ("5", "x is not equal to 5", False),
        ("5", "so it cannot be exactly 5, since it isn't equal to 5", False),
    ],
)
def test_prose_words_are_never_symbols(reference: str, text: str, expected: bool) -> None:
    assert passes(reference, text) is expected


# -- one ellipsis, and order ---------------------------------------------------------------------------------------

ELLIPSES = ["\\dots", "\\ldots", "\\cdots", "...", "\u2026", "\\dotsc"]


@pytest.mark.parametrize("written", ELLIPSES)
@pytest.mark.parametrize("reference", ELLIPSES)
def test_every_ellipsis_is_the_same_ellipsis(reference: str, written: str) -> None:
    assert passes(f"1, 2, {reference}, n", f"\\boxed{{1, 2, {written}, n}}")
    assert passes(f"x_1 + x_2 + {reference} + x_n", f"\\boxed{{x_1 + x_2 + {written} + x_n}}")


def test_a_sequence_with_an_ellipsis_keeps_its_order() -> None:
    assert not passes("1, 2, \\ldots, n", "\\boxed{n, \\ldots, 2, 1}")
    assert not passes("1, 2, \\ldots, n", "\\boxed{1, 2, n}")


@pytest.mark.parametrize(
    ("reference", "text", "expected"),
    [
        ("(1, 2)", "\\boxed{(2, 1)}", False),
        ("(1, 2)", "\\boxed{2, 1}", False),
        ("(1, 2, 3)", "\\boxed{(1, 3, 2)}", False),
        ("\\langle 1, 2 \\rangle", "\\boxed{\\langle 2, 1 \\rangle}", False),
        ("\\langle 1, 2 \\rangle", "\\boxed{\\langle 9, 9 \\rangle}", False),
        ("\\langle 1, 2 \\rangle", "\\boxed{\\langle 1, 2 \\rangle}", True),
        ("[1, 2]", "\\boxed{[2, 1]}", False),
        ("(1, 2]", "\\boxed{(2, 1]}", False),
        ("x = 1, y = 2", "\\boxed{(2, 1)}", False),
        ("x = 1, y = 2", "\\boxed{y = 2, x = 1}", True),
        ("\\{1, 2, 3\\}", "\\boxed{\\{3, 1, 2\\}}", True),
        ("1, 2, 3", "\\boxed{3, 1, 2}", True),  # 'find all x' written as a list
        ("1, 2, 3", "The solutions are $x = 3$ and $x = 1$ and $x = 2$.", True),
        ("\\{(1, 2), (3, 4)\\}", "\\boxed{\\{(3, 4), (1, 2)\\}}", True),
        ("\\{(1, 2), (3, 4)\\}", "\\boxed{\\{(2, 1), (3, 4)\\}}", False),
    ],
)
def test_order_matters_for_tuples_and_intervals_not_for_sets(reference: str, text: str, expected: bool) -> None:
    assert passes(reference, text) is expected


@pytest.mark.parametrize(
    ("prompt", "reference", "text", "expected"),
    [
        ("List the roots in increasing order.", "1, 2, 3", "\\boxed{3, 1, 2}", False),
        ("List the roots in increasing order.", "1, 2, 3", "\\boxed{1, 2, 3}", True),
        ("Write the numbers from greatest to least.", "3, 2, 1", "\\boxed{1, 2, 3}", False),
        ("What are the first three terms of the sequence?", "2, 4, 8", "\\boxed{8, 4, 2}", False),
        ("Find all real x with x^3 - 6x^2 + 11x - 6 = 0.", "1, 2, 3", "\\boxed{3, 1, 2}", True),
        ("List the roots in increasing order.", "\\{1, 2\\}", "\\boxed{\\{2, 1\\}}", True),  # a set stays a set
    ],
)
def test_a_prompt_that_asks_for_an_order_makes_a_bare_list_a_sequence(
    prompt: str, reference: str, text: str, expected: bool
) -> None:
    assert passes(reference, text, prompt) is expected


# -- a restated question -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "reference", "text"),
    [
        ("Simplify (x+1)^2 - x^2 - 2x.", "1", "\\boxed{(x+1)^{2}-x^{2}-2x}"),
        ("Simplify $(x+1)^2 - x^2 - 2x$.", "1", "The answer is $(x + 1)^2 - x^2 - 2x$."),
        ("Expand $(a+b)^2$.", "a^2 + 2ab + b^2", "\\boxed{(a+b)^2}"),
        ("Compute $\\dbinom{8}{4}$.", "70", "\\boxed{\\binom{8}{4}}"),
        ("Evaluate $\\frac{12}{18}$ in lowest terms.", "\\frac{2}{3}", "\\boxed{12/18}"),
        ("Calculate: 17*23.", "391", "17 \\cdot 23"),
        ("Factor $x^2 - 1$.", "(x-1)(x+1)", "\\boxed{x^2-1}"),
        ("Simplify $(x+1)^2 - x^2 - 2x$.", "1", "\\boxed{-2x - x^2 + (1 + x)^2}"),  # terms in another order
    ],
)
def test_an_answer_that_restates_the_expression_to_transform_fails(prompt: str, reference: str, text: str) -> None:
    assert verdict(reference, text, prompt) == ("fail", "restated_question")
    assert verdict(reference, text, prompt, MathVerifier({"reject_restated_question": False}))[0] == "pass"


@pytest.mark.parametrize(
    ("prompt", "reference", "text"),
    [
        ("Simplify $(x+1)^2 - x^2 - 2x$.", "1", "\\boxed{1}"),
        ("Compute $\\dbinom{8}{4}$.", "70", "\\boxed{70}"),
        ("Let $n = 5$. Compute $n^2$.", "25", "\\boxed{25}"),  # a lone number in the prompt is no expression
        ("Simplify $\\sqrt{7}$ if you can.", "\\sqrt{7}", "\\boxed{\\sqrt 7}"),  # the reference is the expression
        ("What is $(x+1)^2 - x^2 - 2x$ named?", "(x+1)^2 - x^2 - 2x", "\\boxed{(x+1)^2 - x^2 - 2x}"),
        ("Find $x$ if $x + 1 = 2$.", "1", "\\boxed{1}"),
        ("Compute the probability: is it $\\frac{1}{2}$ or $\\frac{1}{3}$?", "0.5", "\\boxed{\\frac{1}{2}}"),
    ],
)
def test_answers_that_transform_or_are_not_asked_to_pass(prompt: str, reference: str, text: str) -> None:
    assert passes(reference, text, prompt)


# -- references that cannot be read --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reference", ["\\frac{", "", "   ", "\\sqrt{", "(1, 2", "\\begin{pmatrix} 1", "}{", "(lambda: 0)()", "1 +"]
)
def test_an_unreadable_reference_is_a_bad_reference_for_every_answer(reference: str) -> None:
    for text in ("1", "\\boxed{3}", reference, f"\\boxed{{{reference}}}", "The answer is x.", "no idea"):
        task = Task(id="t", reference={"answer": reference})
        result = VERIFIER.verify(task, Sample(task_id="t", index=0, text=text))
        assert (result.status, result.reason) == ("error", "bad_reference"), (reference, text, result)
        assert "reference answer" in result.details["message"]


# -- properties: a value perturbed by construction never passes ----------------------------------------------------


@SETTINGS
@given(
    st.integers(min_value=-(10**6), max_value=10**6),
    st.integers(min_value=1, max_value=20),
    st.sampled_from([1, -1]),
)
def test_an_integer_is_never_matched_by_a_nearby_decimal(n: int, places: int, sign: int) -> None:
    decimal = n + Fraction(sign, 10**places)
    whole, fraction = divmod(abs(decimal) * 10**places, 10**places)
    text = f"{'-' if decimal < 0 else ''}{whole}.{str(fraction).zfill(places)}"
    assert Fraction(text) == decimal
    assert not passes(str(n), f"\\boxed{{{text}}}")
    assert passes(str(n), f"\\boxed{{{n}.{'0' * places}}}")


@SETTINGS
@given(
    st.integers(min_value=1, max_value=5000),
    st.sampled_from([3, 6, 7, 9, 11, 12, 13, 21, 37]),
    st.integers(min_value=1, max_value=12),
)
def test_a_decimal_off_by_more_than_the_tolerance_never_passes(p: int, q: int, digits: int) -> None:
    """A repeating fraction rounded to a few significant digits: off by more than `relative_tolerance`."""
    value = Fraction(p, q)
    if value.denominator == 1 or _terminates(value.denominator):
        return
    text = f"{float(value):.{digits}g}"
    if "e" in text:
        return
    error = abs(Fraction(text) - value) / value
    if error > 10 * Fraction(VERIFIER.config.relative_tolerance):
        assert not passes(f"\\frac{{{p}}}{{{q}}}", f"\\boxed{{{text}}}")


def _terminates(denominator: int) -> bool:
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    return denominator == 1


@SETTINGS
@given(st.data(), st.lists(st.integers(min_value=-9, max_value=9), min_size=2, max_size=5, unique=True))
def test_a_tuple_in_another_order_never_passes_and_a_set_always_does(data: st.DataObject, items: list[int]) -> None:
    shuffled = data.draw(st.permutations(items).filter(lambda order: list(order) != items))
    written = ", ".join(map(str, items))
    other = ", ".join(map(str, shuffled))
    assert not passes(f"({written})", f"\\boxed{{({other})}}")
    assert passes(f"\\{{{written}\\}}", f"\\boxed{{\\{{{other}\\}}}}")


@SETTINGS
@given(
    st.lists(st.integers(min_value=-9, max_value=9).filter(bool), min_size=1, max_size=3),
    st.integers(min_value=0, max_value=2),
)
def test_an_odd_polynomial_of_the_absolute_value_never_passes(coefficients: list[int], shift: int) -> None:
    """a x^3 + b x^5 ... against the same in |x|: equal for x > 0 only."""
    terms = [(c, 2 * (i + shift) + 1) for i, c in enumerate(coefficients)]
    reference = " + ".join(f"({c}) x^{{{e}}}" for c, e in terms)
    answer = " + ".join(f"({c}) |x|^{{{e}}}" for c, e in terms)
    assert not passes(reference, f"\\boxed{{{answer}}}")
    assert passes(reference, f"\\boxed{{{reference}}}")


@SETTINGS
@given(
    st.lists(st.integers(min_value=-9, max_value=9), min_size=2, max_size=4),
    st.integers(min_value=-5, max_value=5).filter(bool),
)
def test_a_restated_expression_never_passes_while_its_simplification_does(coefficients: list[int], a: int) -> None:
    expression = f"(x + ({a}))^2 - x^2" + "".join(f" + ({c}) x^{{{i + 3}}}" for i, c in enumerate(coefficients))
    simplified = f"{2 * a} x + {a * a}" + "".join(f" + ({c}) x^{{{i + 3}}}" for i, c in enumerate(coefficients))
    prompt = f"Simplify ${expression}$."
    assert verdict(simplified, f"\\boxed{{{expression}}}", prompt) == ("fail", "restated_question")
    assert passes(simplified, f"\\boxed{{{simplified}}}", prompt)


@SETTINGS
@given(
    st.lists(st.sampled_from(["it", "is", "the", "answer", "so", "thus", "we", "get", "equals", "then"]), max_size=5),
    st.integers(min_value=-999, max_value=999),
)
def test_prose_before_a_number_never_makes_it_a_product(words: list[str], n: int) -> None:
    text = " ".join([*words, str(n)])
    assert passes(str(n), text), text
    assert not passes(str(n + 1), text), text
    if n:
        assert not passes(f"{n} i s", text), text
