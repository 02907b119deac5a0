"""Answer values: the syntax tree turned into sympy expressions and structures, with guards on size.

Nothing here computes something huge: a tree with powers or factorials in it is first evaluated exactly by
`assay_math.exact`, which never writes out a number past `MAX_BITS`. A value too large to write out becomes a
`Huge` atom (`Scalar.huge`) compared by exact arithmetic on its exponents; one that is too large in a place
where it cannot be decided exactly (`\\sin(10^{10^{10}})`) raises `TooLarge`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import sympy  # type: ignore[import-untyped]
from sympy.core.numbers import Integer, Rational  # type: ignore[import-untyped]

from assay_math import exact
from assay_math.exact import MAX_BITS, MAX_DIGITS, MAX_FACTORIAL, Huge, TooLarge
from assay_math.syntax import Node, ParseError

MAX_ALTERNATIVES = 16


class NotScalar(ParseError):
    pass


#: `\\dots`, `\\ldots`, `\\cdots`, `...`: one ellipsis, a placeholder equal only to itself. A list with one in it is
#: a sequence, compared in order.
ELLIPSIS = sympy.Symbol("...")


@dataclass(frozen=True)
class Scalar:
    expr: Any  # sympy.Expr or an ImmutableMatrix
    source: str | None = None
    places: int | None = None  # the whole value is one decimal literal with this many places
    inexact: bool = False  # a decimal literal appears in it
    unit: str | None = None  # 'pct' or 'deg'
    huge: bool = False

    def __str__(self) -> str:
        return f"{self.expr}{'%' if self.unit == 'pct' else ''}{'°' if self.unit == 'deg' else ''}"


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Seq:
    open: str  # '(' '[' '{' or '' for a bare list
    close: str
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Matrix:
    rows: tuple[tuple[Scalar, ...], ...]


@dataclass(frozen=True)
class Rel:
    ops: tuple[str, ...]
    parts: tuple[Any, ...]


@dataclass(frozen=True)
class Ratio:
    parts: tuple[Any, ...]


@dataclass(frozen=True)
class SetOp:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class Choice:
    letter: str


Value = Scalar | Text | Seq | Matrix | Rel | Ratio | SetOp | Choice


@dataclass
class Flags:
    inexact: bool = False
    huge: bool = False
    imaginary_unit: bool = True
    symbols: dict[str, Any] = field(default_factory=dict)
    # set when the tree has powers or factorials: numeric subtrees are then evaluated by `exact` first
    exact_memo: dict[int, Any] | None = None


def symbol(name: str, flags: Flags) -> Any:
    if name not in flags.symbols:
        flags.symbols[name] = sympy.Symbol(name)
    return flags.symbols[name]


def expand_pm(node: Node, limit: int = MAX_ALTERNATIVES) -> list[Node]:
    """`a \\pm b` as its two readings; nested ± multiply (capped)."""
    if not isinstance(node, tuple) or not node:
        return [node]
    kind = node[0]
    if kind in ("pm", "mp"):
        lefts = expand_pm(node[1], limit)
        rights = expand_pm(node[2], limit)
        out: list[Node] = []
        for a, b in itertools.product(lefts, rights):
            plus = ("add", [a, b])
            minus = ("add", [a, ("neg", b)])
            out.extend([plus, minus] if kind == "pm" else [minus, plus])
        return out[:limit]
    if kind in ("seq", "groups", "rel", "matrix", "setop", "text", "num", "sym", "const"):
        return [node]
    options: list[list[Any]] = []
    for part in node[1:]:
        if isinstance(part, tuple) and part and isinstance(part[0], str):
            options.append(expand_pm(part, limit))
        elif isinstance(part, list) and all(isinstance(p, tuple) for p in part):
            options.append(
                [list(c) for c in itertools.islice(itertools.product(*(expand_pm(p, limit) for p in part)), limit)]
            )
        else:
            options.append([part])
    return [(kind, *combo) for combo in itertools.islice(itertools.product(*options), limit)]


def node_text(node: Node) -> str | None:
    """The letters a node was written with, for comparing `$Even$` with `\\text{Even}`."""
    kind = node[0]
    if kind == "sym":
        return str(node[1])
    if kind == "const":
        return {"e": "e", "pi": "pi", "oo": "infty"}.get(node[1])
    if kind == "num":
        return str(node[1])
    if kind == "mul":
        parts = [node_text(n) for n in node[1]]
        return None if any(p is None for p in parts) else "".join(p for p in parts if p)
    if kind in ("paren", "brace"):
        return node_text(node[1])
    return None


def _bits(value: Rational) -> int:
    return max(abs(int(value.p)).bit_length(), int(value.q).bit_length())


def _exact_subtree(node: Node, flags: Flags) -> Any:
    """The sympy number for a subtree of numbers and arithmetic, None for any other subtree."""
    assert flags.exact_memo is not None
    value = exact.evaluate(node, flags.exact_memo)
    if value is None:
        return None
    value = exact.normalize(value)
    if exact.is_huge(value):
        raise TooLarge("a number too large to compute is part of a larger expression")
    if exact.has_decimal(node):
        flags.inexact = True
    return exact.to_sympy(value)


def to_expr(node: Node, flags: Flags) -> Any:
    kind = node[0]
    if flags.exact_memo is not None and kind in ("add", "neg", "mul", "div", "pow", "func", "paren", "brace", "pct"):
        number = _exact_subtree(node, flags)
        if number is not None:
            return number
    if kind == "num":
        text = node[1]
        if len(text) > MAX_DIGITS:
            raise ParseError("number too long")
        if "." in text:
            flags.inexact = True
        return Rational(text) if "." in text else Integer(text)
    if kind == "sym":
        name = node[1]
        if name == "e":
            return sympy.E
        if name == "i" and flags.imaginary_unit:
            return sympy.I
        if name == "...":
            return ELLIPSIS
        return symbol(name, flags)
    if kind == "const":
        return {"pi": sympy.pi, "e": sympy.E, "oo": sympy.oo}[node[1]]
    if kind in ("paren", "brace"):
        inner = node[1]
        if inner[0] in ("seq", "groups", "rel", "text"):
            raise NotScalar(inner[0])
        return to_expr(inner, flags)
    if kind == "add":
        return sympy.Add(*(to_expr(t, flags) for t in node[1]))
    if kind == "neg":
        return -to_expr(node[1], flags)
    if kind == "mul":
        result: Any = Integer(1)
        for factor in node[1]:
            value = to_expr(factor, flags)
            result = result * value
        return result
    if kind == "div":
        num = to_expr(node[1], flags)
        den = to_expr(node[2], flags)
        if isinstance(den, sympy.MatrixBase):
            raise NotScalar("matrix denominator")
        return num / den
    if kind == "pow":
        return _power(to_expr(node[1], flags), node[2], flags)
    if kind == "pct":
        return to_expr(node[1], flags) / 100
    if kind == "deg":
        return to_expr(node[1], flags) * sympy.pi / 180
    if kind == "func":
        return _function(node[1], [to_expr(a, flags) for a in node[2]], flags)
    if kind == "matrix":
        rows = [[to_expr(c, flags) for c in row] for row in node[1]]
        if any(isinstance(c, sympy.MatrixBase) for row in rows for c in row):
            raise NotScalar("nested matrix")
        return sympy.ImmutableMatrix(rows)
    if kind == "sum":
        return _big_operator(node, flags)
    raise NotScalar(kind)


def _power(base: Any, exponent_node: Node, flags: Flags) -> Any:
    exponent = to_expr(exponent_node, flags)
    if isinstance(base, sympy.MatrixBase):
        if isinstance(exponent, Integer) and 0 <= int(exponent) <= 64:
            return base ** int(exponent)
        raise NotScalar("matrix power")
    if (
        isinstance(exponent, Rational)
        and isinstance(base, Rational)
        and base not in (0, 1, -1)
        and (_bits(base) * abs(int(exponent.p)) // int(exponent.q) > MAX_BITS or abs(int(exponent.p)) > 10 * MAX_BITS)
    ):  # only reached where `exact` could not take the tree: an unevaluated power would be computed by the next step
        raise TooLarge("power too large to compute")
    if (
        isinstance(exponent, Rational)
        and getattr(base, "is_Mul", False)
        and _distributed_bits(base, exponent) > MAX_BITS
    ):
        raise TooLarge("power too large to compute")  # sympy would raise each number in (2x)^{10^{10}} to it
    if (
        getattr(exponent, "is_Number", False)
        and abs(exponent) > 10 * MAX_BITS
        and not getattr(base, "is_Symbol", False)
    ):
        flags.huge = True
        return sympy.Pow(base, exponent, evaluate=False)
    if _has_huge_number(exponent):
        flags.huge = True
        return sympy.Pow(base, exponent, evaluate=False)
    exact.check_root(base, exponent)
    return sympy.Pow(base, exponent)


def _distributed_bits(base: Any, exponent: Rational) -> int:
    """About how many bits sympy writes out when it distributes the power over the numbers of a product."""
    bits = 0
    for factor in base.args:
        if isinstance(factor, Rational):
            bits += _bits(factor) * abs(int(exponent.p)) // int(exponent.q)
        elif factor.is_Pow and isinstance(factor.base, Rational) and isinstance(factor.exp, Rational):
            scaled = factor.exp * exponent
            bits += _bits(factor.base) * abs(int(scaled.p)) // int(scaled.q)
    return bits


def _has_huge_number(expr: Any) -> bool:
    return (
        any(
            isinstance(a, sympy.Pow) and not a.is_Atom and a.base.is_Number and a.exp.is_Number
            for a in sympy.preorder_traversal(expr)
        )
        if getattr(expr, "args", None)
        else False
    )


def _function(name: str, args: list[Any], flags: Flags) -> Any:
    a = args[0]
    if name == "sqrt":
        exact.check_root(a, Rational(1, 2))
        return sympy.sqrt(a)
    if name == "root":
        index = args[1]
        if index.is_Rational and index != 0:
            exact.check_root(a, 1 / index)
        if a.is_number and a.is_negative and index.is_Integer and int(index) % 2 == 1:
            return sympy.real_root(a, index)
        return sympy.root(a, index)
    if name == "factorial":
        if a.is_Integer and int(a) > MAX_FACTORIAL:
            flags.huge = True
            return sympy.factorial(a, evaluate=False)
        return sympy.factorial(a)
    if name == "binomial":
        n, k = args
        if (n.is_Integer and int(n) > 10 * MAX_FACTORIAL) or (k.is_Integer and int(k) > 10 * MAX_FACTORIAL):
            flags.huge = True
            return sympy.binomial(n, k, evaluate=False)
        return sympy.binomial(n, k)
    if name == "det":
        if isinstance(a, sympy.MatrixBase) and a.is_square and a.rows <= 6:
            return a.det()
        raise NotScalar("det")
    if isinstance(a, sympy.MatrixBase):
        raise NotScalar("function of a matrix")
    simple = {
        "sin": sympy.sin,
        "cos": sympy.cos,
        "tan": sympy.tan,
        "sec": sympy.sec,
        "csc": sympy.csc,
        "cot": sympy.cot,
        "arcsin": sympy.asin,
        "arccos": sympy.acos,
        "arctan": sympy.atan,
        "arcsec": sympy.asec,
        "arccsc": sympy.acsc,
        "arccot": sympy.acot,
        "sinh": sympy.sinh,
        "cosh": sympy.cosh,
        "tanh": sympy.tanh,
        "coth": sympy.coth,
        "sech": sympy.sech,
        "csch": sympy.csch,
        "ln": sympy.log,
        "exp": sympy.exp,
        "abs": sympy.Abs,
        "floor": sympy.floor,
        "ceiling": sympy.ceiling,
        "ceil": sympy.ceiling,
    }
    if name in ("floor", "ceiling", "ceil"):
        _check_integer_part(a)
    if name in simple:
        return simple[name](a)
    if name == "log":
        return sympy.log(a, args[1]) if len(args) > 1 else sympy.log(a)
    if name == "lg":
        return sympy.log(a, 10)
    if name in ("gcd", "lcm"):
        return sympy.gcd(*args) if name == "gcd" else sympy.lcm(*args)
    if name in ("max", "min"):
        return sympy.Max(*args) if name == "max" else sympy.Min(*args)
    raise NotScalar(name)


def _check_integer_part(value: Any) -> None:
    """sympy writes out the integer part of a number it floors: refuse one past MAX_BITS (`e^{10^{10}}`)."""
    if not getattr(value, "is_number", False) or value.is_Rational:
        return
    try:
        approximate = value.evalf(15)
    except (TypeError, ValueError, ArithmeticError):
        return
    if approximate.is_Number and approximate.is_finite and abs(approximate) > sympy.Integer(2) ** MAX_BITS:
        raise TooLarge("the integer part of a number too large to compute")


def _big_operator(node: Node, flags: Flags) -> Any:
    _, name, var_node, lo_node, hi_node, body_node = node
    if var_node[0] != "sym":
        raise ParseError("bad index")
    var = symbol(var_node[1], flags)
    lo, hi, body = to_expr(lo_node, flags), to_expr(hi_node, flags), to_expr(body_node, flags)
    op = sympy.Sum if name == "sum" else sympy.Product
    result = op(body, (var, lo, hi))
    if lo.is_Integer and hi.is_Integer and 0 <= int(hi) - int(lo) <= 200:
        return result.doit()
    if lo.is_Integer and hi.is_Integer and (name != "sum" or _in_an_exponent(var, body)):
        # the closed form of a long finite product, or of a sum of powers (2^n up to n = 10^10), is a number
        # sympy would write out in full when evaluating it
        raise TooLarge("a product or a sum of powers over a long range")
    return result


def _in_an_exponent(var: Any, body: Any) -> bool:
    return any(
        var in p.exp.free_symbols for p in sympy.preorder_traversal(body) if isinstance(p, sympy.Pow)
    ) or body.has(sympy.factorial, sympy.gamma, sympy.binomial)


def build(node: Node, flags: Flags, source: str | None = None) -> Value:
    """Turn a syntax tree into a value (scalars, lists, sets, intervals, relations, matrices, text)."""
    alternatives = expand_pm(node)
    if len(alternatives) > 1:
        return Seq("", "", tuple(build(a, flags) for a in alternatives))
    kind = node[0]
    if kind == "groups":
        return Seq("", "", tuple(build(g, flags) for g in node[1]))
    if kind == "seq":
        if len(node[3]) == 1 and node[3][0][0] == "matrix" and node[1] in "([":
            return build(node[3][0], flags)  # \\left[ \\begin{array}...\\end{array} \\right]
        return Seq(node[1], node[2], tuple(build(i, flags) for i in node[3]))
    if kind == "ratio":
        return Ratio(tuple(build(p, flags) for p in node[1]))
    if kind == "matrix":
        cells = [[build(c, flags) for c in row] for row in node[1]]
        if all(isinstance(c, Scalar) and not isinstance(c.expr, sympy.MatrixBase) for row in cells for c in row):
            return Matrix(tuple(tuple(c for c in row if isinstance(c, Scalar)) for row in cells))
    if kind in ("paren", "brace") and node[1][0] in ("seq", "groups", "rel", "matrix", "text", "setop", "ratio"):
        inner = build(node[1], flags)
        if isinstance(inner, Seq) and inner.open == "" and kind == "paren":
            return Seq("(", ")", inner.items)
        return inner
    if kind == "rel":
        return Rel(tuple(node[1]), tuple(build(p, flags) for p in node[2]))
    if kind == "setop":
        return SetOp(node[1], build(node[2], flags), build(node[3], flags))
    if kind == "text":
        return Text(node[1])
    if kind in ("pct", "deg") and node[1][0] not in ("pct", "deg"):
        inner = build(node[1], flags)
        if isinstance(inner, Scalar):
            return Scalar(inner.expr, inner.source, inner.places, inner.inexact, kind, inner.huge)
        raise NotScalar(kind)
    local = Flags(imaginary_unit=flags.imaginary_unit, symbols=flags.symbols)
    if exact.needs_exact(node):
        local.exact_memo = {}
        value = exact.evaluate(node, local.exact_memo)
        if value is not None and exact.is_huge(value := exact.normalize(value)):
            return Scalar(Huge(value), source, None, exact.has_decimal(node), None, True)
    expr = to_expr(node, local)
    if isinstance(expr, sympy.MatrixBase):
        return Matrix(tuple(tuple(Scalar(c, inexact=local.inexact) for c in expr.row(r)) for r in range(expr.rows)))
    places = None
    bare = node[1] if node[0] == "neg" else node
    if bare[0] == "num" and "." in bare[1]:
        places = len(bare[1].split(".")[1])
    return Scalar(expr, source or node_text(node), places, local.inexact, None, local.huge)
