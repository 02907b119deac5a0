"""assay-math: the `math` verifier plugin (final-answer extraction and symbolic equality with sympy).

Importing this package is light: sympy is loaded on the first verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assay import hookimpl
from assay_math.config import MathConfig
from assay_math.verifier import MathReference, MathVerifier

__all__ = ["MathConfig", "MathReference", "MathVerifier", "register_verifiers"]


@hookimpl
def register_verifiers(register: Callable[[type[Any]], None]) -> None:
    register(MathVerifier)
