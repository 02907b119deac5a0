"""The host's conformance suite, run on real cases from the vendored slice of the math-equality corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay import Sample, Task
from assay.testing import VerifierConformance
from assay_math import MathVerifier

SLICE = Path(__file__).parent / "data" / "math-equality-slice.jsonl"


def slice_cases() -> list[dict[str, object]]:
    return [json.loads(line) for line in SLICE.read_text(encoding="utf-8").splitlines() if line.strip()]


class TestMathConformance(VerifierConformance):
    @pytest.fixture
    def verifier(self) -> MathVerifier:
        return MathVerifier({"time_limit_s": 5})

    @pytest.fixture
    def cases(self) -> list[tuple[Task, Sample]]:
        out = []
        for index, case in enumerate(slice_cases()[:24]):
            task = Task(id=str(case["id"]), reference={"answer": case["gold"]})
            out.append((task, Sample(task_id=task.id, index=index, text=str(case["prediction"]))))
        return out
