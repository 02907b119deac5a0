"""The `reward` verifier: scoring throughput of each offline path, and selection by reward score.

    python benchmarks/reward.py throughput [--texts 192] [--repeats 3]
    python benchmarks/reward.py selection [--test-fraction 0.2] [--seed 0] [--json OUT] [--save-head PATH]
                                          [--save-scores SCORES.npz] [--embeddings CACHE.npz]

throughput: samples per second through `RewardVerifier.verify_batch` (units of up to 64 samples of one
task, as the engine hands them), on the CPU with 1 and 2 threads, for the int8 ONNX path and the fp32
sentence-transformers path, and for the ONNX path fed one sample at a time. Anchor: the fp32
sentence-transformers path on 1 thread, measured in the same run; every figure is printed as a ratio to it.
Embeddings are not cached between repeats (the cache is emptied), so this is the model's own rate.

selection: trains a head exactly as `assay reward train` does (same code, same split by problem) on
HumanEval/CodeGen-16B and SVAMP/Codex samples, then on the held-out problems reports AUROC and, for
k = 1..n, the expected accuracy of best-of-k by reward score, of majority vote, of majority vote weighted
by the score, and coverage (pass@k), over uniformly random k-subsets of each problem's samples. Anchor:
majority vote at the same k. Best-of-k and coverage are exact (closed forms); votes are Monte Carlo.
These few estimators are computed here, not by the host's audit module.

Majority vote needs an answer to group by: SVAMP's executed program result; for HumanEval the program
text with comments, blank lines and trailing spaces removed (exact-match clustering, a weak vote for code:
samples that differ in variable names vote apart).
"""

from __future__ import annotations

import os
import sys

# This folder holds a benchmark named math.py, which would shadow the standard library's `math` for every
# module imported after it when this file runs as a script: take the folder off the path first.
if sys.path and os.path.realpath(sys.path[0]) == os.path.dirname(os.path.realpath(__file__)):
    del sys.path[0]

import argparse
import gzip
import io
import json
import statistics
import time
import tokenize
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.shared import shared_data

KS = (1, 2, 3, 5, 10, 20, 30, 50, 100)


@dataclass
class Row:
    dataset: str
    task_id: str
    index: int
    prompt: str
    text: str
    label: bool
    answer: str | None


def normalise_code(code: str) -> str:
    """Program text without comments, blank lines or trailing spaces (for exact-match voting)."""
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(code).readline) if t.type != tokenize.COMMENT]
        code = tokenize.untokenize(tokens)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    lines = [line.rstrip() for line in code.splitlines()]
    return "\n".join(line for line in lines if line.strip())


def _jsonl(path: Path) -> list[dict[str, Any]]:
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return [json.loads(line) for line in raw.splitlines() if line.strip()]


def load_rows(data: Path) -> list[Row]:
    rows: list[Row] = []
    humaneval = data / "humaneval-codegen16b"
    prompts = {p["problem_id"]: p["prompt"] for p in _jsonl(humaneval / "problems.jsonl")}
    for r in _jsonl(humaneval / "samples.jsonl.gz"):
        text = r["extracted_answer"]
        rows.append(Row("humaneval", r["problem_id"], r["sample_index"], prompts[r["problem_id"]], text,
                        bool(r["label"]), normalise_code(text)))
    svamp = data / "svamp-pot-codex"
    prompts = {p["problem_id"]: p["prompt"] for p in _jsonl(svamp / "problems.jsonl")}
    for r in _jsonl(svamp / "samples.jsonl.gz"):
        rows.append(Row("svamp", r["problem_id"], r["sample_index"], prompts[r["problem_id"]], r["response"],
                        bool(r["label"]), r["extracted_answer"]))
    return rows


# -- throughput ---------------------------------------------------------------------------------------------


