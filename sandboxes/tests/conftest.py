"""Fixtures for the sandbox tests: one warm sandbox per backend for the whole session (as a worker would
hold one), and `sandbox`, parametrised over both backends; `new_sandbox` makes fresh ones with options of
a test's own. The docker backend's tests skip, with the reason, where no Docker daemon answers
($DOCKER_HOST, or the default socket); with ASSAY_REQUIRE_DOCKER set (CI starts a daemon) they fail
instead. They use the `host` image unless ASSAY_TEST_DOCKER_IMAGE names another (`assay-sandbox:bookworm`)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from assay.sandbox import Limits
from assay_sandboxes.testing import require_docker

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

#: The image the docker backend's tests run in.
DOCKER_IMAGE = os.environ.get("ASSAY_TEST_DOCKER_IMAGE", "assay-sandbox:host")


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
    from assay_sandboxes.docker_backend import DockerSandbox

    require_docker()
    sandbox = DockerSandbox(limits=TEST_LIMITS, image=DOCKER_IMAGE)
    try:
        yield sandbox
    finally:
        sandbox.close()


@pytest.fixture(params=["local", "docker"])
def sandbox(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(f"{request.param}_sandbox")


@pytest.fixture(params=["local", "docker"])
def new_sandbox(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """Makes sandboxes of one backend with options of the test's own (`read_paths=...`); their servers
    are fresh, and are stopped when the test ends."""
    from assay_sandboxes.docker_backend import DockerSandbox
    from assay_sandboxes.local import LocalSandbox

    backend: Any = LocalSandbox
    if request.param == "docker":
        require_docker()
        backend = functools.partial(DockerSandbox, image=DOCKER_IMAGE)
    made: list[Any] = []

    def make(**options: Any) -> Any:
        made.append(backend(limits=TEST_LIMITS, **options))
        return made[-1]

    try:
        yield make
    finally:
        for sandbox in made:
            sandbox.close()
