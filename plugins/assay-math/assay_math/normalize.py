"""String clean-up shared by extraction and parsing: unicode math, spacing commands, wrappers, units."""

from __future__ import annotations

import re

UNICODE_MATH = {
    "\u2212": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u00d7": r"\times ",
    "\u22c5": r"\cdot ",
    "\u00b7": r"\cdot ",
    "\u00f7": "/",
    "\u2264": r"\le ",
    "\u2265": r"\ge ",
    "\u2260": r"\ne ",
    "\u221a": r"\sqrt",
    "\u03c0": r"\pi ",
    "\u221e": r"\infty ",
    "\u00b0": r"^\circ ",
    "\u00b2": "^2",
    "\u00b3": "^3",
    "\u00b9": "^1",
    "\u00bd": "(1/2)",
    "\u00bc": "(1/4)",
    "\u00be": "(3/4)",
    "\u2208": r"\in ",
    "\u222a": r"\cup ",
    "\u2229": r"\cap ",
    "\u00b1": r"\pm ",
    "\u2213": r"\mp ",
    "\u2248": r"\approx ",
    "\uff08": "(",
    "\uff09": ")",
    "\uff0c": ", ",
    "\uff1a": ": ",
    "\uff1b": "; ",
    "\u3002": ". ",
    "\uff1d": "=",
    "\uff0b": "+",
    "\uff05": "%",
    "\u00a0": " ",
    "\u2009": " ",
    "\u202f": " ",
    "\u3000": " ",
    "\u2032": "'",
    "\u2192": r"\to ",
    "\u2205": r"\emptyset ",
    "\u2016": "|",
    "\u2026": r"\ldots ",
    "\u22ef": r"\cdots ",
}
_UNICODE_RE = re.compile("|".join(re.escape(k) for k in UNICODE_MATH))
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


def unicode_to_ascii_math(text: str) -> str:
    return _UNICODE_RE.sub(lambda m: UNICODE_MATH[m.group(0)], text.translate(_FULLWIDTH_DIGITS))


# Commands that only change how something looks: dropped, their argument kept.
_STYLE_WRAPPERS = re.compile(
    r"\\(?:mathrm|mathbf|mathit|mathsf|mathtt|mathnormal|boldsymbol|bm|pmb|mathbb|mathcal|operatorname\*?|"
    r"displaystyle|textstyle|scriptstyle|rm|bf|it|limits|nolimits|vec|overline|underline|bar|hat|widehat|tilde|"
    r"widetilde|overrightarrow|dot|ddot|mathring|cancel|color\{[^{}]*\}|textcolor\{[^{}]*\})(?![a-zA-Z])"
)
_SIZING = re.compile(
    r"\\(?:left|right|big|Big|bigg|Bigg|bigl|bigr|Bigl|Bigr|biggl|biggr|Biggl|Biggr|middle)(?![a-zA-Z])\s*"
)
_SPACES = re.compile(
    r"(?<!\\)\\(?:,|;|:|!|>| |quad(?![a-zA-Z])|qquad(?![a-zA-Z])|enspace|thinspace|medspace|thickspace|hfill)|~"
)
_THOUSANDS_LATEX = re.compile(r"(\d)(?:\{,\}|,\\!|,\\,|\\,|\{\\,\}|\\!)\s*(?=\d{3}(?!\d))")
_DECIMAL_COMMA_LATEX = re.compile(r"(\d)\{,\}(?=\d)")
_ROMAN_WORD = re.compile(r"\\(?:mathrm|textrm|operatorname)\s*\{\s*([a-zA-Z][a-zA-Z ]+)\}")
_BARRED_LETTER = re.compile(r"\\(?:bar|overline)\s*(?:\{\s*([a-zA-Z])\s*\}|([a-zA-Z])(?![a-zA-Z]))")
_FRAC_VARIANTS = re.compile(r"\\[dtc]frac(?![a-zA-Z])")
_BINOM_VARIANTS = re.compile(r"\\[dt]binom(?![a-zA-Z])")
_GLUED_CONNECTOR = re.compile(r"(?<=[\d)\]}])(or|and)(?=[A-Z(\[{\\\d-])")


