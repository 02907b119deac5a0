"""`assay reward train` and `assay reward info`, end to end through the real command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assay.cli import main
from assay_reward.head import RewardHead
from assay_reward.train import is_held_out, load_examples


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_train_writes_a_head_that_reward_loads(slice_paths, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    tasks, samples = slice_paths
    out = tmp_path / "head.npz"
    report = tmp_path / "report.json"
    status = main(["reward", "train", str(tasks), str(samples), "-o", str(out), "--test-fraction", "0.3",
                   "--seed", "1", "--report-json", str(report), "--threads", "1", "--l2", "10"])
    assert status == 0
    err = capsys.readouterr().err
    assert "held out" in err and "AUROC" in err and "calibration" in err
    data = json.loads(report.read_text())
    assert data["split"] == {"by": "task_id", "test_fraction": 0.3, "seed": 1}
    assert data["problems"]["train"] + data["problems"]["test"] == 12
    assert data["problems"]["test"] > 0
    assert data["test"]["samples"] + data["train"]["samples"] == 103
    head = RewardHead.load(out)
    assert head.training["problems"] == data["problems"] and head.training["l2"] == 10.0

    assert main(["reward", "info", str(out)]) == 0
    meta = json.loads(capsys.readouterr().out)
    assert meta["format"] == "assay-reward-head" and meta["format_version"] == 1

    verdicts = tmp_path / "verdicts.jsonl"
    status = main(["verify", str(tasks), str(samples), "-v", "reward", "--set", f"model={out}", "--set", "threads=1",
                   "-o", str(verdicts), "--jobs", "0", "--store", str(tmp_path / "s.sqlite"), "-q"])
    assert status == 0
    rows = [json.loads(line) for line in verdicts.read_text().splitlines()]
    assert len(rows) == 103 and all(0.0 < r["score"] < 1.0 for r in rows)


def test_no_problem_is_in_both_splits(slice_paths) -> None:  # type: ignore[no-untyped-def]
    loaded = load_examples([tuple(map(str, slice_paths))])  # type: ignore[list-item]
    held = {e.task_id for e in loaded.examples if is_held_out(e.task_id, 0.5, 3)}
    kept = {e.task_id for e in loaded.examples if not is_held_out(e.task_id, 0.5, 3)}
    assert held and kept and not held & kept


@given(task_id=st.text(min_size=1, max_size=30), seed=st.integers(0, 100), fraction=st.floats(0, 1))
def test_split_is_stable_and_monotone(task_id: str, seed: int, fraction: float) -> None:
    """A problem's side depends on itself alone, and a larger test fraction never takes one out."""
    first = is_held_out(task_id, fraction, seed)
    assert first == is_held_out(task_id, fraction, seed)
    if first:
        assert is_held_out(task_id, min(1.0, fraction + 0.1), seed)


def test_verdicts_relabel_samples(slice_paths, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tasks, samples = slice_paths
    lines = _lines(samples)
    verdicts = tmp_path / "verdicts.jsonl"
    with open(verdicts, "w") as handle:
        for line in lines[:5]:  # flip five labels, leave one undecided
            handle.write(json.dumps({"task_id": line["task_id"], "sample_index": line["index"],
                                     "passed": not line["label"]}) + "\n")
        undecided = {"task_id": lines[5]["task_id"], "sample_index": lines[5]["index"], "passed": None}
        handle.write(json.dumps(undecided) + "\n")
    loaded = load_examples([(str(tasks), str(samples))], [str(verdicts)])
    assert loaded.label_source == "verdicts"
    assert [e.label for e in loaded.examples[:6]] == [not line["label"] for line in lines[:5]] + [lines[5]["label"]]


def test_unlabelled_and_bad_lines_are_reported(slice_paths, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    tasks, samples = slice_paths
    broken = tmp_path / "samples.jsonl"
    lines = Path(samples).read_text().splitlines()
    unlabelled = json.loads(lines[1])
    unlabelled.pop("label")
    bad_index = '{"task_id": "x", "index": -1, "text": ""}'
    unknown = '{"task_id": "nope", "index": 0, "text": "", "label": true}'
    broken.write_text("\n".join([lines[0], json.dumps(unlabelled), "{not json", bad_index, unknown, *lines[2:]]) + "\n")
    status = main(["reward", "train", str(tasks), str(broken), "-o", str(tmp_path / "h.npz"), "--threads", "1",
                   "--test-fraction", "0.3", "--seed", "1"])
    err = capsys.readouterr().err
    assert status == 1  # a head was written, but the input had bad lines
    assert f"{broken}:3: not valid JSON" in err
    assert f"{broken}:4: field 'index'" in err
    assert f"{broken}:5: field 'task_id': no task 'nope'" in err
    assert "1 samples have no label" in err
    assert (tmp_path / "h.npz").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["only-one-file"], "give files in pairs"),
        (["a", "b", "--test-fraction", "1.0"], "--test-fraction"),
        (["a", "b", "--threshold", "2"], "--threshold"),
        (["missing-tasks.jsonl", "missing-samples.jsonl"], "cannot open"),
    ],
)
def test_usage_errors(argv: list[str], message: str, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    status = main(["reward", "train", *argv, "-o", str(tmp_path / "h.npz")])
    assert status == 2
    assert message in capsys.readouterr().err


def test_one_class_cannot_train(slice_paths, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    tasks, samples = slice_paths
    only_right = tmp_path / "right.jsonl"
    only_right.write_text("".join(json.dumps(line) + "\n" for line in _lines(samples) if line["label"]))
    assert main(["reward", "train", str(tasks), str(only_right), "-o", str(tmp_path / "h.npz"), "--threads", "1"]) == 2
    assert "one class" in capsys.readouterr().err


def test_info_refuses_a_bad_file(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.npz"
    bad.write_text("nope")
    assert main(["reward", "info", str(bad)]) == 2
    assert str(bad) in capsys.readouterr().err
