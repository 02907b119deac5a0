"""Rejections that need no Lean: constructs a proof must not contain, found in the text itself.

These run before any backend, on the sample's code with comments and literals blanked (`lexer.code_view`),
so `sorry` in a comment is not a rejection. They are a first line, not the last: everything they look for
is also caught by the kernel-side checks (errors, `declaration uses sorry`, `#print axioms`, the statement
comparison) wherever the construct would change the verdict. What only the text can show is what changes
the checks themselves: syntax extensions that could redefine the verifier's own check commands, `#exit`
and unterminated comments that would swallow them, and code that runs during elaboration.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from assay_lean.lexer import CodeView, line_of, word_pattern

#: Axioms a proof may depend on; the Lean reference manual's standard three.
STANDARD_AXIOMS: tuple[str, ...] = ("propext", "Classical.choice", "Quot.sound")

#: Tactics whose proofs depend on `Lean.ofReduceBool` (they trust the compiler, not the kernel).
_COMPILER_TRUSTING_TACTICS = ("native_decide", "bv_decide")

#: Commands that extend the syntax or run code while the file elaborates. Any of them can change what the
#: verifier's own check commands mean (a `macro_rules` for `type_of%`), print forged messages, or add
#: declarations without the kernel.
SYNTAX_AND_META_COMMANDS: tuple[str, ...] = (
    "macro",
    "macro_rules",
    "syntax",
    "elab",
    "elab_rules",
    "notation",
    "notation3",
    "infix",
    "infixl",
    "infixr",
    "prefix",
    "postfix",
    "declare_syntax_cat",
    "binder_predicate",
    "initialize",
    "builtin_initialize",
    "run_cmd",
    "run_elab",
    "run_meta",
    "run_tac",
    "by_elab",
)
#: Attributes that swap in unchecked code or register elaborators.
FORBIDDEN_ATTRIBUTES: tuple[str, ...] = (
    "implemented_by",
    "extern",
    "command_elab",
    "term_elab",
    "tactic",
    "macro",
    "builtin_command_elab",
    "builtin_term_elab",
    "builtin_tactic",
    "builtin_macro",
    "init",
    "builtin_init",
)
#: `set_option` names (or prefixes ending in `.`) a sample may not set: `debug.skipKernelTC` skips the
#: kernel; `pp.*` and `format.*` change how the verifier's `#print axioms` output reads.
FORBIDDEN_OPTIONS: tuple[str, ...] = ("debug.", "pp.", "format.", "internal.")

_ATTRIBUTE_BLOCK = re.compile(r"@\[([^\]]*)\]|(?<![\w.])attribute\s*\[([^\]]*)\]")
_SET_OPTION = re.compile(r"(?<![\w.])set_option\s+([^\s]+)")
_AXIOM_DECL = re.compile(r"(?<![\w'.])axiom\s+([^\s(){}\[\]:]+)")
_LINE_START_COMMANDS = ("import", "axiom")


@dataclass(frozen=True)
class Finding:
    """One rejection: `reason` is the machine-readable verdict reason, `line` 1-based in the sample code."""

    reason: str
    line: int
    detail: str


@dataclass(frozen=True)
class PrecheckPolicy:
    allowed_axioms: frozenset[str] = frozenset(STANDARD_AXIOMS)
    forbidden_commands: tuple[str, ...] = SYNTAX_AND_META_COMMANDS
    forbidden_attributes: tuple[str, ...] = FORBIDDEN_ATTRIBUTES
    forbidden_options: tuple[str, ...] = FORBIDDEN_OPTIONS


@dataclass
class Precheck:
    findings: list[Finding] = field(default_factory=list)

    @property
    def reason(self) -> str | None:
        return self.findings[0].reason if self.findings else None


def _words(code: str, word: str) -> Iterable[re.Match[str]]:
    return word_pattern(word).finditer(code)


def precheck(view: CodeView, policy: PrecheckPolicy | None = None) -> Precheck:
    """Every forbidden construct in the sample's code, in order of how damning it is."""
    policy = policy or PrecheckPolicy()
    code = view.code
    result = Precheck()
    found = result.findings.append

    if view.unterminated:
        found(
            Finding(
                f"unterminated_{view.unterminated}",
                view.unterminated_line or 1,
                f"an unterminated {view.unterminated} would swallow everything after it",
            )
        )
    for word in ("sorry", "admit"):
        for match in _words(code, word):
            found(Finding("sorry", line_of(code, match.start()), f"`{word}` leaves the goal unproved"))
    for tactic in _COMPILER_TRUSTING_TACTICS:
        if "Lean.ofReduceBool" in policy.allowed_axioms:
            break
        for match in _words(code, tactic):
            found(
                Finding(
                    "axiom:Lean.ofReduceBool",
                    line_of(code, match.start()),
                    f"`{tactic}` trusts the compiler through the axiom Lean.ofReduceBool",
                )
            )
    for match in _AXIOM_DECL.finditer(code):
        name = match.group(1)
        if name not in policy.allowed_axioms:
            found(Finding(f"axiom:{name}", line_of(code, match.start()), f"declares the axiom `{name}`"))
    for match in _SET_OPTION.finditer(code):
        option = match.group(1)
        if any(option == bad or (bad.endswith(".") and option.startswith(bad)) for bad in policy.forbidden_options):
            found(Finding(f"forbidden:{option}", line_of(code, match.start()), f"`set_option {option}`"))
    for match in _ATTRIBUTE_BLOCK.finditer(code):
        body = match.group(1) if match.group(1) is not None else match.group(2)
        for attribute in re.findall(r"[\w.]+", body):
            if attribute in policy.forbidden_attributes:
                found(
                    Finding(f"forbidden:{attribute}", line_of(code, match.start()), f"the attribute `@[{attribute}]`")
                )
    for word in ("unsafe",):
        for match in _words(code, word):
            found(
                Finding(f"forbidden:{word}", line_of(code, match.start()), "`unsafe` code is not checked by the kernel")
            )
    for command in ("#exit", "#eval", "#eval!", "#guard_msgs"):
        for match in re.finditer(rf"{re.escape(command)}(?![\w'!?])", code):
            found(Finding(f"forbidden:{command}", line_of(code, match.start()), f"`{command}`"))
    for command in policy.forbidden_commands:
        for match in _words(code, command):
            found(
                Finding(
                    f"forbidden:{command}",
                    line_of(code, match.start()),
                    f"`{command}` extends the syntax or runs code during elaboration",
                )
            )
    for command in _LINE_START_COMMANDS:
        if command == "axiom":
            continue  # reported above with its name
        for match in re.finditer(rf"(?m)^[ \t]*{command}(?![\w'!?])", code):
            found(Finding(f"forbidden:{command}", line_of(code, match.start()), f"`{command}` inside a proof"))
    result.findings.sort(key=_severity)
    return result


def _severity(finding: Finding) -> tuple[int, int]:
    # Report the construct a reader most needs to know about first; then by position.
    order = 0 if finding.reason.startswith("unterminated") else 1 if finding.reason == "sorry" else 3
    if finding.reason.startswith("axiom:"):
        order = 2
    return (order, finding.line)
