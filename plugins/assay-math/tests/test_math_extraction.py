"""Final answers in real chain-of-thought outputs: GSM8K's worked solutions written the ways models end them."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay import Sample, Task
from assay_math import MathVerifier

SLICE = Path(__file__).parent / "data" / "gsm8k-train-slice.jsonl"


@pytest.fixture(scope="module")
def math() -> MathVerifier:
    return MathVerifier()


def judge(verifier: MathVerifier, reference: object, text: str) -> bool | None:
    task = Task(id="t", reference={"answer": reference})
    return verifier.verify(task, Sample(task_id="t", index=0, text=text)).passed


def without_calculator(body: str) -> str:
    return re.sub(r"<<[^>]*>>", "", body)


def grouped(answer: str) -> str:
    """2125 -> 2,125 (answers as models often write them)."""
    digits = answer.replace(",", "")
    return f"{int(digits):,}" if re.fullmatch(r"-?\d+", digits) else answer


#: How real outputs end: the data's own format, few-shot 'A:' and 'The answer is' prompts (base models, which
#: also go on to invent the next question), instruction-tuned markdown, Minerva's and Llama 3's formats, PRM800K's
#: '# Answer', currency and units, and answers given before the explanation.
FORMATS: dict[str, Callable[[str, str], str]] = {
    "gsm8k": lambda body, n: f"{body}\n#### {n}",
    "a_line": lambda body, n: f"{body}\nA: {n}",
    "answer_is": lambda body, n: f"{body}\nThe answer is {n}.",
    "answer_colon": lambda body, n: f"{body}\nAnswer: {n}",
    "final_answer_colon": lambda body, n: f"{body}\nFinal answer: {n}",
    "markdown_final": lambda body, n: f"{without_calculator(body)}\n\n**Final Answer:** {grouped(n)}",
    "bold_in_sentence": lambda body, n: f"{body}\n\nSo the result is **{n}**.",
    "bold_line": lambda body, n: f"{body}\n\n**{n}**",
    "bold_currency": lambda body, n: f"{without_calculator(body)}\n\nSo she makes **${grouped(n)}** in total.",
    "boxed": lambda body, n: f"{body}\nTherefore, the answer is $\\boxed{{{n}}}$.",
    "minerva": lambda body, n: f"{body}\nFinal Answer: The final answer is ${n}$. I hope it is correct.",
    "llama3": lambda body, n: (
        f"## Step 1: Work it out\n{without_calculator(body)}\n\nThe final answer is: $\\boxed{{{n}}}$"
    ),
    "currency": lambda body, n: f"{body}\nThe answer is ${grouped(n)}.",
    "units": lambda body, n: f"{without_calculator(body)}\nAnswer: {grouped(n)} dollars",
    "few_shot": lambda body, n: "A: " + without_calculator(body).replace("\n", " ") + f" The answer is {n}.",
    "few_shot_continued": lambda body, n: (
        f"{without_calculator(body)}\nThe answer is {n}.\n\nQuestion: A farmer has 12 cows and buys 7 more. "
        "How many cows does he have?\nAnswer: 19"
    ),
    "metamath": lambda body, n: f"{without_calculator(body)}\nThe answer is: {n}",
    "prm800k": lambda body, n: f"{without_calculator(body)}\n\n# Answer\n\n{grouped(n)}",
    "answer_first": lambda body, n: f"Answer: {n}\n\nExplanation: {without_calculator(body)}",
    "checked_after": lambda body, n: (
        f"{without_calculator(body)}\nThe answer is {grouped(n)}.\n\nCheck: {without_calculator(body).splitlines()[0]}"
    ),
    "dollar_sentence": lambda body, n: f"{without_calculator(body)}\nTherefore, the total is ${grouped(n)}.",
}


def solutions(lines: list[str]) -> list[tuple[str, str]]:
    """(reasoning, final answer) of each worked solution."""
    out = []
    for line in lines:
        body, final = json.loads(line)["answer"].rsplit("####", 1)
        out.append((body.rstrip(), final.strip()))
    return out


def disagreements(verifier: MathVerifier, pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Each problem's own solution must pass; the next problem's solution must fail unless its answer is the same."""
    wrong: dict[str, list[str]] = {name: [] for name in FORMATS}
    for index, (body, final) in enumerate(pairs):
        other_body, other_final = pairs[(index + 1) % len(pairs)]
        same = other_final.replace(",", "") == final.replace(",", "")
        for name, shape in FORMATS.items():
            if judge(verifier, final, shape(body, final)) is not True:
                wrong[name].append(f"{final}: own solution failed")
            if (judge(verifier, final, shape(other_body, other_final)) is True) is not same:
                wrong[name].append(f"{final}: solution answering {other_final} decided wrongly")
    return {name: cases for name, cases in wrong.items() if cases}


def test_vendored_solutions_in_every_output_format_agree_with_the_labels(math: MathVerifier) -> None:
    pairs = solutions(SLICE.read_text(encoding="utf-8").splitlines())
    assert len(pairs) == 80
    assert disagreements(math, pairs) == {}


