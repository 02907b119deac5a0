"""Fixtures for every test in the tree (host, sandboxes, plugins)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent


def shared_data_dir() -> Path | None:
    """The third-party data sets beside a development checkout (`$ASSAY_SHARED_DATA` to point elsewhere).
    A user's clone has none; tests that need it skip."""
    explicit = os.environ.get("ASSAY_SHARED_DATA")
    candidate = Path(explicit) if explicit else ROOT.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of shared data sets; the test is skipped where there is none."""
    path = shared_data_dir()
    if path is None:
        pytest.skip("no shared data sets here (set ASSAY_SHARED_DATA to a folder of them)")
    return path
