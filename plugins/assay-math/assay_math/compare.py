"""Equality of answer values: exact first, then symbolic and numeric, with one set of conventions.

Conventions (see the README): a reference equation `x = 3` whose left side is a name matches `3`; a derivation
`a = b = c` means `c`; a parenthesised reference tuple is ordered, bare lists and sets are not; `20%` matches 20
and 0.2; a decimal matches an exact value only to float noise (or `relative_tolerance` where no finite decimal can
write that value), and a decimal reference states its precision (`rounding_min_places`). Variables are numbers of
either sign: nothing is assumed about them that the reference does not state.
"""

from __future__ import annotations

import cmath
from dataclasses import dataclass
from typing import Any

import sympy  # type: ignore[import-untyped]

from assay_math.config import MathConfig
from assay_math.deadline import Budget
from assay_math.exact import add, exactly_equal, is_zero, negate, of_sympy
from assay_math.values import ELLIPSIS, Choice, Matrix, Ratio, Rel, Scalar, Seq, SetOp, Text, Value

POINTS = (
    (0.7352, 1.3817, 2.1093, 0.4519, 1.7761, 2.6423, 0.9137, 1.2289),
    (1.5511, 0.6217, 1.9273, 2.3381, 0.8843, 1.1459, 2.7719, 0.5563),
    (2.2917, 1.8123, 0.5871, 1.0437, 2.9461, 0.3389, 1.4651, 2.0129),
    (0.3163, 2.5399, 1.2671, 0.8051, 0.6679, 2.2187, 1.0957, 1.6333),
)
EXACT_RTOL = sympy.Float("1e-30", 60)
PRECISION = 60


@dataclass
class Context:
    config: MathConfig
    budget: Budget
    ordered_lists: bool = False  # the prompt asks for an order ('in increasing order'): bare lists are ordered


# ---------------------------------------------------------------------------------------------------------------
# Names on the left of an equation ('x', 'f(x)', '|AB|', 'a_3', '(p, q)', 'V_1:V_2') are labels, not equations.
# ---------------------------------------------------------------------------------------------------------------


def is_label(value: Value) -> bool:
    if isinstance(value, Scalar):
        return _is_label_expr(value.expr) and not value.unit
    if isinstance(value, Seq) and value.open in ("(", "") and value.items:
        return all(is_label(v) for v in value.items)
    if isinstance(value, Ratio):
        return all(is_label(v) for v in value.parts)
    return False


def _is_label_expr(expr: Any) -> bool:
    if isinstance(expr, sympy.MatrixBase):
        return False
    if expr.is_Symbol:
        return True
    if isinstance(expr, sympy.Abs):
        return _is_label_expr(expr.args[0])
    if expr.is_Mul or (expr.is_Pow and expr.exp == -1):
        return (
            bool(expr.free_symbols)
            and all(
                _is_label_expr(a) or (a.is_Pow and a.exp == -1 and _is_label_expr(a.base)) for a in expr.args if a != -1
            )
            and all(not a.is_Number for a in expr.args)
        )
    return False


@dataclass(frozen=True)
class Labeled:
    label: Value
    value: Value


@dataclass(frozen=True)
class Record:
    """`p = 5, q = 2`: values named by distinct labels, in the order written."""

    labels: tuple[Value, ...]
    values: tuple[Value, ...]


def resolve(value: Any, *, is_gold: bool) -> Any:
    """Apply the reading conventions: derivation chains, labels, `\\approx`, records, flattening."""
    if isinstance(value, Rel):
        ops, parts = list(value.ops), list(value.parts)
        if "approx" in ops:
            cut = ops.index("approx")
            before = parts[: cut + 1]
            if cut == 0 and is_label(before[0]):
                return resolve(parts[cut + 1] if len(parts) > cut + 1 else before[0], is_gold=is_gold)
            return resolve(before[0] if cut == 0 else Rel(tuple(ops[:cut]), tuple(before)), is_gold=is_gold)
        if ops == ["in"] and is_label(parts[0]):
            return resolve(parts[1], is_gold=is_gold)
        if all(op == "=" for op in ops):
            if len(parts) >= 3:
                return resolve(parts[-1], is_gold=is_gold)
            left, right = parts
            if is_label(left) and not is_label(right):
                return Labeled(left, resolve(right, is_gold=is_gold))
            if is_label(right) and not is_label(left) and not isinstance(left, Scalar | Seq):
                return Labeled(right, resolve(left, is_gold=is_gold))
            if is_label(left) and is_label(right):
                return Labeled(left, right)
        return value
    if isinstance(value, Seq):
        items = [resolve(v, is_gold=is_gold) for v in value.items]
        if value.open == "":
            flat: list[Any] = []
            for item in items:
                if isinstance(item, Seq) and item.open == "" and not _is_record(item.items):
                    flat.extend(item.items)
                elif isinstance(item, Seq) and item.open == "":
                    flat.append(_record(item.items))
                else:
                    flat.append(item)
            if len(flat) == 1:
                return flat[0]
            if _is_record(flat):
                return _record(flat)
            return Seq("", "", tuple(flat))
        if value.open == "{":
            items = [
                x for item in items for x in (item.items if isinstance(item, Seq) and item.open == "" else (item,))
            ]
        return Seq(value.open, value.close, tuple(items))
    return value


