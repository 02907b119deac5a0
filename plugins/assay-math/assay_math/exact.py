"""Exact numbers too large to write out: `10^{10^{10}}`, `\\sqrt{10^{10^{10}}}`, `2^{k} - 2^{k-1}`.

sympy computes an integer power or a factorial in C as soon as it is built, with the GIL held: no deadline can
stop it. So a syntax tree made only of numbers and `+ - * / ^ ! \\sqrt \\binom |.|` is evaluated here first,
as a sum of terms `c * b1^e1 * b2^e2 ...` (`c` a rational, the bases integers or a factorial kept whole, the
exponents rationals), without ever writing out a term larger than `MAX_BITS`. Exponents add and multiply as
numbers, equal terms cancel, so `10^{10^{10}} / 10^{10^{10}}` is 1 and `10^{10^{10}-1} \\cdot 10` is
`10^{10^{10}}` without computing either.

A value that ends up small is handed to sympy as a plain number. A large one becomes a `Huge` atom that sympy
never evaluates, and two large values are equal when their difference is exactly zero (`is_zero`). What cannot
be represented or decided within the bounds (`\\sin(10^{10^{10}})`, a tower whose exponent is itself huge,
`(10^{100000})!`) raises `TooLarge`: a `fail` verdict, never a guess.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import sympy  # type: ignore[import-untyped]
from sympy.core.expr import AtomicExpr  # type: ignore[import-untyped]

from assay_math.syntax import Node, ParseError

MAX_BITS = 60_000  # a value this large (about 18,000 digits) is still computed outright, in milliseconds
MAX_EXPONENT_BITS = 4_096  # an exponent must itself be an exact number this small (about 1,200 digits)
MAX_TERMS = 64  # terms of a sum (products of sums multiply out up to this)
MAX_DIGITS = 2000  # a literal number longer than this is refused
MAX_FACTORIAL = 3_000  # n! is computed up to this n; kept whole (a base of its own) up to MAX_KEPT_FACTORIAL
MAX_KEPT_FACTORIAL = 10**12
# sympy factors a number it takes a root of, and its primality test raises to a power modulo that number in one
# C call: about 5 s for 2,000 digits. Roots of rationals past this size are taken only when they are exact.
MAX_ROOT_BITS = 1_024
MAX_ROOT_INDEX = 2**20


class TooLarge(ParseError):
    """A number the size bounds do not allow to compute, in a place where it cannot be decided exactly."""


#: A base: an integer > 1, or ("!", n) for n! with n too large to compute.
Base = int | tuple[str, int]


@dataclass(frozen=True)
class Term:
    coefficient: Fraction
    powers: tuple[tuple[Base, Fraction], ...]  # sorted by base, no zero exponents


@dataclass(frozen=True)
class Exact:
    """A sum of terms; no terms is zero."""

    terms: tuple[Term, ...]

    def __str__(self) -> str:
        if not self.terms:
            return "0"
        return " + ".join(_term_text(t) for t in self.terms)


def _number_text(n: int) -> str:
    return str(n) if n.bit_length() < 12_000 else hex(n)  # decimal conversion of huge ints is refused by Python


def _term_text(term: Term) -> str:
    parts = [] if term.coefficient == 1 and term.powers else [_fraction_text(term.coefficient)]
    for base, exponent in term.powers:
        name = f"{base[1]}!" if isinstance(base, tuple) else _number_text(base)
        parts.append(name if exponent == 1 else f"{name}^({_fraction_text(exponent)})")
    return "*".join(parts)


def _fraction_text(value: Fraction) -> str:
    text = _number_text(value.numerator)
    return text if value.denominator == 1 else f"{text}/{_number_text(value.denominator)}"


def _base_key(base: Base) -> tuple[int, int]:
    return (1, base[1]) if isinstance(base, tuple) else (0, base)


def _base_bits(base: Base) -> float:
    """log2 of the base, a little over (n log2 n for n!)."""
    if isinstance(base, tuple):
        n = base[1]
        return float(n * n.bit_length())
    return math.log2(base) * (1 + 1e-12) if base.bit_length() < 1000 else float(base.bit_length())


def _order(term: Term) -> tuple[tuple[tuple[int, int], Fraction], ...]:
    """A canonical order of terms (no decimal printing: Python refuses to print ints past 4,300 digits)."""
    return tuple((_base_key(base), exponent) for base, exponent in term.powers)


def _fraction_bits(value: Fraction) -> int:
    return max(value.numerator.bit_length(), value.denominator.bit_length())


def _term_bits(term: Term) -> int:
    """An upper bound on the bits of the term's numerator and denominator."""
    bits = _fraction_bits(term.coefficient)
    for base, exponent in term.powers:
        if _fraction_bits(exponent) > 64:
            return 1 << MAX_EXPONENT_BITS  # beyond any bound (and beyond a float)
        bits += math.ceil(float(abs(exponent)) * _base_bits(base)) + 1
    return bits


