"""Tokenizer and parser: LaTeX or plain-text math to a small syntax tree (tuples), no sympy here.

One grammar reads both `\\frac{1}{2}` and `1/2`, `\\sqrt{2}` and `sqrt(2)`, `x^2+2x+1`, `x**2`. The tree is
turned into values by `values.build`. Nodes:

    ("num", text)            a literal number (digits, '.', already resolved for separators)
    ("sym", name)            a variable (single letter, Greek name, subscripted name)
    ("const", name)          pi, e, i, oo
    ("add", [terms]) ("neg", a) ("mul", [factors]) ("div", a, b) ("pow", a, b) ("pm", a, b) ("mp", a, b)
    ("func", name, [args])   sin, log, sqrt, root, binom, floor, abs, factorial, ...
    ("sum", kind, var, lo, hi, body)   \\sum / \\prod with bounds
    ("seq", open, close, [items])      (a, b), [a, b), \\{a, b\\}, <a, b>; open '' for a bare list
    ("matrix", [[cells]])
    ("rel", [ops], [parts])  chains of = < > <= >= != approx in
    ("setop", op, a, b)      cup, cap, setminus
    ("text", s)              \\text{...} on its own
    ("pct", a) ("deg", a)    a percentage, an angle in degrees
    ("groups", [items])      items separated by ';', 'and', 'or' at the top level
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from assay_math.normalize import close_of

Node = tuple[Any, ...]

MAX_DEPTH = 60
MAX_TOKENS = 4000  # the default max_answer_chars: the length of an answer, not its tokens, is the limit


class ParseError(ValueError):
    pass


@dataclass
class Tok:
    kind: str  # num id cmd op text word pct deg sep amp row begin end
    text: str
    space: bool = False  # whitespace before the token


FUNCTIONS = {
    "sin",
    "cos",
    "tan",
    "sec",
    "csc",
    "cot",
    "arcsin",
    "arccos",
    "arctan",
    "arcsec",
    "arccsc",
    "arccot",
    "sinh",
    "cosh",
    "tanh",
    "coth",
    "sech",
    "csch",
    "log",
    "ln",
    "lg",
    "exp",
    "sqrt",
    "det",
    "gcd",
    "lcm",
    "max",
    "min",
    "floor",
    "ceil",
    "abs",
}
PLAIN_FUNCTIONS = FUNCTIONS | {"asin", "acos", "atan"}
GREEK = {
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "varepsilon",
    "zeta",
    "eta",
    "theta",
    "vartheta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "rho",
    "varrho",
    "sigma",
    "varsigma",
    "tau",
    "upsilon",
    "phi",
    "varphi",
    "chi",
    "psi",
    "omega",
    "Gamma",
    "Delta",
    "Theta",
    "Lambda",
    "Xi",
    "Pi",
    "Sigma",
    "Upsilon",
    "Phi",
    "Psi",
    "Omega",
}
RELATIONS = {
    "=": "=",
    "<": "<",
    ">": ">",
    "le": "<=",
    "leq": "<=",
    "leqslant": "<=",
    "ge": ">=",
    "geq": ">=",
    "geqslant": ">=",
    "ne": "!=",
    "neq": "!=",
    "lt": "<",
    "gt": ">",
    "approx": "approx",
    "in": "in",
    "equiv": "=",
    "cong": "=",
    "sim": "approx",
    "simeq": "approx",
    "doteq": "=",
    "coloneqq": "=",
}
SET_OPS = {"cup": "cup", "cap": "cap", "setminus": "setminus", "backslash": "setminus"}
#: Unit words that may follow a number without a space ('5cm', '3hours'); other glued letters are a product (2xy).
# fmt: off
UNITS = {
    "mm", "cm", "dm", "km", "kg", "mg", "ml", "cl", "ft", "yd", "mi", "mph", "kmh", "inch", "inches", "feet",
    "foot", "meter", "meters", "metre", "metres", "hours", "hour", "hrs", "hr", "min", "mins", "minutes", "sec",
    "seconds", "days", "weeks", "years", "cents", "dollars", "pounds", "lbs", "oz", "units", "degrees", "sq",
}
# fmt: on
SEPARATOR_WORDS = {"and", "or", "et", "ou", "und", "oder", "y", "o"}
#: One ellipsis, however it is spelled (`...` and `\u2026` become `\ldots` on the way in).
ELLIPSIS_COMMANDS = {"dots", "ldots", "cdots", "dotsm", "dotsb", "dotsc", "dotso", "dotsi"}
#: Prose is never a product of variables: 'it is 4' is 4 (not 4*I*t*s), 'x equals 5' is the equation x = 5.
#: Copulas read as '='; the other words are dropped. Single letters and unknown words stay math ('xy', 'Evelyn').
COPULA_WORDS = {"is", "are", "was", "were", "equals", "equal", "makes", "gives", "yields"}
# fmt: off
PROSE_WORDS = {
    "the", "an", "answer", "answers", "final", "result", "value", "values", "solution", "solutions", "it", "its",
    "this", "that", "these", "those", "so", "thus", "hence", "therefore", "then", "we", "get", "got", "obtain",
    "have", "has", "had", "find", "found", "which", "be", "been", "to", "of", "for", "will", "would",
    "should", "must", "can", "could", "approximately", "about", "exactly", "roughly", "around", "nearly", "just",
    "simply", "only", "our", "your", "my", "there", "here", "all", "total", "correct", "required", "desired",
    "number", "sum", "product", "by", "with", "as", "at", "on", "from", "when", "where", "if", "since", "because",
    "also", "both", "each", "either", "but", "than", "very", "any", "some",
}
# fmt: on
PERCENT_WORDS = {"percent", "pct", "percentage", "percents", "per cent"}
IGNORED_COMMANDS = {
    "quad",
    "qquad",
    "displaystyle",
    "mathrm",
    "text",
    "left",
    "right",
    "therefore",
    "because",
    "hline",
    "nonumber",
    "notag",
    "label",
    "tag",
    "cline",
    "multicolumn",
}
TEXT_COMMANDS = {
    "text",
    "textbf",
    "textit",
    "textrm",
    "textsf",
    "texttt",
    "textnormal",
    "mbox",
    "hbox",
    "textup",
    "emph",
}
KNOWN_COMMANDS = (
    FUNCTIONS
    | GREEK
    | set(RELATIONS)
    | set(SET_OPS)
    | IGNORED_COMMANDS
    | {
        "frac",
        "sqrt",
        "binom",
        "choose",
        "pi",
        "infty",
        "infin",
        "pm",
        "mp",
        "cdot",
        "times",
        "div",
        "circ",
        "lbrace",
        "rbrace",
        "langle",
        "rangle",
        "lfloor",
        "rfloor",
        "lceil",
        "rceil",
        "vert",
        "lvert",
        "rvert",
        "mid",
        "emptyset",
        "varnothing",
        "sum",
        "prod",
        "begin",
        "end",
        "to",
        "rightarrow",
        "implies",
        "Rightarrow",
        "iff",
        "dots",
        "ldots",
        "cdots",
        "dotsm",
        "dotsb",
        "dotsc",
        "dotso",
        "dotsi",
        "degree",
        "prime",
        "boxed",
        "fbox",
        "not",
        "pmod",
        "bmod",
        "mod",
        "colon",
        "land",
        "lor",
        "wedge",
        "vee",
        "ast",
        "star",
        "exp",
        "e",
        "mathbb",
        "R",
        "Z",
        "N",
        "Q",
        "C",
        "oo",
        "cap",
        "cup",
        "neg",
        "lnot",
        "forall",
        "exists",
        "partial",
        "nabla",
        "angle",
        "triangle",
        "perp",
        "parallel",
        "ell",
        "hbar",
        "imath",
        "jmath",
    }
)
KNOWN_COMMANDS |= TEXT_COMMANDS
_KNOWN_BY_LENGTH = sorted(KNOWN_COMMANDS, key=len, reverse=True)

_NUMBER = re.compile(r"\d+(?:\.\d+)?|\.\d+")
_GROUPED = re.compile(r"([1-9]\d{0,2})((?:,\d{3})+)(?![\d])(\.\d+)?")
_SPACE_GROUPED = re.compile(r"([1-9]\d{0,2})((?: \d{3})+)(?![\d.,])(\.\d+)?")
_EXPONENT = re.compile(r"[eE]([+-]?\d+)(?![\da-zA-Z])")
_DECIMAL_COMMA = re.compile(r"(\d+),(\d+)(?![\d,])")


def tokenize(source: str, *, plain: bool) -> list[Tok]:
    """Split cleaned math text into tokens. `plain`: the text came from prose, not from a math span, which
    allows the decimal comma (see the README's number rules)."""
    toks: list[Tok] = []
    text = source
    n = len(text)
    pos = 0
    # the decimal comma ('1,22', '2,74 $') only in prose with one comma and no brackets or commands
    decimal_comma = plain and text.count(",") == 1 and not any(c in text for c in "([{\\")
    while pos < n:
        if len(toks) > MAX_TOKENS:
            raise ParseError("answer too long")
        ch = text[pos]
        space = pos > 0 and text[pos - 1].isspace()
        if ch.isspace():
            pos += 1
            continue
        if ch.isdigit() or (ch == "." and pos + 1 < n and text[pos + 1].isdigit()):
            grouped = _GROUPED.match(text, pos) or _SPACE_GROUPED.match(text, pos)
            if grouped and not (pos > 0 and text[pos - 1].isdigit()):
                digits = (
                    grouped.group(1) + grouped.group(2).replace(",", "").replace(" ", "") + (grouped.group(3) or "")
                )
                toks.append(Tok("num", digits, space))
                pos = grouped.end()
                continue
            comma = _DECIMAL_COMMA.match(text, pos) if decimal_comma else None
            if comma:
                toks.append(Tok("num", f"{comma.group(1)}.{comma.group(2)}", space))
                pos = comma.end()
                continue
            m = _NUMBER.match(text, pos)
            assert m is not None
            pos = m.end()
            exponent = _EXPONENT.match(text, pos)
            if exponent:  # 1.5e3, 6.02E-23
                power = exponent.group(1)
                toks.append(Tok("num", m.group(0), space))
                toks += [Tok("op", "*"), Tok("num", "10"), Tok("op", "^"), Tok("op", "{")]
                if power[0] in "+-":
                    toks.append(Tok("op", power[0]))
                toks += [Tok("num", power.lstrip("+-")), Tok("op", "}")]
                pos = exponent.end()
                continue
            toks.append(Tok("num", m.group(0), space))
            continue
        if ch == "\\":
            if pos + 1 < n and text[pos + 1] == "\\":
                toks.append(Tok("row", "\\\\", space))
                pos += 2
                continue
            m = re.compile(r"[a-zA-Z]+").match(text, pos + 1)
            if not m:
                pos += 2  # \, \; \! and friends left over: spacing
                continue
            name = m.group(0)
            pos = m.end()
            if name not in KNOWN_COMMANDS:
                prefix = next((k for k in _KNOWN_BY_LENGTH if name.startswith(k) and len(k) >= 2), None)
                if prefix is not None:  # '\quadx' is '\quad x'
                    text = text[: pos - len(name) + len(prefix)] + " " + text[pos - len(name) + len(prefix) :]
                    n = len(text)
                    pos = pos - len(name) + len(prefix)
                    name = prefix
            if name in TEXT_COMMANDS:
                content, pos = _read_braced(text, pos)
                toks.append(_text_token(content, space))
                continue
            if name in ("begin", "end"):
                env, pos = _read_braced(text, pos)
                env = env.strip().rstrip("*")
                if name == "begin" and env == "array":
                    _, pos = _read_braced(text, pos)  # column spec
                toks.append(Tok(name, env, space))
                continue
            if name in ("quad", "qquad"):
                continue
            if name == "circ" and toks and toks[-1].text == "^":
                toks.pop()
                toks.append(Tok("deg", "deg", space))
                continue
            if name == "degree":
                toks.append(Tok("deg", "deg", space))
                continue
            toks.append(Tok("cmd", name, space))
            continue
        if ch.isalpha() and ch.isascii():
            m = re.compile(r"[a-zA-Z]+").match(text, pos)
            assert m is not None
            word = m.group(0)
            pos = m.end()
            lower = word.lower()
            if lower in PERCENT_WORDS:
                toks.append(Tok("pct", "%", space))
            elif lower in SEPARATOR_WORDS and len(word) > 1:
                toks.append(Tok("sep", lower, space))
            elif len(word) == 1:
                toks.append(Tok("id", word, space))
            elif lower in COPULA_WORDS:
                if not (toks and toks[-1].kind == "op" and toks[-1].text == "="):  # 'is equal to': one '='
                    toks.append(Tok("op", "=", space))
            elif lower in PROSE_WORDS:
                pass
            elif word == "in":
                toks.append(Tok("cmd", "in", space))  # 'x in [0, 1]'
            elif lower == "not":  # 'x is not 5', 'x not equal to 5'
                if toks and toks[-1].kind == "op" and toks[-1].text == "=":
                    toks[-1] = Tok("op", "!=", toks[-1].space)
                else:
                    toks.append(Tok("cmd", "not", space))
            elif word in PLAIN_FUNCTIONS or lower in ("pi", "inf", "infty", "infinity", "oo"):
                toks.append(Tok("cmd", {"asin": "arcsin", "acos": "arccos", "atan": "arctan"}.get(word, lower), space))
            else:
                toks.append(Tok("word", word, space))
            continue
        if ch == "*" and pos + 1 < n and text[pos + 1] == "*":
            toks.append(Tok("op", "^", space))
            pos += 2
            continue
        two = text[pos : pos + 2]
        if two in ("<=", ">=", "!=", "=<", "=>"):
            toks.append(Tok("op", {"<=": "<=", "=<": "<=", ">=": ">=", "=>": ">=", "!=": "!="}[two], space))
            pos += 2
            continue
        if ch == "%":
            toks.append(Tok("pct", "%", space))
        elif ch == "&":
            toks.append(Tok("amp", "&", space))
        elif ch == ";":
            toks.append(Tok("sep", ";", space))
        elif ch == "$":
            pass
        elif ch in "+-*/^_()[]{}|,=<>!':":
            toks.append(Tok("op", ch, space))
        elif ch == "." and text.startswith("...", pos):
            toks.append(Tok("cmd", "ldots", space))
            pos += 3
            continue
        elif ch == ".":
            pass  # a full stop after the answer
        else:
            raise ParseError(f"unexpected character {ch!r}")
        pos += 1
    return toks


def _read_braced(text: str, pos: int) -> tuple[str, int]:
    n = len(text)
    while pos < n and text[pos].isspace():
        pos += 1
    if pos >= n or text[pos] != "{":
        if pos < n:
            return text[pos], pos + 1
        return "", pos
    start = pos + 1
    end = close_of(text, start, n)
    if end is None:
        raise ParseError("unbalanced braces")
    return text[start : end - 1], end


def _text_token(content: str, space: bool) -> Tok:
    stripped = content.strip()
    lower = stripped.lower().strip(",.")
    if not lower or lower in (",", ";"):
        return Tok("sep", ",", space) if lower in (",", ";") else Tok("sep", " ", space)
    if lower in SEPARATOR_WORDS or lower in ("and", "or", "or also"):
        return Tok("sep", lower, space)
    if lower in PERCENT_WORDS:
        return Tok("pct", "%", space)
    return Tok("text", stripped, space)


class Parser:
    def __init__(self, toks: list[Tok]) -> None:
        self.toks = toks
        self.i = 0
        self.depth = 0
        self.abs_open = 0

    # -- helpers ----------------------------------------------------------------------------------------
    def peek(self, k: int = 0) -> Tok | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def at(self, kind: str, text: str | None = None) -> bool:
        t = self.peek()
        return t is not None and t.kind == kind and (text is None or t.text == text)

    def take(self) -> Tok:
        t = self.peek()
        if t is None:
            raise ParseError("unexpected end")
        self.i += 1
        return t

    def expect(self, kind: str, text: str) -> None:
        if not self.at(kind, text):
            got = self.peek()
            raise ParseError(f"expected {text!r}, got {got.text if got else 'end'!r}")
        self.i += 1

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParseError("nested too deeply")

    # -- grammar ----------------------------------------------------------------------------------------
    def parse(self) -> Node:
        node = self.groups(stop=set())
        while self.i < len(self.toks) and self.at("op", "."):
            self.i += 1
        if self.i != len(self.toks):
            raise ParseError(f"unexpected {self.toks[self.i].text!r}")
        return node

    def groups(self, stop: set[str]) -> Node:
        items: list[Node] = []
        while True:
            while self.at("sep"):
                self.i += 1
            if self.peek() is None or self._stops(stop):
                break
            items.append(self.commalist(stop))
            if not self.at("sep"):
                break
        if not items:
            raise ParseError("empty")
        return items[0] if len(items) == 1 else ("groups", items)

    def _stops(self, stop: set[str]) -> bool:
        t = self.peek()
        return t is not None and (t.kind in ("op", "cmd", "end", "row", "amp")) and t.text in stop

    def commalist(self, stop: set[str]) -> Node:
        items = [self.relation(stop)]
        while self.at("op", ","):
            self.i += 1
            if self.peek() is None or self._stops(stop) or self.at("sep"):
                break
            items.append(self.relation(stop))
        return items[0] if len(items) == 1 else ("seq", "", "", items)

    def relation(self, stop: set[str]) -> Node:
        self.enter()
        parts = []
        ops: list[str] = []
        if (leading := self._rel_op()) is not None:  # a leading '=' in '= 72000 / 18 = 4000'
            if leading not in ("=", "approx"):  # 'not 4', '!= 4', '< 4': a negation or a bound is no answer
                raise ParseError(f"an answer that starts with {leading!r}")
            self.i += 1
        parts.append(self.ratio(stop))
        negated = False
        while (op := self._rel_op()) is not None:
            self.i += 1
            if op == "not":  # '\\not=', '\\not<': the opposite relation, never the relation itself
                negated = True
                continue
            if negated:
                if op not in _NEGATED:
                    raise ParseError(f"negated {op!r}")
                op, negated = _NEGATED[op], False
            ops.append(op)
            parts.append(self.ratio(stop))
        self.depth -= 1
        return parts[0] if not ops else ("rel", ops, parts)

    def _rel_op(self) -> str | None:
        t = self.peek()
        if t is None:
            return None
        if t.kind == "op" and t.text in ("=", "<", ">", "<=", ">=", "!="):
            return t.text
        if t.kind == "cmd" and t.text in RELATIONS:
            return RELATIONS[t.text]
        if t.kind == "cmd" and t.text == "not":
            return "not"
        return None

    def ratio(self, stop: set[str]) -> Node:
        parts = [self.setexpr(stop)]
        while self.at("op", ":") and ":" not in stop:
            self.i += 1
            parts.append(self.setexpr(stop))
        return parts[0] if len(parts) == 1 else ("ratio", parts)

    def setexpr(self, stop: set[str]) -> Node:
        node = self.additive(stop)
        while self.at("cmd") and self.peek().text in SET_OPS:  # type: ignore[union-attr]
            op = SET_OPS[self.take().text]
            node = ("setop", op, node, self.additive(stop))
        return node

    def additive(self, stop: set[str]) -> Node:
        self.enter()
        terms: list[Node] = []
        sign: str | None = None
        t = self.peek()
        if t is not None and ((t.kind == "op" and t.text in "+-") or (t.kind == "cmd" and t.text in ("pm", "mp"))):
            sign = t.text
            self.i += 1
        first = self.term(stop)
        if sign == "-":
            first = ("neg", first)
        elif sign in ("pm", "mp"):
            first = (sign, ("num", "0"), first)
        terms.append(first)
        while True:
            t = self.peek()
            if t is None:
                break
            if t.kind == "op" and t.text in "+-":
                self.i += 1
                rhs = self.term(stop)
                terms.append(rhs if t.text == "+" else ("neg", rhs))
            elif t.kind == "cmd" and t.text in ("pm", "mp"):
                self.i += 1
                rhs = self.term(stop)
                left = terms[0] if len(terms) == 1 else ("add", terms)
                terms = [(t.text, left, rhs)]
            else:
                break
        self.depth -= 1
        return terms[0] if len(terms) == 1 else ("add", terms)

    def term(self, stop: set[str]) -> Node:
        node = self.power(stop)
        while True:
            t = self.peek()
            if t is None:
                break
            if (t.kind == "op" and t.text == "*") or (t.kind == "cmd" and t.text in ("cdot", "times", "ast")):
                self.i += 1
                node = ("mul", [node, self.power(stop)])
            elif (t.kind == "op" and t.text == "/") or (t.kind == "cmd" and t.text == "div"):
                self.i += 1
                node = ("div", node, self.power(stop))
            elif self._mixed_number(node, t):
                if t.kind == "num":
                    numerator = self.power(stop)
                    self.i += 1
                    rhs: Node = ("div", numerator, self.power(stop))
                else:
                    rhs = self.power(stop)
                node = ("add", [node, rhs])  # a mixed number: 3\frac{1}{2}, 3 1/2
            elif self._starts_primary(t, stop):
                node = ("mul", [node, self.power(stop)])
            elif t.kind == "word" and (t.space or t.text.lower() in UNITS):
                self.i += 1  # a unit after the value: '125 miles', '5cm'
                if self.at("op", "^"):
                    self.i += 1
                    self.power(stop)
            elif t.kind == "text":
                self.i += 1  # \text{cm} after a value is a unit
                if self.at("op", "^"):
                    self.i += 1
                    self.power(stop)
            elif t.kind == "pct":
                self.i += 1
                node = ("pct", node)
            elif t.kind == "deg":
                self.i += 1
                node = ("deg", node)
            else:
                break
        return node

    def _mixed_number(self, node: Node, t: Tok) -> bool:
        if node[0] != "num" or "." in node[1]:
            return False
        if t.kind == "cmd" and t.text == "frac":
            a, b = self.peek(1), self.peek(2)
            if a is not None and a.kind == "op" and a.text == "{":
                a, b = self.peek(2), self.peek(5) if self.peek(3) and self.peek(3).text == "}" else None  # type: ignore[union-attr]
            return (
                a is not None and b is not None and a.kind == "num" and b.kind == "num" and "." not in a.text + b.text
            )
        if t.kind == "num" and t.space and "." not in t.text:
            slash, den = self.peek(1), self.peek(2)
            return slash is not None and slash.text == "/" and den is not None and den.kind == "num"
        return False

    def _starts_primary(self, t: Tok, stop: set[str]) -> bool:
        if t.kind == "num":
            previous = self.toks[self.i - 1] if self.i > 0 else None
            return not (t.space and previous is not None and previous.kind == "num")
        if t.kind in ("id", "begin"):
            return True
        if t.kind == "word":
            return not t.space and t.text.lower() not in UNITS
        if t.kind == "cmd":
            return (
                t.text not in RELATIONS
                and t.text not in SET_OPS
                and t.text
                not in (
                    "pm",
                    "mp",
                    "cdot",
                    "times",
                    "div",
                    "rbrace",
                    "rangle",
                    "rfloor",
                    "rceil",
                    "rvert",
                    "to",
                    "rightarrow",
                    "implies",
                    "Rightarrow",
                    "iff",
                    "not",
                    "ast",
                    "mid",
                    "colon",
                    "pmod",
                    "bmod",
                    "mod",
                )
                and t.text not in stop
            )
        if t.kind == "op":
            if t.text in stop:
                return False
            if t.text == "|":
                return self.abs_open == 0
            return t.text in ("(", "[", "{")
        return False

    def power(self, stop: set[str]) -> Node:
        self.enter()
        base = self.postfix(self.primary(stop))
        if self.at("op", "^"):
            self.i += 1
            if self.at("op", "-") or self.at("op", "+"):
                sign = self.take().text
                exp = self.power(stop)
                exp = ("neg", exp) if sign == "-" else exp
            else:
                exp = self.power_operand(stop, split_digits=base[0] not in ("num", "paren"))
            if exp[0] in ("pct", "deg"):
                # 5^{2}\% and 5^2% are (5^2)%: a percent or degree sign after an exponent marks the power,
                # not the exponent (one inside the exponent's braces, 2^{50\%}, stays there)
                base = self.postfix((exp[0], ("pow", base, exp[1])))
            else:
                base = self.postfix(("pow", base, exp))
        self.depth -= 1
        return base

    def power_operand(self, stop: set[str], *, split_digits: bool) -> Node:
        t = self.peek()
        if split_digits and t is not None and t.kind == "num" and len(t.text) > 1 and not t.space and "." not in t.text:
            # x^23 in LaTeX is x^2 3; a number's power is not (10^10 is written for 10^{10}, never for 10^1 0)
            self.toks[self.i] = Tok("num", t.text[1:], False)
            return ("num", t.text[0])
        return self.power(stop)

    def postfix(self, node: Node) -> Node:
        while True:
            if self.at("op", "!"):
                self.i += 1
                node = ("func", "factorial", [node])
            elif self.at("op", "'"):
                self.i += 1
                node = ("sym", _name(node) + "'") if node[0] == "sym" else node
            elif self.at("deg"):
                self.i += 1
                node = ("deg", node)
            elif self.at("pct"):
                self.i += 1
                node = ("pct", node)
            elif self.at("op", "_") and node[0] in ("sym", "num", "const"):
                self.i += 1
                sub = self.subscript()
                node = _subscripted(node, sub)
            else:
                return node

    def subscript(self) -> str:
        t = self.take()
        if t.kind == "op" and t.text == "{":
            start = self.i
            depth = 1
            while self.peek() is not None:
                tt = self.take()
                if tt.kind == "op" and tt.text == "{":
                    depth += 1
                elif tt.kind == "op" and tt.text == "}":
                    depth -= 1
                    if depth == 0:
                        return "".join(x.text for x in self.toks[start : self.i - 1])
            raise ParseError("unbalanced subscript")
        if t.kind == "num" and len(t.text) > 1:
            self.i -= 1
            self.toks[self.i] = Tok("num", t.text[1:], False)
            return t.text[0]
        return t.text

    def group(self, open_: str, close: str) -> Node:
        """Parse up to the matching close token (already past the opener)."""
        self.enter()
        if self.peek() is None:
            raise ParseError(f"{open_!r} is never closed")
        saved = self.abs_open
        self.abs_open = 0
        node = self.groups(stop={close})
        self.abs_open = saved
        self.expect("op" if close in ")]}|" else "cmd", close)
        self.depth -= 1
        return node

    def arg(self) -> Node:
        """A command argument: {group} or a single token (\\frac34)."""
        t = self.peek()
        if t is None:
            raise ParseError("missing argument")
        if t.kind == "op" and t.text == "{":
            self.i += 1
            return self.group("{", "}")
        if t.kind == "num" and len(t.text) > 1:
            self.toks[self.i] = Tok("num", t.text[1:], False)
            return ("num", t.text[0])
        if t.kind == "word":
            self.toks[self.i] = Tok("word" if len(t.text) > 2 else "id", t.text[1:], False)
            return ("sym", t.text[0])
        return self.postfix(self.primary(set()))

    def primary(self, stop: set[str]) -> Node:
        t = self.take()
        k, s = t.kind, t.text
        if k == "num":
            return ("num", s)
        if k == "id":
            return ("sym", s)
        if k == "word":
            return ("mul", [("sym", c) for c in s]) if len(s) < 12 else ("text", s)
        if k == "text":
            return ("text", s)
        if k == "begin":
            return self.environment(s)
        if k == "op":
            if s == "(":
                return self.bracketed("(")
            if s == "[":
                return self.bracketed("[")
            if s == "{":
                inner = self.group("{", "}")
                return ("brace", inner)
            if s == "|":
                self.abs_open += 1
                inner = self.groups(stop={"|"})
                self.expect("op", "|")
                self.abs_open -= 1
                return ("func", "abs", [inner])
            raise ParseError(f"unexpected {s!r}")
        if k == "cmd":
            return self.command(s)
        if k == "deg" or k == "pct":
            raise ParseError("unit without a value")
        raise ParseError(f"unexpected {s!r}")

    def bracketed(self, open_: str) -> Node:
        self.enter()
        saved = self.abs_open
        self.abs_open = 0
        items: list[Node] = []
        while True:
            if self.at("op", ")") or self.at("op", "]"):
                break
            items.append(self.relation({")", "]", ","}))
            if self.at("op", ",") or self.at("sep", ";"):
                self.i += 1
                continue
            break
        close = self.take()
        self.abs_open = saved
        if close.kind != "op" or close.text not in ")]":
            raise ParseError("unclosed bracket")
        self.depth -= 1
        if len(items) == 1 and open_ == "(" and close.text == ")":
            return ("paren", items[0])
        return ("seq", open_, close.text, items)

    def environment(self, env: str) -> Node:
        if env in ("pmatrix", "bmatrix", "matrix", "vmatrix", "Bmatrix", "smallmatrix", "array", "Vmatrix"):
            rows: list[list[Node]] = [[]]
            while True:
                if self.at("end"):
                    self.take()
                    break
                if self.peek() is None:
                    raise ParseError("unclosed matrix")
                if self.at("row"):
                    self.take()
                    rows.append([])
                    continue
                if self.at("amp"):
                    self.take()
                    continue
                rows[-1].append(self.groups(stop={"&", "\\\\", env}))
            rows = [r for r in rows if r]
            if not rows or len({len(r) for r in rows}) != 1:
                raise ParseError("ragged matrix")
            node: Node = ("matrix", rows)
            return ("func", "det", [node]) if env == "vmatrix" else node
        raise ParseError(f"environment {env}")

    def command(self, name: str) -> Node:
        if name == "frac":
            num = self.arg()
            den = self.arg()
            return ("div", num, den)
        if name in ("binom", "choose"):
            return ("func", "binomial", [self.arg(), self.arg()])
        if name == "sqrt":
            if self.at("op", "["):
                self.i += 1
                index = self.groups(stop={"]"})
                self.expect("op", "]")
                return ("func", "root", [self.arg(), index])
            return ("func", "sqrt", [self.arg()])
        if name in ("pi",):
            return ("const", "pi")
        if name in ("infty", "infin", "inf", "infinity", "oo"):
            return ("const", "oo")
        if name in ("emptyset", "varnothing"):
            return ("seq", "{", "}", [])
        if name in GREEK:
            return ("sym", name)
        if name == "lbrace":
            items: list[Node] = []
            self.enter()
            while not self.at("cmd", "rbrace"):
                if self.peek() is None:
                    raise ParseError("unclosed set")
                items.append(self.relation({"rbrace", ","}))
                if self.at("op", ",") or self.at("sep", ";"):
                    self.i += 1
                elif not self.at("cmd", "rbrace"):
                    raise ParseError("bad set")
            self.take()
            self.depth -= 1
            return ("seq", "{", "}", items)
        if name == "langle":
            inner = self.groups(stop={"rangle"})
            self.expect("cmd", "rangle")
            items = list(inner[3]) if inner[0] == "seq" and inner[1] == "" else [inner]
            return ("seq", "(", ")", items)
        if name in ("lfloor", "lceil"):
            close = "rfloor" if name == "lfloor" else "rceil"
            inner = self.groups(stop={close})
            self.expect("cmd", close)
            return ("func", "floor" if name == "lfloor" else "ceiling", [inner])
        if name in ("lvert", "vert"):
            inner = self.groups(stop={"rvert", "vert"})
            self.take()
            return ("func", "abs", [inner])
        if name in ("sum", "prod"):
            return self.big_operator(name)
        if name in ("boxed", "fbox"):
            return self.arg()
        if name in ELLIPSIS_COMMANDS:
            return ("sym", "...")
        if name == "e":
            return ("const", "e")
        if name in FUNCTIONS:
            return self.function(name)
        if name in IGNORED_COMMANDS or name in ("to", "rightarrow", "implies", "Rightarrow", "iff"):
            raise ParseError(f"unexpected \\{name}")
        return ("sym", name)  # an unknown command names something: \\zzz

    def big_operator(self, name: str) -> Node:
        lower: Node | None = None
        upper: Node | None = None
        for _ in range(2):
            if self.at("op", "_"):
                self.i += 1
                lower = self.arg()
            elif self.at("op", "^"):
                self.i += 1
                upper = self.arg()
        body = self.power(set())
        while self.peek() is not None and self._starts_primary(self.peek(), set()):  # type: ignore[arg-type]
            body = ("mul", [body, self.power(set())])
        if lower is None or upper is None or lower[0] != "rel" or lower[1] != ["="]:
            raise ParseError("sum without bounds")
        var = lower[2][0]
        return ("sum", name, var, lower[2][1], upper, body)

    def function(self, name: str) -> Node:
        power: Node | None = None
        base: Node | None = None
        for _ in range(2):
            if self.at("op", "^"):
                self.i += 1
                power = self.arg()
            elif self.at("op", "_"):
                self.i += 1
                base = self.arg()
        if name == "sqrt":
            argument = self.arg()
        elif self.at("op", "("):
            self.i += 1
            argument = self.groups(stop={")"})
            self.expect("op", ")")
        elif self.at("op", "{"):
            self.i += 1
            argument = self.group("{", "}")
        else:
            # \sin 2x: the implicit product that follows, up to the next function or operator
            argument = self.power(set())
            while (t := self.peek()) is not None and t.kind in ("num", "id") and not t.space:
                argument = ("mul", [argument, self.power(set())])
        args = [argument] if base is None else [argument, base]
        if argument[0] == "seq" and argument[1] == "" and name in ("gcd", "lcm", "max", "min"):
            args = list(argument[3])
        node: Node = ("func", name, args)
        if power is not None:
            if power == ("neg", ("num", "1")) and name in ("sin", "cos", "tan"):
                return ("func", "arc" + name, [argument])
            node = ("pow", node, power)
        return node


_NEGATED = {"=": "!=", "!=": "=", "<": ">=", ">": "<=", "<=": ">", ">=": "<"}


def _name(node: Node) -> str:
    return str(node[1])


def _subscripted(node: Node, sub: str) -> Node:
    sub = sub.replace(" ", "")
    if node[0] == "num" and sub.isdigit() and "." not in node[1]:
        base = int(sub)
        digits = node[1]
        if 2 <= base <= 36 and all(int(c, 36) < base for c in digits):
            return ("num", str(int(digits, base)))
        raise ParseError("bad base")
    if node[0] == "num":
        raise ParseError("bad subscript")
    return ("sym", f"{node[1]}_{sub}" if len(sub) == 1 else f"{node[1]}_{{{sub}}}")


_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {")", "]", "}"}


def drop_redundant_groups(toks: list[Tok]) -> list[Tok]:
    """`((x))` is `(x)`, `{{x}}` is `{x}`, `({x})` and `{(x)}` are `(x)`: a group whose only content is another
    group says nothing more, and a correct answer inside a thousand of them must not exceed the nesting bound.
    Brackets (`[[1]]` is a list in a list) and a brace after `_` (a subscript's text) are kept."""
    for _ in range(8):  # alternating ({({...}) collapses in two passes
        match: dict[int, int] = {}
        stack: list[int] = []
        for index, tok in enumerate(toks):
            if tok.kind != "op":
                continue
            if tok.text in _OPENERS:
                stack.append(index)
            elif tok.text in _CLOSERS:
                if not stack:
                    return toks  # unbalanced: left for the parser to report
                match[stack.pop()] = index
        drop: set[int] = set()
        for opener, closer in match.items():
            inner = opener + 1
            if match.get(inner) != closer - 1 or inner in drop or opener in drop:
                continue
            outer_kind, inner_kind = toks[opener].text, toks[inner].text
            if "[" in (outer_kind, inner_kind):
                continue
            after_subscript = opener > 0 and toks[opener - 1].kind == "op" and toks[opener - 1].text == "_"
            if outer_kind == "(" and inner_kind == "{":
                drop |= {inner, closer - 1}
            elif not (after_subscript and outer_kind == "{" and inner_kind == "("):
                drop |= {opener, closer}
        if not drop:
            return toks
        toks = [tok for index, tok in enumerate(toks) if index not in drop]
    return toks


def parse(source: str, *, plain: bool = False) -> Node:
    toks = tokenize(source, plain=plain)
    if not toks:
        raise ParseError("empty")
    return Parser(drop_redundant_groups(toks)).parse()
