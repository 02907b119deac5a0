"""The `assay` command line. Built-in commands and plugins' commands are registered the same way."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assay import __version__


@dataclass(frozen=True)
class Command:
    """One subcommand: `configure` adds its arguments, `run` does the work and returns the exit status."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


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
    for name, command in get_registry().commands.items():
        commands.setdefault(name, command)
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
