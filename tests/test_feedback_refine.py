"""The audit's comparison of k parallel samples with k/2 samples refined once (metadata.parent_index)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from assay.audit.refine import RefineInputError, compare_refinement
from assay.jsonl import write_jsonl


def _samples(problems: int, draws: int, *, right_draw: int, right_refinement: bool) -> list[dict[str, Any]]:
    """Per problem: `draws` parallel draws (draw `right_draw` right, the others wrong), then one refinement of
    each draw, right when `right_refinement`."""
    rows = []
    for p in range(problems):
        for i in range(draws):
            rows.append({"task_id": f"p{p}", "index": i, "text": f"d{i}", "label": i == right_draw})
        for i in range(draws):
            meta = {"parent_index": i}
            rows.append({"task_id": f"p{p}", "index": draws + i, "text": f"r{i}", "label": right_refinement,
                         "metadata": meta})  # fmt: skip
    return rows


def test_refinement_that_always_fixes_beats_parallel_draws(tmp_path: Path) -> None:
    samples = write_jsonl(tmp_path / "s.jsonl", _samples(5, 4, right_draw=-1, right_refinement=True))
    result = compare_refinement(samples, bootstrap=50)
    assert [row["k"] for row in result["rows"]] == [2, 4]
    for row in result["rows"]:
        assert row["parallel"]["value"] == 0.0 and row["refined"]["value"] == 1.0
        assert row["difference"]["value"] == 1.0
    assert result["refined_samples"] == 20 and result["unrefined_failures"] == 0


def test_useless_refinement_is_worse_at_equal_budget(tmp_path: Path) -> None:
    # One of four draws is right; refinements never are. Parallel pass@2 = 1/2, refined pass@1 = 1/4.
    samples = write_jsonl(tmp_path / "s.jsonl", _samples(3, 4, right_draw=0, right_refinement=False))
    row = compare_refinement(samples, ks=[2], bootstrap=50)["rows"][0]
    assert row["parallel"]["value"] == pytest.approx(0.5)
    assert row["refined"]["value"] == pytest.approx(0.25)
    assert row["difference"]["ci_high"] <= 0


def test_verdicts_decide_when_samples_have_no_labels(tmp_path: Path) -> None:
    rows = _samples(2, 2, right_draw=-1, right_refinement=True)
    verdicts = [{"task_id": r["task_id"], "sample_index": r["index"], "verifier": "v@1",
                 "status": "pass" if r["label"] else "fail", "passed": r["label"]} for r in rows]  # fmt: skip
    for row in rows:
        del row["label"]
    samples = write_jsonl(tmp_path / "s.jsonl", rows)
    result = compare_refinement(samples, [write_jsonl(tmp_path / "v.jsonl", verdicts)], bootstrap=20)
    assert result["source"] == "verdicts (v@1)" and result["rows"][0]["refined"]["value"] == 1.0


def test_no_refinements_is_a_clear_error(tmp_path: Path) -> None:
    rows = [{"task_id": "p", "index": i, "text": "x", "label": True} for i in range(4)]
    rows.append({"task_id": "p", "index": 9, "text": "y", "label": True, "metadata": {"parent_index": 42}})
    with pytest.raises(RefineInputError, match=r"metadata.parent_index \(1 links pointed nowhere\)"):
        compare_refinement(write_jsonl(tmp_path / "s.jsonl", rows))


def test_audit_refine_writes_refine_json(tmp_path: Path) -> None:
    samples = write_jsonl(tmp_path / "s.jsonl", _samples(3, 2, right_draw=-1, right_refinement=True))
    tasks = write_jsonl(tmp_path / "t.jsonl", [{"id": f"p{p}"} for p in range(3)])
    cli = [sys.executable, "-m", "assay", "audit", str(tasks), str(samples), "--refine", "-o", str(tmp_path / "r"),
           "--bootstrap", "20"]  # fmt: skip
    run = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "| 2 | 0.0% [0.0%, 0.0%] | 100.0% [100.0%, 100.0%]" in run.stdout
    assert orjson.loads((tmp_path / "r" / "refine.json").read_bytes())["problems"] == 3
