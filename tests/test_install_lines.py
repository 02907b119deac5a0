"""Every `pip install` line in every README is true from a checkout: the distributions of this tree are named by
their folder (none of them is on the package index), a plugin or the sandboxes come with the host in the same
command, each folder holds a pyproject.toml, and each extra named in brackets exists there."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PATTERNS = ("*.md", "docs/**/*.md", "core/**/*.md", "plugins/*/README.md", "sandboxes/*.md", "examples/**/*.md",
            "examples/**/*.py")  # fmt: skip
DOCS = sorted({path for pattern in PATTERNS for path in ROOT.glob(pattern) if ".venv" not in path.parts})
COMMAND = re.compile(r"pip install ([^`#|\n]+)")
REQUIREMENT = re.compile(r"^(?P<base>[^\[]+)(?:\[(?P<extras>[\w,-]+)\])?$")


def _local(requirement: str) -> tuple[Path, list[str]] | None:
    """(folder, extras) of a requirement naming a folder of this tree (`./`, `./plugins/x[test]`), else None."""
    match = REQUIREMENT.match(requirement)
    if match is None or not (match["base"].startswith(".") or "/" in match["base"]):
        return None
    return ROOT / match["base"], [e for e in (match["extras"] or "").split(",") if e]


def _install_lines() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        for match in COMMAND.finditer(path.read_text(encoding="utf-8")):
            found.append((f"{path.relative_to(ROOT)}", match.group(1).strip().rstrip(".,;:)")))
    return found


LINES = _install_lines()


def test_there_are_install_lines() -> None:
    assert len(LINES) >= 10


@pytest.mark.parametrize(("doc", "arguments"), LINES, ids=[f"{d}:{a}" for d, a in LINES])
def test_install_line_is_true_from_a_checkout(doc: str, arguments: str) -> None:
    requirements = [token for token in shlex.split(arguments) if not token.startswith("-")]
    assert requirements, f"{doc}: `pip install {arguments}` installs nothing"
    for requirement in requirements:
        local = _local(requirement)
        if local is None:
            assert not requirement.startswith("assay"), (
                f"{doc}: `{requirement}` is not on the package index; name its folder (./, ./plugins/...)"
            )
            continue  # a third-party package from the index
        folder, extras = local
        pyproject = folder / "pyproject.toml"
        assert pyproject.is_file(), f"{doc}: `{requirement}` is not a folder with a pyproject.toml"
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
        for extra in extras:
            assert extra in project.get("optional-dependencies", {}), f"{doc}: no extra [{extra}] in {pyproject}"
        named = _names(requirements)
        for dependency in project.get("dependencies", []):
            name = re.match(r"[\w-]+", dependency)
            if name is not None and name.group(0).startswith("assay"):
                assert name.group(0) in named, (
                    f"{doc}: `pip install {arguments}` needs {name.group(0)}, a dependency of {project['name']}, "
                    "named in the same command (it is not on the package index)"
                )


def _names(requirements: list[str]) -> set[str]:
    names = set()
    for requirement in requirements:
        local = _local(requirement)
        if local is not None and (local[0] / "pyproject.toml").is_file():
            names.add(tomllib.loads((local[0] / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"])
    return names
