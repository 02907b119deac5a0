"""Multiple choice: options in the reference, a letter only where something marks it, values matched to options."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay import Sample, Task, Verdict
from assay_math import MathVerifier

AQUA = Path(__file__).parent / "data" / "aqua-rat-test.jsonl"
PROBLEMS: list[dict[str, Any]] = [json.loads(line) for line in AQUA.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def math() -> MathVerifier:
    return MathVerifier()


def verdict(verifier: MathVerifier, reference: dict[str, Any], text: str) -> Verdict:
    return verifier.verify(Task(id="t", reference=reference), Sample(task_id="t", index=0, text=text))


LISTED = ["A)5(√3 + 1)", "B)6(√3 + √2)", "C)7(√3 – 1)", "D)8(√3 – 2)", "E)None of these"]


# -- a letter is an answer only where something marks it -----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "D = Symbol('D')\nM = Symbol('M')\nans = simplify(D/(M-3) - D/M)",
        "```python\nA = 5\nB = 7\nD = A * B\nans = D\nprint(ans)\n```",
        "Let D be the midpoint of BC, so AD is a median and BD = DC.",
        "We compare the options:\nA) 12\nB) 15\nC) 18\nD) 21",
        "The options are (A) 12 (B) 15 (C) 18 (D) 21",
        "From the figure, triangle ABD is isosceles; hence angle D equals angle B.",
        "Answer: D/(M-3) - D/M",
        "The answer is D + 2.",
        "Let's go through each answer choice: (A) can never be true. (B) doesn't have to be true.",
        "Answer D is wrong, since 5 is odd.",
        "def f(D):\n    return D * 2\nprint(f(3))",
        # a hedge over several letters chooses none of them
        "The answer is A, B, C, D or E.",
        "Answer: (C) or (D)",
        "Reasoning.\nD/E",
        "Reasoning.\nB, D",
    ],
)
def test_stray_capitals_code_and_variables_are_no_answer(math: MathVerifier, text: str) -> None:
    for reference in ({"answer": "D"}, {"answer": "D", "options": ["A) 12", "B) 15", "C) 18", "D) 21", "E) 24"]}):
        result = verdict(math, reference, text)
        assert result.passed is False and result.answer is None, (text, result.details)
        assert result.reason == "no_answer"


@pytest.mark.parametrize(
    ("text", "letter", "how"),
    [
        ("So the result is $\\boxed{C}$.", "C", "boxed"),
        ("\\boxed{\\text{(C)}}", "C", "boxed"),
        ("\\boxed{(C) 13.66}", "C", "boxed"),
        ("Working... the answer is (C).", "C", "phrase"),
        ("Answer: C", "C", "phrase"),
        ("ANSWER:D", "D", "phrase"),
        ("The answer is for sure D, it can't be A or B", "D", "phrase"),
        ("Hence ( A ) is correct answer .", "A", "phrase"),
        ("D is the correct choice", "D", "phrase"),
        ("It's not A because it doesn't make sense, therefore I think it's B", "B", "phrase"),
        ("Answer = E", "E", "phrase"),
        ("réponse est C non A", "C", "phrase"),
        ("Some reasoning.\nC. 13.66", "C", "final_line"),
        ("Some reasoning.\n(C)", "C", "final_line"),
        ("Some reasoning.\nOption B", "B", "final_line"),
        ("B。 不是 A", "B", "final_line"),
        ("So it takes 36 minutes, C) 36 minutes", "C", "restated_option"),
        ("A. Because B is not valid", "A", "final_line"),
        ("The answer is C, a prime number.", "C", "phrase"),
        ('{"reasoning": "12 + 24 = 36", "answer": "C"}', "C", "phrase"),
        ("**Answer: C**", "C", "phrase"),
        ("The answer is $\\text{(C)}$.\n\nI hope this helps!", "C", "phrase"),
        ("The answer is (D), it can't be A or B", "D", "phrase"),
        # the last mark wins
        ("The answer is (B).\nWait, I made an error: 13 + 4 = 17.\nThe answer is (C).", "C", "phrase"),
        # a program's statements are no marks, what it says in prose is one
        ("```python\nD = Symbol('D')\nans = solve(D - 3)\nprint(ans)\n```\nThe answer is (C).", "C", "phrase"),
    ],
)
def test_marked_letters(math: MathVerifier, text: str, letter: str, how: str) -> None:
    options = ["A) 12", "B) 15", "C) 36 minutes", "D) 21", "E) 24"]
    result = verdict(math, {"answer": letter, "options": options}, text)
    assert result.passed is True, result.details
    assert result.answer == letter and result.details["choice_by"] == how
    other = "A" if letter != "A" else "B"
    assert verdict(math, {"answer": other, "options": options}, text).passed is False


def test_an_answer_letter_assigned_in_the_text_is_a_variable(math: MathVerifier) -> None:
    assert verdict(math, {"answer": "D"}, "D = 5\nanswer = D").answer is None
    assert verdict(math, {"answer": "D"}, "x = 200\nAnswer = D").passed is True


def test_the_lone_letter_fallback_is_off_unless_asked_for() -> None:
    text = "Looking at the figure I pick the last one: E"
    assert verdict(MathVerifier(), {"answer": "E"}, text).passed is False
    assert verdict(MathVerifier({"choice_lone_letter": True}), {"answer": "E"}, text).passed is True


# -- options in the reference ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        LISTED,
        ["5(√3 + 1)", "6(√3 + √2)", "7(√3 – 1)", "8(√3 – 2)", "None of these"],
        {"A": "5(√3 + 1)", "B": "6(√3 + √2)", "C": "7(√3 – 1)", "D": "8(√3 – 2)", "E": "None of these"},
    ],
    ids=["labelled", "texts", "mapping"],
)
def test_options_in_every_shape_match_values_texts_and_letters(math: MathVerifier, options: Any) -> None:
    gold = {"answer": "A", "options": options}
    for text, how in [
        ("The answer is 13.66", "value"),
        ("So it takes $\\boxed{5(\\sqrt{3}+1)}$ minutes.", "value"),
        ("The answer is 5(1 + √3).", "value"),
        ("Answer: A", "phrase"),
    ]:
        result = verdict(math, gold, text)
        assert result.passed is True and result.answer == "A", (text, result.details)
        assert result.details["choice_by"] == how
    wrong = verdict(math, gold, "The answer is 6(\\sqrt3+\\sqrt2).")
    assert wrong.passed is False and wrong.answer == "B" and wrong.reason == "wrong_answer"
    nothing = verdict(math, gold, "The answer is 42.")
    assert nothing.passed is False and nothing.answer is None and nothing.reason == "no_answer"


def test_lowercase_labels_and_an_answer_given_as_the_option_text(math: MathVerifier) -> None:
    lowercase = {"answer": "b", "options": ["a) Cecile", "b) Alina", "c) Peter"]}
    assert verdict(math, lowercase, "The answer is (b).").answer == "B"
    assert verdict(math, lowercase, "The answer is Alina.").passed is True
    by_text = {"answer": "Peter", "options": ["Cecile", "Alina", "Peter"]}
    assert verdict(math, by_text, "Answer: C").passed is True


def test_none_of_these_passes_only_when_chosen(math: MathVerifier) -> None:
    gold = {"answer": "E", "options": LISTED}
    # a value that matches no other option is not thereby 'none of these'
    assert verdict(math, gold, "The answer is 42.").passed is False
    assert verdict(math, gold, "The answer is (E).").passed is True
    assert verdict(math, gold, "It is none of these.").passed is True
    assert verdict(math, gold, "The answer is 13.66").answer == "A"


def test_a_rounded_option_matches_within_the_tolerance_and_never_two(math: MathVerifier) -> None:
    gold = {"answer": "A", "options": ["A) 230", "B) 240", "C) 250", "D) 260", "E) 280"]}
    near = verdict(math, gold, "The answer is 234.29")
    assert near.passed is True and near.details["choice_by"] == "rounded_value"
    assert near.details["distance"] == pytest.approx(4.29 / 230, abs=1e-6)
    # halfway between two options: it matches neither
    assert verdict(math, gold, "The answer is 235").answer is None
    assert verdict(math, gold, "The answer is 300").answer is None  # 7 % from the nearest
    assert verdict(MathVerifier({"choice_tolerance": 0}), gold, "The answer is 234.29").answer is None
    assert verdict(MathVerifier({"choice_tolerance": 0.01}), gold, "The answer is 234.29").answer is None


@pytest.mark.parametrize(
    ("options", "text", "letter"),
    [
        (["A)Rs. 697.50", "B)Rs. 712.50", "C)Rs. 787.50", "D)Rs. 750", "E)Rs. 780"], "The answer is 750.", "D"),
        (["A)60 m", "B)61 m", "C)62 m", "D)63 m", "E)64 m"], "The answer is 62", "C"),
        (["A)2.6m", "B)3.9m", "C)4m", "D)4.2m", "E)4.4m"], "\\boxed{3.9}", "B"),
        (["A)$ 61", "B)$ 65", "C)$ 67.40", "D)$ 70", "E)$ 78.20"], "Answer: $78.20", "E"),
        (["A)36 minutes", "B)32 minutes", "C)24 minutes", "D)64 minutes", "E)72 minutes"], "**36**", "A"),
    ],
)
def test_options_with_currency_and_units_are_values(
    math: MathVerifier, options: list[str], text: str, letter: str
) -> None:
    assert verdict(math, {"answer": letter, "options": options}, text).passed is True


def test_a_suffix_that_is_a_variable_or_a_constant_stays(math: MathVerifier) -> None:
    # p is a variable here (one option lacks it), pi a constant: 2500 is not '2500p', 7500 not '7500pi'
    variable = {"answer": "D", "options": ["A)1000p", "B)1500p", "C)2000p", "D)2500p", "E)30000"]}
    assert verdict(math, variable, "The answer is 2500.").answer is None
    assert verdict(math, variable, "The answer is 2500p.").passed is True
    constant = {"answer": "E", "options": ["A)750pi", "B)1500pi", "C)1875pi", "D)3000pi", "E)7500pi"]}
    assert verdict(math, constant, "The answer is 7500.").passed is False
    assert verdict(math, constant, "The answer is $7500\\pi$.").passed is True


@pytest.mark.parametrize(
    ("reference", "field"),
    [
        ({"answer": "F", "options": LISTED}, "reference.answer"),
        ({"answer": "A", "options": []}, "reference.options"),
        ({"answer": "A", "options": {"AB": "x"}}, "reference.options"),
        ({"answer": "A", "options": "A) 1 B) 2"}, "reference.options"),
        ({"answer": "A", "options": [["nested"]]}, "reference.options"),
        ({"answer": 2, "options": ["1", "2", "3"]}, "reference.answer"),
    ],
)
def test_bad_options_are_an_error_verdict_naming_the_field(
    math: MathVerifier, reference: dict[str, Any], field: str
) -> None:
    result = verdict(math, reference, "The answer is (A).")
    assert result.status == "error" and result.reason == "bad_reference"
    assert result.details["field"] == field


def test_votes_count_the_option_whichever_way_it_was_given(math: MathVerifier) -> None:
    task = Task(id="t", reference={"answer": "A", "options": LISTED})
    texts = ["The answer is 13.66", "Answer: A", "\\boxed{5(\\sqrt3+1)}", "(A) 5(√3 + 1)"]
    keys = {math.answer_key(task, Sample(task_id="t", index=i, text=t)) for i, t in enumerate(texts)}
    assert keys == {"A"}
    verdict_keys = {math.verify(task, Sample(task_id="t", index=i, text=t)).answer for i, t in enumerate(texts)}
    assert verdict_keys == {"A"}
    assert math.answer_key(task, Sample(task_id="t", index=9, text="The answer is 42")) is None


# -- real multiple-choice outputs: AQuA-RAT's rationales ------------------------------------------------------------


def test_aqua_rationales_choose_their_own_option_and_never_another(math: MathVerifier) -> None:
    chosen = wrong_passes = 0
    for problem in PROBLEMS:
        for letter in "ABCDE":
            result = verdict(math, {"answer": letter, "options": problem["options"]}, problem["rationale"])
            if letter == problem["correct"]:
                assert result.answer in (letter, None), (problem["rationale"][-200:], result.details)
                chosen += result.passed is True
            else:
                wrong_passes += result.passed is True
    assert wrong_passes == 0
    # the rest name no option (they end on a number in the prose)
    assert chosen >= 0.9 * len(PROBLEMS)


def _option_number(text: str) -> float | None:
    """The plain number of an option ('$ 67.40', 'Rs. 697.50', '4,000', '36 minutes', '60 m', '15.38 %'),
    independently of the verifier; None for anything else ('750pi', '10,8', '1000p' beside '30000' is skipped
    by the caller)."""
    match = re.fullmatch(
        r"\s*(?:Rs\.?|\$)?\s*(-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)\s*(%|[A-Za-z][A-Za-z. /]*)?\s*", text
    )
    if not match or (match.group(2) or "").strip().lower() in ("pi", "e", "i"):
        return None
    return float(match.group(1).replace(",", ""))


def _units(text: str) -> str:
    return re.sub(r"[\d\s.,$%-]|Rs", "", text).lower()


def _numeric_problems() -> list[tuple[dict[str, str], dict[str, float]]]:
    out = []
    for problem in PROBLEMS:
        options = {item[0]: item[2:] for item in problem["options"]}
        numbers = {letter: _option_number(text) for letter, text in options.items()}
        one_letter_units = {_units(text) for text in options.values() if len(_units(text)) == 1}
        if one_letter_units and len({_units(text) for text in options.values()}) > 1:
            continue  # '1000p' beside '30000': p is a variable, not a unit
        if all(n is not None and n != 0 for n in numbers.values()) and len(set(numbers.values())) == len(numbers):
            out.append((options, {k: v for k, v in numbers.items() if v is not None}))
    return out


def _nearest_within(value: float, numbers: dict[str, float], tolerance: float) -> str | None:
    ranked = sorted(numbers.items(), key=lambda item: abs(item[1] - value))
    best, second = ranked[0], ranked[1]
    if abs(second[1] - value) == abs(best[1] - value):
        return None
    return best[0] if abs(best[1] - value) <= tolerance * abs(best[1]) else None


VALUE_SHAPES = [
    "The answer is {v}.",
    "Answer: {v}",
    "Therefore, the answer is $\\boxed{{{v}}}$.",
    "So the total comes to **{v}**.",
    "{v}",
    "Final Answer: The final answer is ${v}$. I hope it is correct.",
]


def test_values_map_to_the_nearest_option_as_labelled(math: MathVerifier) -> None:
    """Labels: each value's nearest option within 5 %, or none."""
    rng = random.Random(7)
    agree = total = 0
    misses = []
    for options, numbers in _numeric_problems():
        gold = next(iter(options))
        for _ in range(6):
            base = numbers[rng.choice(list(numbers))]
            value = round(
                base * (1 + rng.choice([0, 0, 0.001, 0.01, 0.03, 0.045, 0.06, 0.12, 0.4]) * rng.choice([-1, 1])), 2
            )
            label = _nearest_within(value, numbers, 0.05)
            text = rng.choice(VALUE_SHAPES).format(v=f"{value:g}" if value == int(value) else f"{value}")
            result = verdict(math, {"answer": gold, "options": [f"{k}){t}" for k, t in options.items()]}, text)
            total += 1
            agree += result.answer == label
            if result.answer != label:
                misses.append((text, options, label, result.answer, result.details))
    assert total >= 900
    assert agree / total >= 0.95, misses[:10]


