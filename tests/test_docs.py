"""Docs that cannot drift: every hook is in the README with its exact signature and its one-line summary."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from assay import hookspecs

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
HOOKS = [
    (name, function)
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
    if hasattr(function, "assay_spec")
]


def test_there_are_hooks() -> None:
    assert {name for name, _ in HOOKS} >= {"register_verifiers", "register_sandboxes", "register_selectors"}


@pytest.mark.parametrize(("name", "function"), HOOKS, ids=[name for name, _ in HOOKS])
def test_hook_is_documented_with_its_signature(name: str, function: object) -> None:
    parameters = ", ".join(inspect.signature(function).parameters)  # type: ignore[arg-type]
    summary = (inspect.getdoc(function) or "").splitlines()[0]
    assert f"`{name}({parameters})`: {summary[0].lower()}{summary[1:]}" in README


@pytest.mark.parametrize(("name", "function"), HOOKS, ids=[name for name, _ in HOOKS])
def test_hook_says_when_it_was_added(name: str, function: object) -> None:
    assert ".. versionadded::" in (inspect.getdoc(function) or "")