def _is_record(items: Any) -> bool:
    labels = [i.label for i in items if isinstance(i, Labeled)]
    return len(labels) == len(items) > 1 and len(set(map(repr, labels))) == len(labels)


def _record(items: Any) -> Record:
    return Record(tuple(i.label for i in items), tuple(i.value for i in items))


def strip_labels(value: Any) -> Any:
    if isinstance(value, Labeled):
        return value.value
    if isinstance(value, Record):
        return Seq("", "", value.values)
    if isinstance(value, Seq):
        return Seq(value.open, value.close, tuple(strip_labels(v) for v in value.items))
    return value


# ---------------------------------------------------------------------------------------------------------------
# The comparison
# ---------------------------------------------------------------------------------------------------------------


def equal(gold: Any, pred: Any, ctx: Context) -> bool:
    ctx.budget.check()
    if isinstance(gold, Labeled) and isinstance(pred, Labeled):
        if gold.label == pred.label:
            return equal(gold.value, pred.value, ctx)
        return relations_equal(_as_rel(gold), _as_rel(pred), ctx)
    if isinstance(gold, Record) and isinstance(pred, Record):
        if set(map(repr, gold.labels)) == set(map(repr, pred.labels)):
            by_label = dict(zip(map(repr, pred.labels), pred.values, strict=True))
            return all(equal(v, by_label[repr(k)], ctx) for k, v in zip(gold.labels, gold.values, strict=True))
        return ordered_equal(gold.values, pred.values, ctx)
    if isinstance(gold, Record):
        if isinstance(pred, Seq):
            return ordered_equal(gold.values, pred.items, ctx)
        return False
    if isinstance(pred, Record):
        if isinstance(gold, Seq) and gold.open != "{":
            return ordered_equal(gold.items, pred.values, ctx)
        return isinstance(gold, Seq) and unordered_equal(gold.items, pred.values, ctx)
    if isinstance(gold, Labeled):
        if isinstance(pred, Rel):
            return relations_equal(_as_rel(gold), pred, ctx)
        return equal(gold.value, pred, ctx)
    if isinstance(pred, Labeled):
        if isinstance(gold, Rel):
            return relations_equal(gold, _as_rel(pred), ctx)
        return equal(gold, pred.value, ctx)
    if isinstance(gold, Rel) or isinstance(pred, Rel):
        return relation_vs_value(gold, pred, ctx)
    if isinstance(gold, Ratio) or isinstance(pred, Ratio):
        return ratios_equal(gold, pred, ctx)
    if isinstance(gold, Choice) or isinstance(pred, Choice):
        return _letter(gold) is not None and _letter(gold) == _letter(pred)
    if isinstance(gold, Text) or isinstance(pred, Text):
        return texts_equal(gold, pred)
    if isinstance(gold, Scalar) and isinstance(pred, Scalar):
        return scalars_equal(gold, pred, ctx)
    if isinstance(gold, Matrix) or isinstance(pred, Matrix):
        return matrices_equal(gold, pred, ctx)
    if _is_setlike(gold) or _is_setlike(pred):
        return sets_equal(gold, pred, ctx)
    if isinstance(gold, Seq) and isinstance(pred, Seq):
        return seqs_equal(gold, pred, ctx)
    return False


