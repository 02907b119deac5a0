"""The task reference (`header` + `statement`) and what the verifier reads out of the statement."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from assay import BadReference
from assay_lean.lexer import code_view, word_pattern

DeclKeyword = Literal["theorem", "lemma", "example"]

_DECL = re.compile(r"(?<![\w'.])(theorem|lemma|example)(?![\w'!?])")
#: A Lean declaration name: dotted parts, each plain or «quoted».
_NAME = re.compile(r"(?:«[^»\n]*»|[^\s(){}\[\]:⦃⦄«.,@]+)(?:\.(?:«[^»\n]*»|[^\s(){}\[\]:⦃⦄«.,@]+))*")
_PROOF_OPENING = re.compile(r":=\s*(by)?\s*$")


class LeanReference(BaseModel):
    """`{"header": "import Mathlib\\n...", "statement": "theorem foo ... := by"}`.

    `formal_statement` (the miniF2F/DeepSeek-Prover key) is accepted for `statement`.
    """

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    header: str = Field(default="", description="Imports, options and `open`s the statement needs.")
    statement: str = Field(
        min_length=1,
        validation_alias=AliasChoices("statement", "formal_statement"),
        description="The theorem to prove, ending with `:= by` or `:=`.",
    )


@dataclass(frozen=True)
class Statement:
    """A theorem statement split into the parts the assembler needs."""

    text: str
    #: Doc comment, attributes and modifiers before the keyword (kept on the reference copy).
    prefix: str
    keyword: DeclKeyword
    #: The declared name; None for `example`.
    name: str | None
    #: Binders and type: everything between the name (and its universes) and the trailing `:=`.
    signature: str
    #: `:= by`, `:=` or "" (then the sample must supply everything after the signature).
    opening: str
    #: Explicit universe parameters after the name (`.{u, v}`), or "".
    universes: str = ""

    @property
    def tag(self) -> str:
        """A short stable hash that names the verifier's own declarations for this statement."""
        return hashlib.sha256(self.text.encode()).hexdigest()[:10]


def parse_statement(text: str) -> Statement:
    """Split a `theorem`/`lemma`/`example` statement; BadReference names what is missing."""
    text = text.rstrip()
    view = code_view(text)
    if view.unterminated:
        raise BadReference(f"reference.statement: unterminated {view.unterminated}", field="reference.statement")
    match = _DECL.search(view.code)
    if match is None:
        raise BadReference(
            "reference.statement: no `theorem`, `lemma` or `example` declaration found", field="reference.statement"
        )
    keyword: DeclKeyword = match.group(1)  # type: ignore[assignment]
    rest_start = match.end()
    name: str | None = None
    universes = ""
    if keyword != "example":
        name_match = _NAME.match(view.code, len(view.code) - len(view.code[rest_start:].lstrip()))
        if name_match is None:
            raise BadReference(f"reference.statement: `{keyword}` has no name", field="reference.statement")
        name = text[name_match.start() : name_match.end()]
        rest_start = name_match.end()
        universes_match = re.match(r"\.\{[^}]*\}", view.code[rest_start:])
        if universes_match:
            universes = universes_match.group()
            rest_start += universes_match.end()
    opening_match = _PROOF_OPENING.search(view.code, rest_start)
    end = opening_match.start() if opening_match else len(text)
    opening = ""
    if opening_match:
        opening = ":= by" if opening_match.group(1) else ":="
    signature = text[rest_start:end].strip()
    if not signature.startswith(("(", "{", "[", "⦃", ":")) and signature:
        raise BadReference(
            f"reference.statement: cannot read the binders after {keyword} {name or ''}".rstrip(),
            field="reference.statement",
        )
    if not re.search(r"(?<![:=]):(?!=)", code_view(signature).code):
        raise BadReference("reference.statement: the statement has no type (`: ...`)", field="reference.statement")
    prefix = text[: match.start()]
    # `noncomputable` and friends do not belong on the axiom the verifier compares against.
    prefix = word_pattern("noncomputable").sub("", prefix)
    return Statement(
        text=text,
        prefix=prefix,
        keyword=keyword,
        name=name,
        signature=signature,
        opening=opening,
        universes=universes,
    )
