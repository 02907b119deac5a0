"""From Lean's messages about an assembled file to a decision and a machine-readable reason.

Accept only when: no error anywhere; no `sorry` (warnings or REPL `sorries`); the check theorem comparing
the proved type with the reference type elaborated; `#print axioms` ran and lists only allowed axioms.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from assay_lean.assemble import Assembly
from assay_lean.diagnostics import LeanMessage, parse_axioms

Decision = Literal["pass", "fail", "error"]


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    reason: str | None
    details: dict[str, Any] = field(default_factory=dict)


def _within(message: LeanMessage, region: tuple[int, int]) -> bool:
    return region[0] <= message.line <= region[1]


def decide(
    assembly: Assembly,
    messages: Sequence[LeanMessage],
    allowed_axioms: Collection[str],
    sorries: Sequence[dict[str, Any]] = (),
) -> Outcome:
    """`messages` have lines relative to `assembly.body`; header messages have lines <= 0."""
    regions = assembly.regions
    errors = [m for m in messages if m.severity == "error"]

    def fail(reason: str, decision: Decision = "fail", **details: Any) -> Outcome:
        shown = [m.to_json() for m in errors[:5]]
        return Outcome(decision, reason, {"errors": shown, **details} if shown else details)

    header_errors = [m for m in errors if m.line <= 0]
    if header_errors:
        return fail("header_error", "error", message="the task's header does not elaborate")
    if any(_within(m, regions.reference) for m in errors):
        return fail("bad_reference", "error", message="the statement does not elaborate with this header")
    sample_errors = [m for m in errors if _within(m, regions.sample)]
    if sample_errors:
        return fail("lean_error")
    sorry_warnings = [m for m in messages if m.is_sorry_warning and m.line >= regions.sample[0]]
    if sorry_warnings or sorries:
        return Outcome(
            "fail",
            "sorry",
            {"sorry_at": [m.to_json() for m in sorry_warnings[:5]], "sorries": list(sorries)[:5]},
        )
    check_errors = [m for m in errors if m.line in (regions.check_type, regions.check_axioms)]
    if check_errors:
        missing = any("nknown" in m.text for m in check_errors)
        return fail(
            "statement_changed",
            message=(
                f"the sample does not declare `{assembly.theorem_name}`"
                if missing
                else "the proved theorem's type is not the statement's"
            ),
        )
    if errors:
        return fail("lean_error")
    report = None
    for message in messages:
        if message.line == regions.check_axioms and message.severity == "info":
            report = parse_axioms(message.text)
            if report is not None:
                break
    if report is None:
        return Outcome(
            "fail",
            "incomplete",
            {"message": "the checks after the proof never ran (the file stopped early or swallowed them)"},
        )
    if "sorryAx" in report.axioms:
        return Outcome("fail", "sorry", {"axioms": list(report.axioms)})
    disallowed = [name for name in report.axioms if name not in allowed_axioms]
    if disallowed:
        return Outcome("fail", f"axiom:{disallowed[0]}", {"axioms": list(report.axioms), "disallowed": disallowed})
    return Outcome("pass", None, {"axioms": list(report.axioms)})
