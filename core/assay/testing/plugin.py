"""The pytest plugin `assay` (entry point `pytest11`): makes the assay fixtures available everywhere."""

from assay.testing.fixtures import assay_plugin, assay_registry

__all__ = ["assay_plugin", "assay_registry"]