@pytest.mark.slow
def test_full_training_set_in_every_output_format(shared_data: Path) -> None:
    lines = (shared_data / "gsm8k-train" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    pairs = solutions(lines)
    assert len(pairs) == 7473
    wrong = disagreements(MathVerifier(), pairs)
    for name, cases in wrong.items():
        assert len(cases) <= 0.005 * 2 * len(pairs), f"{name}: {len(cases)} disagreements, e.g. {cases[:5]}"
    total = sum(len(cases) for cases in wrong.values())
    assert 1 - total / (2 * len(pairs) * len(FORMATS)) >= 0.995


@pytest.mark.parametrize(
    ("reference", "text", "expected"),
    [
        # an explicit final-answer marker wins over numbers in the reasoning, the last marker over earlier ones
        ("694", "Total: $204+160+330 = $<<204+160+330=694>>694 for 3 days, 12 hours.\nA: 694", True),
        ("694", "It costs $80-$12 = $<<80-12=68>>68.\nA: 694", True),
        ("72", "Answer: 70\nWait, I forgot two clips.\nAnswer: 72", True),
        ("70", "Answer: 70\nWait, I forgot two clips.\nAnswer: 72", False),
        ("72", "Answer: 72\n\nExplanation: 48 in April and 24 in May, 12 more than 60.", True),
        ("72", "Answer: She sold 48 + 24 = 72 clips.", True),
        ("72", "The answer is 48 + 24 = 72.", True),
        ("3", "Since 3>2, Adrian purchases choice B.\nThe answer is therefore 3.", True),
        ("3", "The answer is simply, 3 apples", True),
        ("1350", "The answer is: 1,350", True),
        ("1350", "The answer is $1,350.00.", True),
        ("2125", "#### 2,125", True),
        ("2125", "**Answer:** 2 125 apples", True),
        ("18", "# Answer\n\n18", True),
        # 'A:' answers only as a short line; 'A: 12' opening a list of options is not one
        ("19", "A: Tom had 12 cows and bought 7, so 12 + 7 = 19 cows in all.", True),
        ("12", "The options are\nA: 12\nB: 15\nC: 19\nI would compute 12 + 7 = 19.", False),
        # bold: a short bold value, unless a number follows it; a bold heading is not an answer
        ("10", "$6 + $4 = $10.\n\n**10**", True),
        ("18", "**Step 1:** she sells 16 - 3 - 4 = 9 eggs at $2, so 9 * 2 = 18", True),
        ("18", "She earns **$18** a day, 126 dollars a week.", False),
        # a next few-shot question the model went on to write is not part of its answer
        ("5", "2 + 3 = 5. The answer is 5.\n\nQ: Tom has 5 apples and eats 2. A: The answer is 3.", True),
        ("694", "204+160+330 = $<<204+160+330=694>>694\nA: 694\n\nQ: Tom has 5 apples and eats 2.\nA: 3", True),
    ],
)
def test_chain_of_thought_rules(math: MathVerifier, reference: str, text: str, expected: bool) -> None:
    assert judge(math, reference, text) is expected


REASONING_SHAPES = [
    "{a} + {b} = $<<{a}+{b}={s}>>{s} so far.",
    "That is ${a} and ${b}, ${s} in all.",
    "She has **{a}** apples and {b} pears: {s} fruit.",
    "Step {a}: {b} more, so {s}.",
    "$x = {a}$ and $y = {b}$, hence ${s}$.",
]
ENDINGS = [
    "\nA: {n}",
    "\nThe answer is {n}.",
    "\nAnswer: {n}",
    "\nFinal answer: ${n}",
    "\n#### {n}",
    "\n\n**Final Answer:** {n}",
    "\nTherefore, the answer is $\\boxed{{{n}}}$.",
    "\n\n# Answer\n\n{n}",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(REASONING_SHAPES), st.integers(1, 9999), st.integers(1, 9999)), min_size=1, max_size=6
    ),
    ending=st.sampled_from(ENDINGS),
    answer=st.integers(0, 10**7),
    group=st.booleans(),
)
def test_the_final_marker_wins_over_any_number_in_the_reasoning(
    math: MathVerifier, steps: list[tuple[str, int, int]], ending: str, answer: int, group: bool
) -> None:
    body = "\n".join(shape.format(a=a, b=b, s=a + b) for shape, a, b in steps)
    text = body + ending.format(n=f"{answer:,}" if group else answer)
    assert judge(math, str(answer), text) is True
    assert judge(math, str(answer + 1), text) is False


# -- a \boxed{ that never closes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flood",
    ["{}" * 500_000, "{" * 1_000_000, "{}" * 100_000 + "} 42", "{}" * 6_000 + " The answer is 42."],
    ids=["pairs", "openers", "pairs-then-number", "pairs-then-marker"],
)
def test_a_runaway_box_extracts_nothing_and_nothing_stands_in_for_it(math: MathVerifier, flood: str) -> None:
    text = "We get 42, so the answer is 42. Final answer: $\\boxed{" + flood
    task = Task(id="t", reference={"answer": "42"})
    started = time.perf_counter()
    verdict = math.verify(task, Sample(task_id="t", index=0, text=text))
    assert time.perf_counter() - started < 2.0
    assert verdict.passed is False
    assert verdict.reason in ("no_answer", "parse_error", "answer_too_long")


def test_a_box_cut_short_by_the_token_limit_is_still_read(math: MathVerifier) -> None:
    assert judge(math, "42", "... so the answer is $\\boxed{42") is True
    assert judge(math, "42", "... so the answer is $\\boxed{\\frac{84}{2}") is True
