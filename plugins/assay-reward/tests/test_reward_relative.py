"""The `relative` recipe: features of a sample against the other samples of its problem."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from assay_reward.head import RELATIVE_NAMES, RewardHead, make_features, relative_features
from assay_reward.metrics import auroc


def unit_rows(rng: np.random.Generator, n: int, d: int = 16) -> np.ndarray:
    rows = rng.normal(size=(n, d))
    out: np.ndarray = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return out


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), sizes=st.lists(st.integers(1, 12), min_size=1, max_size=5))
def test_relative_features_follow_their_samples_whatever_the_order(seed: int, sizes: list[int]) -> None:
    rng = np.random.default_rng(seed)
    embeddings = unit_rows(rng, sum(sizes))
    # Duplicates, so that clusters and ties occur.
    embeddings[rng.integers(0, len(embeddings), len(embeddings) // 3)] = embeddings[0]
    groups = [f"p{g}" for g, size in enumerate(sizes) for _ in range(size)]
    features = relative_features(embeddings, groups)
    permutation = rng.permutation(len(groups))
    shuffled = relative_features(embeddings[permutation], [groups[i] for i in permutation])
    np.testing.assert_allclose(shuffled, features[permutation], atol=1e-9)
    # A problem's features depend on its own samples only.
    first = [i for i, g in enumerate(groups) if g == "p0"]
    np.testing.assert_allclose(relative_features(embeddings[first], None), features[first], atol=1e-9)
    assert features.shape == (len(groups), len(RELATIVE_NAMES))
    assert ((features[:, 2] >= 0) & (features[:, 2] <= 1) & (features[:, 3] >= 0) & (features[:, 3] <= 1)).all()


def test_a_lone_sample_gets_zeros_and_a_cluster_is_counted() -> None:
    assert (relative_features(np.eye(3)[:1], None) == 0).all()
    same = np.tile(np.eye(4)[:1], (3, 1))
    embeddings = np.vstack([same, np.eye(4)[1:2]])
    features = relative_features(embeddings, None)
    np.testing.assert_allclose(features[:3, 2], 2 / 3)  # two of the three others are the same
    assert features[3, 2] == 0.0 and features[3, 3] == 0.0
    np.testing.assert_allclose(features[:3, 3], 2 / 3)  # tied: the mean of ranks 1, 2, 3 out of 3


def test_a_head_on_relative_features_ranks_the_consensus_first() -> None:
    """Problems whose right samples agree with each other and wrong ones scatter: the sample alone does
    not show which is which (same distribution), its agreement with the others does."""
    rng = np.random.default_rng(0)
    prompts, responses, labels, groups = [], [], [], []
    for problem in range(120):
        right_direction = unit_rows(rng, 1, 384)[0]
        for index in range(20):
            right = index < 8
            vector = right_direction + 0.3 * rng.normal(size=384) / np.sqrt(384) if right else unit_rows(rng, 1, 384)[0]
            responses.append(vector / np.linalg.norm(vector))
            prompts.append(unit_rows(rng, 1, 384)[0])
            labels.append(right)
            groups.append(f"p{problem}")
    p, r, y = np.array(prompts), np.array(responses), np.array(labels)
    texts = ["x"] * len(y)
    train = np.array([int(g[1:]) < 80 for g in groups])
    results = {}
    for recipe in ("interaction", "relative"):
        features = make_features(recipe, p, r, texts, groups)  # type: ignore[arg-type]
        head = RewardHead.fit(features[train], y[train], recipe=recipe, l2=10.0, encoder="onnx-int8")  # type: ignore[arg-type]
        scores = head.probabilities(features[~train])
        held_groups = np.array(groups)[~train]
        within = [auroc(scores[held_groups == g], y[~train][held_groups == g]) for g in np.unique(held_groups)]
        results[recipe] = float(np.mean([a for a in within if a is not None]))
    assert results["relative"] > 0.95 > 0.7 > results["interaction"]


def test_train_and_score_with_the_relative_recipe(slice_paths, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from assay.cli import main

    tasks, samples = slice_paths
    out = tmp_path / "relative.npz"
    argv = ["reward", "train", str(tasks), str(samples), "-o", str(out), "--recipe", "relative"]
    assert main([*argv, "--test-fraction", "0.3", "--seed", "1", "--threads", "1", "--l2", "10"]) == 0
    assert RewardHead.load(out).recipe == "relative"
    verdicts = tmp_path / "verdicts.jsonl"
    status = main(["verify", str(tasks), str(samples), "-v", "reward", "--set", f"model={out}", "--set", "threads=1",
                   "-o", str(verdicts), "--jobs", "0", "--store", str(tmp_path / "s.sqlite"), "-q"])
    assert status == 0
    rows = [json.loads(line) for line in verdicts.read_text().splitlines()]
    assert len(rows) == 103 and all(0.0 < r["score"] < 1.0 for r in rows)