# -- program-of-thought outputs with stray capitals -------------------------------------------------------------

PROGRAMS = [
    "from sympy import Symbol, simplify\n{L} = Symbol('{L}')\nM = Symbol('M')\nans = simplify({L}/(M-3) - {L}/M)",
    "```python\n{L} = {n}\nB = {m}\nC = {L} * B\nans = C\nprint(ans)\n```",
    "# Let {L} be the midpoint of AB\nAB = {n}\nA{L} = AB / 2\nprint(A{L})",
    "def solution():\n    {L} = {n}\n    E = {m}\n    return {L} + E\n\nprint(solution())",
    "options = {{'A': {n}, 'B': {m}, 'C': {n}+{m}, 'D': 2*{m}, 'E': 3*{n}}}\nvalue = {n} * 1.05\n"
    "ans = min(options, key=lambda k: abs(options[k] - value))\nprint(ans)",
    "import math\n{L} = math.sqrt({n})\nr = {L} / 2\nprint(round(r, 2))  # the radius, point {L} on the circle",
    "Let {L} be the point where the lines meet; then A{L} = {n} and {L}B = {m}.\n"
    "```python\n{L} = {n} + {m}\nprint({L})\n```",
]


def test_program_outputs_with_stray_capitals_almost_never_pass(math: MathVerifier) -> None:
    rng = random.Random(11)
    wrong_passes = wrong = 0
    for problem in PROBLEMS:
        for template in PROGRAMS:
            text = template.format(L=rng.choice("ABCDE"), n=rng.randint(2, 99), m=rng.randint(2, 99))
            for letter in "ABCDE":
                result = verdict(math, {"answer": letter, "options": problem["options"]}, text)
                if letter != problem["correct"]:
                    wrong += 1
                    wrong_passes += result.passed is True
                assert result.answer is None, (text, result.details)
    assert wrong >= 5000
    assert wrong_passes <= wrong / 1000


