"""CodeT's dual execution agreement (Chen et al. 2022), and how well it selects.

The `generated_tests` style gives each sample a verdict whose `answer` is its signature: which of the
model-generated tests it passes (`"<number of tests>:<hex bitmask>"`). Samples with the same signature form
a consensus set; CodeT scores a set by (samples in it) x (tests it passes) and picks from the best set.

`selection_curves` compares, on problems with ground-truth labels, what each strategy picks from k random
samples (an expectation over random k-subsets, ties broken at random):

- `coverage`: any of the k is correct (pass@k, the unbiased estimator of Chen et al. 2021): the ceiling;
- `random`: one of the k at random (pass@1);
- `majority`: from the largest set of samples that behave the same on the generated tests;
- `codet`: from the set with the best (size x tests passed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def tests_passed(signature: str | None) -> int:
    """How many generated tests a signature says were passed (0 for None or a malformed one)."""
    if not signature or ":" not in signature:
        return 0
    try:
        return int(signature.split(":", 1)[1], 16).bit_count()
    except ValueError:
        return 0


def codet_scores(signatures: Sequence[str | None]) -> np.ndarray:
    """Each sample's CodeT score: the size of its consensus set x the tests that set passes."""
    sizes: dict[str | None, int] = {}
    for signature in signatures:
        sizes[signature] = sizes.get(signature, 0) + 1
    return np.array([sizes[s] * tests_passed(s) for s in signatures], dtype=float)


def _pass_at_k(n: int, c: int, k: int) -> float:
    if n - c < k:
        return 1.0
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def _pick_best(scores: np.ndarray, labels: np.ndarray) -> float:
    """Expected label of the top-scored sample, ties broken uniformly."""
    best = scores.max()
    return float(labels[scores == best].mean())


def selection_curves(
    problems: Mapping[str, tuple[Sequence[str | None], Sequence[bool]]],
    ks: Sequence[int] = (1, 2, 5, 10, 20, 50, 100),
    draws: int = 200,
    seed: int = 0,
) -> dict[str, dict[int, float]]:
    """Mean over problems of each strategy's accuracy at each k (see the module docs).

    `problems` maps a problem id to (signatures, labels) of its samples, in the same order.
    """
    rng = np.random.default_rng(seed)
    curves: dict[str, dict[int, float]] = {name: {} for name in ("coverage", "random", "majority", "codet")}
    for k in ks:
        sums = dict.fromkeys(curves, 0.0)
        for signatures, labels in problems.values():
            n = len(labels)
            truth = np.asarray(labels, dtype=float)
            kk = min(k, n)
            sums["coverage"] += _pass_at_k(n, int(truth.sum()), kk)
            sums["random"] += float(truth.mean())
            sigs = list(signatures)
            if kk == 1:  # one sample: every strategy picks it
                sums["majority"] += float(truth.mean())
                sums["codet"] += float(truth.mean())
                continue
            draws_here = 1 if kk == n else draws
            majority = codet = 0.0
            for _ in range(draws_here):
                chosen = np.arange(n) if kk == n else rng.choice(n, size=kk, replace=False)
                chosen_sigs = [sigs[i] for i in chosen]
                sizes: dict[str | None, int] = {}
                for s in chosen_sigs:
                    sizes[s] = sizes.get(s, 0) + 1
                size_scores = np.array([sizes[s] for s in chosen_sigs], dtype=float)
                majority += _pick_best(size_scores, truth[chosen])
                codet += _pick_best(codet_scores(chosen_sigs), truth[chosen])
            sums["majority"] += majority / draws_here
            sums["codet"] += codet / draws_here
        for name in curves:
            curves[name][k] = sums[name] / max(1, len(problems))
    return curves
