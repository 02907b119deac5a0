"""assay-code: the `code` verifier, which runs program samples against their tests in a sandbox.

The top level stays light (every `assay` command imports every plugin): the verifier module imports
pydantic and assay only, and the sandbox starts on the first sample.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assay import hookimpl

__version__ = "0.1.0"
__all__ = ["register_commands", "register_verifiers"]


@hookimpl
def register_verifiers(register: Callable[[type[Any]], None]) -> None:
    from assay_code.verifier import CodeVerifier

    register(CodeVerifier)


@hookimpl
def register_commands(register: Callable[[Any], None]) -> None:
    from assay_code.cli import COMMAND

    register(COMMAND)
