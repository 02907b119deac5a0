"""Find the final answer in a model response (no sympy here: plain string work, linear in the text).

Order: the last `\\boxed{}`/`\\fbox{}` (with the boxes just before it when only connectors such as 'and' or ','
stand between them) or the last answer phrase ('The answer is', 'Final Answer:', 'Answer:', '####', 'A: 42', ...),
whichever comes later; then the last math span ($...$, $$...$$, \\(...\\), \\[...\\]) or bold number (**42**)
unless a number follows it in the prose; then the whole text when it is a short bare answer; then the last number
in the prose. A box that never closes within `RUNAWAY_BOX_CHARS` is an answer that cannot be read: nothing is
extracted, and no other number stands in for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assay import visible_text
from assay_math.normalize import close_of, looks_like_code, unicode_to_ascii_math


@dataclass(frozen=True)
class Extracted:
    text: str
    plain: bool  # read from prose, not from a math span (allows the decimal comma)
    how: str  # boxed | marker | math | bold | bare | number


#: An unclosed \\boxed{ whose content runs on for longer than this is not an answer (a truncated output ends its box
#: within a few tokens; a megabyte of braces is hostile). Nothing is extracted then: falling back to some other
#: number in the text would grade an answer the response never gave.
RUNAWAY_BOX_CHARS = 10_000


_DOUBLE_ESCAPED = re.compile(r"(?<!\\)\\\\(?=[a-zA-Z]{2})")
_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")
# GSM8K-style calculator annotations: `$<<204+160=364>>364` shows the result right after the annotation
_CALCULATOR = re.compile(r"<<[^<>\n]{0,300}>>")
# a model sampled with a few-shot prompt often goes on to write the next question: its answers are not ours
_NEXT_QUESTION = re.compile(r"\n[ \t]*(?:Q|Question|Problem)[ \t]*[:：]", re.IGNORECASE)
# 'A: 694' on a line of its own (the few-shot 'Q: ... A: ...' format), and a program's 'Output: 13.66'; only a short
# answer counts, since 'A:' also opens a whole worked solution or the first line of a list of options
_SHORT_ANSWER_LINE = re.compile(r"(?m)^[ \t>*]*(?:A|[Oo]utput|Out\[\d+\])[ \t]*[:：][ \t*]*(?=\S)([^\n]{1,80})$")
_OPTION_LIST_NEXT = re.compile(r"\n[ \t>*]*B[ \t]*[:)]")
_BOLD = re.compile(r"\*\*([^*\n]{1,80})\*\*")
_DOLLAR_AMOUNT = re.compile(r"\$(?=\s?\d)")
_LEADS_WITH_VALUE = re.compile(r"[-+−]?[€£¥₹]?\s?\(?\d")  # '**Step 1**' is a heading, '**25 apples**' an answer
_MARKER = re.compile(
    r"(?:\bfinal\s+answer\b[^.\n$]{0,40}?\b(?:is|are|was)\b|\bfinal\s+answer\s*[:：]|\bthe\s+answers?\s+(?:is|are)\b|"
    r"\banswer\s*[:：]|\banswer\s+is\b|####|\bréponse\s*(?:est\b|[:：])|\brespuesta\s*(?:es\b|[:：])|"
    r"\bantwort\s*(?:ist\b|[:：])|答案\s*(?:是|为|[:：])|الإجابة\s*(?:هي|[:：])|उत्तर\s*(?:है|[:：])|"
    r"(?m:^[ \t]*#{1,6}[ \t]*(?:final[ \t]+)?answers?[ \t]*[:：]?[ \t]*$))",
    re.IGNORECASE,
)
_SPAN_END = re.compile(r"\n|\bI hope\b|(?<=[^\d\s])\.\s+(?=[A-Z])|\.\s*$")
_FILLER_WORDS = re.compile(
    r"^(?:(?:therefore|thus|then|hence|so|simply|just|clearly|exactly|indeed|now|finally|actually|approximately|"
    r"about|roughly|around)\b[\s,:]*){1,3}",
    re.IGNORECASE,
)
_COPULA = re.compile(r"\s(?:is|are|was|equals|est|es|ist)\s|是|为", re.IGNORECASE)
_PROSE_NUMBER = re.compile(
    r"(?<![A-Za-z0-9_.^])-?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?|\.\d+)(?:\s*/\s*\d+(?:\.\d+)?)?(?:\s*%)?"
)
_CURRENCY = re.compile(r"\d[\d,.]*\s+[a-zA-Z]{2,}")
_CONNECTOR_WORDS = {"and", "or", "et", "ou", "y", "und", "oder", ",", ";", "&"}
_WORD = re.compile(r"[^\s,;&]+|[,;&]")
_LATEX_NOISE = re.compile(
    r"\\(?:text|mbox|textbf|textnormal|mathrm)\s*\{([^{}]*)\}|\\(?:quad|qquad|,|;|!|:| )|\\\\|\\[()\[\]]|\$|~"
)
_NON_ASCII_LETTERS = re.compile(r"[^\x00-\x7f]+")
_ENVIRONMENT = re.compile(r"\\(?:begin|end)\s*\{[^{}]*\}(?:\{[^{}]*\})?")
_MULTILETTER = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{2,}")
_FUNCTION_WORDS = {
    "sqrt",
    "sin",
    "cos",
    "tan",
    "log",
    "ln",
    "exp",
    "pi",
    "inf",
    "infty",
    "infinity",
    "and",
    "or",
    "percent",
    "pct",
    "percentage",
    "sec",
    "csc",
    "cot",
    "arcsin",
    "arccos",
    "arctan",
    "frac",
    "text",
    "oo",
    # a copula and its negation are math here ('x is 5', 'x is not 5'): see syntax.COPULA_WORDS
    "is",
    "equals",
    "not",
}


def prepare(text: str, max_chars: int, *, shown: bool = False) -> str:
    """Strip reasoning and chat scaffolding (unless `shown` says it is done); keep the tail, where answers are,
    without a next few-shot question the model went on to write after answering."""
    if not shown:
        text = visible_text(text)
    if len(text) > max_chars:
        text = text[-max_chars:]
    follow_on = _NEXT_QUESTION.search(text)
    if follow_on:
        answered = [m.end() for m in (_MARKER.search(text), _SHORT_ANSWER_LINE.search(text)) if m]
        follow_on = _NEXT_QUESTION.search(text, min(answered)) if answered else None
        if follow_on:
            text = text[: follow_on.start()]
    if "<<" in text:
        text = _CALCULATOR.sub("", text)
    return _DOUBLE_ESCAPED.sub(r"\\", text)


def runaway_box(text: str) -> bool:
    """Whether the response's last \\boxed{ never closes within RUNAWAY_BOX_CHARS (searched in the whole text, so
    that cutting a response to its tail cannot hide the box it ends in)."""
    last = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if last < 0:
        return False
    opener = _BOX.match(text, last)
    if opener is None:
        return False
    stop = min(len(text), opener.end() + RUNAWAY_BOX_CHARS)
    return close_of(text, opener.end(), stop) is None and stop < len(text)


def boxes(text: str) -> list[tuple[int, int, str]]:
    """Every \\boxed{...} / \\fbox{...}: (start, end, content). An unclosed box runs to the end of the text."""
    found: list[tuple[int, int, str]] = []
    for match in _BOX.finditer(text):
        if found and match.start() < found[-1][1]:
            continue  # a box inside a box
        closed = close_of(text, match.end(), len(text))
        end = len(text) if closed is None else closed
        content = text[match.end() : end - 1 if closed is not None else end]
        found.append((match.start(), end, content))
        if len(found) > 200:
            found = found[-100:]
    return found


def math_spans(text: str) -> list[tuple[int, int, str]]:
    """$$...$$, \\[...\\], \\(...\\), $...$ (inline spans stay on one line; an escaped \\$ is not a delimiter)."""
    spans: list[tuple[int, int, str]] = []
    pos, n = 0, len(text)
    openers = re.compile(r"\$\$|\\\[|\\\(|(?<!\\)\$")
    while pos < n:
        m = openers.search(text, pos)
        if not m:
            break
        opener = m.group(0)
        closer = {"$$": "$$", "\\[": "\\]", "\\(": "\\)", "$": "$"}[opener]
        start = m.end()
        if opener == "$":
            end = start
            while True:
                end = text.find("$", end)
                if end == -1 or text[end - 1] != "\\":
                    break
                end += 1
        else:
            end = text.find(closer, start)
        if end == -1:
            pos = start
            continue
        content = text[start:end]
        if opener == "$" and (_CURRENCY.match(content) or text[end + 1 : end + 2].isdigit()):
            pos = start  # '$10 and $20', '$80-$12': dollars, not math (no closing '$' is followed by a digit)
            continue
        if opener in ("$", "\\(") and "\n" in content:
            pos = start if opener == "\\(" else end
            continue
        spans.append((m.start(), end + len(closer), content))
        pos = end + len(closer)
    return spans


def joinable(between: str, *, strict: bool = False) -> bool:
    """Only connectors ('and', ',', '\\quad', a few words with 'and' or 'or') stand between two answers.
    `strict` (math spans, which prose sentences are full of): nothing but connectors."""
    cleaned = _LATEX_NOISE.sub(lambda m: f" {m.group(1)} " if m.group(1) else " ", between)
    cleaned = re.sub(r"[.:!?()\[\]]", " ", cleaned)
    words = [w for w in _WORD.findall(cleaned.lower()) if any(ch.isalnum() for ch in w) or w in _CONNECTOR_WORDS]
    if not words:
        return True
    if strict:
        return all(w in _CONNECTOR_WORDS for w in words)
    return len(words) <= 4 and any(w in _CONNECTOR_WORDS for w in words)


def _last_run(
    text: str, pieces: list[tuple[int, int, str]], join: bool, *, strict: bool = False
) -> tuple[int, int, str]:
    start, end, content = pieces[-1]
    parts = [content]
    index = len(pieces) - 1
    while join and index > 0 and joinable(text[pieces[index - 1][1] : pieces[index][0]], strict=strict):
        index -= 1
        parts.insert(0, pieces[index][2])
        start = pieces[index][0]
    return start, end, " ; ".join(parts) if len(parts) > 1 else parts[0]


def _span_answer(span: str) -> Extracted | None:
    """The answer inside the text that follows an answer phrase."""
    span = span.strip().lstrip(":：").strip().strip('"*').strip()
    span = _FILLER_WORDS.sub("", span)  # 'The answer is therefore 3.'
    if looks_like_code(span):
        return None  # 'The answer is (lambda: 0)()': no number is picked out of a program
    if re.match(r"(?:not|never)\b", span, re.IGNORECASE):
        return None  # 'The answer is not 4'
    inner_boxes = boxes(span)
    if inner_boxes:
        return Extracted(_last_run(span, inner_boxes, True)[2], False, "marker")
    if not span:
        return None
    spans = math_spans(span)
    copulas = [m.end() for m in _COPULA.finditer(span)]
    if copulas and (not spans or spans[0][0] > 0):
        cut = copulas[-1]
        if not any(s < cut < e for s, e, _ in spans):
            span = span[cut:].strip()
            spans = math_spans(span)
    if spans:
        first = [spans[0]]
        index = 1
        while index < len(spans) and joinable(span[spans[index - 1][1] : spans[index][0]], strict=True):
            first.append(spans[index])
            index += 1
        return Extracted(" ; ".join(c for _, _, c in first), False, "marker")
    candidate = span.rstrip(".").strip()
    if candidate and bare_enough(candidate):
        return Extracted(candidate, True, "marker")
    equals = span.rfind("=")
    # 'Answer: she sold 48 + 24 = 72 clips': a worked line answers with what its last '=' gives
    number = _PROSE_NUMBER.search(span, equals + 1 if equals >= 0 else 0) or _PROSE_NUMBER.search(span)
    if number:
        return Extracted(number.group(0), True, "marker")
    return None


def _short_answer_lines(text: str) -> list[tuple[int, Extracted]]:
    """'A: 694' lines whose whole rest is a short answer (a number, with its unit or currency)."""
    found = []
    for match in _SHORT_ANSWER_LINE.finditer(text):
        rest = match.group(1).strip().rstrip(".").strip("*").strip()
        if not any(ch.isdigit() for ch in rest) or _OPTION_LIST_NEXT.match(text, match.end()):
            continue
        answer = _span_answer(rest)
        if answer is not None and bare_enough(rest.replace("$", " ")):
            found.append((match.start(), answer))
    return found


def _bold_answers(text: str, taken: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """**42**, **$1,350**, **25%**: a bold short number outside math spans, read like a math span."""
    found = []
    for match in _BOLD.finditer(text):
        content = _DOLLAR_AMOUNT.sub("", match.group(1)).strip().rstrip(".").strip()
        if not _LEADS_WITH_VALUE.match(content) or not bare_enough(content) or content.endswith(":"):
            continue
        if any(s <= match.start() < e for s, e, _ in taken):
            continue
        found.append((match.start(), match.end(), content))
    return found


_NEGATED = re.compile(r"(?:\bnot|\bcannot|n't|\bnever)(?:\s+(?:equal|exactly|be|to|just|simply))*\s*$", re.IGNORECASE)
_FENCED_CODE = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)


def last_number(text: str) -> str | None:
    """The last number of the prose: not one inside a program (a fenced block, or a line of Python)."""
    prose = _FENCED_CODE.sub("\n", text) if "```" in text else text
    for line in reversed(prose.splitlines()):
        if looks_like_code(line):
            continue
        for number in reversed(list(_PROSE_NUMBER.finditer(line))):
            if not _NEGATED.search(line, max(0, number.start() - 40), number.start()):
                return number.group(0)  # 'the answer is not 4' gives no 4
    return None


def bare_enough(text: str) -> bool:
    """A short text that is all math (at most one word: a unit, or a word answer such as 'Evelyn')."""
    if len(text) > 3000:
        return False
    ascii_only = _ENVIRONMENT.sub(" ", _NON_ASCII_LETTERS.sub(" ", text))
    words = [w for w in _MULTILETTER.findall(ascii_only) if w.lower() not in _FUNCTION_WORDS]
    foreign = [w for w in _NON_ASCII_LETTERS.findall(text) if any(ch.isalpha() for ch in w)]
    if words and re.search(r"[a-zA-Z]{2,}\s*:", ascii_only):
        return False  # 'Soucis : 2,74' is a sentence, not a ratio
    return len(words) + len(foreign) <= 1


def extract(text: str, *, modes: list[str], join_boxed: bool = True, max_chars: int = 200_000) -> Extracted | None:
    text = visible_text(text)
    if "boxed" in modes and runaway_box(text):
        return None
    text = prepare(text, max_chars, shown=True)
    candidates: list[tuple[int, Extracted]] = []
    if "boxed" in modes:
        found = boxes(text)
        if found:
            start, end, content = _last_run(text, found, join_boxed)
            candidates.append((start, Extracted(content, False, "boxed")))
    if "marker" in modes:
        markers = list(_MARKER.finditer(text))
        for marker in reversed(markers[-3:]):
            rest = text[marker.end() : marker.end() + 600]
            stop = _SPAN_END.search(rest.lstrip())
            offset = len(rest) - len(rest.lstrip())
            span = rest[: offset + stop.start()] if stop and stop.start() > 0 else rest
            answer = _span_answer(span)
            if answer is not None:
                candidates.append((marker.start(), answer))
                break
        candidates.extend(_short_answer_lines(text)[-1:])
    if candidates:
        return max(candidates, key=lambda c: c[0])[1]
    spans = math_spans(text) if "math" in modes else []
    bold = _bold_answers(text, spans) if "math" in modes else []
    if bold and (not spans or bold[-1][0] > spans[-1][0]):
        start, end, content = bold[-1]
        if "number" in modes:
            later = [m for m in _PROSE_NUMBER.finditer(text, end)]
            if later and not bare_enough(text[end:].strip()):
                return Extracted(later[-1].group(0), True, "number")
        return Extracted(content, True, "bold")
    if spans:
        start, end, content = _last_run(text, spans, True, strict=True)
        if "number" in modes:
            later = [m for m in _PROSE_NUMBER.finditer(text, end)]
            if later and not bare_enough(text[end:].strip()):
                return Extracted(later[-1].group(0), True, "number")
        return Extracted(content, False, "math")
    stripped = text.replace("$", " ").strip()
    if stripped and bare_enough(stripped):
        return Extracted(stripped, True, "bare")
    if "number" in modes:
        number = last_number(text)
        if number is not None:
            return Extracted(number, True, "number")
    return None


# -- multiple choice ---------------------------------------------------------------------------------------------

_CHOICE_MARKER = re.compile(
    r"(?:answer|réponse|respuesta|antwort|答案|option|choice)\s*(?:is|est|es|ist|是|为)?\s*[:：]?\s*"
    r"(?:[a-z]+\s+){0,3}?\(?([A-Z])\)?(?![A-Za-z])",
    re.IGNORECASE,
)
_OPTION = re.compile(r"^\s*\(?([A-Z])\)?(?:[.):]\s*|\s+)[A-Za-z]{2}")
_DECORATION = re.compile(r"\\(?:text|textbf|mathrm|mathbf)\s*\{|[{}$*]|\\[()\[\]]")


def choice_letter(text: str, *, reference: bool = True) -> str | None:
    """The option letter a reference answer names: 'C', '(C) Cecile', 'C Cecile', '...answer is (C)'.
    (A response's letter is read by `assay_math.choices.marked_letter`, which needs a mark.)"""
    text = prepare(text, 20_000)
    found = boxes(text)
    if found:
        inner = _DECORATION.sub("", found[-1][2]).strip().strip("().").strip()
        return inner if len(inner) == 1 and inner.isupper() else None
    plain = unicode_to_ascii_math(_DECORATION.sub(" ", text)).strip()
    if (len(plain) == 1 and plain.isupper()) or re.fullmatch(r"\(([A-Z])\)", plain):
        return plain.strip("()")
    markers = list(_CHOICE_MARKER.finditer(plain))
    if markers:
        return markers[-1].group(1).upper() if markers[-1].group(1).isupper() else None
    option = _OPTION.match(plain)
    return option.group(1) if option else None
