"""The public API is declared in one place (`assay.__all__`, listed by `help(assay)`), and everything a
bundled plugin imports from the host comes from there."""

from __future__ import annotations

import ast
import inspect
import pydoc
from pathlib import Path

import assay

ROOT = Path(__file__).resolve().parent.parent


def test_every_public_name_exists_and_help_lists_it() -> None:
    text = pydoc.render_doc(assay, renderer=pydoc.plaintext)
    for name in assay.__all__:
        assert hasattr(assay, name), name
        assert name in text or (name == "__version__" and f"VERSION\n    {assay.__version__}" in text), name


def test_verify_has_the_runs_typed_parameters() -> None:
    parameters = inspect.signature(assay.verify).parameters
    assert list(parameters)[:3] == ["tasks", "samples", "verifier"]
    assert {"config", "jobs", "out", "store", "max_bad_lines"} <= set(parameters)
    assert all(p.kind is not p.VAR_KEYWORD for p in parameters.values())
    assert inspect.signature(assay.verify).return_annotation == "VerifyRun"


def test_bundled_plugins_import_the_host_only_through_its_public_api_or_documented_modules() -> None:
    """A plugin may import `assay` (the public API), `assay.testing` (the test kit) and the documented
    integration points below; nothing else of the host's insides."""
    documented = ("assay.testing", "assay.plugins", "assay.cli")
    offenders = []
    for path in sorted(ROOT.glob("plugins/*/assay_*/**/*.py")) + sorted(ROOT.glob("examples/*/assay_*/**/*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "assay"):
                continue
            module = node.module
            if module != "assay" and not any(module == d or module.startswith(d + ".") for d in documented):
                offenders.append(f"{path.relative_to(ROOT)}: from {module} import ...")
    assert offenders == []
