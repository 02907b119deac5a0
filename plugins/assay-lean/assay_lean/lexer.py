"""Just enough of Lean 4's lexical structure to read a model's text without a Lean parser.

`code_view` blanks comments, string and character literals (keeping every newline and every column, so a
position in the view is the same position in the text): a `sorry` in a comment or a string is not code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Characters that continue a Lean identifier (letters of any script, digits, `_`, `'`, `!`, `?`,
#: subscripts). A keyword preceded or followed by one of these is part of a longer name.
_IDENT_CHARS = r"\w'!?\u2080-\u209c\u1d62-\u1d6a\u2071\u207f"
_CHAR_LITERAL = re.compile(r"'(?:\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|.)|[^\\'\n])'")


@dataclass(frozen=True)
class CodeView:
    """The text with comments and literals blanked; `unterminated` names what never closed, if anything."""

    code: str
    unterminated: str | None = None
    unterminated_line: int | None = None


def _is_ident_char(char: str) -> bool:
    return bool(re.match(f"[{_IDENT_CHARS}]", char))


def code_view(text: str) -> CodeView:
    """Blank comments (`--`, nested `/- -/`), strings (plain, interpolated, raw) and char literals."""
    out = list(text)
    i, n = 0, len(text)

    def blank(start: int, end: int) -> None:
        for k in range(start, end):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        char = text[i]
        if char == "-" and text.startswith("--", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            blank(i, end)
            i = end
        elif char == "/" and text.startswith("/-", i):
            depth, k = 0, i
            while k < n:
                if text.startswith("/-", k):
                    depth += 1
                    k += 2
                elif text.startswith("-/", k):
                    depth -= 1
                    k += 2
                    if depth == 0:
                        break
                else:
                    k += 1
            if depth:
                blank(i, n)
                return CodeView("".join(out), "comment", text.count("\n", 0, i) + 1)
            blank(i, k)
            i = k
        elif char == "r" and (i == 0 or not _is_ident_char(text[i - 1])) and re.match(r'r#*"', text[i:]):
            hashes = len(re.match(r"r(#*)", text[i:]).group(1))  # type: ignore[union-attr]
            closing = '"' + "#" * hashes
            start = i + 2 + hashes
            end = text.find(closing, start)
            if end < 0:
                blank(i, n)
                return CodeView("".join(out), "string", text.count("\n", 0, i) + 1)
            blank(i, end + len(closing))
            i = end + len(closing)
        elif char == '"':
            k = i + 1
            while k < n and text[k] != '"':
                k += 2 if text[k] == "\\" else 1
            if k >= n:
                blank(i, n)
                return CodeView("".join(out), "string", text.count("\n", 0, i) + 1)
            blank(i, k + 1)
            i = k + 1
        elif char == "'" and (i == 0 or not _is_ident_char(text[i - 1])):
            match = _CHAR_LITERAL.match(text, i)
            if match:
                blank(i, match.end())
                i = match.end()
            else:
                i += 1
        elif char == "«":
            end = text.find("»", i)
            end = n if end < 0 else end
            # A quoted name is one identifier, so nothing inside it is a keyword: keep it an identifier.
            for k in range(i + 1, end):
                out[k] = "x"
            i = end + 1
        else:
            i += 1
    return CodeView("".join(out))


def word_pattern(word: str) -> re.Pattern[str]:
    """A regex that finds `word` as a whole Lean token (not part of a longer name, not after a `.`)."""
    return re.compile(rf"(?<![{_IDENT_CHARS}.]){re.escape(word)}(?![{_IDENT_CHARS}])")


def line_of(text: str, offset: int) -> int:
    """1-based line number of a character offset."""
    return text.count("\n", 0, offset) + 1
