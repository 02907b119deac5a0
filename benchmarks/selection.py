"""Selection without ground truth: what each method picks from all of a problem's samples, on held-out
problems.

    python -m benchmarks.selection [--test-fraction 0.2] [--seed 0 | --seeds 0,1,2] [--bootstrap 1000]
                                   [--json OUT] [--reward-scores SCORES.npz] [--synthetic]

Data (the shared real sets, see each folder's SOURCE.md):
- SVAMP, code-davinci-002 programs, k = 30. Answer: the program's result. Signals: the log-prob rank and
  whether the program ran (the data's own `extra`), the program's length, and one domain check: the share
  of the passage's quantities the program uses.
- HumanEval, CodeGen-16B, k = 100. Answer: the behaviour on CodeT's model-generated tests (which tests pass:
  the `code` verifier's `generated_tests` signature). Signals: the share of generated tests passed, whether
  it passed them all, whether the program loads (no syntax error), its length. The 16,400 programs are run
  once and their verdicts kept in `out/benchmarks/selection/` (about two minutes on two cores).
- Game of 24, GPT-4, k = 100 per prompt style (IO, CoT). Answer: the expression, spaces removed. Signals:
  three small checks on the expression's form (it uses exactly the puzzle's four numbers; its left side
  evaluates to its right side; its right side is the target), its length.

No reference answer and no hidden test is read by any selector: the labels only score the choices.

Rows, each at k = all samples (one subset: exact), with percentile bootstrap intervals over the held-out
problems (paired: one set of resamples for every row):
- coverage: any sample right (the ceiling);
- majority: the most common answer;
- reward model best-of-k: the highest `reward` score (only with `--reward-scores`, an .npz of
  `task_ids`, `indices`, `scores` written by `python benchmarks/reward.py selection --save-scores`, with
  the same split; SVAMP and HumanEval, the sets the head is trained on);
- CodeT: the consensus set with the best (samples x generated tests passed) (HumanEval);
- ensemble (no labels): the `ensemble` selector fitted without labels on the other problems (the training
  split), then applied to the held-out ones;
- ensemble (no labels, fitted on these): fitted on the held-out problems themselves, still without labels;
- ensemble (labels of the training problems): fitted on the training problems with their labels (the rule
  that is right most often there, if it clearly beats majority); and with the labels of a tenth of them;
- single signal: the vote weighted by one signal (its dual agreement), either way up, for every signal.

Every row also shows its difference with majority on the same problems, with a paired bootstrap interval.
`--seeds 0,1,2,3,4` repeats everything over several splits and prints the median of each row.

The split is by problem (a hash of seed and task id, as `assay reward train` splits). Timing: the
ensemble's fit and selection over every problem of the data set; `--synthetic` adds the same on 1,000
random problems x 100 samples. Anchor: majority vote over the same problems in the same run.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from assay.selection import Candidate, Choice
from assay.selection.builtin import vote
from assay.selection.ensemble import Ensemble, Rule, SignalTable
from benchmarks.shared import shared_data
from examples.weak_checks import game24_checks

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "out" / "benchmarks" / "selection"


def _jsonl(path: Path) -> list[dict[str, Any]]:
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return [json.loads(line) for line in raw.splitlines() if line.strip()]


def is_held_out(task_id: str, test_fraction: float, seed: int) -> bool:
    """The same split as `assay reward train`: a hash of (seed, task id)."""
    digest = hashlib.blake2b(f"{seed}\x00{task_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < test_fraction


@dataclass
class Dataset:
    name: str
    task_ids: list[str]
    problems: list[list[Candidate]]
    #: Extra rows computed from the data set's own selector (CodeT), task id -> chosen sample index.
    extra: dict[str, Callable[[list[Candidate]], int | None]] = field(default_factory=dict)

    @property
    def k(self) -> int:
        return max(len(p) for p in self.problems)


# -- loaders ----------------------------------------------------------------------------------------------------


NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")


def _numbers(text: str) -> list[float]:
    return [float(m.replace(",", "")) for m in NUMBER.findall(text)]


def quantities_used(passage: str, program: str) -> float:
    """Share of the passage's distinct quantities that appear as literals in the program (a word problem
    usually needs every number it states; SVAMP adds distractors, so this is weak)."""
    given = set(_numbers(passage))
    if not given:
        return math.nan
    used = set(_numbers(program))
    return len(given & used) / len(given)


def load_svamp(data: Path) -> Dataset:
    folder = data / "svamp-pot-codex"
    problems = {p["problem_id"]: p for p in _jsonl(folder / "problems.jsonl")}
    by_task: dict[str, list[Candidate]] = {}
    for r in _jsonl(folder / "samples.jsonl.gz"):
        problem = problems[r["problem_id"]]
        program = r["response"]
        signals = {
            "metadata:logprob_rank": float(r["extra"]["logprob_rank"]),
            "metadata:exec_ok": float(bool(r["extra"]["exec_ok"])),
            "metadata:quantities_used": quantities_used(problem["passage"] + " " + problem["question"], program),
            "text:chars": math.log1p(len(program)),
        }
        signals = {k: v for k, v in signals.items() if math.isfinite(v)}
        by_task.setdefault(r["problem_id"], []).append(
            Candidate(r["sample_index"], r["extracted_answer"], label=bool(r["label"]), signals=signals)
        )
    return Dataset("SVAMP", list(by_task), list(by_task.values()))


def load_game24(data: Path) -> list[Dataset]:
    folder = data / "game24-gpt4"
    puzzles = {p["problem_id"]: [int(n) for n in p["puzzle"].split()] for p in _jsonl(folder / "problems.jsonl")}
    styles: dict[str, dict[str, list[Candidate]]] = {}
    for r in _jsonl(folder / "samples.jsonl.gz"):
        text = r["extracted_answer"] or r["response"] or ""
        signals = {
            f"metadata:{name}": value for name, value in game24_checks(puzzles[r["problem_id"]], 24, text).items()
        }
        signals["text:chars"] = math.log1p(len(r["response"] or ""))
        answer = re.sub(r"\s+", "", text.strip().splitlines()[-1]) if text.strip() else None
        method = r["extra"]["method"]
        styles.setdefault(method, {}).setdefault(r["problem_id"], []).append(
            Candidate(r["sample_index"], answer, label=bool(r["label"]), signals=signals)
        )
    return [
        Dataset(f"Game24 {'IO' if method == 'standard_io' else 'CoT'}", list(by_task), list(by_task.values()))
        for method, by_task in sorted(styles.items(), reverse=True)
    ]


def codet_verdicts(folder: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """The `code` verifier's verdicts on CodeT's generated tests, for every sample (run once, then read)."""
    import assay
    from assay_code import humaneval

    CACHE.mkdir(parents=True, exist_ok=True)
    out = CACHE / "humaneval-generated-tests-verdicts.jsonl"
    if not out.exists():
        tasks = humaneval.generated_tasks(folder)
        known = {t["id"] for t in tasks}
        samples = [s for s in humaneval.samples(folder) if s["task_id"] in known]
        print(
            f"running {len(samples)} HumanEval programs on their generated tests (once; kept in {out})", file=sys.stderr
        )
        started = time.perf_counter()
        run = assay.verify(tasks, samples, "code", jobs=2, store=CACHE / "codet.sqlite", progress=False)
        partial = out.with_name(out.name + ".partial")
        partial.write_text("".join(json.dumps(record) + "\n" for record in run.records()))
        partial.rename(out)
        print(f"judged in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return {(v["task_id"], v["sample_index"]): v for v in _jsonl(out)}


def load_humaneval(data: Path) -> Dataset:
    from assay_code.codet import codet_scores

    folder = data / "humaneval-codegen16b"
    verdicts = codet_verdicts(folder)
    by_task: dict[str, list[Candidate]] = {}
    for r in _jsonl(folder / "samples.jsonl.gz"):
        key = (r["problem_id"], r["sample_index"])
        verdict = verdicts.get(key)
        signals = {"text:chars": math.log1p(len(r["extracted_answer"]))}
        answer = None
        if verdict is not None:
            answer = verdict.get("answer")
            verifier = verdict["verifier"]
            if verdict.get("score") is not None:
                signals[f"{verifier}:score"] = float(verdict["score"])
            if verdict.get("passed") is not None:
                signals[f"{verifier}:passed"] = float(verdict["passed"])
            signals["metadata:loads"] = float(verdict.get("reason") != "syntax_error")
        by_task.setdefault(r["problem_id"], []).append(
            Candidate(r["sample_index"], answer, label=bool(r["label"]), signals=signals)
        )

    def codet(candidates: list[Candidate]) -> int | None:
        if all(c.answer is None for c in candidates):
            return None
        scores = codet_scores([c.answer for c in candidates])
        best = max(range(len(candidates)), key=lambda i: (scores[i], -candidates[i].index))
        return candidates[best].index

    return Dataset("HumanEval", list(by_task), list(by_task.values()), {"CodeT": codet})


# -- evaluation -------------------------------------------------------------------------------------------------


def label_of(candidates: Sequence[Candidate], index: int | None) -> float:
    if index is None:
        return 0.0
    return float(bool(next(c.label for c in candidates if c.index == index)))


def majority_index(candidates: Sequence[Candidate]) -> int | None:
    choice: Choice | None = vote(candidates)
    return None if choice is None else choice.index


def evaluate(dataset: Dataset, args: argparse.Namespace, rm: dict[tuple[str, int], float] | None) -> dict[str, Any]:
    held = [i for i, t in enumerate(dataset.task_ids) if is_held_out(t, args.test_fraction, args.seed)]
    train = [i for i, t in enumerate(dataset.task_ids) if not is_held_out(t, args.test_fraction, args.seed)]
    rows: dict[str, np.ndarray] = {}
    test = [dataset.problems[i] for i in held]
    rows["coverage"] = np.array([float(any(c.label for c in p)) for p in test])
    started = time.perf_counter()
    rows["majority"] = np.array([label_of(p, majority_index(p)) for p in test])
    majority_s = time.perf_counter() - started
    if rm is not None and any((dataset.task_ids[i], c.index) in rm for i in held for c in dataset.problems[i]):
        scored = []
        for i in held:
            p = dataset.problems[i]
            task_id = dataset.task_ids[i]
            best = max(p, key=lambda c: (rm.get((task_id, c.index), -math.inf), -c.index))
            scored.append(label_of(p, best.index))
        rows["reward model best-of-k"] = np.array(scored)
    for name, pick in dataset.extra.items():
        rows[name] = np.array([label_of(p, pick(p)) for p in test])
    train_problems = [dataset.problems[i] for i in train]

    def picks(fitted: Ensemble) -> np.ndarray:
        view = SignalTable.from_candidates(test, fitted.raw_names)
        chosen = fitted.choices(view)
        return np.array(
            [
                label_of(p, int(view.index[r, c]) if c >= 0 else None)
                for r, (p, c) in enumerate(zip(test, chosen, strict=True))
            ]
        )

    started = time.perf_counter()
    fitted = Ensemble(rounds=args.rounds).fit(train_problems)
    rows["ensemble (no labels)"] = picks(fitted)
    ensemble_s = time.perf_counter() - started
    # Still without labels, fitted on the held-out problems themselves (transductive).
    rows["ensemble (no labels, fitted on these)"] = picks(Ensemble(rounds=args.rounds).fit(test))
    supervised = Ensemble(rounds=args.rounds).fit(train_problems, use_labels=True)
    assert supervised.model is not None
    rows["ensemble (labels of the training problems)"] = picks(supervised)
    # A few labels: those of a tenth of the training problems (another hash of the task id), none elsewhere.
    few = [
        list(problem)
        if is_held_out(dataset.task_ids[i], 0.1, args.seed + 1)
        else [replace(c, label=None) for c in problem]
        for i, problem in zip(train, train_problems, strict=True)
    ]
    some = Ensemble(rounds=args.rounds).fit(few, use_labels=True)
    rows["ensemble (labels of a tenth of the training problems)"] = picks(some)
    # Each single signal, as the vote weighted by it either way up (its dual agreement), on the same fit.
    for name in fitted.raw_names or []:
        for direction in (1, -1):
            rule = Rule(((name, direction),))
            rows[f"single signal: {rule.name}"] = picks(fitted.using(rule))
    rng = np.random.default_rng(args.seed)
    resamples = rng.integers(0, len(test), size=(args.bootstrap, len(test)))
    out: dict[str, Any] = {"problems": len(test), "training_problems": len(train), "k": dataset.k, "rows": {}}
    for name, values in rows.items():
        means = values[resamples].mean(axis=1)
        low, high = np.percentile(means, [2.5, 97.5])
        # Paired with majority: the same resampled problems for both.
        gains = (values - rows["majority"])[resamples].mean(axis=1)
        gain_low, gain_high = np.percentile(gains, [2.5, 97.5])
        out["rows"][name] = {
            "value": float(values.mean()),
            "ci": [float(low), float(high)],
            "vs_majority": float((values - rows["majority"]).mean()),
            "vs_majority_ci": [float(gain_low), float(gain_high)],
        }
    out["ensemble"] = fitted.report()
    out["ensemble_with_labels"] = supervised.report()
    out["ensemble_with_a_few_labels"] = some.report()
    out["timing_s"] = {"majority": majority_s, "ensemble_fit_and_select": ensemble_s}
    return out


def synthetic_timing(seed: int, problems: int = 1000, samples: int = 100) -> tuple[float, float]:
    """Seconds to fit the ensemble and select on random problems x samples (5 signals), and for majority."""
    rng = np.random.default_rng(seed)
    data = []
    for _ in range(problems):
        right = rng.random(samples) < 0.4
        answers = np.where(right, 0, rng.integers(1, 8, samples))
        data.append(
            [
                Candidate(
                    i,
                    str(answers[i]),
                    signals={
                        "a": float(right[i] + rng.normal()),
                        "b": float(rng.random() < (0.7 if right[i] else 0.3)),
                        "c": float(rng.normal()),
                        "d": float(rng.integers(0, 5)),
                        "e": float(rng.random()),
                    },
                )
                for i in range(samples)
            ]
        )
    started = time.perf_counter()
    fitted = Ensemble().fit(data)
    fitted.choices(SignalTable.from_candidates(data, fitted.raw_names))
    ensemble_s = time.perf_counter() - started
    started = time.perf_counter()
    for p in data:
        vote(p)
    return ensemble_s, time.perf_counter() - started


def show(dataset: Dataset, result: dict[str, Any]) -> None:
    print(
        f"\n{dataset.name}: {result['problems']} held-out problems (fitted on {result['training_problems']}), "
        f"k = {result['k']}"
    )
    for name, row in result["rows"].items():
        low, high = row["ci"]
        gain_low, gain_high = row["vs_majority_ci"]
        print(
            f"  {name:<58} {100 * row['value']:5.1f}  [{100 * low:5.1f}, {100 * high:5.1f}]  "
            f"vs majority {100 * row['vs_majority']:+5.1f} [{100 * gain_low:+5.1f}, {100 * gain_high:+5.1f}]"
        )
    print(f"  rule (no labels): {result['ensemble']['reason']}")
    labelled = result["ensemble_with_labels"]
    print(f"  rule (with labels, {labelled['labels_used']} labelled answers): {labelled['reason']}")
    few = result["ensemble_with_a_few_labels"]
    print(f"  rule (a tenth of the labels, {few['labels_used']} labelled answers): {few['reason']}")
    checks = ", ".join(
        f"{c['signal']} {c['effect']:+.3f} (t {c['t']:+.1f}{', confirmed' if c['confirmed'] else ''})"
        for c in result["ensemble"]["checks"]
    )
    print(f"  signals against the vote: {checks}")
    shown = ", ".join(
        f"{w['signal']} {w['weight']:+.2f}" for w in result["ensemble"]["signals"] if w["duplicate_of"] is None
    )
    print(f"  label model weights (no labels, {result['ensemble']['method']}): {shown}")
    t = result["timing_s"]
    print(f"  time: ensemble fit + select {t['ensemble_fit_and_select']:.3f}s; majority {t['majority']:.3f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", help="several splits, e.g. 0,1,2,3,4: the first printed in full, then medians")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=1, help="the label model's EM rounds (the ensemble's `rounds`)")
    parser.add_argument("--datasets", default="svamp,humaneval,game24")
    parser.add_argument("--reward-scores", help="an .npz of task_ids, indices, scores from the reward benchmark")
    parser.add_argument("--synthetic", action="store_true", help="also time 1,000 random problems x 100 samples")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    started = time.perf_counter()
    data = shared_data()
    rm = None
    if args.reward_scores:
        with np.load(args.reward_scores) as stored:
            triples = zip(stored["task_ids"], stored["indices"], stored["scores"], strict=True)
            rm = {(str(t), int(i)): float(s) for t, i, s in triples}
    wanted = set(args.datasets.split(","))
    datasets: list[Dataset] = []
    if "svamp" in wanted:
        datasets.append(load_svamp(data))
    if "humaneval" in wanted:
        datasets.append(load_humaneval(data))
    if "game24" in wanted:
        datasets.extend(load_game24(data))
    loaded = time.perf_counter() - started
    report: dict[str, Any] = {}
    seeds = [int(seed) for seed in args.seeds.split(",")] if args.seeds else [args.seed]
    print(
        f"held-out problems (split by task id, test fraction {args.test_fraction}, seed {seeds[0]}); "
        f"k = every sample; 95% percentile bootstrap intervals over problems ({args.bootstrap} resamples), "
        "and of the paired difference with majority"
    )
    by_seed: dict[str, list[dict[str, Any]]] = {}
    for seed in seeds:
        args.seed = seed
        for dataset in datasets:
            result = evaluate(dataset, args, rm)
            by_seed.setdefault(dataset.name, []).append(result)
            if seed == seeds[0]:
                report[dataset.name] = result
                show(dataset, result)
    if len(seeds) > 1:
        print(f"\nmedians over {len(seeds)} splits (seeds {args.seeds}): held-out accuracy, difference with majority")
        for name, results in by_seed.items():
            print(f"\n{name}: {int(np.median([r['problems'] for r in results]))} held-out problems (median)")
            for row in results[0]["rows"]:
                values = [r["rows"][row] for r in results if row in r["rows"]]
                value = [100 * v["value"] for v in values]
                gain = [100 * v["vs_majority"] for v in values]
                print(
                    f"  {row:<58} {np.median(value):5.1f}  (range {min(value):5.1f}-{max(value):5.1f})  "
                    f"vs majority {np.median(gain):+5.1f} (range {min(gain):+5.1f} to {max(gain):+5.1f})"
                )
        report["medians"] = {
            name: {
                row: float(np.median([r["rows"][row]["value"] for r in results if row in r["rows"]]))
                for row in results[0]["rows"]
            }
            for name, results in by_seed.items()
        }
    if args.synthetic:
        ensemble_s, majority_s = synthetic_timing(args.seed)
        print(
            f"\nsynthetic 1,000 problems x 100 samples, 5 signals: ensemble fit + select {ensemble_s:.2f}s, "
            f"majority {majority_s:.2f}s ({ensemble_s / majority_s:.1f}x majority)"
        )
        report["synthetic_s"] = {"ensemble": ensemble_s, "majority": majority_s}
    print(f"\nloading {loaded:.1f}s; total {time.perf_counter() - started:.1f}s")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
