"""The assay plugin contract: these hookspecs and nothing else.

Hooks run once, when the registry is built; each hands the plugin a `register` callback and the host
keeps the objects. Per-sample work never goes through a hook. pluggy calls the implementations, so
`tryfirst`, `trylast` and hook wrappers work as pluggy documents them; a name is claimed by the plugin
loaded first (built-ins before entry points), whatever order the calls ran in. An implementation may take
fewer arguments than its spec (pluggy passes only those it names), never one the spec lacks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from assay.cli.command import Command
    from assay.sandbox import Sandbox
    from assay.selection import Selector
    from assay.verifier import Verifier

hookspec = pluggy.HookspecMarker("assay")
hookimpl = pluggy.HookimplMarker("assay")


@hookspec
def register_verifiers(register: Callable[[type[Verifier]], None]) -> None:
    """Register Verifier classes.

    :param register: call it once per `assay.Verifier` subclass; the class's `name` is its verifier name.

    .. versionadded:: 0.1
    """


@hookspec
def register_sandboxes(register: Callable[[type[Sandbox]], None]) -> None:
    """Register Sandbox backends.

    :param register: call it once per class implementing `assay.Sandbox`; the class's `name` is its key.

    .. versionadded:: 0.1
    """


@hookspec
def register_selectors(register: Callable[[Selector], None]) -> None:
    """Register selection strategies (majority vote, best-of-n, ...).

    :param register: call it once per selector object; its `name` is the key used by `assay select`.

    .. versionadded:: 0.1
    """


@hookspec
def register_commands(register: Callable[[Command], None]) -> None:
    """Register subcommands of the `assay` command line.

    :param register: call it once per `assay.cli.Command` (name, help, configure(parser), run(args) -> int).

    .. versionadded:: 0.1
    """
