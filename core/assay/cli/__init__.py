"""The `assay` command line. Built-in commands and plugins' commands are registered the same way."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from assay.cli.command import BUILTIN_COMMANDS, Command, add_input_files, take_input_files
from assay.version import __version__

__all__ = ["Command", "add_input_files", "build_parser", "main", "take_input_files"]


def _builtin_commands() -> list[Command]:
    from assay.cli import audit, export, plugins, review, select, serve, verify

    return [
        plugins.COMMAND,
        verify.COMMAND,
        serve.COMMAND,
        select.COMMAND,
        audit.COMMAND,
        review.COMMAND,
        export.COMMAND,
    ]


def build_parser() -> argparse.ArgumentParser:
    from assay.plugins import get_registry

    parser = argparse.ArgumentParser(
        prog="assay", description="Verify model samples, select one per problem, audit the verifiers."
    )
    parser.add_argument("--version", action="version", version=f"assay {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands = {command.name: command for command in _builtin_commands()}
    assert tuple(commands) == BUILTIN_COMMANDS
    # A plugin command cannot take a built-in's name: the registry reports such a plugin as failed.
    commands.update(get_registry().commands)
    for command in commands.values():
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        command.configure(sub)
        sub.set_defaults(_run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args._run(args)
    except KeyboardInterrupt:
        print("assay: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return status


if __name__ == "__main__":
    raise SystemExit(main())
