"""Multiple choice: the options of a reference, and which option a response chooses.

A letter is an answer only where something marks it as one: a box, an answer phrase ('The answer is (C)',
'Answer: C', 'C is correct'), a leading 'C.' or '(C)' on the final line, or an option restated with its letter at
the end. Code and mathematical variables are never letters of an answer: statements of a program are removed before
anything is searched, and a letter followed by an operator is a variable. With the options known, a response that
gives a value or an option's text chooses the option it equals (or, for a value, the nearest option within a
relative tolerance, never two). No sympy here: values are compared through the verifier's reader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from assay import visible_text
from assay_math.extract import Extracted, boxes, extract, prepare, runaway_box
from assay_math.normalize import unicode_to_ascii_math

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class OptionsError(ValueError):
    """The options of a reference cannot be read (the message names the option)."""


@dataclass(frozen=True)
class Options:
    """Letter -> option text, in the reference's order."""

    texts: dict[str, str]

    @property
    def letters(self) -> str:
        return "".join(self.texts)


# 'A)5(√3 + 1)' (AQuA), 'A ) 5', '(A) Cecile', 'A. 12', 'A: 12'
_LABELLED_OPTION = re.compile(r"^\s*\(?\s*([A-Z])\s*[).:]\s*(.*)$", re.DOTALL)
_LABELLED_REFERENCE_OPTION = re.compile(r"^\s*\(?\s*([A-Za-z])\s*[).:]\s*(.*)$", re.DOTALL)  # 'a) 12' too


def read_options(raw: object) -> Options:
    """Options as a list of 'A) text' strings, a list of texts (A, B, ... in order) or a mapping letter -> text."""
    if isinstance(raw, dict):
        texts: dict[str, str] = {}
        for key, text in raw.items():
            letter = str(key).strip().strip("()").upper()
            if len(letter) != 1 or letter not in LETTERS:
                raise OptionsError(f"option key {key!r} is not a letter A-Z")
            if not isinstance(text, str | int | float) or isinstance(text, bool):
                raise OptionsError(f"option {letter}: expected text, got {type(text).__name__}")
            if letter in texts:
                raise OptionsError(f"option {letter} is given twice")
            texts[letter] = str(text).strip()
        if not texts:
            raise OptionsError("no options")
        return Options(texts)
    if not isinstance(raw, list) or not raw:
        raise OptionsError("options must be a non-empty list or a mapping letter -> text")
    if len(raw) > len(LETTERS):
        raise OptionsError(f"{len(raw)} options: at most {len(LETTERS)} (letters A-Z)")
    for index, item in enumerate(raw):
        if not isinstance(item, str | int | float) or isinstance(item, bool):
            raise OptionsError(f"option {index}: expected text, got {type(item).__name__}")
    items = [str(item) for item in raw]
    labelled = [_LABELLED_REFERENCE_OPTION.match(item) for item in items]
    if all(labelled) and [m.group(1).upper() for m in labelled if m] == list(LETTERS[: len(items)]):
        return Options({m.group(1).upper(): m.group(2).strip() for m in labelled if m})
    return Options({LETTERS[index]: item.strip() for index, item in enumerate(items)})


def reference_letter(answer: str | int | float, options: Options) -> str:
    """The gold letter: 'C', '(C)', 'C) text', or the text of exactly one option. A JSON number is refused: it
    could be an index (MMLU's `answer: 2`) as well as an option's value."""
    if not isinstance(answer, str):
        raise OptionsError(
            f"answer {answer!r} is a number: give the option letter (e.g. 'C' for the third option) or its text"
        )
    text = answer.strip()
    bare = text.strip("()[] .").upper()
    if len(bare) == 1 and bare in options.texts:
        return bare
    labelled = _LABELLED_OPTION.match(text)
    if labelled and labelled.group(1) in options.texts:
        return labelled.group(1)
    same = [letter for letter, option in options.texts.items() if _words(option) == _words(text) and _words(text)]
    if len(same) == 1:
        return same[0]
    raise OptionsError(f"answer {answer[:80]!r} is not one of the option letters {options.letters}")


def _words(text: str) -> str:
    return "".join(ch for ch in unicode_to_ascii_math(text).casefold() if ch.isalnum())


# -- letters that something marks as the answer --------------------------------------------------------------------