def test_a_program_with_its_output_chooses_by_value(math: MathVerifier) -> None:
    text = "```python\nD = Symbol('D')\nans = 5 * (sqrt(3) + 1)\nprint(round(ans, 2))\n```\nOutput: 13.66"
    assert verdict(math, {"answer": "A", "options": LISTED}, text).passed is True
    assert verdict(math, {"answer": "D", "options": LISTED}, text).passed is False


# -- properties over option lists and answer forms ------------------------------------------------------------------

NAMES = ["Cecile", "Alina", "Peter", "Marcus", "Ingrid", "Tomasz", "Yuki", "Olu"]
LETTER_FORMS = [
    "The answer is ({L}).",
    "Answer: {L}",
    "$\\boxed{{{L}}}$",
    "Reasoning done.\n{L}. {T}",
    "Reasoning done.\n({L}) {T}",
    "Final answer: {L}",
    "So, after all that, I think it's {L}",
    "{L} is the correct answer.",
]
VALUE_FORMS = ["The answer is {T}.", "Answer: {T}", "\\boxed{{{T}}}"]
STRAY = [
    "Let D be the midpoint of AB. ",
    "We set A = 5 and B = 7, so A + B = 12. ",
    "Point C lies on the circle. ",
    "",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.data(),
    size=st.integers(2, 7),
    numeric=st.booleans(),
    shape=st.sampled_from(["labelled", "texts", "mapping"]),
    stray=st.sampled_from(STRAY),
)
def test_any_option_list_and_answer_form(
    math: MathVerifier, data: st.DataObject, size: int, numeric: bool, shape: str, stray: str
) -> None:
    if numeric:
        values = data.draw(st.lists(st.integers(-(10**6), 10**6), min_size=size, max_size=size, unique=True))
        texts = [str(v) for v in values]
    else:
        texts = data.draw(st.lists(st.sampled_from(NAMES), min_size=size, max_size=size, unique=True))
    letters = "ABCDEFG"[: len(texts)]
    options: Any = {
        "labelled": [f"{k}) {t}" for k, t in zip(letters, texts, strict=False)],
        "texts": texts,
        "mapping": dict(zip(letters, texts, strict=False)),
    }[shape]
    gold = data.draw(st.sampled_from(letters))
    chosen = data.draw(st.sampled_from(letters))
    form = data.draw(st.sampled_from(LETTER_FORMS + VALUE_FORMS))
    text = stray + form.format(L=chosen, T=texts[letters.index(chosen)])
    task = Task(id="t", reference={"answer": gold, "options": options})
    result = math.verify(task, Sample(task_id="t", index=0, text=text))
    assert result.answer == chosen, (text, options, result.details)
    assert result.passed is (chosen == gold)
    assert math.answer_key(task, Sample(task_id="t", index=0, text=text)) == chosen


