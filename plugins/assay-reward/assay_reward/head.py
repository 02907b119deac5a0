"""The learned head: a logistic regression over sentence embeddings of the prompt and the sample.

Model file (`.npz`, read with `allow_pickle=False`, so loading one runs no code):

- `meta`: a JSON string, `{"format": "assay-reward-head", "format_version": 1, "recipe": ...,
  "embedding_space": "all-MiniLM-L6-v2/mean/l2", "encoder": "onnx-int8", "max_tokens": 256,
  "threshold": 0.5, "training": {...}}`
- `mean`, `scale`: float32 vectors, the standardisation of the features fitted on the training split.
- `weights`: float32 vector, one weight per feature; `bias`: float32 scalar.

A reader refuses a file whose `format_version` is newer than it knows, naming the file and both versions.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from assay_reward.encoders import EMBEDDING_DIM, EMBEDDING_SPACE, MAX_TOKENS

if TYPE_CHECKING:
    import numpy as np

FORMAT = "assay-reward-head"
FORMAT_VERSION = 1

#: How features are made from the prompt embedding `p`, the sample embedding `r` and the sample text.
#: - `response`: `r` alone.
#: - `interaction`: `r`, `p * r` (which directions of the sample agree with the prompt), `cos(p, r)`, and
#:   the log of the sample's length in characters.
#: - `relative`: `interaction`, plus what a sample alone cannot show, from the other samples of its problem
#:   scored with it (see `relative_features`): how much it agrees with them, the size of its cluster of
#:   near-identical samples, and its rank.
Recipe = Literal["response", "interaction", "relative"]
RECIPES: tuple[Recipe, ...] = ("response", "interaction", "relative")
#: Two samples whose embeddings have at least this cosine are one cluster (same program, reworded).
NEAR_DUPLICATE = 0.95
RELATIVE_NAMES = ("agreement", "agreement_z", "cluster_share", "agreement_rank")


class HeadFileError(ValueError):
    """A model file that cannot be used; the message names the file and what is wrong."""


def feature_count(recipe: Recipe) -> int:
    if recipe == "response":
        return EMBEDDING_DIM
    return 2 * EMBEDDING_DIM + 2 + (len(RELATIVE_NAMES) if recipe == "relative" else 0)


def make_features(
    recipe: Recipe,
    prompts: np.ndarray,
    responses: np.ndarray,
    texts: Sequence[str],
    groups: Sequence[str] | None = None,
) -> np.ndarray:
    """Feature rows for (prompt embedding, sample embedding, sample text) triples. `groups` names each
    row's problem, for the `relative` recipe (default: every row is of one problem)."""
    import numpy as np

    if recipe == "response":
        return np.asarray(responses, dtype=np.float64)
    if recipe in ("interaction", "relative"):
        cosine = (prompts * responses).sum(axis=1, keepdims=True)
        length = np.log1p(np.array([len(text) for text in texts], dtype=np.float64))[:, None]
        blocks = [responses, prompts * responses, cosine, length]
        if recipe == "relative":
            blocks.append(relative_features(responses, groups))
        return np.hstack(blocks).astype(np.float64)
    raise ValueError(f"unknown feature recipe {recipe!r} (known: {', '.join(RECIPES)})")


