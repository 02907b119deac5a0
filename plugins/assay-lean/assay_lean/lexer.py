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


_IDENT_CHAR = re.compile(f"[{_IDENT_CHARS}]")
#: Where something other than plain code may start; everything between two of these is code.
_SPECIAL = re.compile(r"--|/-|\"|'|«|(?<![\w'!?.])r#*\"")


def _is_ident_char(char: str) -> bool:
    return bool(_IDENT_CHAR.match(char))


def code_view(text: str) -> CodeView:
    """Blank comments (`--`, nested `/- -/`), strings (plain, interpolated, raw) and char literals."""
    out = list(text)
    n = len(text)

    def blank(start: int, end: int) -> None:
        for k in range(start, end):
            if out[k] != "\n":
                out[k] = " "

    def unterminated(kind: str, start: int) -> CodeView:
        blank(start, n)
        return CodeView("".join(out), kind, text.count("\n", 0, start) + 1)

    i = 0
    while True:
        match = _SPECIAL.search(text, i)
        if match is None:
            return CodeView("".join(out))
        i = match.start()
        token = match.group()
        if token == "--":
            end = text.find("\n", i)
            end = n if end < 0 else end
            blank(i, end)
            i = end
        elif token == "/-":
            depth, k = 0, i
            while k < n:
                opening = text.find("/-", k)
                closing = text.find("-/", k)
                if closing < 0:
                    return unterminated("comment", i)
                if 0 <= opening < closing:
                    depth += 1
                    k = opening + 2
                else:
                    depth -= 1
                    k = closing + 2
                    if depth == 0:
                        break
            blank(i, k)
            i = k
        elif token.startswith("r"):
            closing_token = '"' + "#" * (len(token) - 2)
            end = text.find(closing_token, match.end())
            if end < 0:
                return unterminated("string", i)
            blank(i, end + len(closing_token))
            i = end + len(closing_token)
        elif token == '"':
            k = i + 1
            while k < n and text[k] != '"':
                k += 2 if text[k] == "\\" else 1
            if k >= n:
                return unterminated("string", i)
            blank(i, k + 1)
            i = k + 1
        elif token == "'":
            literal = _CHAR_LITERAL.match(text, i) if i == 0 or not _is_ident_char(text[i - 1]) else None
            if literal:
                blank(i, literal.end())
                i = literal.end()
            else:
                i += 1
        else:  # «: a quoted name is one identifier, so nothing inside it is a keyword
            end = text.find("»", i)
            end = n if end < 0 else end
            for k in range(i + 1, end):
                if out[k] != "\n":
                    out[k] = "x"
            i = end + 1


def word_pattern(word: str) -> re.Pattern[str]:
    """A regex that finds `word` as a whole Lean token (not part of a longer name, not after a `.`)."""
    return re.compile(rf"(?<![{_IDENT_CHARS}.]){re.escape(word)}(?![{_IDENT_CHARS}])")


def line_of(text: str, offset: int) -> int:
    """1-based line number of a character offset."""
    return text.count("\n", 0, offset) + 1