def is_huge(value: Exact) -> bool:
    return any(_term_bits(t) > MAX_BITS for t in value.terms)


def _powers(items: dict[Base, Fraction]) -> tuple[tuple[Base, Fraction], ...]:
    for exponent in items.values():
        if _fraction_bits(exponent) > MAX_EXPONENT_BITS:
            raise TooLarge("exponent too large")
    return tuple(sorted(((b, e) for b, e in items.items() if e != 0), key=lambda item: _base_key(item[0])))


def _term(coefficient: Fraction, powers: dict[Base, Fraction]) -> Term:
    if _fraction_bits(coefficient) > MAX_BITS:  # keep the coefficient small: its digits become bases
        powers = dict(powers)
        for base, sign in ((abs(coefficient.numerator), 1), (coefficient.denominator, -1)):
            if base > 1:
                powers[base] = powers.get(base, Fraction(0)) + sign
        coefficient = Fraction(-1 if coefficient < 0 else 1)
    return Term(coefficient, _powers(powers))


def _sum(terms: list[Term]) -> Exact:
    merged: dict[tuple[tuple[Base, Fraction], ...], Fraction] = {}
    for term in terms:
        merged[term.powers] = merged.get(term.powers, Fraction(0)) + term.coefficient
    out = [_term(c, dict(p)) for p, c in merged.items() if c != 0]
    if len(out) > MAX_TERMS:
        raise TooLarge("too many terms")
    return Exact(tuple(sorted(out, key=_order)))


def number(value: Fraction) -> Exact:
    return _sum([Term(value, ())])


def add(a: Exact, b: Exact) -> Exact:
    return _sum([*a.terms, *b.terms])


def negate(a: Exact) -> Exact:
    return Exact(tuple(Term(-t.coefficient, t.powers) for t in a.terms))


def _multiply_terms(a: Term, b: Term) -> Term:
    powers = dict(a.powers)
    for base, exponent in b.powers:
        powers[base] = powers.get(base, Fraction(0)) + exponent
    return _term(a.coefficient * b.coefficient, powers)


def multiply(a: Exact, b: Exact) -> Exact:
    if len(a.terms) * len(b.terms) > MAX_TERMS:
        raise TooLarge("too many terms")
    return _sum([_multiply_terms(x, y) for x in a.terms for y in b.terms])


def rational_value(value: Exact) -> Fraction | None:
    """The value as a fraction when it is rational and small enough to write out, else None."""
    total = Fraction(0)
    for term in value.terms:
        if _term_bits(term) > MAX_BITS:
            return None
        part = term.coefficient
        for base, exponent in term.powers:
            if exponent.denominator != 1 or isinstance(base, tuple):
                return None
            part *= Fraction(base) ** int(exponent)
        total += part
    return total


def _single_term(value: Exact) -> Term | None:
    value = normalize(value)
    if len(value.terms) == 1:
        return value.terms[0]
    if not value.terms:
        return Term(Fraction(0), ())
    rational = rational_value(value)
    return Term(rational, ()) if rational is not None else None


def divide(a: Exact, b: Exact) -> Exact | None:
    term = _single_term(b)
    if term is None:
        if is_huge(b):
            raise TooLarge("division by a large sum")
        return None
    if term.coefficient == 0:
        return None  # left to sympy: zoo
    inverse = _term(1 / term.coefficient, {base: -e for base, e in term.powers})
    return multiply(a, Exact((inverse,)))


