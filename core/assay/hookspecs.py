"""The assay plugin contract: these hookspecs and nothing else.

Hooks run once, when the registry is built; each hands the plugin a `register` callback and the host
keeps the objects. Per-sample work never goes through a hook.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("assay")
hookimpl = pluggy.HookimplMarker("assay")


@hookspec
def register_verifiers(register: Callable[[type[Any]], None]) -> None:
    """Register Verifier classes.

    :param register: call it once per `assay.Verifier` subclass; the class's `name` is its verifier name.

    .. versionadded:: 0.1
    """


@hookspec
def register_sandboxes(register: Callable[[type[Any]], None]) -> None:
    """Register Sandbox backends.

    :param register: call it once per class implementing `assay.Sandbox`; the class's `name` is its key.

    .. versionadded:: 0.1
    """


@hookspec
def register_selectors(register: Callable[[Any], None]) -> None:
    """Register selection strategies (majority vote, best-of-n, ...).

    :param register: call it once per selector object; its `name` is the key used by `assay select`.

    .. versionadded:: 0.1
    """


@hookspec
def register_commands(register: Callable[[Any], None]) -> None:
    """Register subcommands of the `assay` command line.

    :param register: call it once per `assay.cli.Command` (name, help, configure(parser), run(args) -> int).

    .. versionadded:: 0.1
    """
