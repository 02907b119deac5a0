"""Feedback for a refine loop: a code verdict retold for the model that wrote the program.

Built from the verdict's `reason` and `details` (and, for stdin/stdout tasks, the failing case of the
reference), never by running anything again. With `show_tests=False` the tests are secret: the text
names which kind of failure it was and which case number, never a test's input, expected value, the
program's output on it, or the exception's message (which can quote the input).
"""

from __future__ import annotations

from typing import Any

from assay import Task, Verdict, generic_feedback

#: The most characters of one input, expected output or error message that feedback quotes.
QUOTE_CHARS = 1200

_KINDS = {
    "wrong_answer": "wrong answer",
    "runtime_error": "runtime error",
    "time_limit": "time limit exceeded",
    "memory_limit": "memory limit exceeded",
    "output_limit": "output limit exceeded",
    "early_exit": "the program exited before the tests finished",
    "crashed": "the program crashed",
}


def _clip(text: str) -> str:
    text = text.rstrip("\n")
    return text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS] + f"... [{len(text) - QUOTE_CHARS} more characters]"


def _kind(verdict: Verdict) -> str:
    reason = verdict.reason or verdict.status
    return _KINDS.get(reason, reason.replace("_", " "))


def _exception_name(message: str) -> str:
    """`ValueError: x (raised by the candidate)` -> `ValueError`."""
    return message.split(":", 1)[0].split(" ", 1)[0]


def code_feedback(task: Task, verdict: Verdict, *, show_tests: bool) -> str:
    details: dict[str, Any] = verdict.details
    if verdict.status == "pass":
        return "All tests passed."
    if verdict.status in ("error", "skipped"):
        return generic_feedback(verdict, show_tests=False)
    message = details.get("message") if isinstance(details.get("message"), str) else None
    if verdict.reason in ("syntax_error", "compile_error"):  # about the program's own text: always shown
        return f"The program does not compile: {_clip(message or verdict.reason)}"
    if isinstance(details.get("first_failure"), dict):
        return _case_feedback(task, verdict, details, show_tests=show_tests)
    if "tests_passed" in details and "tests" in details and verdict.reason == "generated_tests_failed":
        return f"{details['tests_passed']} of {details['tests']} tests passed."
    if not show_tests:
        text = f"A hidden test failed ({_kind(verdict)}"
        if verdict.reason == "runtime_error" and message:
            text += f": {_exception_name(message)}"
        return text + ")."
    parts = [f"A test failed ({_kind(verdict)})"]
    if isinstance(details.get("at"), str):
        parts.append(f"at {details['at']}")
    text = " ".join(parts) + "."
    if isinstance(details.get("last_call"), str):
        result = details.get("last_result")
        outcome = "did not return" if result is None else f"gave {_clip(str(result))}"
        text += f" The last call, {_clip(details['last_call'])}, {outcome}."
    if message and message != "AssertionError":
        text += f" {_clip(message)}"
    return text


def _case_feedback(task: Task, verdict: Verdict, details: dict[str, Any], *, show_tests: bool) -> str:
    failure: dict[str, Any] = details["first_failure"]
    case = failure.get("case")
    total = details.get("cases")
    number = f"{case + 1}" if isinstance(case, int) else "?"
    head = f"Test case {number}" + (f" of {total}" if isinstance(total, int) else "") + f" failed ({_kind(verdict)})"
    if not show_tests:
        return head + "."
    lines = [head + "."]
    cases = task.reference.get("cases")
    if isinstance(case, int) and isinstance(cases, list) and 0 <= case < len(cases) and isinstance(cases[case], dict):
        lines.append(f"Input:\n{_clip(str(cases[case].get('input', '')))}")
        lines.append(f"Expected output:\n{_clip(str(cases[case].get('output', '')))}")
    if isinstance(failure.get("message"), str):
        lines.append(_clip(failure["message"]))
    if isinstance(failure.get("stderr"), str) and failure["stderr"].strip():
        lines.append(f"Error output (end):\n{_clip(failure['stderr'][-QUOTE_CHARS:])}")
    return "\n".join(lines)
