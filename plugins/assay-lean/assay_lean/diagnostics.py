"""Lean's messages, from `lean --json` and from the REPL, in one shape; and what `#print axioms` says."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["error", "warning", "info"]
_SEVERITIES: dict[str, Severity] = {
    "error": "error",
    "warning": "warning",
    "information": "info",
    "info": "info",
    "trace": "info",
}
_SORRY_WARNING = re.compile(r"declaration uses ['`]sorry['`]")
_AXIOMS = re.compile(
    r"^'(?P<name>.+?)' (?:depends on axioms: \[(?P<list>[^\]]*)\]|does not depend on any axioms)", re.S
)


@dataclass(frozen=True)
class LeanMessage:
    """One message; `line` is 1-based, `column` 0-based, both in whatever text the backend was given."""

    severity: Severity
    line: int
    column: int
    text: str
    end_line: int | None = None
    end_column: int | None = None

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> LeanMessage:
        """A message object from `lean --json` or the REPL (`severity`, `pos`, `endPos`, `data`)."""
        pos = item.get("pos") or {}
        end = item.get("endPos") or {}
        return cls(
            severity=_SEVERITIES.get(str(item.get("severity", "error")), "error"),
            line=int(pos.get("line", 0)),
            column=int(pos.get("column", 0)),
            text=str(item.get("data", "")),
            end_line=int(end["line"]) if "line" in end else None,
            end_column=int(end["column"]) if "column" in end else None,
        )

    def shifted(self, lines: int) -> LeanMessage:
        """The same message with its lines moved by `lines` (from file lines to body lines)."""
        return LeanMessage(
            self.severity,
            self.line + lines,
            self.column,
            self.text,
            None if self.end_line is None else self.end_line + lines,
            self.end_column,
        )

    @property
    def is_sorry_warning(self) -> bool:
        return self.severity == "warning" and bool(_SORRY_WARNING.search(self.text))

    def to_json(self) -> dict[str, Any]:
        return {"severity": self.severity, "line": self.line, "column": self.column, "text": self.text[:2000]}


def parse_json_lines(stdout: str) -> tuple[list[LeanMessage], list[str]]:
    """Messages printed by `lean --json` (one JSON object a line); other lines come back as they are."""
    messages: list[LeanMessage] = []
    other: list[str] = []
    for line in stdout.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        try:
            item = json.loads(stripped)
        except ValueError:
            other.append(line)
            continue
        if isinstance(item, dict) and "severity" in item and "data" in item:
            messages.append(LeanMessage.from_json(item))
        else:
            other.append(line)
    return messages, other


@dataclass(frozen=True)
class AxiomReport:
    name: str
    axioms: tuple[str, ...]


def parse_axioms(text: str) -> AxiomReport | None:
    """Read `#print axioms` output: `'foo' depends on axioms: [a, b]` or `'foo' does not depend on any axioms`."""
    match = _AXIOMS.match(text.strip())
    if match is None:
        return None
    listed = match.group("list")
    axioms = tuple(part.strip().strip("«»") for part in re.split(r",\s*", listed) if part.strip()) if listed else ()
    return AxiomReport(match.group("name"), axioms)