def power(base: Exact, exponent: Exact) -> Exact | None:
    """base^exponent, or None when sympy may compute it (small and not a plain power), or TooLarge."""
    settled = rational_value(normalize(base))
    if settled == 1:
        return number(Fraction(1))
    exponent = normalize(exponent)
    if settled == 0 and len(exponent.terms) == 1 and exponent.terms[0].coefficient > 0:
        return number(Fraction(0))
    e = rational_value(exponent)
    if e is None:
        if is_huge(exponent) or is_huge(base):
            raise TooLarge("power with a large exponent")
        return None
    if _fraction_bits(e) > MAX_EXPONENT_BITS:
        raise TooLarge("exponent too large")
    term = _single_term(base)
    if term is None:
        if e.denominator == 1 and 0 < e <= 8 and not is_huge(base):
            result = number(Fraction(1))
            for _ in range(int(e)):
                result = multiply(result, base)
            return result
        if is_huge(base):
            raise TooLarge("power of a large sum")
        return None  # (1+\sqrt2)^{100}: sympy keeps it whole
    c = term.coefficient
    if c == 0:
        return number(Fraction(0)) if e > 0 else (number(Fraction(1)) if e == 0 else None)
    if c < 0 and e.denominator != 1:
        if _term_bits(term) * abs(e) > MAX_BITS:
            raise TooLarge("root of a large negative number")
        return None  # a principal complex root: sympy's convention
    sign = Fraction(-1 if c < 0 and e.numerator % 2 else 1)
    powers = {b: x * e for b, x in term.powers}
    magnitude = abs(c)
    if e.denominator == 1 and _fraction_bits(magnitude) * abs(e) <= MAX_BITS:
        coefficient = sign * magnitude ** int(e)
    else:
        coefficient = sign
        for b, x in ((magnitude.numerator, e), (magnitude.denominator, -e)):
            if b > 1:
                powers[b] = powers.get(b, Fraction(0)) + x
    return Exact((_term(coefficient, powers),))


def _integer(value: Exact) -> int | None:
    rational = rational_value(normalize(value))
    return int(rational) if rational is not None and rational.denominator == 1 else None


def factorial(value: Exact) -> Exact | None:
    n = _integer(value)
    if n is None:
        if is_huge(value):
            raise TooLarge("factorial of a large number")
        return None
    if n < 0:
        return None
    if n <= MAX_FACTORIAL:
        return number(Fraction(math.factorial(n)))
    if n <= MAX_KEPT_FACTORIAL:
        return Exact((Term(Fraction(1), ((("!", n), Fraction(1)),)),))
    raise TooLarge("factorial of a large number")


def binomial(top: Exact, bottom: Exact) -> Exact | None:
    n, k = _integer(top), _integer(bottom)
    if n is None or k is None or n < 0:
        if is_huge(top) or is_huge(bottom):
            raise TooLarge("binomial of a large number")
        return None
    if k < 0 or k > n:
        return number(Fraction(0))
    if min(k, n - k) * n.bit_length() > MAX_BITS:
        raise TooLarge("binomial too large")
    return number(Fraction(math.comb(n, k)))


def absolute(value: Exact) -> Exact | None:
    term = _single_term(value)
    if term is None:
        if is_huge(value):
            raise TooLarge("absolute value of a large sum")
        return None
    return Exact((Term(abs(term.coefficient), term.powers),)) if term.coefficient else number(Fraction(0))


# ---------------------------------------------------------------------------------------------------------------
# Normal form and zero test
# ---------------------------------------------------------------------------------------------------------------


def _remove(n: int, q: int) -> tuple[int, int]:
    """n with every factor q divided out, and how many there were (in a logarithmic number of divisions)."""
    if n % q:
        return n, 0
    squares = [q]
    while n % (squares[-1] * squares[-1]) == 0:
        squares.append(squares[-1] * squares[-1])
    count = 0
    for i in reversed(range(len(squares))):
        if n % squares[i] == 0:
            n //= squares[i]
            count += 1 << i
    return n, count


def _coprime_base(numbers: list[int]) -> list[int]:
    """Pairwise coprime integers > 1 of which every number is a product (gcd-based factor refinement)."""
    base: list[int] = []
    pending = [n for n in numbers if n > 1]
    while pending:
        x = pending.pop()
        for i, q in enumerate(base):
            g = math.gcd(x, q)
            if g > 1:
                base.pop(i)
                pending.extend(p for p in (g, _remove(q, g)[0], _remove(x, g)[0]) if p > 1)
                break
        else:
            base.append(x)
    return base