# statements of a program: assignments, definitions, imports, control flow, calls on a line of their own, fences
_CODE_LINE = re.compile(
    r"^[ \t]*(?:```.*|>>>.*|"
    r"[A-Za-z_][\w.]*(?:\[[^\]\n]*\])?(?:[ \t]*,[ \t]*[A-Za-z_][\w.]*)*[ \t]*(?:[-+*/%&|^@]|\*\*|//)?=(?!=).*|"
    r"(?:def|class)[ \t]+\w+.*|(?:import[ \t]+\w|from[ \t]+[\w.]+[ \t]+import\b).*|"
    r"(?:return|print|assert|raise|yield|lambda)\b.*|"
    r"(?:for|while|if|elif|with)\b[^\n]*:[ \t]*(?:#.*)?|(?:else|try|finally)[ \t]*:.*|except\b[^\n]*:.*|"
    r"[A-Za-z_][\w.]*\([^\n]*\)[ \t]*)$",
    re.MULTILINE,
)
# a letter standing for an option: '(C)', '( C )', '[C]', 'C', 'C)'; never part of a word, a formula or a call
# 'A, B or C', '(A) or (B)', 'A/B': a hedge over several letters chooses none of them
_LIST_FOLLOWS = r"[ \t]*\)?[ \t]*(?:,|/|&|\bor\b|\band\b)[ \t]*\(?[ \t]*(?-i:[A-Z])[ \t]*\)?(?![A-Za-z0-9_])"
_LETTER = (
    r"(?:\(\s*(?P<{n}p>[A-Za-z])\s*\)|\[(?P<{n}b>[A-Z])\]|(?<![A-Za-z0-9_\\'’$])(?P<{n}l>[A-Z])\)?)"
    r"(?![A-Za-z0-9_'’(\[{{]|[ \t]*[=+\-*/^<>_]|" + _LIST_FOLLOWS.replace("{", "{{").replace("}", "}}") + "|"
    r"[ \t]*\)?[ \t]*(?:is|was|seems|would[ \t]+be|can|could|does|do|has|must)?[ \t]*"
    r"(?:not\b|n't|never\b|cannot\b|wrong|incorrect|false|invalid|impossible|eliminated|out\b))"
)
# 'Answer: A total of 12' is an article: a bare 'A' (or 'I') followed by a word is a letter only before a connector
_ARTICLE_FOLLOWS = re.compile(
    r"[ \t]+(?!(?:because|since|as|which|and|or|for|is|was|with|from|in|on|given|here|there|so|but)\b)[a-z]"
)
_DECORATION = re.compile(r"\\(?:text|textbf|textrm|mathrm|mathbf|mbox)\s*\{|[{}$*`]|\\[()\[\]]|\\,|~")
_ANSWER_WORD = (
    r"(?:\banswer(?!\s+choices?\b(?!\s+is\b))|\bans\b|\bréponse|\brespuesta|\bantwort|答案|"
    r"\b(?:correct|right|best|final)\s+(?:option|choice|letter))"
)
_COPULA = (  # also JSON's '"answer": "C"'
    r"[\"”]?(?:s?\s*(?:(?:is|would\s+be|should\s+be|must\s+be|will\s+be|est|es|ist)\b|是|为|(?P<eq>=)))?"
    r"\s*[:：,\-–—]?\s*[\"“]?"
)
_FILLER = (
    r"(?:(?:for\s+sure|definitely|clearly|certainly|probably|likely|then|therefore|thus|indeed|option|choice|"
    r"letter|answer)\s*[:：]?\s*){0,3}"
)
_PHRASES = [
    # 'The answer is (C)', 'Answer: C', 'ANSWER:D', 'Answer D', 'the correct answer is C', 'réponse est C'
    re.compile(_ANSWER_WORD + _COPULA + _FILLER + _LETTER.format(n="a"), re.IGNORECASE),
    # 'C is correct', 'Hence (A) is correct answer', 'D is the correct choice', 'B is valid', 'C is the answer'
    re.compile(
        r"(?:\b(?:option|choice|answer)\s*)?"
        + _LETTER.format(n="b")
        + r"\s*(?:(?:is|was)\s+(?:the\s+)?(?:(?:correct|right|best|valid)\b(?:\s+(?:answer|option|choice))?|answer\b)|"
        r"must\s+be\s+true\b)",
        re.IGNORECASE,
    ),
    # 'I would choose B.', 'we select option C.' (a sentence's end: 'choose D as the origin' is not a choice)
    re.compile(
        r"\b(?:choose|select|go\s+with)\s+(?:option\s+|answer\s+|choice\s+)?"
        + _LETTER.format(n="c")
        + r"(?=\s*[.!]?\s*$)",
        re.IGNORECASE | re.MULTILINE,
    ),
    # '... therefore I think it's B', 'Thus A', 'This gives us B' at the very end
    re.compile(
        r"\b(?:it'?s|it\s+is|it\s+must\s+be|thus|hence|therefore|so|gives\s+us|giving)\s*,?\s+"
        + _LETTER.format(n="d")
        + r"(?=\s*[.!]?\s*\Z)",
        re.IGNORECASE,
    ),
]
# what makes a text a program (math derivations such as 'x = 200' do not): then its statements are removed
_PROGRAM = re.compile(
    r"^[ \t]*(?:```|>>>|import[ \t]+\w|from[ \t]+[\w.]+[ \t]+import\b|def[ \t]+\w+[ \t]*\(|class[ \t]+\w+[ \t]*[:(]|"
    r"print[ \t]*\(|return\b|[A-Za-z_]\w*[ \t]*=[ \t]*[A-Za-z_][\w.]*\()|\bsymbols?[ \t]*\(",
    re.MULTILINE | re.IGNORECASE,
)
_LINE_LETTER = re.compile(
    r"^(?:(?i:(?:the\s+)?(?:correct\s+)?(?:answer(?:\s+choice)?|option|choice|ans))\s*[:：.\-–—]?\s*)?"
    r"(?:\(\s*(?P<u>[A-Z])\s*\)|(?P<l>[A-Z])(?=[.):：。、,，]|\s*$|[^\x00-\x7f]))(?!" + _LIST_FOLLOWS + ")"
)
_OPTION_LINE = re.compile(r"^\s*[*#>\s]*(?:\(\s*[A-Za-z]\s*\)|[A-Z]\s*[.):])")
_OPTION_LABEL = re.compile(r"\(\s*[A-Za-z]\s*\)|(?<![A-Za-z0-9_])[A-Z]\)")
_LONE_LETTER = re.compile(r"(?<![A-Za-z\\])\(?([A-Z])\)?(?![A-Za-z])")