def throughput(args: argparse.Namespace) -> None:
    from assay import Sample, Task
    from assay_reward.backends import HeadBackend
    from assay_reward.verifier import RewardVerifier

    rows = load_rows(shared_data())
    # Real samples of both domains, grouped by task as the engine groups them.
    picked = [r for r in rows if r.dataset == "humaneval"][: args.texts // 2] + [
        r for r in rows if r.dataset == "svamp"
    ][: args.texts // 2]
    units: list[tuple[Task, list[Sample]]] = []
    for row in picked:
        if not units or units[-1][0].id != row.task_id or len(units[-1][1]) >= 64:
            units.append((Task(id=row.task_id, prompt=row.prompt), []))
        units[-1][1].append(Sample(task_id=row.task_id, index=row.index, text=row.text))
    total = sum(len(samples) for _, samples in units)

    def run_once(verifier: RewardVerifier, batched: bool, threads: int) -> float:
        backend = verifier.backend
        assert isinstance(backend, HeadBackend)
        backend.cache._rows.clear()
        if backend.cache.encoder.name == "st-fp32":
            import torch

            torch.set_num_threads(threads)  # process-wide in torch: set it before each timing
        started = time.perf_counter()
        for task, samples in units:
            if batched:
                verifier.verify_batch(task, samples)
            else:
                for sample in samples:
                    verifier.verify(task, sample)
        return time.perf_counter() - started

    configs: dict[str, tuple[RewardVerifier, bool, int]] = {}
    for threads in (1, 2):
        for encoder, batched in (("st-fp32", True), ("onnx-int8", True), ("onnx-int8", False)):
            label = f"{encoder} {'batched' if batched else 'one at a time'}, {threads} thread{'s' * (threads > 1)}"
            try:
                configs[label] = (RewardVerifier({"encoder": encoder, "threads": threads}), batched, threads)
            except Exception as exc:  # the [st] extra may be missing
                print(f"{label}: unavailable ({exc})")
    # Interleaved repeats, so that a change in the machine's load hits every configuration alike.
    times: dict[str, list[float]] = {label: [] for label in configs}
    for _ in range(args.repeats):
        for label, (verifier, batched, threads) in configs.items():
            times[label].append(run_once(verifier, batched, threads))
    results = {label: total / statistics.median(values) for label, values in times.items()}
    anchor = results.get("st-fp32 batched, 1 thread")
    print(f"\nscoring throughput, {total} real samples ({len(units)} units), median of {args.repeats}; "
          f"anchor: st-fp32 batched, 1 thread")
    for label, value in results.items():
        ratio = f"{value / anchor:.2f}x" if anchor else "n/a"
        print(f"  {label:<40} {value:7.1f} samples/s  {1000 / value:6.1f} ms/sample  {ratio}")


# -- selection ---------------------------------------------------------------------------------------------


def coverage_curve(labels: np.ndarray, ks: Sequence[int]) -> np.ndarray:
    """pass@k, exact: 1 - C(n-c, k) / C(n, k)."""
    from math import comb

    n, c = len(labels), int(labels.sum())
    return np.array([1.0 - comb(n - c, min(k, n)) / comb(n, min(k, n)) for k in ks])


def best_of_k_curve(scores: np.ndarray, labels: np.ndarray, indices: np.ndarray, ks: Sequence[int]) -> np.ndarray:
    """Expected accuracy of the top-scored sample of a random k-subset, exact. Ties go to the lower sample
    index (the `best_of_n` selector's rule)."""
    from math import comb

    n = len(labels)
    order = np.lexsort((indices, -scores))  # best first
    ranked = labels[order].astype(np.float64)
    out = []
    for k in ks:
        k = min(k, n)
        # the sample at position p (p better ones) is chosen when it is drawn and none of the p better is
        weights = np.array([comb(n - 1 - p, k - 1) for p in range(n)], dtype=np.float64) / comb(n, k)
        out.append(float(ranked @ weights))
    return np.array(out)


def vote_curves(
    answers: Sequence[str | None], labels: np.ndarray, scores: np.ndarray, ks: Sequence[int],
    rng: np.random.Generator, replicates: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Majority and score-weighted majority over random k-subsets (Monte Carlo: each replicate is a random
    order whose prefixes are the subsets). Samples without an answer abstain; ties go to the answer seen
    first in the subset's order; a winning answer counts as the fraction of its samples labelled correct."""
    n = len(labels)
    groups: dict[str, int] = {}
    group = [-1 if a is None else groups.setdefault(a, len(groups)) for a in answers]
    correct_rate = np.zeros(max(len(groups), 1))
    for g in range(len(groups)):
        correct_rate[g] = labels[np.array(group) == g].mean()
    kset = {min(k, n) for k in ks}
    plain = {k: 0.0 for k in kset}
    weighted = {k: 0.0 for k in kset}
    for _ in range(replicates):
        counts = [0] * len(groups)
        mass = [0.0] * len(groups)
        first_seen = [n] * len(groups)
        # Votes only grow, so the leader changes only to the group that just gained: track it incrementally.
        leader = heavy = -1
        for step, i in enumerate(rng.permutation(n).tolist(), start=1):
            g = group[i]
            if g >= 0:
                counts[g] += 1
                mass[g] += scores[i]
                first_seen[g] = min(first_seen[g], step)
                if leader < 0 or (counts[g], -first_seen[g]) > (counts[leader], -first_seen[leader]):
                    leader = g
                if heavy < 0 or (mass[g], -first_seen[g]) > (mass[heavy], -first_seen[heavy]):
                    heavy = g
            if step in kset and leader >= 0:
                plain[step] += correct_rate[leader]
                weighted[step] += correct_rate[heavy]
    return (np.array([plain[min(k, n)] / replicates for k in ks]),
            np.array([weighted[min(k, n)] / replicates for k in ks]))


def selection(args: argparse.Namespace) -> None:
    from assay_reward.encoders import EmbeddingCache, build_encoder
    from assay_reward.metrics import auroc, brier, calibration
    from assay_reward.train import DEFAULT_L2, Example, embed_examples, is_held_out, train

    rows = load_rows(shared_data())
    examples = [Example(r.task_id, r.prompt, r.text, r.label) for r in rows]
    cache = EmbeddingCache(build_encoder(args.encoder, threads=args.threads), max_entries=10_000_000)
    if args.embeddings and Path(args.embeddings).exists():
        with np.load(args.embeddings) as stored:
            for key, vector in zip(stored["keys"], stored["vectors"], strict=True):
                cache._rows[bytes(key)] = vector
        print(f"loaded {len(cache)} cached embeddings from {args.embeddings}", file=sys.stderr)
    started = time.perf_counter()
    result = train(
        examples, cache=cache, recipe=args.recipe, l2=args.l2 if args.l2 is not None else DEFAULT_L2,
        test_fraction=args.test_fraction, seed=args.seed, progress=sys.stderr.isatty(),
        sources=["humaneval-codegen16b", "svamp-pot-codex"],
    )
    print(f"trained in {time.perf_counter() - started:.1f}s (embeddings included)", file=sys.stderr)
    if args.embeddings:
        keys = np.array(list(cache._rows), dtype="S16")
        np.savez(args.embeddings, keys=keys, vectors=np.stack(list(cache._rows.values())))
    if args.save_head:
        result.head.save(args.save_head)
        print(f"wrote {args.save_head}", file=sys.stderr)

    held = [r for r in rows if is_held_out(r.task_id, args.test_fraction, args.seed)]
    scores = result.test_scores
    if args.eval_encoder and args.eval_encoder != args.encoder:
        other = EmbeddingCache(build_encoder(args.eval_encoder, threads=args.threads), max_entries=10_000_000)
        held_examples = [Example(r.task_id, r.prompt, r.text, r.label) for r in held]
        prompts, responses = embed_examples(held_examples, other, progress=sys.stderr.isatty())
        scores = result.head.score(prompts, responses, [r.text for r in held], [r.task_id for r in held])
        print(f"held-out scores from {args.eval_encoder} embeddings (head fitted on {args.encoder}); "
              f"max |difference| {np.abs(scores - result.test_scores).max():.4f}")
    if args.save_scores:
        np.savez(args.save_scores, task_ids=np.array([r.task_id for r in held]),
                 indices=np.array([r.index for r in held]), scores=scores)
        print(f"wrote the held-out scores to {args.save_scores}", file=sys.stderr)
    rng = np.random.default_rng(args.seed)
    report: dict[str, Any] = {"training": result.report, "datasets": {}}
    print(f"\nheld-out problems (split by task id, test fraction {args.test_fraction}, seed {args.seed}); "
          f"encoder {args.eval_encoder or args.encoder}, recipe {args.recipe}")
    for dataset in ("humaneval", "svamp"):
        mask = np.array([r.dataset == dataset for r in held])
        d_rows = [r for r in held if r.dataset == dataset]
        d_scores, d_labels = scores[mask], np.array([r.label for r in d_rows])
        by_task: dict[str, list[int]] = {}
        for position, r in enumerate(d_rows):
            by_task.setdefault(r.task_id, []).append(position)
        n_max = max(len(v) for v in by_task.values())
        ks = list(range(1, n_max + 1))
        curves = {name: np.zeros(len(ks)) for name in ("coverage", "best_of_k", "majority", "weighted_majority")}
        within = []
        for positions in by_task.values():
            p = np.array(positions)
            labels, s = d_labels[p], d_scores[p]
            idx = np.array([d_rows[i].index for i in positions])
            curves["coverage"] += coverage_curve(labels, ks)
            curves["best_of_k"] += best_of_k_curve(s, labels, idx, ks)
            plain, weighted = vote_curves([d_rows[i].answer for i in positions], labels, s, ks, rng, args.replicates)
            curves["majority"] += plain
            curves["weighted_majority"] += weighted
            problem_auc = auroc(s, labels)
            if problem_auc is not None:
                within.append(problem_auc)
        for name in curves:
            curves[name] /= len(by_task)
        overall_auc = auroc(d_scores, d_labels)
        d_brier, d_ece = brier(d_scores, d_labels), calibration(d_scores, d_labels)["ece"]
        report["datasets"][dataset] = {
            "problems": len(by_task), "samples": len(d_rows), "auroc": overall_auc, "brier": d_brier, "ece": d_ece,
            "auroc_within_problem_mean": float(np.mean(within)) if within else None,
            "problems_with_both_labels": len(within), "ks": ks,
            "curves": {name: [round(float(v), 5) for v in curve] for name, curve in curves.items()},
        }
        print(f"\n{dataset}: {len(by_task)} problems, {len(d_rows)} samples, {int(d_labels.sum())} correct; "
              f"AUROC {overall_auc:.3f} pooled, {np.mean(within):.3f} mean within a problem "
              f"({len(within)} problems have right and wrong samples); Brier {d_brier:.3f}, ECE {d_ece:.3f}")
        print(f"  {'k':>4} {'coverage':>9} {'best-of-k':>10} {'majority':>9} {'weighted':>9}  best-of-k / majority")
        for k in KS:
            if k > n_max:
                continue
            i = k - 1
            maj = curves["majority"][i]
            ratio = f"{curves['best_of_k'][i] / maj:.2f}x" if maj > 0 else "n/a"
            print(f"  {k:>4} {curves['coverage'][i]:9.3f} {curves['best_of_k'][i]:10.3f} {maj:9.3f} "
                  f"{curves['weighted_majority'][i]:9.3f}  {ratio}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
        print(f"\nwrote {args.json}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--texts", type=int, default=192)
    t.add_argument("--repeats", type=int, default=3)
    s = sub.add_parser("selection")
    s.add_argument("--test-fraction", type=float, default=0.2)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--encoder", default="onnx-int8", choices=("onnx-int8", "st-fp32"))
    s.add_argument("--eval-encoder", choices=("onnx-int8", "st-fp32"),
                   help="score the held-out problems with this encoder's embeddings (the head stays the same)")
    s.add_argument("--recipe", default="interaction", choices=("response", "interaction", "relative"))
    s.add_argument("--l2", type=float, default=None)
    s.add_argument("--threads", type=int, default=None)
    s.add_argument("--replicates", type=int, default=200, help="Monte Carlo replicates for the votes")
    s.add_argument("--embeddings", help="an .npz embedding cache, read if it exists and written after")
    s.add_argument("--save-head", help="write the trained head here")
    s.add_argument("--save-scores", help="write the held-out samples' scores here (.npz: task_ids, indices, "
                   "scores), which `python -m benchmarks.selection --reward-scores` reads")
    s.add_argument("--json", help="write the curves and figures here")
    args = parser.parse_args()
    if args.what == "throughput":
        throughput(args)
    else:
        selection(args)


if __name__ == "__main__":
    main()
