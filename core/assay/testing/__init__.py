"""Test support for verifier plugins: the conformance suite, fixtures, and the `echo` example plugin.

Imported lazily, so that `assay.testing.echo` works where pytest and hypothesis are not installed.
"""

from __future__ import annotations

from typing import Any

__all__ = ["HOSTILE_TEXTS", "Case", "VerifierConformance", "assay_plugin", "assay_registry"]


def __getattr__(name: str) -> Any:
    if name in ("HOSTILE_TEXTS", "Case", "VerifierConformance"):
        from assay.testing import conformance

        return getattr(conformance, name)
    if name in ("assay_plugin", "assay_registry"):
        from assay.testing import fixtures

        return getattr(fixtures, name)
    raise AttributeError(name)