@dataclass(frozen=True)
class Found:
    """The option a response chose, and how it was found."""

    letter: str | None
    how: str  # boxed | phrase | final_line | restated_option | lone_letter | value | rounded_value | text | none
    extracted: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def prose_only(text: str) -> str:
    """A program's text without its statements (their names are variables, not answers); other text as it is."""
    return _CODE_LINE.sub("", text) if _PROGRAM.search(text) else text


def _assigned(letter: str, text: str) -> bool:
    """Whether the text uses the letter as a name ('D = 5', "Symbol('D')"): then 'answer = D' is a variable."""
    return re.search(rf"(?m)^[ \t]*{letter}[ \t]*=(?!=)|['\"]{letter}['\"]\s*\)", text) is not None


def _letter_of(match: re.Match[str], letters: str) -> str | None:
    groups = {k: v for k, v in match.groupdict().items() if v and k != "eq"}
    if not groups:
        return None
    name, letter = next(iter(groups.items()))
    if name[-1] != "p":
        if not letter.isupper():
            return None
        if letter in "AI" and _ARTICLE_FOLLOWS.match(match.string, match.end()):
            return None
    letter = letter.upper()
    return letter if letter in letters else None


def _box_letter(content: str, options: Options | None, letters: str) -> str | None:
    inner = unicode_to_ascii_math(_DECORATION.sub(" ", content)).strip()
    bare = inner.strip("().[] ").strip()
    if len(bare) == 1 and bare.isupper() and bare in letters:
        return bare
    labelled = _LABELLED_OPTION.match(inner)
    if labelled and labelled.group(1) in letters and labelled.group(2).strip():
        rest = labelled.group(2).strip()
        # '(C) 13.66' names option C; 'D: x^2' could be a variable, so the rest must restate option D's text
        if (
            inner.lstrip().startswith("(")
            or options is None
            or _words(rest) == _words(options.texts[labelled.group(1)])
        ):
            return labelled.group(1)
    return None


def _lines(text: str) -> list[tuple[int, str]]:
    out, pos = [], 0
    for line in text.split("\n"):
        if line.strip():
            out.append((pos, line))
        pos += len(line) + 1
    return out


#: Letters are searched in this tail of a response (where answers are; it bounds the work on a hostile one).
LETTER_SEARCH_CHARS = 50_000


def choose(
    response: str,
    options: Options | None,
    reader: Any,
    budget: Any,
    *,
    lone_letter: bool,
    tolerance: float,
    modes: list[str],
) -> Found:
    """The option a response chooses: a marked letter, else (options known) the option its final answer gives."""
    shown = visible_text(response)
    if runaway_box(shown):  # nothing is extracted from a box that never closes, and nothing stands in for it
        return Found(None, "none", details={"runaway_box": True})
    tail = prepare(shown, LETTER_SEARCH_CHARS, shown=True)
    found = marked_letter(tail, options.letters if options else LETTERS, options, lone_letter=lone_letter)
    if found is not None or options is None:
        return found or Found(None, "none")
    return option_by_value(tail, options, reader, budget, tolerance=tolerance, modes=modes)


