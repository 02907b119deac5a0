"""The command line as the docs show it is the command line as the code builds it: docs/cli.md holds every
command's `--help` written from its parser, and every `assay ...` line in any doc names only commands and
options that exist."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from assay.cli import build_parser
from assay.cli.verify import ALL_JUDGED, COULD_NOT_RUN, INTERRUPTED, SOME_LINES_REJECTED, STOPPED
from assay.testing.cli_docs import BLOCK, command_lines, rewrite, stale_blocks, subcommands, unknown_options

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted(
    {
        ROOT / "README.md",
        *ROOT.glob("docs/*.md"),
        *ROOT.glob("plugins/*/README.md"),
        *ROOT.glob("core/**/README.md"),
        *ROOT.glob("sandboxes/README.md"),
        *ROOT.glob("examples/README.md"),
    }
)
CLI_DOC = ROOT / "docs" / "cli.md"


def _command_paths() -> list[str]:
    paths: list[str] = []

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        for name, sub in subcommands(parser).items():
            paths.append(" ".join([*path, name]))
            walk(sub, [*path, name])

    walk(build_parser(), [])
    return paths


def test_every_command_has_a_current_help_block() -> None:
    text = CLI_DOC.read_text(encoding="utf-8")
    assert [match["name"] for match in BLOCK.finditer(text)] == _command_paths()
    assert stale_blocks(text) == [], "run: python -m assay.testing.cli_docs docs/cli.md"


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: str(path.relative_to(ROOT)))
def test_command_lines_in_the_docs_name_real_commands_and_options(doc: Path) -> None:
    assert unknown_options(doc.read_text(encoding="utf-8")) == []


def test_the_docs_show_command_lines_to_check() -> None:
    lines = [line for doc in DOCS for line in command_lines(doc.read_text(encoding="utf-8"))]
    assert len(lines) > 50 and any("--verdicts" in line for line in lines)


def test_a_wrong_option_or_command_is_found_wherever_the_line_is() -> None:
    text = (
        "Run `assay verify T S --verifier math --no-such-flag` or\n"
        "```bash\n$ assay audit T S --verdicts V \\\n    --bogus 3   # a comment --not-an-option\n"
        "assay code convert IN --nope\nassay frobnicate -x\n```\n"
    )
    assert unknown_options(text) == [
        "assay verify T S --verifier math --no-such-flag: --no-such-flag",
        "assay audit T S --verdicts V --bogus 3   # a comment --not-an-option: --bogus",
        "assay code convert IN --nope: --nope",
        "assay frobnicate -x: no command 'frobnicate'",
    ]
    assert unknown_options("`assay verify T S --verifier math -o OUT --set k=1 [--jobs N]`, `assay NAME -h`") == []


def test_a_stale_block_is_found_and_rewritten() -> None:
    text = "intro\n<!-- cli: verify -->\n```text\nusage: old\n```\n<!-- /cli -->\nafter\n"
    assert stale_blocks(text) == ["verify"]
    fresh = rewrite(text)
    assert stale_blocks(fresh) == [] and "--max-bad-lines" in fresh and fresh.endswith("<!-- /cli -->\nafter\n")


def test_the_readme_table_of_exit_statuses_is_the_code_s() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## When things go wrong", 1)[1].split("\n## ", 1)[0]
    documented = {int(status) for status in re.findall(r"^\| (\d+) \|", section, re.MULTILINE)}
    assert documented == {ALL_JUDGED, SOME_LINES_REJECTED, COULD_NOT_RUN, STOPPED, INTERRUPTED}
