"""The conformance suite, run against the example plugin (as every verifier plugin runs it)."""

from __future__ import annotations

import pytest

from assay import Sample, Task
from assay.testing import Case, VerifierConformance
from assay.testing.echo import EchoVerifier


class TestEchoConformance(VerifierConformance):
    @pytest.fixture
    def verifier(self) -> EchoVerifier:
        return EchoVerifier({"time_limit_s": 2, "casefold": True})

    @pytest.fixture
    def cases(self) -> list[Case]:
        task = Task(id="capital", prompt="Capital of France?", reference={"answer": "Paris"})
        return [
            (task, Sample(task_id="capital", index=0, text="Paris")),
            (task, Sample(task_id="capital", index=1, text=" paris\n")),
            (task, Sample(task_id="capital", index=2, text="Lyon")),
        ]
