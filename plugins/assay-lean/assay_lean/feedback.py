"""Feedback for a refine loop: a Lean verdict retold for the model that wrote the proof.

Lean has no secret tests (the statement is in the prompt), so the first error is shown with its line,
column and text (for `unsolved goals`, the text holds the goal) whatever the task's feedback switch.
"""

from __future__ import annotations

from typing import Any

from assay import Verdict, generic_feedback

_QUOTE_CHARS = 1500


def _first_error(details: dict[str, Any]) -> str | None:
    errors = details.get("errors")
    if not isinstance(errors, list):
        return None
    for error in errors:
        if isinstance(error, dict) and error.get("severity", "error") == "error" and error.get("text"):
            where = f"line {error.get('line', '?')}, column {error.get('column', '?')}"
            return f"Lean error at {where}:\n{str(error['text'])[:_QUOTE_CHARS]}"
    return None


def lean_feedback(verdict: Verdict) -> str:
    if verdict.status == "pass":
        return "The proof checks."
    details = verdict.details
    first = _first_error(details)
    if first is not None:
        return first
    reason = (verdict.reason or verdict.status).replace("_", " ")
    message = details.get("message")
    if verdict.status in ("fail", "timeout") and isinstance(message, str) and message:
        line = f" (line {details['line']})" if isinstance(details.get("line"), int) else ""
        return f"The proof is not accepted ({reason}){line}: {message[:_QUOTE_CHARS]}"
    return generic_feedback(verdict, show_tests=False)
