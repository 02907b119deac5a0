"""The command line's help, written into the docs from the parsers, and every `assay ...` command line the
docs show checked against them, so that neither can drift from the code.

A generated block sits between two markers naming the command:

    <!-- cli: verify -->
    ```text
    usage: assay verify ...
    ```
    <!-- /cli -->

`python -m assay.testing.cli_docs docs/cli.md ...` rewrites every such block from the installed commands
(built-in and plugins'); `stale_blocks(text)` says which blocks differ and `unknown_options(text)` which
command lines name a command or an option that does not exist (a test calls both for each doc).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from assay.testing.doc_blocks import rewrite_files

BLOCK = re.compile(r"(<!-- cli: (?P<name>[\w -]+) -->\n)(?P<body>.*?)(<!-- /cli -->)", re.DOTALL)
#: Help is written at this width whatever the terminal, so the blocks are the same on every machine.
WIDTH = 100
_INLINE = re.compile(r"`(assay [^`\n]+)`")
_FENCE = re.compile(r"^```[^\n]*\n(?P<body>.*?)^```", re.DOTALL | re.MULTILINE)
_SHELL_LINE = re.compile(r"^\s*(?:\$\s+)?(assay\s.*)$")
_OPTION = re.compile(r"^(--[a-z][\w-]*|-[a-zA-Z])")


@contextmanager
def _fixed_width() -> Iterator[None]:
    # argparse reads the width from COLUMNS (through shutil.get_terminal_size).
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(WIDTH + 2)
    try:
        yield
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


def _parser() -> argparse.ArgumentParser:
    from assay.cli import build_parser

    return build_parser()


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _resolve(
    parser: argparse.ArgumentParser, words: list[str]
) -> tuple[argparse.ArgumentParser, list[str], list[str]]:
    """The parser of the longest command path at the start of `words`, that path, and the words after it."""
    path: list[str] = []
    while words and words[0] in subcommands(parser):
        parser = subcommands(parser)[words[0]]
        path.append(words.pop(0))
    return parser, path, words


def command_help(name: str) -> str:
    """`assay NAME --help` as printed at `WIDTH` columns (NAME may be a path: `code convert`)."""
    with _fixed_width():
        parser, _, rest = _resolve(_parser(), name.split())
        if rest:
            raise KeyError(f"no command 'assay {name}'")
        return parser.format_help()


def _block_body(name: str) -> str:
    return f"```text\n{command_help(name).rstrip()}\n```\n"


def stale_blocks(text: str) -> list[str]:
    """The commands whose help block in `text` differs from what their parser prints."""
    return [match["name"] for match in BLOCK.finditer(text) if match["body"] != _block_body(match["name"])]


def rewrite(text: str) -> str:
    return BLOCK.sub(lambda m: m.group(1) + _block_body(m["name"]) + m.group(4), text)


def command_lines(text: str) -> list[str]:
    """Every `assay ...` command line in `text`: inline code spans, and lines of fenced blocks (with their
    backslash continuations joined); help blocks written by this module are left out."""
    text = BLOCK.sub("", text)
    lines = [match[1] for match in _INLINE.finditer(text)]
    for fence in _FENCE.finditer(text):
        body = re.sub(r"\s*\\\n\s*", " ", fence["body"])
        lines.extend(match[1] for line in body.splitlines() if (match := _SHELL_LINE.match(line)))
    return lines


def _words(line: str) -> list[str]:
    line = re.split(r"\s#|\s\|\s|\s>\s|\s&&\s|;", line)[0]
    try:
        return shlex.split(line)
    except ValueError:  # an unbalanced quote in prose: plain words are enough here
        return line.split()


def unknown_options(text: str) -> list[str]:
    """`assay ...` lines in `text` that name an option their command lacks: 'LINE: --option'."""
    problems = []
    top = _parser()
    for line in command_lines(text):
        parser, path, rest = _resolve(top, _words(line)[1:])
        # A placeholder (`assay NAME --help`, `assay ...`) stands for any command.
        if not path and rest and not rest[0].startswith("-") and not rest[0].isupper() and rest[0] != "...":
            problems.append(f"{line}: no command '{rest[0]}'")
            continue
        known = parser._option_string_actions
        for word in rest:
            option = _OPTION.match(word.strip("[]()"))
            if option and option[1] not in known:
                problems.append(f"{line}: {option[1]}")
    return problems


def main(paths: list[str]) -> int:
    return rewrite_files(paths, rewrite, "command help")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
