"""Fixtures for the assay-reward tests: the real test slice, and real encoders built once per session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay import Sample, Task

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def slice_paths() -> tuple[Path, Path]:
    """(tasks.jsonl, samples.jsonl) of the vendored slice (12 problems, 103 labelled samples)."""
    return DATA / "tasks.jsonl", DATA / "samples.jsonl"


@pytest.fixture(scope="session")
def slice_tasks() -> dict[str, Task]:
    return {t["id"]: Task.model_validate(t) for t in map(json.loads, open(DATA / "tasks.jsonl"))}


@pytest.fixture(scope="session")
def slice_samples() -> list[Sample]:
    return [Sample.model_validate(s) for s in map(json.loads, open(DATA / "samples.jsonl"))]


@pytest.fixture(scope="session")
def onnx_encoder():  # type: ignore[no-untyped-def]
    from assay_reward.encoders import OnnxMiniLM

    return OnnxMiniLM(threads=1)
