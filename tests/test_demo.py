"""The bundled data, the figures it must reproduce, and the demo itself.

The bundled sets (examples/data) are tested always; the full sets in the shared data, when present.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from math import comb
from pathlib import Path
from types import ModuleType

import pytest

from assay.audit import audit_files
from assay.jsonl import read_models
from assay.models import Sample, Task

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data"
SETS = {
    "svamp-pot-codex": ["samples.jsonl.gz"],
    "game24-gpt4": ["samples-io.jsonl.gz", "samples-cot.jsonl.gz"],
    "humaneval-codegen16b": ["samples.jsonl.gz"],
}


def converter() -> ModuleType:
    spec = importlib.util.spec_from_file_location("assay_examples_convert", DATA / "convert.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def percent(report_value: float) -> float:
    return round(100 * report_value, 1)


@pytest.mark.parametrize("name", sorted(SETS))
def test_bundled_sets_are_assay_files_with_licence_and_source(name: str) -> None:
    folder = DATA / name
    assert list(folder.glob("LICENSE*")), f"{name}: the upstream licence must travel with the data"
    source = (folder / "SOURCE.md").read_text()
    assert "Attribution" in source and "convert.py" in source
    tasks = [t for _, t in read_models(folder / "tasks.jsonl.gz", Task)]
    assert tasks and all(isinstance(t, Task) for t in tasks)
    ids = {t.id for t in tasks if isinstance(t, Task)}
    for samples_file in SETS[name]:
        samples = [s for _, s in read_models(folder / samples_file, Sample)]
        assert all(isinstance(s, Sample) and s.task_id in ids and s.label is not None for s in samples)


def test_svamp_coverage_and_majority_vote_at_30() -> None:
    """The source's own figures: coverage 97.9 %, majority vote 88.1 % at k = 30."""
    svamp = DATA / "svamp-pot-codex"
    report = audit_files(svamp / "tasks.jsonl.gz", svamp / "samples.jsonl.gz", ks=[1, 30], bootstrap=100)
    assert (report.json["problems"], report.json["samples"]) == (999, 29_970)
    assert percent(report.at("coverage", 1)) == 79.8
    assert percent(report.at("coverage", 30)) == 97.9
    assert percent(report.at("majority", 30)) == 88.1


@pytest.mark.parametrize(("prompt", "expected"), [("io", 33.0), ("cot", 49.0)])
def test_game24_coverage_at_100(prompt: str, expected: float) -> None:
    game24 = DATA / "game24-gpt4"
    report = audit_files(game24 / "tasks.jsonl.gz", game24 / f"samples-{prompt}.jsonl.gz", ks=[100], bootstrap=100)
    assert percent(report.at("coverage", 100)) == expected


def unbiased_pass_at_k(samples: Path, k: int) -> float:
    counts: dict[str, list[int]] = {}
    for _, sample in read_models(samples, Sample):
        assert isinstance(sample, Sample)
        cell = counts.setdefault(sample.task_id, [0, 0])
        cell[0] += 1
        cell[1] += bool(sample.label)
    return sum(1 - comb(n - c, k) / comb(n, k) for n, c in counts.values()) / len(counts)


def test_humaneval_slice_pass_at_k() -> None:
    """The slice's figures in its SOURCE.md, and Chen et al.'s estimator computed here with integers."""
    humaneval = DATA / "humaneval-codegen16b"
    report = audit_files(humaneval / "tasks.jsonl.gz", humaneval / "samples.jsonl.gz", ks=[1, 10, 100], bootstrap=100)
    for k, figure in ((1, 41.3), (10, 70.0), (100, 85.0)):
        assert report.at("coverage", k) == pytest.approx(
            unbiased_pass_at_k(humaneval / "samples.jsonl.gz", k), abs=1e-6
        )
        assert percent(report.at("coverage", k)) == figure
        assert f"pass@{k} {figure} %" in (humaneval / "SOURCE.md").read_text()


# -- the full sets, from the shared data -------------------------------------------------------------------------


def test_bundled_sets_are_what_the_converter_makes(shared_data: Path, tmp_path: Path) -> None:
    convert = converter()
    convert.main([str(shared_data), str(tmp_path)])
    for name, files in SETS.items():
        for file in ["tasks.jsonl.gz", *files]:
            assert (tmp_path / name / file).read_bytes() == (DATA / name / file).read_bytes(), f"{name}/{file}"


def test_humaneval_pass_at_10_and_100_on_all_164_problems(shared_data: Path, tmp_path: Path) -> None:
    paths = converter().humaneval(shared_data / "humaneval-codegen16b", tmp_path)
    report = audit_files(paths["tasks"], paths["samples"], ks=[10, 100], bootstrap=100)
    assert report.json["problems"] == 164
    assert percent(report.at("coverage", 10)) == 50.4
    assert percent(report.at("coverage", 100)) == 73.8


def test_svamp_and_game24_from_the_shared_data(shared_data: Path, tmp_path: Path) -> None:
    convert = converter()
    svamp = convert.svamp(shared_data / "svamp-pot-codex", tmp_path / "svamp")
    report = audit_files(svamp["tasks"], svamp["samples"], ks=[30], bootstrap=100)
    assert (percent(report.at("coverage", 30)), percent(report.at("majority", 30))) == (97.9, 88.1)
    game24 = convert.game24(shared_data / "game24-gpt4", tmp_path / "game24")
    for prompt, expected in (("io", 33.0), ("cot", 49.0)):
        report = audit_files(game24["tasks"], game24[f"samples-{prompt}"], ks=[100], bootstrap=100)
        assert percent(report.at("coverage", 100)) == expected


# -- the demo ----------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_demo_verifies_audits_and_points_to_the_report(tmp_path: Path) -> None:
    from assay.plugins import get_registry

    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    html = tmp_path / "svamp" / "report.html"
    assert f"Open the reports: {html}" in result.stdout
    assert html.stat().st_size > 10_000
    report = json.loads((tmp_path / "svamp" / "report.json").read_text())
    curves = {c["name"]: c["value"][-1] for c in report["curves"]}
    assert (percent(curves["coverage"]), percent(curves["majority"])) == (97.9, 88.1)
    if "math" in get_registry().verifiers:
        # The math verifier against the data set's labels, and the selections it drives.
        (math,) = report["verifiers"]
        assert math["id"].startswith("math@")
        assert math["precision"]["value"] > 0.99 and math["recall"]["value"] > 0.99
        assert percent(curves[f"verified_majority[{math['id']}]"]) >= 97.0
    assert "chain-of-thought prompt" in result.stdout and "49.0 %" in result.stdout
    humaneval = json.loads((tmp_path / "humaneval" / "report.json").read_text())
    curves = {c["name"]: c["value"] for c in humaneval["curves"]}
    assert percent(curves["coverage"][-1]) == 85.0  # pass@100 on the bundled 40 problems
    if "code" in get_registry().verifiers:
        # The sandboxed unit tests against the data set's labels (made by plain execution of the same tests).
        (code,) = humaneval["verifiers"]
        assert code["id"].startswith("code@")
        assert code["precision"]["value"] > 0.99 and code["recall"]["value"] > 0.99
