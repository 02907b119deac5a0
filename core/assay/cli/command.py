"""What every subcommand is made of, built-in or from a plugin (`Command`), and the arguments several
commands share. Subcommands import from here, never from `assay.cli` itself, so the package that lists the
commands is not imported by the commands it lists."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

#: The commands assay itself provides; a plugin's command may not take one of these names.
BUILTIN_COMMANDS = ("plugins", "verify", "serve", "select", "audit", "review", "export")


@dataclass(frozen=True)
class Command:
    """One subcommand: `configure` adds its arguments, `run` does the work and returns the exit status."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def add_input_files(parser: argparse.ArgumentParser, samples_help: str) -> None:
    """The TASKS and SAMPLES positionals of `assay select` and `assay audit`. They are optional to argparse
    only so that `--verdicts V1 V2 TASKS SAMPLES` (a file list given first, which takes every file after it)
    can be read as meant: `take_input_files` gives the list's last two files back to the positionals."""
    parser.usage = "%(prog)s TASKS SAMPLES [--verdicts VERDICTS ...] [options]"
    parser.add_argument("tasks", nargs="?", metavar="TASKS", help="tasks JSONL ({id, prompt, reference}); .gz is fine")
    parser.add_argument("samples", nargs="?", metavar="SAMPLES", help=samples_help)
    parser.set_defaults(_parser=parser)


def take_input_files(args: argparse.Namespace, list_option: str = "verdicts") -> None:
    """Fill TASKS and SAMPLES from the end of `--verdicts` when it swallowed them; exit 2 when they are missing."""
    files: list[str] = getattr(args, list_option)
    if args.tasks is None and args.samples is None and len(files) >= 2:
        args.tasks, args.samples = files[-2], files[-1]
        del files[-2:]
    elif args.samples is None and args.tasks is not None and files:
        args.samples = files.pop()
    if args.tasks is None or args.samples is None:
        parser: argparse.ArgumentParser = args._parser
        parser.error("the following arguments are required: TASKS SAMPLES (before --verdicts, or after its files)")
