"""From a model's text to the Lean file the backends check.

A sample is a proof body (what follows `:= by`), a whole theorem (possibly with its own imports), or
either inside a fenced ```lean block with prose around it. The file is laid out so that every check the
verifier relies on runs in the kernel and is placed where the sample cannot reach it:

```
<header>                                            the task's imports and options
axiom assay_reference_<tag> <signature>             the statement, elaborated BEFORE any sample code
<the sample: statement + body, or its whole theorem>
theorem assay_check_<tag> : type_of% @assay_reference_<tag> := @<name>
#print axioms assay_check_<tag>
```

The check theorem states the reference's elaborated type and proves it with the sample's theorem, so the
kernel compares the two types (definitional equality): a renamed, weakened or re-noted statement fails
it. It shares the universe levels of both sides (a universe-polymorphic statement checks), and `@` keeps
the elaborator from wrapping the sample's theorem in implicit lambdas. Its `#print axioms` covers the
sample's theorem and anything the check itself used; the reference is an `axiom`, so a proof that cites
it shows up there too. Positions are tracked per region so that each message is attributed to the header,
the reference, the sample or a check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from assay import visible_text
from assay_lean.lexer import code_view
from assay_lean.reference import Statement

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+.-]*)[^\n]*$", re.M)
_LEAN_LANGS = {"", "lean", "lean4", "lean3"}
#: Words that start a new top-level command when they begin a line at column 0.
_COMMAND_START = re.compile(
    r"^(?:theorem|lemma|def|example|instance|abbrev|structure|inductive|class|opaque|axiom|namespace|section|end|"
    r"open|variable|universe|set_option|attribute|noncomputable|private|protected|@\[|/--|/-!|#\w+|import|"
    r"mutual|local|scoped|macro|syntax|notation|elab|macro_rules|infix\w*|prefix|postfix|termination_by)(?![\w'])"
)

Mode = Literal["body", "theorem"]


@dataclass(frozen=True)
class Regions:
    """1-based, inclusive line ranges in `Assembly.body`."""

    reference: tuple[int, int]
    sample: tuple[int, int]
    check_type: int
    check_axioms: int


@dataclass(frozen=True)
class Assembly:
    header: str
    body: str
    mode: Mode
    #: The name the checks look up (the statement's name, or the verifier's own for an `example`).
    theorem_name: str
    reference_name: str
    regions: Regions
    #: The sample's code as placed in the file (what the pre-checks read).
    sample_code: str
    repairs: tuple[str, ...] = ()

    @property
    def header_lines(self) -> int:
        return self.header.count("\n")

    def full_text(self) -> str:
        """The whole file for a per-file backend: body line k is file line `header_lines + k`."""
        return self.header + self.body


@dataclass
class Extraction:
    code: str
    repairs: list[str] = field(default_factory=list)


def normalise_header(header: str) -> str:
    header = header.replace("\r\n", "\n").rstrip()
    return header + "\n" if header else ""


def extract_code(text: str, statement: Statement) -> Extraction:
    """The Lean code in a model's text: the fenced block to use, or the text itself. A reasoning model's
    hidden reasoning is not read (`assay.visible_text`): a draft proof inside it is not the answer."""
    text = visible_text(text).replace("\r\n", "\n")
    fences = list(_FENCE.finditer(text))
    if not fences:
        return Extraction(text)
    blocks: list[tuple[str, str]] = []  # (language, content)
    repairs: list[str] = []
    index = 0
    if len(fences) % 2 == 1 and not fences[0].group(2):
        # The text begins inside a block the prompt opened: everything before the first (closing) fence is
        # the continuation, which is what the model was asked for.
        leading = text[: fences[0].start()]
        if leading.strip():
            return Extraction(leading, ["cut_at_closing_fence"])
        index = 1
    while index < len(fences):
        opening = fences[index]
        closing = fences[index + 1] if index + 1 < len(fences) else None
        end = closing.start() if closing else len(text)
        blocks.append((opening.group(2).lower(), text[opening.end() + 1 : end]))
        if closing is None:
            repairs.append("unclosed_fence")
        index += 2
    lean_blocks = [(lang, body) for lang, body in blocks if lang in _LEAN_LANGS and body.strip()]
    if not lean_blocks:
        return Extraction("", ["no_lean_block"])
    declaring = [body for _, body in lean_blocks if declares(body, statement)]
    chosen = declaring[-1] if declaring else lean_blocks[-1][1]
    return Extraction(chosen, [*repairs, "fenced_block"])


def declares(code: str, statement: Statement) -> bool:
    """True when the code declares the statement's theorem (so it is a whole theorem, not a body)."""
    view = code_view(code).code
    if statement.name is None:
        return re.search(r"(?m)^[ \t]*(?:@\[[^\]]*\][ \t]*)?example(?![\w'])", view) is not None
    pattern = (
        r"(?m)^[ \t]*(?:@\[[^\]]*\][ \t]*)?(?:(?:private|protected|noncomputable|nonrec)\s+)*"
        rf"(?:theorem|lemma)\s+(?:_root_\.)?{re.escape(statement.name)}(?![\w'!?.])"
    )
    return re.search(pattern, view) is not None


