"""The example plugin's tests: the conformance suite on hand-picked cases and on the bundled SVAMP data, and
the verifier's own behaviour. From the checkout's root: `pip install ./ './examples/plugin-numeric[test]'`,
then `pytest examples/plugin-numeric`."""

from __future__ import annotations

from pathlib import Path

import pytest
from assay_numeric import NumericVerifier, canonical, last_number
from hypothesis import given
from hypothesis import strategies as st

from assay import Sample, Task
from assay.testing import Case, VerifierConformance

SVAMP = Path(__file__).resolve().parents[3] / "examples" / "data" / "svamp-pot-codex"
TASK = Task(id="chal-1", prompt="76 dollars less a 25 dollar discount?", reference={"answer": 51.0})


class TestNumericConformance(VerifierConformance):
    @pytest.fixture
    def verifier(self) -> NumericVerifier:
        return NumericVerifier({"time_limit_s": 5})

    @pytest.fixture
    def cases(self) -> list[Case]:
        texts = [("51.0", True), ("The answer is 51.", True), ("50", False), ("", False)]
        return [(TASK, Sample(task_id=TASK.id, index=i, text=t, label=label)) for i, (t, label) in enumerate(texts)]

    @pytest.fixture
    def sample_data(self) -> tuple[Path, Path] | None:
        """Real samples with their labels: the suite checks that the verdicts agree with them."""
        if not SVAMP.is_dir():
            return None
        return SVAMP / "tasks.jsonl.gz", SVAMP / "samples.jsonl.gz"


def test_a_bad_reference_is_a_bad_reference_verdict() -> None:
    bad_task = TASK.model_copy(update={"reference": {"answer": "many"}})
    verdict = NumericVerifier().verify(bad_task, Sample(task_id=TASK.id, index=0, text="51"))
    assert verdict.status == "error" and verdict.reason == "bad_reference"
    assert verdict.details["field"] == "reference.answer"


def test_equal_answers_vote_together() -> None:
    verifier = NumericVerifier()
    texts = ("51", "51.0", "= 51.00")
    keys = {verifier.answer_key(TASK, Sample(task_id=TASK.id, index=0, text=text)) for text in texts}
    assert keys == {"51"}


@given(st.floats(allow_nan=False, allow_infinity=False, width=32))
def test_a_written_number_is_read_back(value: float) -> None:
    assert last_number(f"so the total is {value!r} apples") == pytest.approx(value)
    assert last_number(canonical(value)) == pytest.approx(value)