def _split(n: int, base: list[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for q in base:
        n, count = _remove(n, q)
        if count:
            out[q] = count
        if n == 1:
            break
    return out


def _exact_root(n: int, k: int) -> int | None:
    root = sympy.integer_nthroot(n, k)
    return int(root[0]) if root[1] else None


def normalize(value: Exact) -> Exact:
    """The same value with its bases pairwise coprime and like terms combined (terms whose ratio is a small
    rational are summed exactly). Two values are equal exactly when their difference normalizes to no terms."""
    if not value.terms or (len(value.terms) == 1 and not value.terms[0].powers):
        return value
    integers = sorted({b for t in value.terms for b, _ in t.powers if isinstance(b, int)})
    base = _coprime_base(integers)
    splits = {b: _split(b, base) for b in integers}
    rows: list[tuple[Fraction, dict[Base, Fraction]]] = []
    for term in value.terms:
        powers: dict[Base, Fraction] = {}
        for b, e in term.powers:
            for q, k in splits[b].items() if isinstance(b, int) else ((b, 1),):
                powers[q] = powers.get(q, Fraction(0)) + e * k
        rows.append((term.coefficient, powers))
    # a base that is a perfect k-th power, raised to a fraction with k in its denominator: use its root
    changed = True
    while changed:
        changed = False
        for q in base:
            denominators = {e.denominator for _, p in rows for b, e in p.items() if b == q and e.denominator > 1}
            for k in sorted(denominators):
                root = _smallest_root(q, k)
                if root is not None:
                    r, j = root
                    for _, p in rows:
                        if q in p:
                            p[r] = p.pop(q) * j
                    base[base.index(q)] = r
                    changed = True
                    break
            if changed:
                break
    return _combine(rows)


def _smallest_root(q: int, k: int) -> tuple[int, int] | None:
    if k > MAX_ROOT_INDEX:  # factoring k could take long; the term is then not reduced (never equal by mistake)
        return None
    for p in sympy.primefactors(k):
        r = _exact_root(q, int(p))
        if r is not None:
            return r, int(p)
    return None


def _ratio_bits(a: dict[Base, Fraction], b: dict[Base, Fraction]) -> int | None:
    """Bits of the ratio of two monomials when it is a rational that can be written out, else None."""
    bits = 0
    for base in a.keys() | b.keys():
        difference = a.get(base, Fraction(0)) - b.get(base, Fraction(0))
        if difference == 0:
            continue
        if difference.denominator != 1 or isinstance(base, tuple):
            return None
        if _fraction_bits(difference) > 64:
            return None
        bits += math.ceil(abs(int(difference)) * _base_bits(base)) + 1
        if bits > MAX_BITS:
            return None
    return bits


def _combine(rows: list[tuple[Fraction, dict[Base, Fraction]]]) -> Exact:
    """Group the terms whose ratios are small rationals and sum each group exactly. Terms of different groups
    differ by a factor of more than 2^MAX_BITS or an irrational one: they are never taken to cancel (which can
    only make two values unequal, never equal)."""
    groups: list[list[int]] = []
    for i, (_, powers) in enumerate(rows):
        joined = [g for g in groups if any(_ratio_bits(powers, rows[j][1]) is not None for j in g)]
        merged = [i]
        for g in joined:
            merged.extend(g)
            groups.remove(g)
        groups.append(merged)
    terms: list[Term] = []
    for group in groups:
        bases = {b for j in group for b in rows[j][1]}
        low = {b: min(rows[j][1].get(b, Fraction(0)) for j in group) for b in bases}
        total = Fraction(0)
        for j in group:
            coefficient, powers = rows[j]
            for b in bases:
                extra = powers.get(b, Fraction(0)) - low[b]
                if extra and isinstance(b, int):
                    coefficient *= b ** int(extra)
            total += coefficient
        if total != 0:
            terms.append(_absorbed(total, low))
    if len(terms) > MAX_TERMS:
        raise TooLarge("too many terms")
    return Exact(tuple(sorted(terms, key=_order)))


def _absorbed(coefficient: Fraction, powers: dict[Base, Fraction]) -> Term:
    """The coefficient's factors of each base moved into that base's exponent: `10 \\cdot 10^{n-1}` is `10^n`."""
    numerator, denominator = coefficient.numerator, coefficient.denominator
    powers = dict(powers)
    for base in list(powers):
        if isinstance(base, int):
            numerator, up = _remove(numerator, base) if numerator else (0, 0)
            denominator, down = _remove(denominator, base)
            powers[base] += up - down
    return _term(Fraction(numerator, denominator), powers)


def is_zero(value: Exact) -> bool:
    return not normalize(value).terms


# ---------------------------------------------------------------------------------------------------------------
# Syntax trees and sympy
# ---------------------------------------------------------------------------------------------------------------

_ARITHMETIC = {"num", "paren", "brace", "add", "neg", "mul", "div", "pow", "func", "pct"}
_FUNCTIONS = {"factorial", "binomial", "sqrt", "root", "abs"}


def needs_exact(node: Node) -> bool:
    """Whether a tree has a power, factorial or binomial that sympy might compute at a size nobody can stop.
    (`x^2` and `2^{10}` do not: a literal exponent below 100 on a literal base is cheap.)"""
    stack = [node]
    while stack:
        item = stack.pop()
        if not isinstance(item, tuple) or not item:
            continue
        kind = item[0]
        if kind == "pow":
            exponent = item[2]
            if not (exponent[0] == "num" and len(exponent[1]) <= 2 and "." not in exponent[1]):
                return True
        elif kind == "func" and item[1] in ("factorial", "binomial"):
            return True
        for part in item[1:]:
            if isinstance(part, tuple):
                stack.append(part)
            elif isinstance(part, list):
                stack.extend(p for p in part if isinstance(p, tuple))
    return False


def has_decimal(node: Node) -> bool:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple) and item:
            if item[0] == "num" and "." in item[1]:
                return True
            stack.extend(p for p in item[1:] if isinstance(p, tuple))
            stack.extend(p for part in item[1:] if isinstance(part, list) for p in part if isinstance(p, tuple))
    return False


def evaluate(node: Node, memo: dict[int, tuple[Node, Exact | None]]) -> Exact | None:
    """The exact value of a tree made of numbers and arithmetic only; None for any other tree."""
    kept = memo.get(id(node))
    if kept is not None and kept[0] is node:
        return kept[1]
    result = _evaluate(node, memo)
    memo[id(node)] = (node, result)
    return result


def _evaluate(node: Node, memo: dict[int, tuple[Node, Exact | None]]) -> Exact | None:
    kind = node[0]
    if kind not in _ARITHMETIC:
        return None
    if kind == "num":
        text = node[1]
        if len(text) > MAX_DIGITS:
            raise ParseError("number too long")
        return number(Fraction(text))
    if kind in ("paren", "brace"):
        return evaluate(node[1], memo)
    if kind == "neg":
        inner = evaluate(node[1], memo)
        return negate(inner) if inner is not None else None
    if kind == "pct":
        inner = evaluate(node[1], memo)
        return multiply(inner, number(Fraction(1, 100))) if inner is not None else None
    if kind in ("add", "mul"):
        parts = []
        for child in node[1]:
            part = evaluate(child, memo)
            if part is None:
                return None
            parts.append(part)
        result = parts[0]
        for part in parts[1:]:
            result = add(result, part) if kind == "add" else multiply(result, part)
        return result
    if kind in ("div", "pow"):
        left = evaluate(node[1], memo)
        right = evaluate(node[2], memo) if left is not None else None
        if left is None or right is None:
            return None
        return divide(left, right) if kind == "div" else power(left, right)
    name, args = node[1], node[2]
    if name not in _FUNCTIONS or not args:
        return None
    values = []
    for arg in args:
        value = evaluate(arg, memo)
        if value is None:
            return None
        values.append(value)
    if name == "factorial":
        return factorial(values[0])
    if name == "binomial" and len(values) == 2:
        return binomial(values[0], values[1])
    if name == "sqrt":
        return power(values[0], number(Fraction(1, 2)))
    if name == "root" and len(values) == 2:
        index = _integer(values[1])
        return power(values[0], number(Fraction(1, index))) if index is not None and index >= 2 else None
    if name == "abs":
        return absolute(values[0])
    return None


class Huge(AtomicExpr):  # type: ignore[misc]
    """A number too large to write out, as an opaque sympy atom: sympy arithmetic on it computes nothing."""

    is_commutative = True
    value: Exact

    def __new__(cls, value: Exact) -> Huge:
        obj: Huge = super().__new__(cls)
        obj.value = value
        return obj

    def _hashable_content(self) -> tuple[Any, ...]:
        return (self.value,)

    def _sympystr(self, printer: Any) -> str:
        return str(self.value)


def check_root(base: Any, exponent: Any) -> None:
    """Raise TooLarge for a root sympy would have to factor a number past MAX_ROOT_BITS for."""
    if not (getattr(base, "is_Rational", False) and getattr(exponent, "is_Rational", False)) or exponent.is_Integer:
        return
    p, q, k = int(base.p), int(base.q), int(exponent.q)
    # sympy raises the base to the exponent's numerator before it factors it: its part without small prime
    # factors, so raised, must stay within the bound too
    rough = max(_rough_part(abs(p)).bit_length(), _rough_part(q).bit_length()) * abs(int(exponent.p))
    if rough > MAX_ROOT_BITS:
        raise TooLarge("a fractional power too large to factor")
    if max(abs(p).bit_length(), q.bit_length()) <= MAX_ROOT_BITS:
        return
    if p < 0 or k > MAX_ROOT_INDEX or _exact_root(p, k) is None or _exact_root(q, k) is None:
        raise TooLarge("root of a number too large to factor")


_SMALL_PRIMES = tuple(int(p) for p in sympy.primerange(2, 2**15))  # those sympy's factoring divides out first


def _rough_part(n: int) -> int:
    """n without its prime factors below 2^15 (numbers past MAX_ROOT_BITS are left whole)."""
    if n.bit_length() > MAX_ROOT_BITS:
        return n
    for prime in _SMALL_PRIMES:
        if n < prime * prime:  # n is 1 or a prime
            return 1 if n < 2**15 else n
        n, _ = _remove(n, prime)
    return n


def to_sympy(value: Exact) -> Any:
    """A small value as a sympy number (a Huge atom for a large one)."""
    if is_huge(value):
        return Huge(value)
    parts = []
    for term in value.terms:
        factors = [sympy.Rational(term.coefficient.numerator, term.coefficient.denominator)]
        for base, exponent in term.powers:
            integer = sympy.factorial(base[1]) if isinstance(base, tuple) else sympy.Integer(base)
            check_root(integer, sympy.Rational(exponent.numerator, exponent.denominator))
            factors.append(sympy.Pow(integer, sympy.Rational(exponent.numerator, exponent.denominator)))
        parts.append(sympy.Mul(*factors))
    return sympy.Add(*parts)


def of_sympy(expr: Any) -> Exact | None:
    """The exact form of a sympy number built from rationals, rational powers of positive rationals, sums,
    products and Huge atoms; None for anything else (pi, functions, variables, floats, complex roots)."""
    try:
        return _of_sympy(expr)
    except TooLarge:
        return None


def _of_sympy(expr: Any) -> Exact | None:
    if isinstance(expr, Huge):
        return expr.value
    if getattr(expr, "is_Rational", False):
        return number(Fraction(int(expr.p), int(expr.q)))
    if getattr(expr, "is_Add", False) or getattr(expr, "is_Mul", False):
        parts = [_of_sympy(arg) for arg in expr.args]
        if any(part is None for part in parts):
            return None
        result = parts[0]
        for part in parts[1:]:
            assert result is not None and part is not None
            result = add(result, part) if expr.is_Add else multiply(result, part)
        return result
    if getattr(expr, "is_Pow", False) and expr.base.is_Rational and expr.base > 0 and expr.exp.is_Rational:
        base = number(Fraction(int(expr.base.p), int(expr.base.q)))
        return power(base, number(Fraction(int(expr.exp.p), int(expr.exp.q))))
    return None


def exactly_equal(a: Any, b: Any) -> bool:
    """Two sympy values at least one of which is Huge: equal when their difference is exactly zero."""
    x, y = of_sympy(a), of_sympy(b)
    return x is not None and y is not None and is_zero(add(x, negate(y)))