def ratios_equal(gold: Any, pred: Any, ctx: Context) -> bool:
    """7:32 matches 7:32 (and 14:64); a two-part ratio with a non-zero second part also matches its quotient."""

    def quotient(value: Any) -> Scalar | None:
        if isinstance(value, Ratio) and len(value.parts) == 2 and all(isinstance(p, Scalar) for p in value.parts):
            a, b = value.parts
            if b.expr != 0 and not isinstance(a.expr, sympy.MatrixBase) and not isinstance(b.expr, sympy.MatrixBase):
                return Scalar(a.expr / b.expr, inexact=a.inexact or b.inexact)
        return value if isinstance(value, Scalar) else None

    if isinstance(gold, Ratio) and isinstance(pred, Ratio):
        if ordered_equal(gold.parts, pred.parts, ctx):
            return True
        if len(gold.parts) != len(pred.parts) or not all(isinstance(p, Scalar) for p in gold.parts + pred.parts):
            return False
        if any(p.expr == 0 for p in gold.parts + pred.parts):
            return False
    a, b = quotient(gold), quotient(pred)
    if a is None or b is None:
        return False
    if isinstance(gold, Ratio) and isinstance(pred, Ratio) and len(gold.parts) > 2:
        first_g, first_p = gold.parts[0].expr, pred.parts[0].expr
        return all(
            scalars_equal(Scalar(g.expr / first_g), Scalar(p.expr / first_p), ctx)
            for g, p in zip(gold.parts[1:], pred.parts[1:], strict=True)
        )
    return scalars_equal(a, b, ctx)


def _as_rel(labeled: Labeled) -> Rel:
    return Rel(("=",), (labeled.label, labeled.value))


def _letter(value: Any) -> str | None:
    if isinstance(value, Choice):
        return value.letter
    if isinstance(value, Text):
        stripped = value.text.strip().strip("()").strip()
        return stripped if len(stripped) == 1 and stripped.isalpha() else None
    if isinstance(value, Scalar) and value.source and len(value.source) == 1 and value.source.isalpha():
        return value.source
    return None