def relative_features(responses: np.ndarray, groups: Sequence[str] | None = None) -> np.ndarray:
    """Per sample, against the other samples of its problem (its group): its mean cosine to them
    (`agreement`: a soft vote, high when many samples say the same thing), that agreement standardised
    within the problem, the share of the others that are near-identical to it (`cluster_share`, cosine >=
    0.95), and the rank of its agreement (0 lowest, 1 highest). A sample alone in its problem gets zeros.
    The embeddings are unit vectors, so a cosine is a dot product."""
    import numpy as np

    responses = np.asarray(responses, dtype=np.float64)
    out = np.zeros((len(responses), len(RELATIVE_NAMES)))
    if groups is None:
        members = [np.arange(len(responses))]
    else:
        _, inverse = np.unique(np.asarray(list(groups), dtype=object).astype(str), return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        members = np.split(order, np.flatnonzero(np.diff(inverse[order])) + 1)
    for rows in members:
        m = len(rows)
        if m < 2:
            continue
        similarity = responses[rows] @ responses[rows].T
        # Rounded: sums in another order differ in the last bits, and ties must stay ties.
        agreement = np.round((similarity.sum(axis=1) - np.diag(similarity)) / (m - 1), 9)
        spread = agreement.std()
        z = (agreement - agreement.mean()) / spread if spread > 1e-12 else np.zeros(m)
        near = ((similarity >= NEAR_DUPLICATE).sum(axis=1) - 1) / (m - 1)
        # Ties share their mean rank, so the order of the samples does not matter.
        ranks = np.empty(m)
        ranks[np.argsort(agreement, kind="stable")] = np.arange(m)
        for value in np.unique(agreement):
            tied = agreement == value
            ranks[tied] = ranks[tied].mean()
        out[rows] = np.stack([agreement, z, near, ranks / (m - 1)], axis=1)
    return out


def _sigmoid(z: np.ndarray) -> np.ndarray:
    import numpy as np

    out: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free
    return out


def fit_logistic(
    features: np.ndarray, labels: np.ndarray, l2: float, *, max_iter: int = 100, tol: float = 1e-8
) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method (exact, deterministic, numpy only).

    Minimises `sum(log loss) + l2/2 * |w|^2`; the bias is not penalised. Features should be standardised.
    """
    import numpy as np

    x = np.hstack([features, np.ones((features.shape[0], 1))])
    y = labels.astype(np.float64)
    penalty = np.full(x.shape[1], float(l2))
    penalty[-1] = 1e-8  # keeps the Hessian invertible when a class is missing, without biasing the intercept
    theta = np.zeros(x.shape[1])
    previous = math.inf
    for _ in range(max_iter):
        z = x @ theta
        p = _sigmoid(z)
        loss = float(np.logaddexp(0.0, z).sum() - y @ z + 0.5 * (penalty * theta**2).sum())
        gradient = x.T @ (p - y) + penalty * theta
        curvature = p * (1.0 - p)
        hessian = (x * curvature[:, None]).T @ x + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        theta = theta - step
        if abs(previous - loss) <= tol * max(1.0, abs(loss)):
            break
        previous = loss
    return theta[:-1], float(theta[-1])


@dataclass
class RewardHead:
    """A fitted head and what it was fitted with."""

    weights: np.ndarray
    bias: float
    mean: np.ndarray
    scale: np.ndarray
    recipe: Recipe = "interaction"
    encoder: str = "onnx-int8"
    max_tokens: int = MAX_TOKENS
    threshold: float = 0.5
    training: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def fit(
        cls,
        features: np.ndarray,
        labels: np.ndarray,
        *,
        recipe: Recipe,
        l2: float,
        encoder: str,
        max_tokens: int = MAX_TOKENS,
        threshold: float = 0.5,
    ) -> RewardHead:
        import numpy as np

        mean = features.mean(axis=0)
        scale = features.std(axis=0)
        scale[scale < 1e-8] = 1.0
        weights, bias = fit_logistic((features - mean) / scale, labels, l2)
        return cls(
            weights=weights.astype(np.float32),
            bias=bias,
            mean=mean.astype(np.float32),
            scale=scale.astype(np.float32),
            recipe=recipe,
            encoder=encoder,
            max_tokens=max_tokens,
            threshold=threshold,
        )

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """P(correct) per feature row."""
        import numpy as np

        z = ((features - self.mean) / self.scale) @ self.weights.astype(np.float64) + self.bias
        return _sigmoid(z)

    def score(
        self, prompts: np.ndarray, responses: np.ndarray, texts: Sequence[str], groups: Sequence[str] | None = None
    ) -> np.ndarray:
        """P(correct) per sample; `groups` names each sample's problem (default: all of one problem), which
        the `relative` recipe compares it with."""
        return self.probabilities(make_features(self.recipe, prompts, responses, texts, groups))

    # -- the file --------------------------------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "recipe": self.recipe,
            "embedding_space": EMBEDDING_SPACE,
            "encoder": self.encoder,
            "max_tokens": self.max_tokens,
            "threshold": self.threshold,
            "training": self.training,
        }

    def save(self, path: str | Path) -> Path:
        import numpy as np

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:  # a file handle, so that numpy does not append `.npz`
            np.savez_compressed(
                handle,
                meta=np.array(json.dumps(self.meta(), sort_keys=True)),
                weights=self.weights.astype(np.float32),
                bias=np.array(self.bias, dtype=np.float32),
                mean=self.mean.astype(np.float32),
                scale=self.scale.astype(np.float32),
            )
        return path

    @classmethod
    def load(cls, path: str | Path) -> RewardHead:
        import zipfile

        import numpy as np

        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
        except FileNotFoundError:
            raise HeadFileError(f"{path}: no such model file") from None
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise HeadFileError(f"{path}: not an assay-reward model file ({exc})") from None
        for name in ("meta", "weights", "bias", "mean", "scale"):
            if name not in arrays:
                raise HeadFileError(f"{path}: missing array {name!r} (not an assay-reward model file?)")
        try:
            meta = json.loads(str(arrays["meta"]))
        except json.JSONDecodeError as exc:
            raise HeadFileError(f"{path}: field 'meta': not JSON ({exc})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise HeadFileError(f"{path}: field 'meta.format': expected {FORMAT!r}")
        version = meta.get("format_version")
        if not isinstance(version, int) or version < 1:
            raise HeadFileError(f"{path}: field 'meta.format_version': expected a positive integer, got {version!r}")
        if version > FORMAT_VERSION:
            raise HeadFileError(
                f"{path}: field 'meta.format_version': the file is version {version}, this assay-reward reads up "
                f"to {FORMAT_VERSION}; upgrade assay-reward"
            )
        if meta.get("embedding_space") != EMBEDDING_SPACE:
            raise HeadFileError(
                f"{path}: field 'meta.embedding_space': {meta.get('embedding_space')!r}, expected {EMBEDDING_SPACE!r}"
            )
        recipe = meta.get("recipe")
        if recipe not in RECIPES:
            raise HeadFileError(f"{path}: field 'meta.recipe': {recipe!r} is not one of {', '.join(RECIPES)}")
        expected = feature_count(recipe)
        for name in ("weights", "mean", "scale"):
            if arrays[name].shape != (expected,):
                raise HeadFileError(
                    f"{path}: array {name!r} has shape {arrays[name].shape}, recipe {recipe!r} needs ({expected},)"
                )
        threshold = meta.get("threshold", 0.5)
        if not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0:
            raise HeadFileError(f"{path}: field 'meta.threshold': expected a number in [0, 1], got {threshold!r}")
        for name in ("weights", "mean", "scale", "bias"):
            if not np.all(np.isfinite(arrays[name])):
                raise HeadFileError(f"{path}: array {name!r} holds NaN or infinity")
        return cls(
            weights=arrays["weights"].astype(np.float32),
            bias=float(arrays["bias"]),
            mean=arrays["mean"].astype(np.float32),
            scale=arrays["scale"].astype(np.float32),
            recipe=recipe,
            encoder=str(meta.get("encoder", "onnx-int8")),
            max_tokens=int(meta.get("max_tokens", MAX_TOKENS)),
            threshold=float(threshold),
            training=dict(meta.get("training") or {}),
        )
