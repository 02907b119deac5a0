"""The two MiniLM paths: same space, batch-independent embeddings, and the cache in front of them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from assay_reward.encoders import EMBEDDING_DIM, EmbeddingCache, _length_batches, text_key


class CountingEncoder:
    """A real encoder that records what it was asked to encode."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner
        self.name = inner.name
        self.calls: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return self.inner.encode(texts)


def test_embeddings_are_unit_rows_in_order(onnx_encoder, slice_samples) -> None:  # type: ignore[no-untyped-def]
    texts = [s.text for s in slice_samples[:12]]
    vectors = onnx_encoder.encode(texts)
    assert vectors.shape == (12, EMBEDDING_DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # order kept although the encoder sorts by length inside
    one_by_one = np.stack([onnx_encoder.encode([t])[0] for t in texts])
    np.testing.assert_allclose(vectors, one_by_one, atol=1e-5)


def test_an_embedding_does_not_depend_on_its_batch(onnx_encoder, slice_samples) -> None:  # type: ignore[no-untyped-def]
    """The int8 model quantises activations dynamically; a text's embedding must still not change with the
    other texts of its batch (else a verdict would depend on its neighbours and the cache would lie)."""
    target = slice_samples[0].text
    alone = onnx_encoder.encode([target])[0]
    short = onnx_encoder.encode(["x", target, "def f(): pass"])[1]
    long = onnx_encoder.encode([s.text for s in slice_samples[1:20]] + [target])[-1]
    np.testing.assert_allclose(alone, short, atol=1e-5)
    np.testing.assert_allclose(alone, long, atol=1e-5)


def test_fp32_and_int8_paths_agree(onnx_encoder, slice_samples, slice_tasks) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("sentence_transformers")
    from assay_reward.encoders import SentenceTransformersMiniLM

    fp32 = SentenceTransformersMiniLM(threads=1)
    texts = [s.text for s in slice_samples[::3]] + [t.prompt for t in slice_tasks.values()]
    cosine = (fp32.encode(texts) * onnx_encoder.encode(texts)).sum(axis=1)
    assert cosine.min() > 0.99, cosine.min()
    assert cosine.mean() > 0.998, cosine.mean()


def test_cache_encodes_each_distinct_text_once(onnx_encoder) -> None:  # type: ignore[no-untyped-def]
    counting = CountingEncoder(onnx_encoder)
    cache = EmbeddingCache(counting)
    first = cache.embed(["a prompt", "x = 1", "x = 1", "y = 2"])
    assert counting.calls == [["a prompt", "x = 1", "y = 2"]]
    np.testing.assert_array_equal(first[1], first[2])
    second = cache.embed(["y = 2", "a prompt", "z = 3"])
    assert counting.calls[-1] == ["z = 3"]
    np.testing.assert_array_equal(second[0], first[3])
    np.testing.assert_array_equal(second[1], first[0])
    assert (cache.hits, cache.misses) == (3, 4)


def test_cache_evicts_least_recently_used(onnx_encoder) -> None:  # type: ignore[no-untyped-def]
    counting = CountingEncoder(onnx_encoder)
    cache = EmbeddingCache(counting, max_entries=2)
    cache.embed(["a", "b"])
    cache.embed(["a"])  # a is now more recent than b
    cache.embed(["c"])  # evicts b
    assert len(cache) == 2
    cache.embed(["a", "b"])
    assert counting.calls[-1] == ["b"]


def test_cache_keys_tell_texts_apart() -> None:
    assert text_key("a") != text_key("a ")
    assert text_key("\ud800") != text_key("")  # lone surrogates hash without raising
    assert len(text_key("x" * 10_000)) == 16


@pytest.mark.parametrize(
    "lengths, budget",
    [([5, 300, 7, 12, 256, 1], 512), ([256] * 9, 2048), ([1], 256), ([], 256), ([3, 3, 3], 4)],
)
def test_length_batches_cover_every_text_within_budget(lengths: list[int], budget: int) -> None:
    batches = _length_batches(lengths, budget)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        padded = max(lengths[i] for i in batch) * len(batch)
        assert padded <= budget or len(batch) == 1
