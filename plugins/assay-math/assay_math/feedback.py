"""Feedback for a refine loop: a math verdict retold for the model that wrote the solution.

It never gives the reference answer away (not even with `show_tests=True`: the answer is the whole test).
"""

from __future__ import annotations

from assay import Verdict, generic_feedback

_QUOTE_CHARS = 300


def math_feedback(verdict: Verdict, *, show_tests: bool) -> str:
    if verdict.status == "pass":
        return "Correct."
    extracted = verdict.details.get("extracted")
    said = f" {extracted[:_QUOTE_CHARS]!r}" if isinstance(extracted, str) and extracted else ""
    if verdict.reason == "no_answer":
        return "No final answer found: end with the answer in \\boxed{...} or as 'The answer is ...'."
    if verdict.reason == "wrong_answer":
        return f"The final answer{said} is wrong."
    if verdict.reason == "parse_error":
        return f"The final answer{said} could not be read as a mathematical expression."
    if verdict.reason == "answer_too_long":
        return "The final answer is too long to be checked: give it in simplest form."
    if verdict.reason == "too_large":
        return f"The final answer{said} holds a number too large to compute: give it in simplest form."
    if verdict.reason == "time_limit":
        return f"The final answer{said} took too long to compare: give it in simplest form."
    return generic_feedback(verdict, show_tests=False)
