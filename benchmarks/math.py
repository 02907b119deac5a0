"""assay-math against Math-Verify 0.9.0 on the math-equality corpus: accuracy and throughput, same run.

    python benchmarks/math.py [--cases PATH] [--rounds 3] [--json OUT]

Needs `pip install 'assay-math[bench]'` (Math-Verify 0.9.0) and the corpus (../shared/data/math-equality, or
$ASSAY_SHARED_DATA). Accuracy: the share of cases whose verdict equals the upstream label, per source and per
mode, with one configuration for every case (assay-math's defaults; Math-Verify's `verify(parse(g), parse(p))`,
and again with bare answers wrapped in `$...$`). Throughput: cases per CPU-second of this process, median over
rounds, with assay-math's parse cache emptied before every case so that duplicate cases are not free.
"""

from __future__ import annotations

import os
import sys

# This file is named math.py: run as a script, its folder would shadow the standard library's `math`.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
Case = dict[str, Any]


def corpus_path(explicit: str | None) -> Path | None:
    if explicit:
        return Path(explicit)
    sys.path.insert(0, str(ROOT))
    from conftest import shared_data_dir

    base = shared_data_dir()
    return None if base is None else base / "math-equality" / "cases.jsonl"


def assay_grader() -> tuple[Callable[[Case], bool | None], Callable[[], None], Any]:
    from assay import Sample, Task
    from assay_math import MathVerifier

    verifier = MathVerifier()

    def grade(case: Case) -> bool | None:
        task = Task(id=case["id"], reference={"answer": case["gold"]})
        return verifier.verify(task, Sample(task_id=case["id"], index=0, text=case["prediction"])).passed

    def cold() -> None:
        verifier.reader.cache.clear()

    return grade, cold, verifier


def math_verify_grader(wrap_bare: bool) -> Callable[[Case], bool | None]:
    from math_verify import parse, verify

    def wrap(text: str) -> str:
        return text if "$" in text or "\\(" in text or "\\[" in text or "\\boxed" in text else f"${text}$"

    def grade(case: Case) -> bool | None:
        gold, pred = case["gold"], case["prediction"]
        if wrap_bare:
            gold, pred = wrap(gold), wrap(pred)
        try:
            return bool(verify(parse(gold), parse(pred)))
        except Exception:  # Math-Verify raises on some inputs; count it as a 'no'
            return False

    return grade


def run(cases: list[Case], grade: Callable[[Case], bool | None], before: Callable[[], None] | None) -> dict[str, Any]:
    verdicts: list[bool | None] = []
    times: list[float] = []
    cpu_started = time.process_time()
    for case in cases:
        if before is not None:
            before()
        started = time.perf_counter()
        verdicts.append(grade(case))
        times.append(time.perf_counter() - started)
    cpu = time.process_time() - cpu_started
    return {"verdicts": verdicts, "times": times, "cpu_s": cpu}


def accuracy(cases: list[Case], verdicts: list[bool | None]) -> dict[str, Any]:
    groups: dict[str, list[bool]] = defaultdict(list)
    for case, verdict in zip(cases, verdicts, strict=True):
        right = verdict == case["expected"]
        groups["all"].append(right)
        groups[f"source={case['source']}"].append(right)
        groups[f"mode={case['mode']}"].append(right)
    return {
        key: {"correct": sum(v), "total": len(v), "accuracy": round(100 * sum(v) / len(v), 1)}
        for key, v in groups.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", help="cases.jsonl (default: the shared math-equality corpus)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per grader (median reported)")
    parser.add_argument("--json", help="also write the full results here")
    parser.add_argument("--time-bound", type=float, default=5.0)
    args = parser.parse_args(argv)

    path = corpus_path(args.cases)
    if path is None or not path.exists():
        where = path or "the shared math-equality corpus"
        print(f"{where}: no such file (set ASSAY_SHARED_DATA or pass --cases)", file=sys.stderr)
        return 2
    cases = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    grade, cold, verifier = assay_grader()
    graders: dict[str, tuple[Callable[[Case], bool | None], Callable[[], None] | None]] = {
        "assay-math": (grade, cold),
        "math-verify": (math_verify_grader(wrap_bare=False), None),
        "math-verify ($-wrapped)": (math_verify_grader(wrap_bare=True), None),
    }
    for g, before in graders.values():  # warm-up: imports, sympy caches, first-call costs
        run(cases[:20], g, before)

    results: dict[str, Any] = {}
    for name, (g, before) in graders.items():
        rounds = [run(cases, g, before) for _ in range(args.rounds)]
        throughputs = [len(cases) / r["cpu_s"] for r in rounds]
        times = [statistics.median(ts) for ts in zip(*(r["times"] for r in rounds), strict=True)]
        results[name] = {
            "accuracy": accuracy(cases, rounds[0]["verdicts"]),
            "cases_per_cpu_s": round(statistics.median(throughputs), 1),
            "cases_per_cpu_s_rounds": [round(t, 1) for t in throughputs],
            "median_case_ms": round(1000 * statistics.median(times), 2),
            "p99_case_ms": round(1000 * sorted(times)[int(0.99 * (len(times) - 1))], 1),
            "max_case_s": round(max(max(r["times"]) for r in rounds), 3),
            "over_time_bound": sum(1 for r in rounds for t in r["times"] if t > args.time_bound),
            "failures": [
                {"id": c["id"], "expected": c["expected"], "label_note": (c.get("label_note") or {}).get("kind")}
                for c, v in zip(cases, rounds[0]["verdicts"], strict=True)
                if v != c["expected"]
            ],
        }

    anchor = results["math-verify"]
    ours = results["assay-math"]
    print(f"corpus: {path} ({len(cases)} cases), {args.rounds} rounds, machine: {os.cpu_count()} CPUs")
    print(f"{'grader':26} {'all':>7} {'per source / mode':60} {'cases/CPU-s':>12} {'median ms':>10} {'max s':>7}")
    for name, r in results.items():
        acc = r["accuracy"]
        split = "  ".join(f"{k.split('=')[1]} {v['accuracy']}" for k, v in acc.items() if k != "all")
        print(
            f"{name:26} {acc['all']['accuracy']:>6}% {split:60} {r['cases_per_cpu_s']:>12} "
            f"{r['median_case_ms']:>10} {r['max_case_s']:>7}"
        )
    ratio = ours["cases_per_cpu_s"] / anchor["cases_per_cpu_s"]
    print(f"throughput ratio assay-math / math-verify: {ratio:.2f}x (median of rounds, same process)")
    print(
        f"assay-math cases over the {args.time_bound:g} s bound: {ours['over_time_bound']}; "
        f"math-verify: {anchor['over_time_bound']}"
    )
    print(
        "assay-math failures:",
        ", ".join(f"{f['id']}" + (f" ({f['label_note']})" if f["label_note"] else "") for f in ours["failures"])
        or "none",
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "ratio": ratio, "verifier": verifier.id}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
