"""Small domain checks that a user (or a plugin) can hand the `ensemble` selector as weak signals.

A signal is any number in a sample's `metadata` (or in a verdict's `details["signals"]`); the ensemble
learns how far to trust each one. These checks read only the question and the answer, never a reference.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence


def game24_checks(puzzle: Sequence[int], target: int, text: str) -> dict[str, float]:
    """Three checks on the form of an answer such as `(10 - 6) * (5 - 4) * 4 = 24`, for a sample's metadata:
    it uses exactly the puzzle's numbers; its left side evaluates to its right side; its right side is the
    target. Each alone is weak; none reads a reference answer (the puzzle is the question itself)."""
    expression = text.strip().splitlines()[-1] if text.strip() else ""
    expression = expression.split("Answer:", 1)[-1].strip()
    left, _, right = expression.partition("=")
    numbers = sorted(int(n) for n in re.findall(r"\d+", left)) if left else []
    checks = {"uses_puzzle_numbers": float(numbers == sorted(puzzle))}
    value = _arithmetic(left)
    right_value = _arithmetic(right) if right else None
    checks["left_equals_right"] = float(
        value is not None and right_value is not None and abs(value - right_value) < 1e-6
    )
    checks["right_is_target"] = float(right_value is not None and abs(right_value - target) < 1e-6)
    return checks


def _arithmetic(text: str) -> float | None:
    """The value of + - * / over numbers, or None (parsed, never executed)."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError):
        return None

    def value(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -value(node.operand)
        if isinstance(node, ast.BinOp):
            a, b = value(node.left), value(node.right)
            if isinstance(node.op, ast.Add):
                return a + b
            if isinstance(node.op, ast.Sub):
                return a - b
            if isinstance(node.op, ast.Mult):
                return a * b
            if isinstance(node.op, ast.Div):
                return a / b
        raise ValueError("not arithmetic")

    try:
        return value(tree.body)
    except (ValueError, ZeroDivisionError, RecursionError):
        return None