def marked_letter(text: str, letters: str, options: Options | None, *, lone_letter: bool = False) -> Found | None:
    """The last letter that something marks as the answer in a prepared response (the last mark wins), or None."""
    prose = prose_only(text)
    candidates: list[tuple[int, str, str]] = []
    found_boxes = boxes(prose)
    if found_boxes:
        start, _, content = found_boxes[-1]
        letter = _box_letter(content, options, letters)
        if letter:
            candidates.append((start, letter, "boxed"))
    plain = _DECORATION.sub(lambda m: " " * len(m.group(0)), prose)  # positions stay those of `prose`
    for pattern in _PHRASES:
        for match in pattern.finditer(plain):
            letter = _letter_of(match, letters)
            if letter and not (match.groupdict().get("eq") and _assigned(letter, text)):
                candidates.append((match.start(), letter, "phrase"))
    lines = _lines(plain)
    if lines:
        start, last = lines[-1]
        # the options restated as a list ('A) 12' / 'B) 15' lines, or '(A) 12 (B) 15' on one line) choose nothing
        in_a_list = (len(lines) > 1 and _OPTION_LINE.match(lines[-2][1]) is not None) or len(
            _OPTION_LABEL.findall(last)
        ) > 1
        stripped = unicode_to_ascii_math(last).strip().lstrip("*#> \t")
        line_match = _LINE_LETTER.match(stripped)
        if line_match and not in_a_list:
            letter = _letter_of(line_match, letters)
            if letter:
                candidates.append((start, letter, "final_line"))
        if options is not None and not in_a_list:
            restated = _restated_options(last, options)
            if len(restated) == 1:
                candidates.append((start + restated[0][0], restated[0][1], "restated_option"))
    if candidates:
        _, letter, how = max(candidates, key=lambda c: c[0])
        return Found(letter, how)
    if lone_letter:
        lone = [m.group(1) for m in _LONE_LETTER.finditer(plain) if m.group(1) != "I" and m.group(1) in letters]
        if lone:
            return Found(lone[-1], "lone_letter")
    return None


def _restated_options(line: str, options: Options) -> list[tuple[int, str]]:
    """'(C) 13.66', 'C) 36 minutes', 'C. Cecile' on the last line, with option C's own text."""
    found = []
    for letter, option in options.texts.items():
        words = option.split()
        if not words:
            continue
        body = r"\s*".join(re.escape(w) for w in words)
        pattern = rf"(?:\(\s*{letter}\s*\)|(?<![A-Za-z0-9_]){letter}\s*[).:])\s*(?i:{body})(?![A-Za-z0-9_])"
        match = re.search(pattern, line)
        if match:
            found.append((match.start(), letter))
    return found


_LEAD_IN = re.compile(
    r"^.*?\b(?:answer\s*(?:is|[:：])|answer\s+would\s+be|is|are|be)\s*[:：]?\s*(?=\S)", re.IGNORECASE | re.DOTALL
)


def _restated_text(prose: str, options: Options) -> str | None:
    """The option whose words the last line ends with ('So it is none of these.', '... in 36 minutes'); options
    without a letter in them are values, read as such."""
    lines = _lines(prose)
    if not lines:
        return None
    last = _tokens(_LEAD_IN.sub("", lines[-1][1]))
    hits: dict[str, int] = {}
    for letter, option in options.texts.items():
        tokens = _tokens(option)
        if tokens and any(t.isalpha() for t in tokens) and last[-len(tokens) :] == tokens:
            hits[letter] = len(tokens)
    if not hits:
        return None
    longest = max(hits.values())
    winners = [letter for letter, size in hits.items() if size == longest]
    return winners[0] if len(winners) == 1 else None


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", unicode_to_ascii_math(text).casefold())


_CURRENCY_PREFIX = re.compile(r"^\s*(?:Rs\.?|INR|USD|US\$|\$|₹|€|£|¥)\s*(?=[-+−.\d])")
_NUMBER_AND_UNIT = re.compile(r"^\s*([-+−]?\s*(?:\d[\d,]*(?:\.\d+)?|\.\d+))\s*([A-Za-z][A-Za-z./]*(?:\^?\d)?)\s*$")
_CONSTANTS = {"pi", "e", "i"}


