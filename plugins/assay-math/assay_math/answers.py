"""From text to a comparable value and back to a canonical key: the pipeline the verifier runs.

Imports sympy (through `values`): the verifier imports this module lazily, on first use.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Any

import sympy  # type: ignore[import-untyped]

from assay_math.compare import Context, Labeled, Record, equal, is_sequence, resolve, strip_labels
from assay_math.config import MathConfig
from assay_math.deadline import Budget, DeadlineExceeded
from assay_math.exact import TooLarge
from assay_math.extract import Extracted, choice_letter, extract
from assay_math.normalize import clean_latex, looks_like_code
from assay_math.syntax import ParseError, parse
from assay_math.values import Choice, Flags, Matrix, NotScalar, Rel, Scalar, Seq, SetOp, Text, build

__all__ = ["DeadlineExceeded", "ParseError", "Reader", "TooLarge", "answer_key_of"]


class Reader:
    """Extracts and parses answers for one configuration, with a small thread-safe cache of parsed values."""

    def __init__(self, config: MathConfig, cache_size: int = 4096) -> None:
        self.config = config
        self.cache: OrderedDict[tuple[str, bool, bool], Any] = OrderedDict()
        self.cache_size = cache_size
        self.lock = threading.Lock()
        self._rounding_config = config.model_copy(update={"accept_rounded_answers": True})

    def extract(self, text: str) -> Extracted | None:
        return extract(
            text,
            modes=list(self.config.extraction),
            join_boxed=self.config.join_boxed,
            max_chars=self.config.max_response_chars,
        )

    def reference_choice(self, answer: str) -> str | None:
        if self.config.multiple_choice == "never":
            return None
        return choice_letter(answer, reference=True)

    def value(self, answer: Extracted, budget: Budget, *, is_gold: bool) -> Any:
        """The resolved value of an extracted answer (raises ParseError)."""
        if len(answer.text) > self.config.max_answer_chars:
            raise ParseError(f"answer longer than {self.config.max_answer_chars} characters")
        key = (answer.text, answer.plain, is_gold)
        with self.lock:
            if key in self.cache:
                self.cache.move_to_end(key)
                cached = self.cache[key]
                if isinstance(cached, ParseError):
                    raise cached
                return cached
        try:
            with budget.enforce():
                result: Any = resolve(self._read(answer), is_gold=is_gold)
        except (ParseError, RecursionError, TypeError, ValueError, ZeroDivisionError, AttributeError) as exc:
            result = exc if isinstance(exc, ParseError) else ParseError(f"{type(exc).__name__}: {exc}")
        with self.lock:
            self.cache[key] = result
            if len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)
        if isinstance(result, ParseError):
            raise result
        return result

    def _read(self, answer: Extracted) -> Any:
        if looks_like_code(answer.text):  # never evaluated, never read as the math it resembles
            raise ParseError("program code, not math")
        cleaned = clean_latex(answer.text)
        flags = Flags(imaginary_unit=self.config.imaginary_unit)
        try:
            node = parse(cleaned, plain=answer.plain)
            return build(node, flags, source=cleaned if len(cleaned) < 60 else None)
        except (NotScalar, TooLarge):
            raise
        except ParseError:
            # words that are no math ('Monday, Tuesday'): a text answer; LaTeX that does not parse ('\\frac{') is not
            words = cleaned.strip(" .")
            if words and _TEXT_ANSWER.fullmatch(words):
                return Text(words)
            raise

    def equal(
        self, gold: Any, pred: Any, budget: Budget, *, rounded_answers: bool = False, ordered_lists: bool = False
    ) -> bool:
        """`rounded_answers`: let a decimal answer match an exact value that rounds to it (which option a value
        designates), whatever `accept_rounded_answers` says. `ordered_lists`: bare lists are compared in order."""
        config = self.config
        if rounded_answers and not config.accept_rounded_answers:
            config = self._rounding_config
        return equal(gold, pred, Context(config, budget, ordered_lists))


_TEXT_ANSWER = re.compile(r"[A-Za-z][A-Za-z '.,;!?&-]{0,199}")


def choice_value(letter: str) -> Choice:
    return Choice(letter)


def answer_key_of(value: Any, *, percent_as_fraction: bool) -> str:
    """A canonical string: equivalent answers give the same key (best effort: exact forms, sorted sets)."""
    if isinstance(value, Choice):
        return value.letter
    if isinstance(value, Labeled):
        return answer_key_of(value.value, percent_as_fraction=percent_as_fraction)
    if isinstance(value, Record):
        return answer_key_of(strip_labels(value), percent_as_fraction=percent_as_fraction)
    if isinstance(value, Text):
        return "text:" + "".join(ch for ch in value.text.casefold() if ch.isalnum())
    if isinstance(value, Scalar):
        expr = value.expr
        if value.huge:  # never simplified (that would compute it): equal texts vote together, nothing more
            return str(expr)
        if value.unit == "pct" and percent_as_fraction:
            expr = expr / 100
        return _expr_key(expr)
    if isinstance(value, Matrix):
        return "[" + "; ".join(", ".join(_expr_key(c.expr) for c in row) for row in value.rows) + "]"
    if isinstance(value, Seq):
        keys = [answer_key_of(v, percent_as_fraction=percent_as_fraction) for v in value.items]
        if value.open == "{" or (value.open == "" and not is_sequence(value)):
            return "{" + ", ".join(sorted(set(keys))) + "}"
        return value.open + ", ".join(keys) + value.close
    if isinstance(value, Rel):
        return " ".join(
            answer_key_of(p, percent_as_fraction=percent_as_fraction) + (f" {op}" if i < len(value.ops) else "")
            for i, (p, op) in enumerate(zip(value.parts, (*value.ops, ""), strict=True))
        )
    if isinstance(value, SetOp):
        left = answer_key_of(value.left, percent_as_fraction=percent_as_fraction)
        right = answer_key_of(value.right, percent_as_fraction=percent_as_fraction)
        return f"{left} {value.op} {right}"
    return str(value)


_KEY_MAX_EXPONENT = 64
_KEY_MAX_OPS = 400


def _small_enough_to_normalise(expr: Any) -> bool:
    powers = expr.atoms(sympy.Pow)
    if any(p.exp.is_Integer and abs(int(p.exp)) > _KEY_MAX_EXPONENT for p in powers):
        return False
    if expr.has(sympy.factorial, sympy.gamma, sympy.binomial, sympy.Sum, sympy.Product):
        return False  # nsimplify would identify n! for n = 83,522 at a precision of its 380,000 digits
    return bool(sympy.count_ops(expr) <= _KEY_MAX_OPS)


def _expr_key(expr: Any) -> str:
    if isinstance(expr, sympy.MatrixBase):
        return str(expr.tolist())
    if expr.is_Rational or expr.is_Atom:
        return str(expr)
    if not _small_enough_to_normalise(expr):  # `(x+1)^{100000}` would expand into gigabytes
        return str(expr)
    try:
        return str(sympy.nsimplify(sympy.radsimp(expr))) if expr.is_number else str(sympy.factor(sympy.cancel(expr)))
    except (TypeError, ValueError, NotImplementedError, AttributeError, RecursionError):
        return str(expr)
