"""The README's install line works on a fresh machine: the host and one plugin, built as wheels, installed
into a new virtualenv (their dependencies from the package index), then `assay plugins` and one verify."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SVAMP = ROOT / "examples" / "data" / "svamp-pot-codex"
#: What a wheel of the host and of the math plugin is built from; a copy, so the tree gets no build/ folders.
SOURCES = {".": ["pyproject.toml", "README.md", "LICENSE", "core"], "plugins/assay-math": None}


def _run(command: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def _copy_sources(into: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "build", "*.egg-info", ".pytest_cache", ".mypy_cache")
    for folder, names in SOURCES.items():
        source, target = ROOT / folder, into / folder
        if names is None:
            shutil.copytree(source, target, ignore=ignore)
            continue
        target.mkdir(parents=True, exist_ok=True)
        for name in names:
            if (source / name).is_dir():
                shutil.copytree(source / name, target / name, ignore=ignore)
            else:
                shutil.copy2(source / name, target / name)


def _clean_env() -> dict[str, str]:
    """The environment of a new shell: nothing of this checkout on the path, no plugin selection."""
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "ASSAY_PLUGINS", "ASSAY_DISABLE_PLUGINS", "ASSAY_STRICT_PLUGINS")
    env = {key: value for key, value in os.environ.items() if key not in drop}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.mark.slow
def test_host_and_one_plugin_install_into_a_fresh_venv(tmp_path: Path) -> None:
    env = _clean_env()
    source, wheels, venv = tmp_path / "src", tmp_path / "wheels", tmp_path / "venv"
    _copy_sources(source)
    before = sorted(p for p in ROOT.rglob("build") if ".venv" not in p.parts)
    _run([sys.executable, "-m", "venv", str(venv)], env)
    pip, assay = str(venv / "bin" / "pip"), str(venv / "bin" / "assay")
    probe = subprocess.run(
        [pip, "download", "--no-deps", "--dest", str(tmp_path / "probe"), "pluggy"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    if probe.returncode != 0:
        pytest.skip(f"no package index reachable for the dependencies: {probe.stderr.strip()[-300:]}")
    # Building needs only setuptools, here the running interpreter's (no index, no isolation).
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
          str(source), str(source / "plugins" / "assay-math")], env)  # fmt: skip
    built = sorted(wheels.glob("*.whl"))
    assert [w.name.split("-")[0] for w in built] == ["assay", "assay_math"]
    # The wheels themselves stand for `assay` and `assay-math` (the index's `assay` is another project).
    _run([pip, "install", "-q", *map(str, built)], env, timeout=600)

    listed = json.loads(_run([assay, "plugins", "--json"], env).stdout)
    math_plugin = next(p for p in listed if p["name"] == "math")
    assert math_plugin["status"] == "ok" and "math" in math_plugin["verifiers"]

    tasks, samples = tmp_path / "tasks.jsonl", tmp_path / "samples.jsonl"
    with gzip.open(SVAMP / "tasks.jsonl.gz", "rt") as handle:
        task_lines = [next(handle) for _ in range(3)]
    ids = {json.loads(line)["id"] for line in task_lines}
    with gzip.open(SVAMP / "samples.jsonl.gz", "rt") as handle:
        sample_lines = [line for line in handle if json.loads(line)["task_id"] in ids]
    tasks.write_text("".join(task_lines))
    samples.write_text("".join(sample_lines))
    out = tmp_path / "verdicts.jsonl"
    _run([assay, "verify", str(tasks), str(samples), "--verifier", "math", "-o", str(out), "--jobs", "1",
          "--store", str(tmp_path / "store.sqlite")], env)  # fmt: skip
    verdicts = [json.loads(line) for line in out.read_text().splitlines()]
    rows = [json.loads(line) for line in sample_lines]
    labels = {(row["task_id"], row["index"]): row["label"] for row in rows}
    agree = sum(v["passed"] is labels[(v["task_id"], v["sample_index"])] for v in verdicts)
    assert len(verdicts) == len(sample_lines) and agree >= len(verdicts) - 1

    # A plugin install stays small: the audit's plots (matplotlib) come with the `audit` extra only, and the
    # audit says so before it starts; its JSON and Markdown need nothing more.
    python = str(venv / "bin" / "python")
    assert subprocess.run([python, "-c", "import matplotlib"], capture_output=True, env=env).returncode != 0
    audit = [assay, "audit", str(tasks), str(samples), "--verdicts", str(out), "-o", str(tmp_path / "report")]
    refused = subprocess.run(audit, capture_output=True, text=True, env=env, timeout=300)
    assert refused.returncode == 2 and "pip install 'assay[audit]'" in refused.stderr, refused.stderr
    assert not (tmp_path / "report").exists()
    _run([*audit, "--no-html", "--quiet"], env)
    assert json.loads((tmp_path / "report" / "report.json").read_text())["verifiers"]
    after = sorted(p for p in ROOT.rglob("build") if ".venv" not in p.parts)
    assert after == before, "building the wheels wrote build/ folders into the source tree"
