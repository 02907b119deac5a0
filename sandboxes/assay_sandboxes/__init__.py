"""Sandbox backends for assay: `local` (a pre-warmed fork-server, no daemon) and `docker` (a warm container
per worker with the same fork-server inside), and the `assay sandbox` command. See README.md for the
threat model, what each layer stops and what each backend costs.

The top level stays light (every `assay` command imports every plugin): backends load on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assay.hookspecs import hookimpl

__all__ = ["register_commands", "register_sandboxes"]


@hookimpl
def register_sandboxes(register: Callable[[type[Any]], None]) -> None:
    from assay_sandboxes.docker_backend import DockerSandbox
    from assay_sandboxes.local import LocalSandbox

    register(LocalSandbox)
    register(DockerSandbox)


@hookimpl
def register_commands(register: Callable[[Any], None]) -> None:
    from assay_sandboxes.cli import COMMAND

    register(COMMAND)
