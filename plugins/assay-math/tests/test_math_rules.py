"""The reading and equality rules the README documents, one behaviour per test."""

from __future__ import annotations

import multiprocessing
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from assay import Sample, Task
from assay_math import MathVerifier


@pytest.fixture(scope="module")
def math() -> MathVerifier:
    return MathVerifier()


def judge(verifier: MathVerifier, reference: object, text: str) -> bool | None:
    task = Task(id="t", reference={"answer": reference})
    return verifier.verify(task, Sample(task_id="t", index=0, text=text)).passed


@pytest.mark.parametrize(
    ("reference", "text", "expected"),
    [
        # thousands separators and the decimal comma
        ("7425000", "7,425,000", True),
        ("32349", "\\boxed{32,\\!349}", True),
        ("32349", "\\boxed{32, 349}", False),
        ("1000.99", "1000,99", True),
        ("0.111", "0,111", True),
        ("\\{1,2\\}", "\\{2,1\\}", True),
        ("(1, 2)", "(2, 1)", False),
        # exact arithmetic, no absolute tolerance
        ("\\frac{1}{2^{99}}", "\\frac{1}{2^{98}}", False),
        ("\\frac{1}{2004!}", "\\frac{1}{2006!}", False),
        ("4", "4\\sqrt{2}", False),
        ("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}", True),
        # decimals: float noise, and rounding to the places written
        ("51", "51.0", True),
        ("0.3", "0.30000000000000004", True),
        # an answer states its own precision: a rounded decimal is not the exact value (see accept_rounded_answers)
        ("\\frac{2}{3}", "0.67", False),
        ("\\frac{2}{3}", "0.66", False),
        ("\\frac{1}{8}", "0.13", False),
        ("\\frac{1}{36}", "0.028", False),
        # a decimal reference states its precision: a more precise value that rounds to it matches
        ("0.33", "\\frac{1}{3}", True),
        ("0.33", "0.333", True),
        ("0.333", "0.33", False),
        ("\\frac{1}{36}", "0.03", False),
        ("3", "3.0001", False),
        # percentages, degrees, units, text
        ("28\\%", "28 percent", True),
        ("20\\%", "0.2", True),
        # a percent sign after a power marks the power, not its exponent; inside the braces it stays there
        ("25", "\\boxed{5^{2}\\%}", True),
        ("0.25", "\\boxed{5^2\\%}", True),
        ("\\sqrt{2}", "\\boxed{2^{50\\%}}", True),
        ("25", "\\boxed{2^{50\\%}}", False),
        ("90^\\circ", "\\frac{\\pi}{2}", True),
        ("125 \\text{ miles}", "\\boxed{125}", True),
        ("5", "\\boxed{5cm}", True),
        ("5", "\\boxed{5\\,\\mathrm{cm}^2}", True),
        ("2xy", "\\boxed{2yx}", True),
        ("20", "She has $10 and $20 left.", True),
        ("4", "We get $x^2 = 16$, so $x = 4$.", True),
        ("\\text{Evelyn}", "Therefore, $\\boxed{\\text{Evelyn}}$ is our answer.", True),
        # bare LaTeX and plain math
        ("\\frac{3}{4}i", "\\frac34i", True),
        ("(x+1)^2", "x^2+2x+1", True),
        ("(x+1)^2", "x^2+2x+2", False),
        ("\\sqrt[3]{8}", "2", True),
        ("6.02\\times10^{23}", "6.02e23", True),
        ("2\\frac{1}{2}", "2.5", True),
        # structures
        ("[0, 1)", "[0, 1]", False),
        ("x \\in [-2, 7]", "-2 \\le x \\le 7", True),
        ("x < 1", "-x > -1", True),
        ("x = 3", "3", True),
        ("a + 3z = 0", "0", False),
        ("2x+4y-3=0", "y=-\\frac{1}{2}x+\\frac{3}{4}", True),
        ("\\{1 \\pm \\sqrt{5}, -2\\}", "\\boxed{-2, 1+\\sqrt5, 1-\\sqrt5}", True),
        ("\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}", "\\begin{bmatrix}1 & 2 \\\\ 3 & 5\\end{bmatrix}", False),
        ("(3, 2)", "(p, q) = (3, 2)", True),
        # extraction
        ("5", "<think>it is 4</think> The answer is 5.", True),
        ("5", "#### 5", True),
        ("10455", "so $\\boxed{200}$ ... Final Answer: The final answer is $10,455$.", True),
        ("2", "\\boxed{1} no no no no no \\boxed{2}", True),
        ("C", "The answer is for sure C, it cannot be A or B", True),
        ("C", "\\boxed{\\text{(B)}}", False),
    ],
)
def test_rules(math: MathVerifier, reference: str, text: str, expected: bool) -> None:
    assert judge(math, reference, text) is expected


