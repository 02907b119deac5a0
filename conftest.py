"""Fixtures for every test in the tree (host, sandboxes, plugins)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent

# Ray reads its authentication settings once per process, when first used, and every test in a session runs
# in one process: so every Ray head, cluster and driver of the suite shares one mode and one token, set here
# before any test module can import Ray (a module setting its own would leave the others' clusters refused).
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # a loopback Ray stays on loopback
os.environ.setdefault("RAY_AUTH_MODE", "token")
os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))


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


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop what the suite may have left running in this process before the interpreter shuts down: the
    adapters' warm verifiers, kept-warm Ray actors and a Ray connection. Threads of native libraries that
    are still up while Python finalises can crash the process after every test has passed."""
    import sys

    if "assay.integrations.grader" in sys.modules:
        sys.modules["assay.integrations.grader"].close_graders()
    if "ray" in sys.modules:
        from assay.executors.ray import shutdown_warm_actors

        shutdown_warm_actors()
        ray = sys.modules["ray"]
        if ray.is_initialized():
            ray.shutdown()
