"""assay-lean: the `lean` verifier (Lean 4 proofs that cannot be cheated) and its backends.

The top level only registers the verifier; backends load on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assay import hookimpl
from assay_lean.verifier import LeanConfig, LeanVerifier

__all__ = ["LeanConfig", "LeanVerifier", "register_verifiers"]


@hookimpl
def register_verifiers(register: Callable[[type[Any]], None]) -> None:
    register(LeanVerifier)