def clean_latex(text: str) -> str:
    """Normalise LaTeX spelling so that the tokenizer sees one form of each thing."""
    text = unicode_to_ascii_math(text)
    text = _THOUSANDS_LATEX.sub(r"\1", text)
    text = _DECIMAL_COMMA_LATEX.sub(r"\1.", text)
    text = _FRAC_VARIANTS.sub(r"\\frac", text)
    text = _BINOM_VARIANTS.sub(r"\\binom", text)
    text = _SIZING.sub("", text)
    text = _ROMAN_WORD.sub(r"\\text{\1}", text)  # \mathrm{cm} is a word (a unit); \mathrm{e} is a letter
    text = _BARRED_LETTER.sub(r" \1\2_{bar}", text)  # \bar{z} is not z (a conjugate, a mean): a name of its own
    text = _STYLE_WRAPPERS.sub("", text)
    text = text.replace(r"\$", " ").replace(r"\%", "%").replace(r"\{", r"\lbrace ").replace(r"\}", r"\rbrace ")
    text = _SPACES.sub(" ", text)
    text = _GLUED_CONNECTOR.sub(r" \1 ", text)
    text = _NON_ASCII.sub(" ", text)  # words in other scripts around an answer: '4000千克', '(\\frac{2}{5}) 吨'
    return text.strip()


# -- program code ---------------------------------------------------------------------------------------------------
#: Python that is no mathematical notation: an answer written this way is never read as math (nor is a number picked
#: out of it), whatever it would compute. `;` between groups of equations (`p=5; q=2`) and `f(x)(x+1)` stay math.
_CODE = re.compile(
    r"(?<![\\A-Za-z])lambda\b[^:\n]{0,60}:"  # lambda x: ...
    r"|__"  # dunder names: __import__, __class__
    r"|(?<![\\\w])import\s+[A-Za-z_]|(?<![\\\w])def\s+\w+\s*\("  # statements
    r"|(?<![\\\w])(?:exec|eval|print|open|getattr|setattr|globals|locals|compile|input|breakpoint|range|len|int|str|"
    r"float|round|pow|sum|sorted|list|tuple|dict|set|map|filter|zip|any|all|chr|ord|hex|bin|oct|divmod|repr|type|"
    r"isinstance|hash|id|iter|next|bool|complex|bytes|format|vars|dir|object|enumerate|reversed|slice)\s*\("
    r"|(?<![\\\w])if\b.{1,80}\belse\b|(?<![\\\w])for\s+\w+\s+in\s"  # conditional expressions, comprehensions
    r"|(?<![:/])//(?!/)"  # floor division (a URL's '://' is no code)
    r"|(?<![\\\w])(?:os|sys|math|np|numpy|sympy|sp|subprocess|time|builtins|shutil|socket|random|torch)\.[A-Za-z_]"
    r"|(?:[A-Za-z_]\w*|\))\.[A-Za-z_]\w*\("  # attribute calls: x.sleep(, (...).system(
    r"|[)\]]\s*\.\s*[A-Za-z_]|(?<![\w.])\d+\s+\.[A-Za-z_]"  # attributes of a value: (0).real, [0].pop, 0 .real
    r"|(?<![\\\w.])[A-Za-z_]\w*\.[A-Za-z_]\w{2,}\b(?!\.)"  # attributes by name: x.real, n.numerator
    r"|\(\s*\)"  # a call on nothing: f(), (lambda: 0)()
    r"|\]\[|(?<![\\\w])[A-Za-z_]\w*\[\s*-?\d"  # indexing: [0][0], x[0] (\\sqrt[3] is a root)
    r"|;\s*(?!(?:sin|cos|tan|log|ln|exp|sqrt)\b)[A-Za-z_]\w+\s*[(.\[]"  # a statement after ';': ...; os.system(
    r"|(?:^|(?<=[(\[,=]))\s*'[A-Za-z_][\w. ]*'"  # a string argument: ('time') (f'(x) is a derivative)
)


def looks_like_code(text: str) -> bool:
    """Whether a text contains Python syntax that mathematical notation never uses (lambda, dunder names,
    imports, attribute calls, calls on nothing, string literals, statements after `;`)."""
    return _CODE.search(text) is not None


# -- braces ------------------------------------------------------------------------------------------------------


def close_of(text: str, pos: int, stop: int) -> int | None:
    """Just past the `}` that closes a brace opened before `pos`, looking no further than `stop`; None when it
    is still open there. A backslash escapes the next character (`\\{` is not a brace)."""
    depth = 1
    while pos < stop:
        ch = text[pos]
        if ch == "\\":
            pos += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return pos + 1
        pos += 1
    return None