# -- end to end: `assay verify` and `assay audit` --------------------------------------------------------------------


def test_audit_takes_the_majority_over_option_letters(tmp_path: Path) -> None:
    from assay.cli import main
    from assay.jsonl import write_jsonl

    options = {"A": "226", "B": "230", "C": "240", "D": "260", "E": "280"}
    tasks = write_jsonl(tmp_path / "tasks.jsonl", [{"id": "profit", "reference": {"answer": "B", "options": options}}])
    texts = [
        ("x = 234.29, about 230.\nThe answer is 234.29", True),
        ("Answer: B", True),
        ("Let D be the midpoint. The price is (B) 230", True),
        ("x - 110 = 116, so x = 226\n\n**226**", False),
        ("x - 110 = 116, so x = 226\n\n**226**", False),
    ]
    rows = [{"task_id": "profit", "index": i, "text": text, "label": label} for i, (text, label) in enumerate(texts)]
    samples = write_jsonl(tmp_path / "samples.jsonl", rows)
    verdicts, store = tmp_path / "verdicts.jsonl", tmp_path / "store.sqlite"
    verify = ["verify", str(tasks), str(samples), "--verifier", "math", "-o", str(verdicts), "--store", str(store)]
    assert main([*verify, "--jobs", "0", "-q"]) == 0
    answers = [json.loads(line)["answer"] for line in verdicts.read_text().splitlines()]
    assert sorted(answers) == ["A", "A", "B", "B", "B"]
    report_dir = tmp_path / "report"
    args = ["audit", str(tasks), str(samples), "--verdicts", str(verdicts), "-o", str(report_dir)]
    assert main([*args, "--k", "5", "--no-html", "--bootstrap", "20", "--quiet"]) == 0
    report = json.loads((report_dir / "report.json").read_text())
    (majority,) = [curve for curve in report["curves"] if curve["name"] == "majority"]
    # by text, the two identical wrong answers would be the largest group; by letter, B has three votes
    assert majority["value"] == [1.0]


