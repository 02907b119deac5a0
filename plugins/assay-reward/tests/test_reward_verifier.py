"""The `reward` verifier with its default backend (the shipped head on the int8 MiniLM): the conformance
suite, batching through the engine, thresholds, and the model file it loads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import assay
from assay import Sample, Task
from assay.testing import VerifierConformance
from assay_reward import RewardVerifier
from assay_reward.config import default_head_path
from assay_reward.head import RewardHead
from assay_reward.metrics import auroc


@pytest.fixture(scope="module")
def shared_verifier() -> RewardVerifier:
    return RewardVerifier({"threads": 1})


class TestRewardConformance(VerifierConformance):
    # A learned scorer judges the sample against the prompt: whatever the reference, the verdict is the same.
    reference_free = True

    @pytest.fixture
    def verifier(self, shared_verifier: RewardVerifier) -> RewardVerifier:
        return shared_verifier

    @pytest.fixture
    def cases(self, slice_tasks: dict[str, Task], slice_samples: list[Sample]) -> list[tuple[Task, Sample]]:
        return [(slice_tasks[s.task_id], s) for s in slice_samples[::4]]


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_score_is_a_probability_and_passed_follows_the_threshold(slice_tasks, slice_samples) -> None:  # type: ignore[no-untyped-def]
    loose = RewardVerifier({"threshold": 0.0, "threads": 1})
    strict = RewardVerifier({"threshold": 1.0, "threads": 1})
    task = slice_tasks[slice_samples[0].task_id]
    for sample in slice_samples[:10]:
        if sample.task_id != task.id:
            continue
        a, b = loose.verify(task, sample), strict.verify(task, sample)
        assert a.score is not None and 0.0 < a.score < 1.0
        assert a.score == b.score
        assert a.status == "pass" and a.passed is True
        assert b.status == "fail" and b.reason == "low_score"
        assert a.details["threshold"] == 0.0


def test_the_shipped_head_separates_right_from_wrong(shared_verifier, slice_tasks, slice_samples) -> None:  # type: ignore[no-untyped-def]
    """A sanity floor on the vendored slice (some of its problems were in the head's training split; the
    held-out figures are in the README): the default head ranks correct samples above wrong ones."""
    scores, labels = [], []
    for task_id in dict.fromkeys(s.task_id for s in slice_samples):
        group = [s for s in slice_samples if s.task_id == task_id]
        for sample, verdict in zip(group, shared_verifier.verify_batch(slice_tasks[task_id], group), strict=True):
            scores.append(verdict.score)
            labels.append(sample.label)
    value = auroc(np.array(scores), np.array(labels))
    assert value is not None and value > 0.6, value


def test_engine_hands_whole_batches_to_the_model(slice_paths, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Through `assay.verify` in this process: the encoder is called once per unit of one task, never once
    per sample, and the verdicts equal those of one-at-a-time verification."""
    calls: list[int] = []

    class Counting(RewardVerifier):
        def __init__(self, config: Any = None) -> None:
            super().__init__(config)
            encoder = self.backend.cache.encoder  # type: ignore[attr-defined]
            original = encoder.encode

            def encode(texts: Any) -> Any:
                calls.append(len(texts))
                return original(texts)

            encoder.encode = encode

    tasks, samples = slice_paths
    verdicts = list(assay.verify(tasks, samples, Counting, config={"threads": 1}, jobs=0,
                                 store=tmp_path / "store.sqlite", progress=False))
    n_samples = len(_lines(samples))
    n_tasks = len(_lines(tasks))
    assert len(verdicts) == n_samples
    assert len(calls) <= n_tasks  # one encoder call per unit (prompt and samples together)
    assert sum(calls) <= n_samples + n_tasks
    single = RewardVerifier({"threads": 1})
    by_id = {t["id"]: Task.model_validate(t) for t in _lines(tasks)}
    for line, verdict in zip(_lines(samples), verdicts, strict=True):
        alone = single.verify(by_id[line["task_id"]], Sample.model_validate(line))
        assert verdict.score == pytest.approx(alone.score, abs=1e-6)
        assert verdict.status == alone.status


def test_engine_worker_processes_give_the_same_verdicts(slice_paths, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tasks, samples = slice_paths
    inline = [v.score for v in assay.verify(tasks, samples, "reward", config={"threads": 1}, jobs=0,
                                            store=tmp_path / "a.sqlite", progress=False)]
    pooled = [v.score for v in assay.verify(tasks, samples, "reward", config={"threads": 1}, jobs=2,
                                            store=tmp_path / "b.sqlite", progress=False)]
    assert pooled == pytest.approx(inline, abs=1e-6)


def test_a_bad_sample_in_a_batch_costs_only_itself(shared_verifier, slice_tasks, slice_samples) -> None:  # type: ignore[no-untyped-def]
    task = slice_tasks[slice_samples[0].task_id]
    good = [s for s in slice_samples if s.task_id == task.id][:3]
    verdicts = shared_verifier.verify_batch(task, [*good, good[0].model_copy(update={"text": "\ud800", "index": 99})])
    assert [v.status in ("pass", "fail") for v in verdicts[:3]] == [True, True, True]
    assert verdicts[3].sample_index == 99 and verdicts[3].status in ("pass", "fail", "error")


def test_misuse_of_verify_batch_raises(shared_verifier, slice_tasks, slice_samples) -> None:  # type: ignore[no-untyped-def]
    task = slice_tasks[slice_samples[0].task_id]
    with pytest.raises(TypeError):
        shared_verifier.verify_batch(task, [slice_samples[0].model_dump()])  # type: ignore[list-item]
    assert shared_verifier.verify_batch(task, []) == []


def test_model_setting_loads_another_head_and_changes_the_cache_key(tmp_path: Path) -> None:
    head = RewardHead.load(default_head_path())
    shipped_threshold = head.threshold
    head.threshold = 0.9
    head.bias -= 5.0
    path = head.save(tmp_path / "other.npz")
    mine = RewardVerifier({"model": str(path), "threads": 1})
    default = RewardVerifier({"threads": 1})
    assert (mine.threshold, default.threshold) == (0.9, shipped_threshold)
    assert mine.config.model_digest != default.config.model_digest
    task = Task(id="t", prompt="def add(a, b):\n")
    sample = Sample(task_id="t", index=0, text="    return a + b\n")
    assert mine.verify(task, sample).score < default.verify(task, sample).score  # type: ignore[operator]


def test_unreadable_model_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read head file"):
        RewardVerifier({"model": str(tmp_path / "nope.npz")})
    with pytest.raises(ValueError):
        RewardVerifier({"threshold": 0.5, "bogus": 1})


def test_plugin_registers_verifier_and_command() -> None:
    from assay.plugins import get_registry

    registry = get_registry()
    assert registry.verifier_class("reward") is RewardVerifier
    assert "reward" in registry.commands
    info = next(p for p in registry.plugins if p.name == "reward")
    assert info.status == "ok" and info.verifiers["reward"]["kind"] == "learned"


def test_importing_the_plugin_stays_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, assay_reward, assay_reward.cli;"
        "heavy = [m for m in ('onnxruntime', 'tokenizers', 'torch', 'transformers', 'numpy') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert "onnxruntime" not in out and "torch" not in out and "tokenizers" not in out, out