def starts_with_command(code: str) -> bool:
    """True when the code's first line starts a command at column 0 (a theorem under another name, a
    `def` before it, `open ...`): the sample is whole declarations, not a proof body."""
    for line in code_view(code).code.split("\n"):
        if line.strip():
            return bool(_COMMAND_START.match(line))
    return False


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def repair_body(code: str) -> tuple[str, str, list[str]]:
    """Split a proof body from the commands after it and fix its indentation.

    Returns (body, trailing commands, repairs). The miniF2F pipelines had to re-indent: a body whose first
    line lost its indent (it followed the prompt's `:= by` on the same line) gets the indent of the lines
    after it; a body with no indent at all is indented by two.
    """
    repairs: list[str] = []
    lines = code.split("\n")
    view_lines = code_view(code).code.split("\n")
    while lines and not view_lines[0].strip() and not lines[0].strip():
        lines.pop(0)
        view_lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
        view_lines.pop()
    if not lines:
        return "", "", repairs
    # The body ends at the first later line that starts a new command at column 0.
    cut = len(lines)
    for number in range(1, len(lines)):
        view = view_lines[number]
        if view[:1] not in ("", " ", "\t") and _COMMAND_START.match(view):
            cut = number
            break
    body_lines, trailing = lines[:cut], lines[cut:]
    body_view = view_lines[:cut]
    if trailing:
        repairs.append("split_trailing_commands")
        while len(body_lines) > 1 and not body_lines[-1].strip():
            body_lines.pop()
            body_view.pop()
    rest_indents = [_indent(line) for line, view in zip(body_lines[1:], body_view[1:], strict=True) if view.strip()]
    first_indent = _indent(body_lines[0])
    if rest_indents and min(rest_indents) == 0:
        body_lines = ["  " + line if line.strip() else line for line in body_lines]
        repairs.append("indented_body")
    elif first_indent == 0:
        body_lines[0] = " " * (min(rest_indents) if rest_indents else 2) + body_lines[0]
        repairs.append("indented_first_line")
    return "\n".join(body_lines), "\n".join(trailing), repairs


def _drop_imports(code: str) -> tuple[str, bool]:
    view_lines = code_view(code).code.split("\n")
    lines = code.split("\n")
    kept = [line for line, view in zip(lines, view_lines, strict=True) if not re.match(r"^\s*import\s", view)]
    return "\n".join(kept), len(kept) != len(lines)


def assemble(header: str, statement: Statement, text: str) -> Assembly:
    """Lay out the file for a sample (see the module docstring). Never raises on any text."""
    header = normalise_header(header)
    extraction = extract_code(text, statement)
    repairs = list(extraction.repairs)
    tag = statement.tag
    reference_name = f"assay_reference_{tag}"
    target = statement.name or f"assay_target_{tag}"
    code = extraction.code
    mode: Mode
    if declares(code, statement) or starts_with_command(code):
        mode = "theorem"
        code, dropped = _drop_imports(code)
        if dropped:
            repairs.append("dropped_imports")
        if statement.name is None:
            code = re.sub(r"(?m)^([ \t]*(?:@\[[^\]]*\][ \t]*)?)example(?![\w'])", rf"\1theorem {target}", code, count=1)
        sample_code = code.strip("\n")
    else:
        mode = "body"
        body, trailing, body_repairs = repair_body(code)
        repairs.extend(body_repairs)
        declaration = statement.text
        if statement.name is None:
            declaration = re.sub(r"(?<![\w'.])example(?![\w'])", f"theorem {target}", declaration, count=1)
        sample_code = body + ("\n\n" + trailing if trailing else "")
        code = declaration + "\n" + sample_code
    reference = f"{statement.prefix}axiom {reference_name}{statement.universes} {statement.signature}".strip()
    parts = [reference, "", code, ""]
    reference_end = reference.count("\n") + 1
    sample_start = reference_end + 2
    sample_end = sample_start + code.count("\n")
    check_type_line = sample_end + 2
    parts.append(f"theorem assay_check_{tag} : type_of% @_root_.{reference_name} := @_root_.{target}")
    parts.append(f"#print axioms _root_.assay_check_{tag}")
    body_text = "\n".join(parts) + "\n"
    return Assembly(
        header=header,
        body=body_text,
        mode=mode,
        theorem_name=target,
        reference_name=reference_name,
        regions=Regions(
            reference=(1, reference_end),
            sample=(sample_start, sample_end),
            check_type=check_type_line,
            check_axioms=check_type_line + 1,
        ),
        sample_code=sample_code,
        repairs=tuple(repairs),
    )


_PAIRS = {")": "(", "]": "[", "}": "{", "⟩": "⟨", "⦄": "⦃"}


def structure_problems(assembly: Assembly) -> list[str]:
    """Why the sample's part of the file cannot be a well-formed Lean file, judged without Lean.

    Empty code, an unterminated comment or string, unbalanced brackets, a body line that would end the
    proof early (column 0), or whole declarations that never declare the theorem.
    """
    problems: list[str] = []
    view = code_view(assembly.sample_code)
    if not view.code.strip():
        return ["empty"]
    if view.unterminated:
        problems.append(f"unterminated_{view.unterminated}")
    stack: list[str] = []
    balanced = True
    for char in view.code:
        if char in "([{⟨⦃":
            stack.append(char)
        elif char in _PAIRS and (not stack or stack.pop() != _PAIRS[char]):
            balanced = False
            break
    if not balanced or stack:
        problems.append("unbalanced_brackets")
    if assembly.mode == "body":
        lines = [line for line in view.code.split("\n") if line.strip()]
        for line in lines[1:]:
            if line[:1] not in (" ", "\t"):
                if not _COMMAND_START.match(line):
                    problems.append("body_line_at_column_0")
                break  # the trailing commands after the body begin here
    elif "assay_target_" not in assembly.theorem_name and not re.search(
        rf"(?<![\w'.]){re.escape(assembly.theorem_name)}(?![\w'!?])", view.code
    ):
        problems.append("theorem_missing")
    return problems
