"""For the tests of anything that runs in a sandbox: `require_docker()` skips a test, with the reason, where
no Docker daemon answers ($DOCKER_HOST, or the default socket). With ASSAY_REQUIRE_DOCKER set (CI starts a
daemon) it fails the test instead, so that a daemon that did not come up cannot pass as a skip.
`cpu_hog()` loads the machine with real busy processes."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator


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


@contextlib.contextmanager
def cpu_hog(per_core: int = 2) -> Iterator[int]:
    """Keeps every core of this machine busy with `per_core` real spinning processes each while the block
    runs (for tests that a verdict does not change with the load); yields how many there are. Each is
    killed by its own id afterwards."""
    count = per_core * len(os.sched_getaffinity(0))
    # Each in a session of its own, as other programs on the machine are: the scheduler shares the CPU
    # between sessions first (autogroups), so hogs in one session would weigh as one.
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True) for _ in range(count)]
    try:
        time.sleep(0.2)  # let them reach the run queue
        yield count
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait()