FRAGMENTS = [
    "Let {L} be the midpoint of {L}{M}.",
    "{L} = {n}",
    "{L} = Symbol('{L}')",
    "ans = simplify({L}/({M}-3) - {L}/{M})",
    "({L}+{M})/2",
    "print({L})",
    "angle {L}{M}{L} is {n} degrees",
    "f({L}) = {L}^2",
    "{L}'s share",
    "vertex {L} and point {M}",
    "\\boxed{{x+{L}}}",
    "# {L} = {M} * 2",
    "{L}{M} = {n} cm",
    "the area of {L}",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pieces=st.lists(
        st.tuples(st.sampled_from(FRAGMENTS), st.sampled_from("ABCDE"), st.sampled_from("ABCDEM"), st.integers(0, 99)),
        min_size=1,
        max_size=8,
    ),
    separators=st.lists(st.sampled_from([" ", "\n", "\n\n", ". "]), min_size=8, max_size=8),
)
def test_text_full_of_stray_capitals_chooses_nothing(
    math: MathVerifier, pieces: list[tuple[str, str, str, int]], separators: list[str]
) -> None:
    text = "".join(
        fragment.format(L=first, M=second, n=n) + separators[i] for i, (fragment, first, second, n) in enumerate(pieces)
    )
    options = ["A) Cecile", "B) Alina", "C) Peter", "D) Marcus", "E) Ingrid"]
    for reference in ({"answer": "D", "options": options}, {"answer": "D"}):
        result = verdict(math, reference, text)
        assert result.status == "fail" and result.answer is None, (text, result.details)