def option_value_texts(options: Options) -> dict[str, str]:
    """The options as values: without a currency ('Rs. 697.50', '$ 61'), and without a unit that every numeric
    option carries ('60 m' ... '64 m', '2.6m' ... '4.4m'). A suffix that some options lack ('1000p' beside '30000')
    or a constant ('750pi') is part of the value."""
    texts = {letter: _CURRENCY_PREFIX.sub("", text) for letter, text in options.texts.items()}
    suffixed = {letter: _NUMBER_AND_UNIT.match(text) for letter, text in texts.items()}
    units = {m.group(2).lower() for m in suffixed.values() if m}
    if len(units) == 1 and all(suffixed.values()) and not units & _CONSTANTS:
        return {letter: m.group(1) for letter, m in suffixed.items() if m}
    return texts


# -- values and texts against the options ------------------------------------------------------------------------


def option_by_value(
    response: str,
    options: Options,
    reader: Any,
    budget: Any,
    *,
    tolerance: float,
    modes: list[str],
) -> Found:
    """The option whose content a prepared response's final answer equals, restates, or (a number) rounds to."""
    from assay_math.answers import ParseError

    prose = prose_only(response)
    # the last number of the prose is not a final answer to a question with options: five candidates make a stray
    # number match one far too often
    answer = extract(prose, modes=[m for m in modes if m != "number"], max_chars=reader.config.max_response_chars)
    said = answer.text.strip()[:500] if answer is not None else None
    value = None
    if answer is not None and len(answer.text) <= reader.config.max_answer_chars:
        try:
            value = reader.value(answer, budget, is_gold=False)
        except ParseError:
            value = None
    option_values: dict[str, Any] = {}
    for letter, option in option_value_texts(options).items():
        try:
            option_values[letter] = reader.value(Extracted(option, True, "bare"), budget, is_gold=True)
        except ParseError:
            continue
    if value is not None:
        equal = [letter for letter, option in option_values.items() if _equal(reader, option, value, budget)]
        if len(equal) == 1:
            return Found(equal[0], "value", said)
        if len(equal) > 1:
            return Found(None, "ambiguous", said, {"options": equal})
    texts = [letter for letter, option in options.texts.items() if said and _tokens(option) == _tokens(said)]
    restated = texts[0] if len(texts) == 1 else _restated_text(prose, options)
    if restated is not None:
        return Found(restated, "text", said)
    if value is None or tolerance <= 0:
        return Found(None, "none", said)
    return _nearest_option(value, option_values, tolerance, budget, said)


def _equal(reader: Any, option: Any, value: Any, budget: Any) -> bool:
    """Equality with one option; a comparison the rules cannot make (a matrix against a name) is a no."""
    try:
        # an option is found by its value as a response rounds it (13.66 for 5(sqrt 3 + 1)): rounding is allowed here
        return bool(reader.equal(option, value, budget, rounded_answers=True))
    except (TypeError, ValueError, AttributeError, ArithmeticError, RecursionError, NotImplementedError):
        return False


def _nearest_option(
    value: Any, option_values: dict[str, Any], tolerance: float, budget: Any, said: str | None
) -> Found:
    """A number against options stated with rounding: the option nearest to it, when within `tolerance` of it
    (relative) and strictly nearer than any other (so no value can match two options)."""
    number = _number(value, budget)
    if number is None:
        return Found(None, "none", said)
    near = sorted(
        (abs(n - number), letter, n)
        for letter, option in option_values.items()
        if (n := _number(option, budget)) is not None
    )
    if not near:
        return Found(None, "none", said)
    gap, letter, target = near[0]
    if len(near) > 1 and near[1][0] <= gap:
        return Found(None, "ambiguous", said, {"options": [letter, near[1][1]]})
    distance = gap / abs(target) if target else (0.0 if gap == 0 else float("inf"))
    if distance <= tolerance:
        return Found(letter, "rounded_value", said, {"distance": round(distance, 6)})
    return Found(None, "none", said, {"nearest": letter, "distance": round(distance, 6)})


def _number(value: Any, budget: Any) -> float | None:
    """A finite real number for a plain scalar answer (not a huge one, not an expression with variables)."""
    from assay_math.compare import Labeled
    from assay_math.values import Scalar

    if isinstance(value, Labeled):
        value = value.value
    if not isinstance(value, Scalar) or value.huge:
        return None
    expr = value.expr
    if not getattr(expr, "is_number", False) or getattr(expr, "is_real", None) is False:
        return None
    try:
        with budget.enforce():
            number = complex(expr.evalf(30))
    except (TypeError, ValueError, OverflowError, ArithmeticError):
        return None
    if number.imag or number.real != number.real or abs(number.real) == float("inf"):
        return None
    return number.real
