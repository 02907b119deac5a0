"""The head: an exact logistic regression, and a model file that loads back or says precisely why not."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay_reward.head import (
    FORMAT_VERSION,
    HeadFileError,
    RewardHead,
    feature_count,
    fit_logistic,
    make_features,
)


def _problem(seed: int, n: int = 400, d: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    truth = rng.normal(size=d)
    y = rng.random(n) < 1.0 / (1.0 + np.exp(-(x @ truth - 0.3)))
    return x, y


@given(seed=st.integers(0, 10_000), l2=st.floats(0.01, 100.0))
@settings(max_examples=40, deadline=None)
def test_fit_reaches_the_optimum(seed: int, l2: float) -> None:
    """At the minimiser of log loss + l2/2 |w|^2 the gradient vanishes (the optimality condition)."""
    x, y = _problem(seed)
    if y.all() or not y.any():
        return
    w, b = fit_logistic(x, y, l2)
    p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
    grad_w = x.T @ (p - y) + l2 * w
    grad_b = float((p - y).sum())
    assert np.abs(grad_w).max() < 1e-5 * len(y)
    assert abs(grad_b) < 1e-4 * len(y)


def test_fit_recovers_a_separating_direction() -> None:
    x, y = _problem(3, n=4000)
    head = RewardHead.fit(x, y, recipe="response", l2=1.0, encoder="onnx-int8")
    probabilities = head.probabilities(x)
    assert probabilities[y].mean() > probabilities[~y].mean() + 0.2
    assert probabilities.min() > 0.0 and probabilities.max() < 1.0


def test_features_have_the_recipe_width() -> None:
    rng = np.random.default_rng(0)
    p, r = rng.normal(size=(3, 384)), rng.normal(size=(3, 384))
    for recipe in ("response", "interaction", "relative"):
        assert make_features(recipe, p, r, ["a", "bb", ""]).shape == (3, feature_count(recipe))
    with pytest.raises(ValueError, match="unknown feature recipe"):
        make_features("nope", p, r, ["a", "b", "c"])  # type: ignore[arg-type]


def _head(recipe: str = "interaction", seed: int = 0) -> RewardHead:
    rng = np.random.default_rng(seed)
    d = feature_count(recipe)  # type: ignore[arg-type]
    return RewardHead(
        weights=rng.normal(size=d).astype(np.float32), bias=0.25,
        mean=rng.normal(size=d).astype(np.float32), scale=rng.uniform(0.5, 2, size=d).astype(np.float32),
        recipe=recipe, threshold=0.4, training={"l2": 3.0},  # type: ignore[arg-type]
    )


@given(seed=st.integers(0, 1000), recipe=st.sampled_from(["response", "interaction", "relative"]))
@settings(max_examples=15, deadline=None)
def test_save_load_round_trip(tmp_path_factory: pytest.TempPathFactory, seed: int, recipe: str) -> None:
    head = _head(recipe, seed)
    path = head.save(tmp_path_factory.mktemp("h") / "head.npz")
    loaded = RewardHead.load(path)
    rng = np.random.default_rng(seed + 1)
    features = rng.normal(size=(5, feature_count(recipe)))  # type: ignore[arg-type]
    np.testing.assert_allclose(loaded.probabilities(features), head.probabilities(features), rtol=1e-6)
    assert (loaded.recipe, loaded.threshold, loaded.training) == (head.recipe, head.threshold, head.training)


def test_saving_keeps_the_given_name(tmp_path: Path) -> None:
    assert _head().save(tmp_path / "model.bin") == tmp_path / "model.bin"
    assert (tmp_path / "model.bin").exists()


def _rewrite(path: Path, **changes: object) -> None:
    """Rewrite a saved head with some meta fields or arrays replaced."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(str(arrays["meta"]))
    for key, value in changes.items():
        if key in arrays and key != "meta":
            arrays[key] = value  # type: ignore[assignment]
        else:
            meta[key] = value
    arrays["meta"] = np.array(json.dumps(meta))
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"format_version": FORMAT_VERSION + 1}, "format_version': the file is version 2"),
        ({"format_version": "1"}, "format_version': expected a positive integer"),
        ({"format": "something-else"}, "meta.format'"),
        ({"recipe": "bag-of-words"}, "meta.recipe'"),
        ({"embedding_space": "other-model"}, "meta.embedding_space'"),
        ({"threshold": 1.5}, "meta.threshold'"),
        ({"weights": np.zeros(3, dtype=np.float32)}, "array 'weights' has shape (3,)"),
        ({"bias": np.array(np.nan, dtype=np.float32)}, "array 'bias' holds NaN"),
    ],
)
def test_bad_files_are_refused_naming_file_and_field(tmp_path: Path, change: dict[str, object], message: str) -> None:
    path = _head().save(tmp_path / "head.npz")
    _rewrite(path, **change)
    with pytest.raises(HeadFileError) as caught:
        RewardHead.load(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_files_that_are_not_heads(tmp_path: Path) -> None:
    with pytest.raises(HeadFileError, match="no such model file"):
        RewardHead.load(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(HeadFileError, match="not an assay-reward model file"):
        RewardHead.load(junk)
    other = tmp_path / "other.npz"
    with zipfile.ZipFile(other, "w"):
        pass
    with pytest.raises(HeadFileError, match="missing array 'meta'"):
        RewardHead.load(other)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, meta=np.array([{"format": "assay-reward-head"}], dtype=object))
    with pytest.raises(HeadFileError):  # object arrays would need pickle: refused, never executed
        RewardHead.load(pickled)