def test_rounded_answers_match_exact_references_only_when_asked_for() -> None:
    rounding = MathVerifier({"accept_rounded_answers": True})
    assert judge(rounding, "\\frac{2}{3}", "0.67") is True
    assert judge(rounding, "\\frac{1}{36}", "0.028") is True
    assert judge(rounding, "\\frac{1}{36}", "0.03") is False  # one significant digit
    assert judge(rounding, "\\frac{1}{8}", "0.13") is False  # 1/8 is written exactly as 0.125
    assert judge(rounding, "4", "4.0000000001") is False  # an integer is never a rounding


def test_float_reference_from_json(math: MathVerifier) -> None:
    assert judge(math, 51.0, "51") is True
    assert judge(math, 17, "17.0") is True
    assert judge(math, 0.5, "1/2") is True


def test_extraction_can_be_limited() -> None:
    strict = MathVerifier({"extraction": ["boxed"]})
    assert judge(strict, "12", "there are 12 of them") is False
    assert judge(MathVerifier(), "12", "there are 12 of them") is True


def test_bad_reference_is_an_error_verdict(math: MathVerifier) -> None:
    verdict = math.verify(Task(id="t", reference={"answr": "1"}), Sample(task_id="t", index=0, text="1"))
    assert verdict.status == "error" and verdict.reason == "bad_reference"


def test_no_answer_and_unparsable_answers_fail_with_a_reason(math: MathVerifier) -> None:
    task = Task(id="t", reference={"answer": "2"})
    assert math.verify(task, Sample(task_id="t", index=0, text="I do not know.")).reason == "no_answer"
    assert math.verify(task, Sample(task_id="t", index=0, text="\\boxed{\\frac{1}{2")).reason == "parse_error"


HOSTILE = {
    "tower": "\\boxed{10^{10^{10}}}",
    "factorial": "\\boxed{9999999!}",
    "nested": "\\boxed{" + "\\frac{1}{" * 1000 + "2" + "}" * 1000 + "}",
    "megabyte": "\\boxed{" + "x+" * 500_000 + "1}",
    "unbalanced": "\\boxed{\\frac{1}{2",
    "power": "\\boxed{(x+1)^{100000}}",
    "binomial": "\\boxed{\\binom{10^{9}}{5 \\cdot 10^8}}",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_answers_are_decided_in_time(math: MathVerifier, name: str) -> None:
    import resource

    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for reference in ("2", "x", HOSTILE[name].removeprefix("\\boxed{").removesuffix("}")):
        started = time.monotonic()
        verdict = math.verify(
            Task(id="t", reference={"answer": reference}), Sample(task_id="t", index=0, text=HOSTILE[name])
        )
        assert time.monotonic() - started < 5.5
        assert verdict.status in ("pass", "fail", "error", "timeout")
        if reference in ("2", "x"):
            assert verdict.passed is not True
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert grown_mb < 300, f"peak memory grew by {grown_mb:.0f} MB"


def test_the_budget_interrupts_sympy_in_a_worker_thread() -> None:
    """No signals: a trace function on the worker thread stops a long sympy computation on time."""
    import sympy

    from assay_math.deadline import Budget, DeadlineExceeded

    x = sympy.Symbol("x")
    outcome: list[tuple[str, float]] = []

    def work() -> None:
        budget = Budget(0.3)
        started = time.monotonic()
        try:
            with budget.enforce():
                sympy.factor(sympy.expand((x + 1) ** 80 * (x + 2) ** 80 - 1))
            outcome.append(("finished", time.monotonic() - started))
        except DeadlineExceeded:
            outcome.append(("deadline", time.monotonic() - started))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(60)
    assert outcome and outcome[0][0] == "deadline"
    assert outcome[0][1] < 2.0  # 0.3 s asked; slack for a loaded machine


def test_verdicts_stay_within_the_limit_in_threads() -> None:
    verifier = MathVerifier({"time_limit_s": 0.5})
    reference = "\\sin^{2}(x)+\\cos^{2}(x) + " + " + ".join(f"\\frac{{x^{{{k}}}}}{{x+{k}}}" for k in range(1, 30))
    text = "1 + " + " + ".join(f"\\frac{{x^{{{k}}}(x+{k + 1})}}{{(x+{k})(x+{k + 1})}}" for k in range(1, 30))
    results: list[tuple[str, float]] = []

    def work() -> None:
        started = time.monotonic()
        verdict = verifier.verify(
            Task(id="t", reference={"answer": reference}), Sample(task_id="t", index=0, text=text)
        )
        results.append((verdict.status, time.monotonic() - started))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(30)
    assert results and results[0][1] < 1.5
    assert results[0][0] in ("pass", "timeout")


def _verify_in_child(queue: multiprocessing.Queue[str]) -> None:
    verifier = MathVerifier()
    verdict = verifier.verify(
        Task(id="t", reference={"answer": "1/2"}), Sample(task_id="t", index=0, text="\\boxed{0.5}")
    )
    queue.put(verdict.status)


def test_works_inside_a_worker_process() -> None:
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[str] = context.Queue()
    process = context.Process(target=_verify_in_child, args=(queue,))
    process.start()
    process.join(120)
    assert queue.get(timeout=5) == "pass"


def test_threads_share_one_warm_verifier(math: MathVerifier) -> None:
    pairs = [("\\frac{1}{2}", "0.5", True), ("x^2", "x \\cdot x", True), ("3", "4", False)] * 20
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda p: judge(math, p[0], p[1]), pairs))
    assert got == [p[2] for p in pairs]


