"""Fixtures for the sandbox tests: one warm sandbox per backend for the whole session (as a worker would
hold one), and `sandbox`, parametrised over both backends. The docker backend's tests skip, with the
reason, where no Docker daemon answers ($DOCKER_HOST, or the default socket); with ASSAY_REQUIRE_DOCKER
set (CI starts a daemon) they fail instead."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from assay.sandbox import Limits

#: Small limits, so that the limit tests end quickly.
TEST_LIMITS = Limits(
    wall_time_s=3.0,
    cpu_time_s=2.0,
    memory_mb=256,
    processes=8,
    output_bytes=1 << 16,
    file_size_mb=4,
    disk_mb=16,
)


@pytest.fixture(scope="session")
def local_sandbox() -> Iterator[Any]:
    from assay_sandboxes.local import LocalSandbox

    sandbox = LocalSandbox(limits=TEST_LIMITS)
    try:
        yield sandbox
    finally:
        sandbox.close()


@pytest.fixture(scope="session")
def docker_sandbox() -> Iterator[Any]:
    from assay_sandboxes.client import SandboxUnavailable
    from assay_sandboxes.docker_backend import DockerSandbox, docker_client

    try:
        docker_client()
    except SandboxUnavailable as exc:
        if os.environ.get("ASSAY_REQUIRE_DOCKER"):
            pytest.fail(f"ASSAY_REQUIRE_DOCKER is set but {exc}")
        pytest.skip(f"docker backend not tested here: {exc}")
    sandbox = DockerSandbox(limits=TEST_LIMITS)
    try:
        yield sandbox
    finally:
        sandbox.close()


@pytest.fixture(params=["local", "docker"])
def sandbox(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(f"{request.param}_sandbox")
