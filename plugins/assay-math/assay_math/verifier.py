"""The `math` verifier: final-answer extraction and symbolic equality."""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from assay import BadReference, Sample, Task, Verdict, Verifier, VerifierKind
from assay_math.config import MathConfig
from assay_math.feedback import math_feedback


class MathReference(BaseModel):
    """`reference` of a math task: the answer (LaTeX or plain; a number is fine), optionally how to read it."""

    model_config = ConfigDict(extra="ignore")

    # Strict: a boolean is never a number (pydantic would read `true` as 1, and the answer `1` would pass).
    answer: StrictStr | StrictInt | StrictFloat = Field(
        description="The reference answer: '\\frac{1}{2}', '51.0', 51, '(1, 2]', 'C'."
    )
    percent_as_fraction: bool = Field(default=False, description="For answer_key: '50%' votes with 1/2 (else with 50).")
    # read by assay_math.choices.read_options, whose errors name the option at fault
    options: Any = Field(
        default=None,
        description="Multiple choice: ['A) text', ...], a list of texts (A, B, ... in order) or {letter: text}; "
        "`answer` is then the gold letter (or its option's text).",
    )


class MathVerifier(Verifier):
    name = "math"
    version = "0.1.0"
    kind: ClassVar[VerifierKind] = "symbolic"
    Config = MathConfig
    config: MathConfig

    def __init__(self, config: MathConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        # A verifier instance is a warm one: sympy is imported here (seconds on a busy machine), not inside the
        # first verdict's time budget. Importing the plugin stays light.
        from assay_math.answers import Reader

        self._reader: Any = Reader(self.config)
        self._warm_up()

    @property
    def reader(self) -> Any:
        return self._reader

    def _warm_up(self) -> None:
        """First use of sympy's evaluation and solving imports more of it: pay that once, here."""
        task = Task(id="warm-up", reference={"answer": "x < \\frac{1}{2}"})
        self.verify(task, Sample(task_id="warm-up", index=0, text="\\boxed{-x > -\\sqrt{0.25}}"))
        self._reader.cache.clear()

    def verify(self, task: Task, sample: Sample) -> Verdict:
        from assay_math.answers import DeadlineExceeded
        from assay_math.deadline import Budget
        from assay_math.restated import asks_for_order, restates

        reference = self.parse_reference(task, MathReference)
        budget = Budget(self.config.time_limit_s)
        gold_text = _reference_text(reference.answer)
        if not gold_text.strip():
            return self.error(task, sample, "bad_reference", "reference answer is empty")
        try:
            choice = self._gold_choice(task, reference, gold_text)
            if choice is not None:
                return self._choice_verdict(task, sample, choice, budget)
            read = self._read_reference(task, sample, reference, gold_text, budget)
            if isinstance(read, Verdict):
                return read
            gold_answer, gold = read
            answered = self._read_answer(task, sample, gold_answer, gold, reference, budget)
            if isinstance(answered, Verdict):
                return answered
            extracted, pred, details = answered
            ordered = asks_for_order(task.prompt)
            passed = self.reader.equal(gold, pred, budget, ordered_lists=ordered)
            if not passed and "," in gold_answer.text + extracted.text and (gold_answer.plain or extracted.plain):
                passed = self._other_comma_readings(gold_answer, extracted, gold, pred, budget, ordered)
            # 'Simplify (x+1)^2 - x^2 - 2x' answered with that expression: equal in value, but no simplification
            restated = (
                passed
                and self.config.reject_restated_question
                and restates(task.prompt, extracted.text, gold_answer.text)
            )
            passed = passed and not restated
        except DeadlineExceeded:
            # the interruption may have landed inside sympy's bookkeeping: start from clean caches
            from sympy.core.cache import clear_cache  # type: ignore[import-untyped]

            clear_cache()
            return self.verdict(
                task, sample, "timeout", reason="time_limit", details={"limit_s": self.config.time_limit_s}
            )
        return self.verdict(
            task,
            sample,
            "pass" if passed else "fail",
            score=float(passed),
            # the canonical key, so that votes over verdicts count equivalent answers together
            answer=self._key(pred, extracted.text, reference.percent_as_fraction, budget),
            reason=None if passed else "restated_question" if restated else "wrong_answer",
            details={**details, "extracted": extracted.text.strip()[:500]},
        )

    def _read_reference(
        self, task: Task, sample: Sample, reference: MathReference, gold_text: str, budget: Any
    ) -> tuple[Any, Any] | Verdict:
        """(the reference as extracted, its value), or the `bad_reference` verdict of one that cannot be read."""
        from assay_math.answers import ParseError
        from assay_math.extract import Extracted

        gold_answer = self.reader.extract(gold_text) if not isinstance(reference.answer, int | float) else None
        if gold_answer is None:
            gold_answer = Extracted(gold_text.strip(), True, "bare")
        try:
            return gold_answer, self.reader.value(gold_answer, budget, is_gold=True)
        except ParseError as exc:
            # a reference that cannot be read judges nothing: not even an answer that copies it passes
            return self.error(
                task, sample, "bad_reference", f"reference answer {gold_text[:200]!r} cannot be parsed: {exc}"
            )

    def _read_answer(
        self, task: Task, sample: Sample, gold_answer: Any, gold: Any, reference: MathReference, budget: Any
    ) -> tuple[Any, Any, dict[str, Any]] | Verdict:
        """(the answer as extracted, its value, details), or the verdict of a sample whose answer is missing,
        too long, a copy of the reference's text, too large or unreadable."""
        from assay_math.answers import ParseError, TooLarge
        from assay_math.extract import Extracted, last_number
        from assay_math.normalize import looks_like_code

        reader = self.reader
        extracted = reader.extract(sample.text)
        if extracted is None:
            return self.verdict(task, sample, "fail", reason="no_answer")
        details: dict[str, Any] = {"extracted_by": extracted.how}
        if len(extracted.text) > self.config.max_answer_chars:
            details["length"] = len(extracted.text)
            return self.verdict(task, sample, "fail", score=0.0, reason="answer_too_long", details=details)
        shown = extracted.text.strip()[:500]
        if _same_text(gold_answer.text, extracted.text):
            key = self._key(gold, extracted.text, reference.percent_as_fraction, budget)
            return self.verdict(task, sample, "pass", score=1.0, answer=key, details={**details, "extracted": shown})
        try:
            return extracted, reader.value(extracted, budget, is_gold=False), details
        except TooLarge as exc:  # no fall-back to a number inside it: `(10^{100000})!` is not 100000
            details.update(extracted=shown, too_large=str(exc))
            return self.verdict(task, sample, "fail", score=0.0, answer=shown, reason="too_large", details=details)
        except ParseError:
            pass
        prose = (
            extracted.how in ("math", "marker", "bare")
            and not any(c in extracted.text for c in "\\{}")
            and not looks_like_code(extracted.text)  # no number is picked out of a program
        )
        number = last_number(extracted.text) if prose and "number" in self.config.extraction else None
        if number is not None:  # a span that is not math ('? just about 1'): its last number
            try:
                details["extracted_by"] = "number"
                as_number = Extracted(number, True, "number")
                return as_number, reader.value(as_number, budget, is_gold=False), details
            except ParseError:
                shown = number.strip()[:500]
        return self.verdict(task, sample, "fail", score=0.0, answer=shown, reason="parse_error", details=details)

    def _gold_choice(self, task: Task, reference: MathReference, gold_text: str) -> tuple[str, Any] | None:
        """(gold letter, options or None) for a multiple-choice task, None for any other."""
        from assay_math.choices import OptionsError, read_options, reference_letter
        from assay_math.extract import choice_letter

        if reference.options is not None:
            try:
                options = read_options(reference.options)
            except OptionsError as exc:
                raise BadReference(f"task {task.id!r}: reference.options: {exc}", field="reference.options") from None
            try:
                return reference_letter(reference.answer, options), options
            except OptionsError as exc:
                raise BadReference(f"task {task.id!r}: reference.answer: {exc}", field="reference.answer") from None
        if self.config.multiple_choice == "always":
            letter = choice_letter(gold_text, reference=True)
        else:
            letter = self.reader.reference_choice(gold_text)
        return (letter, None) if letter is not None else None

    def _choose(self, text: str, options: Any, budget: Any) -> Any:
        from assay_math.choices import choose

        return choose(
            text,
            options,
            self.reader,
            budget,
            lone_letter=self.config.choice_lone_letter,
            tolerance=self.config.choice_tolerance,
            modes=list(self.config.extraction),
        )

    def _choice_verdict(self, task: Task, sample: Sample, choice: tuple[str, Any], budget: Any) -> Verdict:
        gold, options = choice
        found = self._choose(sample.text, options, budget)
        details: dict[str, Any] = {"reference": gold, "extracted_by": "choice", "choice_by": found.how, **found.details}
        if found.extracted is not None:
            details["extracted"] = found.extracted
        if found.letter is None:
            # an answer that is no option is no vote for one
            return self.verdict(task, sample, "fail", score=0.0, reason="no_answer", details=details)
        passed = found.letter == gold
        return self.verdict(
            task,
            sample,
            "pass" if passed else "fail",
            score=float(passed),
            answer=found.letter,
            reason=None if passed else "wrong_answer",
            details=details,
        )

    def _key(self, value: Any, text: str, percent_as_fraction: bool, budget: Any) -> str | None:
        """`answer_key` of an answer already read: its canonical form, or its text when that is out of reach."""
        from assay_math.answers import DeadlineExceeded, answer_key_of

        if value is not None:
            try:
                with budget.enforce():
                    return str(answer_key_of(value, percent_as_fraction=percent_as_fraction))
            except (DeadlineExceeded, Exception):  # a key is best effort: an unreadable answer votes as its text
                pass
        return " ".join(text.split())[:500] or None

    def _other_comma_readings(
        self, gold_answer: Any, extracted: Any, gold: Any, pred: Any, budget: Any, ordered: bool
    ) -> bool:
        """'1,2' in prose reads as 1.2 (a decimal comma); a list reading is tried too before saying no."""
        from assay_math.answers import ParseError
        from assay_math.extract import Extracted

        def readings(answer: Any, value: Any, is_gold: bool) -> list[Any]:
            out = [value]
            if answer.plain and answer.text.count(",") == 1:
                with contextlib.suppress(ParseError):
                    out.append(self.reader.value(Extracted(answer.text, False, answer.how), budget, is_gold=is_gold))
            return out

        golds = [g for g in readings(gold_answer, gold, True) if g is not None]
        preds = readings(extracted, pred, False)
        pairs = [(g, p) for g in golds for p in preds if (g, p) != (gold, pred)]
        return any(self.reader.equal(g, p, budget, ordered_lists=ordered) for g, p in pairs)

    def feedback(self, task: Task, verdict: Verdict, *, show_tests: bool) -> str | None:
        """ "no final answer found", or the answer that was read and judged wrong (never the reference)."""
        return math_feedback(verdict, show_tests=show_tests)

    def answer_key(self, task: Task, sample: Sample) -> str | None:
        from assay_math.answers import DeadlineExceeded
        from assay_math.deadline import Budget

        percent_as_fraction = (
            bool(task.reference.get("percent_as_fraction", False)) if isinstance(task.reference, dict) else False
        )
        reader = self.reader
        budget = Budget(self.config.time_limit_s)
        try:
            reference = self.parse_reference(task, MathReference)
            choice = self._gold_choice(task, reference, _reference_text(reference.answer))
        except BadReference:
            choice = None
        if choice is not None:  # votes count options, whichever way a response gave its one
            try:
                letter: str | None = self._choose(sample.text, choice[1], budget).letter
            except DeadlineExceeded:
                letter = None
            return letter
        extracted = reader.extract(sample.text)
        if extracted is None:
            return None
        try:
            value = reader.value(extracted, budget, is_gold=False)
        except (DeadlineExceeded, Exception):  # a key is best effort: an unreadable answer votes as its text
            value = None
        return self._key(value, extracted.text, percent_as_fraction, budget)


def _reference_text(answer: str | int | float) -> str:
    if isinstance(answer, float) and answer.is_integer():
        return str(int(answer))
    return str(answer)


def _same_text(a: str, b: str) -> bool:
    return "".join(a.split()) == "".join(b.split()) and bool(a.strip())
