"""The README's plugin example is `examples/plugin-numeric`, verbatim, and it verifies the bundled SVAMP data as
its labels say, through the real entry point, `assay verify` and `assay audit`."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from assay.cli import main
from assay.plugins import get_registry

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "plugin-numeric"
SVAMP = ROOT / "examples" / "data" / "svamp-pot-codex"
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _readme_files() -> dict[str, str]:
    """Each README code block introduced by a line naming a file of the example: that block's text."""
    pattern = re.compile(r"^`(examples/plugin-numeric/[^`]+)`:\n\n```\w*\n(.*?)```$", re.MULTILINE | re.DOTALL)
    return {path: body for path, body in pattern.findall(README)}


def test_the_readme_shows_the_example_files_as_they_are() -> None:
    shown = _readme_files()
    assert set(shown) == {
        "examples/plugin-numeric/pyproject.toml",
        "examples/plugin-numeric/assay_numeric/__init__.py",
        "examples/plugin-numeric/tests/test_numeric.py",
    }
    for path, body in shown.items():
        assert body == (ROOT / path).read_text(encoding="utf-8"), f"README's copy of {path} differs from the file"


@pytest.mark.slow
def test_the_example_verifies_svamp_as_labelled(
    installed_plugins: object, store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not SVAMP.is_dir():
        pytest.skip("no bundled SVAMP data")
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(EXAMPLE), os.environ.get("PYTHONPATH", "")]))
    installed_plugins({"numeric": "assay_numeric"}, dist="assay-numeric")  # type: ignore[operator]
    assert get_registry().verifiers["numeric"].version == "0.1.0"
    tasks, samples = SVAMP / "tasks.jsonl.gz", SVAMP / "samples.jsonl.gz"
    verdicts = tmp_path / "numeric.jsonl"
    assert main(["verify", str(tasks), str(samples), "--verifier", "numeric", "-o", str(verdicts), "-q"]) == 0
    out = tmp_path / "report"
    audit = ["audit", str(tasks), str(samples), "--verdicts", str(verdicts), "-o", str(out), "--no-html", "-q"]
    assert main(audit) == 0
    report = json.loads((out / "report.json").read_text())
    (verifier,) = report["verifiers"]
    confusion = verifier["confusion"]
    assert confusion["tp"] + confusion["tn"] >= 29_960, confusion
    assert confusion["undecided"] == 0
    curves = {curve["name"]: curve for curve in report["curves"]}
    assert curves["verified_majority[numeric@0.1.0]"]["value"][-1] > curves["majority"]["value"][-1] - 0.01
