"""Where an assembled file is checked: one `lean` per file, a REPL pool, a Kimina server, or LeanDojo.

Every backend turns an `Assembly` into a `CheckResult`: Lean's messages with lines relative to the
assembly's body (header messages at lines <= 0), the REPL's `sorries` where it reports them, or how the
run ended otherwise (time or memory limit, a failure of the backend itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from assay_lean.assemble import Assembly
from assay_lean.diagnostics import LeanMessage

RunStatus = Literal["ok", "time_limit", "memory_limit", "crashed", "output_limit", "backend_error", "header_error"]


@dataclass
class CheckResult:
    status: RunStatus
    messages: list[LeanMessage] = field(default_factory=list)
    sorries: list[dict[str, Any]] = field(default_factory=list)
    message: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    name: str

    def check(self, assembly: Assembly, time_limit_s: float) -> CheckResult: ...

    def close(self) -> None: ...
