"""For the tests of anything that runs in a sandbox: `require_docker()` skips a test, with the reason, where
no Docker daemon answers ($DOCKER_HOST, or the default socket). With ASSAY_REQUIRE_DOCKER set (CI starts a
daemon) it fails the test instead, so that a daemon that did not come up cannot pass as a skip."""

from __future__ import annotations

import os


def require_docker() -> None:
    """Skips (or, with ASSAY_REQUIRE_DOCKER, fails) the calling test unless a Docker daemon answers."""
    import pytest

    from assay_sandboxes.client import SandboxUnavailable
    from assay_sandboxes.docker_backend import docker_client

    try:
        docker_client()
    except SandboxUnavailable as exc:
        if os.environ.get("ASSAY_REQUIRE_DOCKER"):
            pytest.fail(f"ASSAY_REQUIRE_DOCKER is set but {exc}")
        pytest.skip(f"docker backend not tested here: {exc}")