def test_answer_key_groups_equivalent_answers(math: MathVerifier) -> None:
    task = Task(id="t", reference={"answer": "1/2"})

    def key(text: str, on: Task = task) -> str | None:
        return math.answer_key(on, Sample(task_id="t", index=0, text=text))

    assert key("\\boxed{0.5}") == key("\\boxed{\\frac{1}{2}}") == key("The answer is 1/2.") == key("$\\dfrac12$")
    assert key("\\boxed{\\frac{1}{\\sqrt{2}}}") == key("\\boxed{\\frac{\\sqrt{2}}{2}}")
    assert key("\\boxed{\\{2, 1\\}}") == key("\\boxed{\\{1, 2\\}}")
    assert key("\\boxed{(1, 2)}") != key("\\boxed{(2, 1)}")
    assert key("\\boxed{0.5}") != key("\\boxed{0.6}")
    fractions = Task(id="t", reference={"answer": "1/2", "percent_as_fraction": True})
    assert key("\\boxed{50\\%}", fractions) == key("\\boxed{0.5}", fractions)
    assert key("\\boxed{50\\%}") == key("\\boxed{50}")
    assert key("no answer here") is None
    letters = Task(id="t", reference={"answer": "B"})
    assert key("The answer is (B).", letters) == key("\\boxed{B}", letters) == "B"


def test_plugin_import_is_light() -> None:
    import subprocess
    import sys

    code = "import sys, assay_math; print('sympy' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_registered_through_the_entry_point(assay_registry: object) -> None:
    from assay import get_verifier

    verifier = get_verifier("math")
    assert verifier.kind == "symbolic"
    assert verifier.verify(Task(id="t", reference={"answer": "2"}), Sample(task_id="t", index=0, text="1+1")).passed


@pytest.mark.parametrize(
    "texts",
    [
        ["The answer is $\\frac{1}{2}$.", "\\boxed{0.5}", "\\boxed{\\dfrac{2}{4}}", "so x = 1/2"],
        ["\\boxed{(x+1)^2}", "\\boxed{x^2+2x+1}", "\\boxed{1 + x^2 + 2x}"],
        ["\\boxed{\\{3, 1, 2\\}}", "\\boxed{\\{1,2,3\\}}"],
    ],
)
def test_verdicts_carry_the_canonical_key_so_votes_over_verdicts_group_equivalent_answers(
    math: MathVerifier, texts: list[str]
) -> None:
    task = Task(id="t", reference={"answer": "7"})
    verdicts = [math.verify(task, Sample(task_id="t", index=i, text=text)) for i, text in enumerate(texts)]
    assert len({v.answer for v in verdicts}) == 1, [v.answer for v in verdicts]
    assert verdicts[0].answer == math.answer_key(task, Sample(task_id="t", index=0, text=texts[0]))
    assert all(v.details["extracted"] for v in verdicts)


@pytest.mark.parametrize("reference", [True, False, None, [1], {"x": 1}])
def test_a_reference_that_is_not_a_string_or_number_is_a_bad_reference(reference: object) -> None:
    verifier = MathVerifier()
    for text in ("1", "0", "true", "The answer is 1."):
        task = Task(id="t", reference={"answer": reference})
        verdict = verifier.verify(task, Sample(task_id="t", index=0, text=text))
        assert verdict.status == "error" and verdict.reason == "bad_reference", (reference, text, verdict)