def _normal_text(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def texts_equal(gold: Any, pred: Any) -> bool:
    def words(value: Any) -> str | None:
        if isinstance(value, Text):
            return _normal_text(value.text)
        if isinstance(value, Scalar) and value.source:
            return _normal_text(value.source)
        return None

    a, b = words(gold), words(pred)
    return a is not None and a != "" and a == b


def seqs_equal(gold: Seq, pred: Seq, ctx: Context) -> bool:
    if gold.open == "" and pred.open == "":
        if ctx.ordered_lists or is_sequence(gold) or is_sequence(pred):
            return ordered_equal(gold.items, pred.items, ctx)
        return unordered_equal(gold.items, pred.items, ctx)
    if gold.open == "" or pred.open == "":
        ordered = pred if gold.open == "" else gold
        bare = gold if gold.open == "" else pred
        if ordered.open == "(" and ctx.config.ordered_tuples and not _all_tuples(bare.items):
            return ordered_equal(gold.items, pred.items, ctx)
        if _all_tuples(bare.items) and len(bare.items) >= 1:
            return unordered_equal(_as_items(gold), _as_items(pred), ctx)
        return ordered_equal(gold.items, pred.items, ctx)
    if (gold.open, gold.close) != (pred.open, pred.close):
        return False
    return ordered_equal(gold.items, pred.items, ctx)


def is_sequence(seq: Seq) -> bool:
    """`1, 2, \\ldots, n`: a list with an ellipsis is written in its order."""
    return any(isinstance(i, Scalar) and i.expr == ELLIPSIS for i in seq.items)


def _all_tuples(items: Any) -> bool:
    return bool(items) and all(isinstance(i, Seq | Record) and getattr(i, "open", "(") != "{" for i in items)


def _as_items(seq: Seq) -> tuple[Any, ...]:
    return seq.items if seq.open == "" else (seq,)


def ordered_equal(gold: Any, pred: Any, ctx: Context) -> bool:
    return len(gold) == len(pred) and all(equal(g, p, ctx) for g, p in zip(gold, pred, strict=True))


def unordered_equal(gold: Any, pred: Any, ctx: Context) -> bool:
    """Set equality: every item on one side equals some item on the other (duplicates collapse)."""
    gold, pred = list(gold), list(pred)
    if len(gold) * len(pred) > 400:
        return False
    hits = [[equal(g, p, ctx) for p in pred] for g in gold]
    return all(any(row) for row in hits) and all(any(hits[i][j] for i in range(len(gold))) for j in range(len(pred)))


def matrices_equal(gold: Any, pred: Any, ctx: Context) -> bool:
    def cells(value: Any) -> list[list[Any]] | None:
        if isinstance(value, Matrix):
            return [list(r) for r in value.rows]
        if isinstance(value, Seq) and value.open in ("(", "[") and all(isinstance(i, Scalar) for i in value.items):
            return [[i] for i in value.items]
        return None

    a, b = cells(gold), cells(pred)
    if a is None or b is None:
        return False
    if len(a) != len(b):
        if len(a) == 1 and len(b[0]) == 1:
            b = [[r[0] for r in b]]
        elif len(b) == 1 and len(a[0]) == 1:
            a = [[r[0] for r in a]]
    if len(a) != len(b) or any(len(x) != len(y) for x, y in zip(a, b, strict=False)):
        return False
    return all(equal(x, y, ctx) for ra, rb in zip(a, b, strict=True) for x, y in zip(ra, rb, strict=True))


# ---------------------------------------------------------------------------------------------------------------
# Scalars
# ---------------------------------------------------------------------------------------------------------------


def _alternatives(value: Scalar, ctx: Context) -> list[tuple[Any, bool]]:
    """The readings of a value with a unit: (expression, is_primary)."""
    out = [(value.expr, True)]
    if value.unit == "pct" and ctx.config.percent_matches_fraction:
        out.append((value.expr / 100, False))
    if value.unit == "deg" and ctx.config.degrees_match_radians:
        out.append((value.expr * sympy.pi / 180, False))
    return out


def scalars_equal(gold: Scalar, pred: Scalar, ctx: Context) -> bool:
    if gold.unit == pred.unit:
        return expr_equal(gold, pred, gold.expr, pred.expr, ctx)
    for g, g_primary in _alternatives(gold, ctx):
        for p, p_primary in _alternatives(pred, ctx):
            if (g_primary or p_primary) and expr_equal(gold, pred, g, p, ctx, rounding=g_primary and p_primary):
                return True
    return False


def expr_equal(gold: Scalar, pred: Scalar, a: Any, b: Any, ctx: Context, *, rounding: bool = True) -> bool:
    if a == b:
        return True
    if isinstance(a, sympy.MatrixBase) or isinstance(b, sympy.MatrixBase):
        return False
    if gold.huge or pred.huge:  # never evaluated: equal only by exact arithmetic on the exponents
        return exactly_equal(a, b)
    inexact = gold.inexact or pred.inexact
    if a.free_symbols or b.free_symbols:
        return symbolic_equal(a, b, ctx, inexact=gold.inexact)
    if a.is_Rational and b.is_Rational:
        # decimals are exact rationals: compare them exactly (no 60-digit evaluation rounds 3.99...9 up to 4)
        if not inexact:
            return False
        exact_diff = abs(a - b)
        if exact_diff <= max(abs(a), abs(b)) * sympy.Rational(_decimal_tolerance(gold, a, None, ctx)):
            return True
        return rounding and _rounds_to(gold, pred, a, b, exact_diff, ctx)
    if not inexact and ((a.is_Rational and b.is_rational is False) or (b.is_Rational and a.is_rational is False)):
        return False  # a fraction is never an irrational number, however many digits agree
    va, vb = _evaluate(a, ctx), _evaluate(b, ctx)
    if va is None or vb is None:
        return _simplifies_to_zero(a - b, ctx)
    diff = abs(va - vb)
    scale = max(abs(va), abs(vb))
    if inexact:
        if diff <= scale * _decimal_tolerance(gold, a, va, ctx):
            return True
        return rounding and _rounds_to(gold, pred, a, b, diff, ctx)
    if scale == 0:
        return bool(diff == 0)
    return bool(diff <= scale * EXACT_RTOL) and not _certainly_different(a, b, ctx)


def _certainly_different(a: Any, b: Any, ctx: Context) -> bool:
    """Agreeing to 30 digits is no equality when the values dwarf their difference (`\\pi^{100} + 1` is not
    `\\pi^{100}`, `2^{1/10^{100}}` is not 1): exact arithmetic decides where it applies, else a difference that
    sympy evaluates to a certain, non-zero number."""
    exact_a, exact_b = of_sympy(a), of_sympy(b)
    if exact_a is not None and exact_b is not None:
        return not is_zero(add(exact_a, negate(exact_b)))
    difference = None
    try:
        with ctx.budget.enforce():
            difference = (a - b).evalf(15, strict=True)
    except (TypeError, ValueError, ZeroDivisionError, ArithmeticError, RecursionError, AttributeError):
        pass  # no digit of the difference is certain (PrecisionExhausted)
    if difference is not None and difference.is_Number and difference != 0:
        return True
    # an uncertain or zero evaluation may well be a true zero, unless a huge power makes any difference smaller
    # than every precision tried (\\pi^{10^4}/(\\pi^{10^4}+1) and e^{10^5}/(e^{10^5}+1) are not 1)
    return any(_huge_power(node) for node in sympy.preorder_traversal(a - b))


def _huge_power(node: Any) -> bool:
    exponent = node.exp if isinstance(node, sympy.Pow) else node.args[0] if isinstance(node, sympy.exp) else None
    return exponent is not None and bool(exponent.is_Number) and bool(abs(exponent) > 1000)


def _decimal_tolerance(gold: Scalar, gold_expr: Any, gold_value: Any, ctx: Context) -> float:
    """How far a value with a decimal in it may be from the reference: a decimal reference, or an exact one that no
    finite decimal writes (1/3, sqrt 2), allow `relative_tolerance`; an exact reference that a decimal can write
    exactly (an integer, 1/8) allows only `float_noise` (4.0000000001 is not 4)."""
    if gold.inexact or not _finite_decimal(gold_expr, gold_value):
        return ctx.config.relative_tolerance
    return ctx.config.float_noise


def _finite_decimal(expr: Any, value: Any) -> bool:
    """Whether an exact value has a finite decimal expansion (4, 1/8; also log_2 8, which is 3)."""
    if expr.is_Rational:
        return _terminates(int(expr.q))
    if value is None or value.imag != 0:
        return False
    real = value.real
    nearest = round(real)
    return bool(abs(real - nearest) <= abs(real) * EXACT_RTOL)


def _rounds_to(gold: Scalar, pred: Scalar, a: Any, b: Any, diff: Any, ctx: Context) -> bool:
    """A decimal reference written to k places matches a more precise value that rounds to it (and, with
    `accept_rounded_answers`, a decimal answer an exact reference that rounds to it)."""
    minimum = ctx.config.rounding_min_places
    for decimal, other, other_expr, decimal_is_gold in ((gold, pred, b, True), (pred, gold, a, False)):
        if not decimal_is_gold and not ctx.config.accept_rounded_answers:
            continue
        k = decimal.places
        if k is None or k < minimum or len(str(abs(int(decimal.expr * 10**k)))) < minimum:
            continue  # too few places, or too few significant digits (0.03 is not a rounding of 1/36)
        if other.places is not None:
            # two decimals: only a more precise prediction may round to the reference
            if not decimal_is_gold or other.places <= k:
                continue
        elif other_expr.is_Rational and not other.inexact and _terminates(int(other_expr.q)):
            continue  # the exact value is a finite decimal (1/8 = 0.125): it must be written exactly
        if diff <= sympy.Rational(1, 2) * sympy.Rational(1, 10**k) * (1 + sympy.Rational(1, 10**9)):
            return True
    return False


def _terminates(denominator: int) -> bool:
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    return denominator == 1


def _evaluate(expr: Any, ctx: Context) -> Any:
    try:
        with ctx.budget.enforce():
            value = expr.evalf(PRECISION)
    except (TypeError, ValueError, ZeroDivisionError, ArithmeticError, RecursionError):
        return None
    if not value.is_number or value.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        if value in (sympy.oo, -sympy.oo):
            return None
        return None
    re_part, im_part = value.as_real_imag()
    if not (re_part.is_Float or re_part.is_zero) or not (im_part.is_Float or im_part.is_zero):
        return None
    return _to_mpc(re_part, im_part)


def _to_mpc(re_part: Any, im_part: Any) -> Any:
    from mpmath import mp, mpc, mpf  # type: ignore[import-untyped]

    mp.dps = PRECISION
    return mpc(mpf(re_part._mpf_ if re_part.is_Float else 0), mpf(im_part._mpf_ if im_part.is_Float else 0))


def _simplifiable(expr: Any) -> bool:
    """simplify() on (x+1)^100000 or a page of terms would only spend the budget."""
    if sympy.count_ops(expr) > 120:
        return False
    return not any(p.exp.is_Number and abs(p.exp) > 64 and p.base.free_symbols for p in expr.atoms(sympy.Pow))


def _simplifies_to_zero(expr: Any, ctx: Context) -> bool:
    if not _simplifiable(expr):
        return False
    try:
        with ctx.budget.enforce():
            return bool(sympy.simplify(expr) == 0)
    except (
        TypeError,
        ValueError,
        ZeroDivisionError,
        ArithmeticError,
        RecursionError,
        NotImplementedError,
        AttributeError,
    ):
        return False


#: Signs of the variables at each row of POINTS, row by row: all positive, all negative, and mixed, so that no
#: identity that needs a sign (|x| = x, sqrt(x^2) = x, log(xy) = log x + log y) holds at every point.
SIGNS = ((1, 1), (-1, -1), (1, -1), (-1, 1), (-1, 1), (1, 1), (1, -1), (-1, -1))


def _points(symbols: list[Any]) -> list[dict[Any, Any]]:
    """Sample points for expressions with variables: nothing is assumed about a variable, so both signs occur."""
    points = []
    for index, signs in enumerate(SIGNS):
        row = POINTS[index % len(POINTS)]
        points.append(
            {
                s: sympy.Float(signs[i % 2] * (row[i % len(row)] + 0.1 * (i // len(row))), 30)
                for i, s in enumerate(symbols)
            }
        )
    return points


def _numeric_at(expr: Any, point: dict[Any, Any], ctx: Context) -> Any:
    try:
        with ctx.budget.enforce():
            value = expr.xreplace(point).evalf(30)
    except (TypeError, ValueError, ZeroDivisionError, ArithmeticError, RecursionError, AttributeError):
        return None
    if not value.is_number or value.has(sympy.zoo, sympy.nan) or value.free_symbols:
        return None
    try:
        number = complex(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if cmath.isfinite(number) else None


def symbolic_equal(a: Any, b: Any, ctx: Context, *, inexact: bool) -> bool:
    if a.has(sympy.Sum, sympy.Product) or b.has(sympy.Sum, sympy.Product):
        return False  # sums with symbolic bounds: equal only when written the same way (checked before)
    symbols = sorted(a.free_symbols | b.free_symbols, key=str)
    tolerance = ctx.config.relative_tolerance if inexact else 1e-12
    values = []
    for point in _points(symbols):
        va, vb = _numeric_at(a, point, ctx), _numeric_at(b, point, ctx)
        if va is not None and vb is not None:
            values.append((va, vb))
    # Compared where the reference (a) is real: `\\sqrt{x^3}` is `x\\sqrt{x}` on its domain, and `|x|` is not
    # `\\sqrt{x}|\\sqrt{x}|`, which is not real where |x| is. A reference with `i` in it, or one that is real at fewer
    # than two points (`\\sqrt{x-3}`), is compared at every point with its principal complex values.
    real = values if a.has(sympy.I) else [(va, vb) for va, vb in values if abs(va.imag) <= 1e-12 * max(1.0, abs(va))]
    decided = real if len(real) >= 2 else values
    if len(decided) >= 2:
        return all(abs(va - vb) <= tolerance * max(1.0, abs(va), abs(vb)) for va, vb in decided)
    return _simplifies_to_zero(a - b, ctx)


# ---------------------------------------------------------------------------------------------------------------
# Relations, sets, intervals
# ---------------------------------------------------------------------------------------------------------------

_FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "=": "=", "!=": "!="}


def relation_vs_value(gold: Any, pred: Any, ctx: Context) -> bool:
    if isinstance(gold, Rel) and isinstance(pred, Rel):
        return relations_equal(gold, pred, ctx)
    if isinstance(pred, Rel) and all(op == "=" for op in pred.ops):
        # a prediction 'expression = value' answers with its value
        return equal(gold, pred.parts[-1], ctx)
    gold_set, pred_set = to_set(gold, ctx), to_set(pred, ctx)
    if gold_set is not None and pred_set is not None:
        return _sets_same(gold_set, pred_set, gold, pred, ctx)
    return False


def relations_equal(gold: Rel, pred: Rel, ctx: Context) -> bool:
    if (
        len(gold.ops) == len(pred.ops)
        and all(equal(g, p, ctx) for g, p in zip(gold.parts, pred.parts, strict=True))
        and gold.ops == pred.ops
    ):
        return True
    gold_set, pred_set = to_set(gold, ctx), to_set(pred, ctx)
    if gold_set is not None and pred_set is not None:
        return _sets_same(gold_set, pred_set, gold, pred, ctx)
    if len(gold.ops) != 1 or len(pred.ops) != 1:
        return False
    g_op, p_op = gold.ops[0], pred.ops[0]
    g_diff, p_diff = _difference(gold), _difference(pred)
    if g_diff is None or p_diff is None:
        return False
    if g_op in ("<", "<="):
        g_op, g_diff = _FLIP[g_op], -g_diff
    if p_op in ("<", "<="):
        p_op, p_diff = _FLIP[p_op], -p_diff
    if g_op != p_op:
        return False
    return _proportional(g_diff, p_diff, ctx, positive=g_op not in ("=", "!="))


def _difference(rel: Rel) -> Any:
    left, right = rel.parts
    if isinstance(left, Scalar) and isinstance(right, Scalar) and not left.unit and not right.unit:
        if isinstance(left.expr, sympy.MatrixBase) or isinstance(right.expr, sympy.MatrixBase):
            return None
        return left.expr - right.expr
    return None


def _proportional(a: Any, b: Any, ctx: Context, *, positive: bool) -> bool:
    if a == b:
        return True
    symbols = sorted(a.free_symbols | b.free_symbols, key=str)
    if not symbols:
        return False
    ratios = []
    for point in _points(symbols):
        va, vb = _numeric_at(a, point, ctx), _numeric_at(b, point, ctx)
        if va is None or vb is None:
            continue
        if abs(vb) < 1e-12:
            if abs(va) > 1e-9:
                return False
            continue
        ratios.append(va / vb)
    if len(ratios) < 2:
        return False
    first = ratios[0]
    if abs(first) < 1e-12 or (positive and first.real <= 0):
        return False
    return all(abs(r - first) <= 1e-9 * abs(first) for r in ratios)


def _is_setlike(value: Any) -> bool:
    if isinstance(value, SetOp):
        return True
    if isinstance(value, Seq):
        return value.open == "{" or (
            _interval_parts(value) is not None and value.open + value.close in ("[)", "(]", "[]")
        )
    return False


def _interval_parts(value: Seq) -> tuple[Scalar, Scalar] | None:
    if value.open in ("(", "[") and len(value.items) == 2 and all(isinstance(i, Scalar) for i in value.items):
        lo, hi = value.items
        if not lo.expr.free_symbols and not hi.expr.free_symbols:
            return lo, hi
    return None


def to_set(value: Any, ctx: Context) -> Any:
    """A sympy set for intervals, unions, finite sets and one-variable inequalities; None otherwise."""
    try:
        if isinstance(value, Seq):
            parts = _interval_parts(value)
            if parts is not None and value.close in (")", "]"):
                lo, hi = parts
                return sympy.Interval(lo.expr, hi.expr, value.open == "(", value.close == ")")
            if value.open == "{" and all(isinstance(i, Scalar) for i in value.items):
                return sympy.FiniteSet(*(i.expr for i in value.items))
            if value.open == "" and all(isinstance(i, Scalar) and not i.expr.free_symbols for i in value.items):
                return sympy.FiniteSet(*(i.expr for i in value.items))
            return None
        if isinstance(value, SetOp):
            left, right = to_set(value.left, ctx), to_set(value.right, ctx)
            if left is None or right is None:
                return None
            with ctx.budget.enforce():
                if value.op == "cup":
                    return sympy.Union(left, right)
                if value.op == "cap":
                    return sympy.Intersection(left, right)
                return sympy.Complement(left, right)
        if isinstance(value, Scalar) and not value.expr.free_symbols and not isinstance(value.expr, sympy.MatrixBase):
            return sympy.FiniteSet(value.expr)
        if isinstance(value, Rel):
            return _inequality_set(value, ctx)
    except (TypeError, ValueError, AttributeError, NotImplementedError):
        return None
    return None


def _inequality_set(rel: Rel, ctx: Context) -> Any:
    if "approx" in rel.ops or "in" in rel.ops or ":" in rel.ops:
        return None
    if not all(isinstance(p, Scalar) and not isinstance(p.expr, sympy.MatrixBase) for p in rel.parts):
        return None
    exprs = [p.expr for p in rel.parts]
    labels = [e for e in exprs if e.free_symbols]
    if not labels:
        return None
    variable: Any = None
    symbols = set().union(*(e.free_symbols for e in exprs))
    same_label = all(lab == labels[0] for lab in labels) and _is_label_expr(labels[0])
    if same_label and (labels[0].is_Symbol or len(symbols) > 1):
        variable = labels[0]  # 'x < 3', '0 < f(x) < 1': read off directly
    elif len(symbols) == 1:
        variable = next(iter(symbols))  # '1 <= |z| <= 3/2', '-x > -1': solved
    if variable is None:
        return None
    if any(op == "=" for op in rel.ops) and variable not in exprs:
        return None
    result = sympy.S.Reals
    ops = {"<": sympy.Lt, ">": sympy.Gt, "<=": sympy.Le, ">=": sympy.Ge, "!=": sympy.Ne, "=": sympy.Eq}
    with ctx.budget.enforce():
        for op, left, right in zip(rel.ops, exprs, exprs[1:], strict=False):
            if op not in ops:
                return None
            if left == variable or right == variable:
                other = right if left == variable else left
                if other.free_symbols:
                    return None
                the_op = op if left == variable else _FLIP[op]
                if the_op == "=":
                    piece: Any = sympy.FiniteSet(other)
                elif the_op == "!=":
                    piece = sympy.Union(sympy.Interval.open(-sympy.oo, other), sympy.Interval.open(other, sympy.oo))
                else:
                    piece = {
                        "<": sympy.Interval.open(-sympy.oo, other),
                        "<=": sympy.Interval(-sympy.oo, other),
                        ">": sympy.Interval.open(other, sympy.oo),
                        ">=": sympy.Interval(other, sympy.oo),
                    }[the_op]
            else:
                if not variable.is_Symbol:
                    return None
                if not (_simplifiable(left) and _simplifiable(right)):
                    return None  # solving x^{10^{10}} < 1 would build a polynomial of that degree
                relation = ops[op](left, right)
                piece = sympy.solveset(relation, variable, sympy.S.Reals)
            result = sympy.Intersection(result, piece)
    return result


def _sets_same(a: Any, b: Any, gold: Any, pred: Any, ctx: Context) -> bool:
    try:
        with ctx.budget.enforce():
            if a == b:
                return True
            if isinstance(a, sympy.Interval) and isinstance(b, sympy.Interval):
                if (a.left_open, a.right_open) != (b.left_open, b.right_open):
                    return False
                lo_g, hi_g = _scalar_ends(gold, a)
                lo_p, hi_p = _scalar_ends(pred, b)
                return scalars_equal(lo_g, lo_p, ctx) and scalars_equal(hi_g, hi_p, ctx)
            if isinstance(a, sympy.FiniteSet) and isinstance(b, sympy.FiniteSet):
                return unordered_equal([Scalar(x) for x in a.args], [Scalar(x) for x in b.args], ctx)
            if isinstance(a, sympy.Union) and isinstance(b, sympy.Union) and len(a.args) == len(b.args):
                pieces_a = sorted(a.args, key=lambda s: float(s.inf) if s.inf.is_finite else -1e300)
                pieces_b = sorted(b.args, key=lambda s: float(s.inf) if s.inf.is_finite else -1e300)
                return all(_sets_same(x, y, None, None, ctx) for x, y in zip(pieces_a, pieces_b, strict=True))
            return bool(sympy.simplify(sympy.SymmetricDifference(a, b)) == sympy.EmptySet)
    except (TypeError, ValueError, AttributeError, NotImplementedError, RecursionError):
        return False


def _scalar_ends(value: Any, interval: Any) -> tuple[Scalar, Scalar]:
    if isinstance(value, Seq) and _interval_parts(value) is not None:
        lo, hi = value.items
        return lo, hi
    return Scalar(interval.start), Scalar(interval.end)


def sets_equal(gold: Any, pred: Any, ctx: Context) -> bool:
    if isinstance(gold, Seq) and isinstance(pred, Seq) and "{" in (gold.open, pred.open):

        def members(seq: Seq) -> tuple[Any, ...]:
            return seq.items if seq.open in ("{", "") else (seq,)

        return unordered_equal(members(gold), members(pred), ctx)
    a, b = to_set(gold, ctx), to_set(pred, ctx)
    if a is None or b is None:
        return False
    return _sets_same(a, b, gold, pred, ctx)
