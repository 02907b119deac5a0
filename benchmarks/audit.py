"""The audit's speed against its two anchors: the full SVAMP audit (999 problems x 30 samples, every selector,
bootstrap) in under 2 s, and a synthetic audit of 1,000 problems x 10,000 samples in under 30 s and 2 GB.

    python benchmarks/audit.py [--rounds 5] [--skip-synthetic] [--json OUT]

SVAMP: the bundled examples/data/svamp-pot-codex with real `math` verdicts (made once with `assay verify`,
not timed) and a graded scorer (the source's log-probability rank as a score), so that every built-in
selector runs; timed from the files to the finished report.json (load, curves, bootstrap, verifier metrics),
and separately with the HTML report and its plots. Synthetic: the arrays are built in memory, then
`assay.audit.audit` runs in a fresh process whose peak resident memory is read from the kernel. Each figure
is printed as a ratio against its anchor (below 1 meets it); medians over rounds. Wall-clock time is what the
anchors name; the CPU time of the process and the load average are printed beside it, because on a shared
machine the wall clock also counts other people's work.
"""

from __future__ import annotations

import os
import sys

# benchmarks/ holds a math.py: run as a script, this folder would shadow the standard library's `math`.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SVAMP = ROOT / "examples" / "data" / "svamp-pot-codex"
SVAMP_ANCHOR_S = 2.0
SYNTHETIC_ANCHOR_S = 30.0
SYNTHETIC_ANCHOR_BYTES = 2e9


def svamp_verdicts(directory: Path) -> list[Path]:
    """Real math verdicts for the bundled SVAMP samples, and rank scores from the source's log-probabilities."""
    math_verdicts = directory / "math.jsonl"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "assay",
            "verify",
            str(SVAMP / "tasks.jsonl.gz"),
            str(SVAMP / "samples.jsonl.gz"),
            "--verifier",
            "math",
            "-o",
            str(math_verdicts),
            "--store",
            str(directory / "store.sqlite"),
            "--quiet",
        ],
        check=True,
    )
    from assay.jsonl import read_lines, write_jsonl

    # Sample indices are the source's log-probability ranks (0: most likely of 30): a graded score.
    rank_scores = (
        {
            "task_id": s["task_id"],
            "sample_index": s["index"],
            "verifier": "logprob-rank@1",
            "status": "skipped",
            "passed": None,
            "score": 1.0 - s["index"] / 30.0,
        }
        for _, s in read_lines(SVAMP / "samples.jsonl.gz")
        if isinstance(s, dict)
    )
    ranks = write_jsonl(directory / "rank.jsonl", rank_scores)
    return [math_verdicts, ranks]


def time_svamp(rounds: int) -> dict[str, Any]:
    from assay.audit import audit_files

    with tempfile.TemporaryDirectory() as scratch:
        verdicts = svamp_verdicts(Path(scratch))
        report = audit_files(SVAMP / "tasks.jsonl.gz", SVAMP / "samples.jsonl.gz", verdicts)  # warm imports
        compute, cpu, with_html = [], [], []
        for i in range(rounds):
            started, started_cpu = time.perf_counter(), time.process_time()
            report = audit_files(SVAMP / "tasks.jsonl.gz", SVAMP / "samples.jsonl.gz", verdicts)
            report.write(Path(scratch) / f"json{i}", html=False)
            compute.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
            started = time.perf_counter()
            report = audit_files(SVAMP / "tasks.jsonl.gz", SVAMP / "samples.jsonl.gz", verdicts)
            report.write(Path(scratch) / f"html{i}", html=True)
            with_html.append(time.perf_counter() - started)
    curves = {c["name"]: (c["method"], c["value"][-1]) for c in report.json["curves"]}
    return {
        "problems": report.json["problems"],
        "samples": report.json["samples"],
        "curves": curves,
        "bootstrap": report.json["options"]["bootstrap"],
        "seconds": compute,
        "median_s": statistics.median(compute),
        "ratio": statistics.median(compute) / SVAMP_ANCHOR_S,
        "median_cpu_s": statistics.median(cpu),
        "with_html_s": statistics.median(with_html),
        "timings": report.timings,
    }


def synthetic(problems: int, samples: int, seed: int = 0) -> Any:
    """Problems of varied difficulty; a correct answer and a long tail of wrong ones; a pass/fail judge with
    5 % false positives and 10 % false negatives (judged twice, for flakiness); a graded reward score."""
    from assay.audit.data import AnswerGroups, AuditData, VerifierData

    rng = np.random.default_rng(seed)
    difficulty = rng.beta(0.35, 1.5, size=problems)
    label = rng.random((problems, samples), dtype=np.float32) < difficulty[:, None]
    wrong = np.minimum(rng.zipf(1.6, size=(problems, samples)), 200).astype(np.int32)
    group = np.where(label, 0, wrong).astype(np.int32)
    judge = np.where(
        label, rng.random(label.shape, dtype=np.float32) > 0.10, rng.random(label.shape, dtype=np.float32) < 0.05
    )
    rerun = np.where(rng.random(label.shape, dtype=np.float32) < 0.01, ~judge, judge)
    passed = np.stack([judge, rerun]).astype(np.int8)
    reward = 1.0 / (1.0 + np.exp(-(rng.normal(size=label.shape).astype(np.float32) + np.where(label, 1.0, -1.0))))
    no_answers: list[list[str]] = [[] for _ in range(problems)]
    data = AuditData(
        task_ids=[f"p{i}" for i in range(problems)],
        index=np.broadcast_to(np.arange(samples), (problems, samples)),
        valid=np.ones((problems, samples), dtype=bool),
        label=label,
        text_answers=AnswerGroups(group, no_answers),
        sources={"synthetic": f"{problems} x {samples}"},
    )
    nothing = np.full((problems, samples), -1, dtype=np.int32)
    data.verifiers["judge@1"] = VerifierData(
        "judge@1", passed, np.full(passed.shape, np.nan, dtype=np.float32), None, nothing, []
    )
    data.verifiers["reward@1"] = VerifierData(
        "reward@1",
        np.full((1, problems, samples), -1, dtype=np.int8),
        reward[None].astype(np.float64),
        None,
        nothing,
        [],
    )
    return data


def run_synthetic_child(problems: int, samples: int) -> None:
    """In a fresh process: build, audit, print timings and peak memory as JSON."""
    from assay.audit import audit

    started = time.perf_counter()
    data = synthetic(problems, samples)
    built = time.perf_counter() - started
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    started, started_cpu = time.perf_counter(), time.process_time()
    report = audit(data)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    curves = {c["name"]: (c["method"], c["mc_samples"], c["value"][-1]) for c in report.json["curves"]}
    print(
        json.dumps(
            {
                "build_s": built,
                "audit_s": elapsed,
                "audit_cpu_s": cpu,
                "peak_bytes": peak,
                "peak_before_audit_bytes": before,
                "curves": curves,
                "timings": report.timings,
            }
        )
    )


def time_synthetic(rounds: int, problems: int, samples: int) -> dict[str, Any]:
    results = []
    for _ in range(rounds):
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(problems), str(samples)],
            check=True,
            capture_output=True,
            text=True,
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    seconds = [r["audit_s"] for r in results]
    peaks = [r["peak_bytes"] for r in results]
    return {
        "problems": problems,
        "samples": samples,
        "seconds": seconds,
        "median_s": statistics.median(seconds),
        "ratio": statistics.median(seconds) / SYNTHETIC_ANCHOR_S,
        "median_cpu_s": statistics.median(r["audit_cpu_s"] for r in results),
        "peak_bytes": statistics.median(peaks),
        "memory_ratio": statistics.median(peaks) / SYNTHETIC_ANCHOR_BYTES,
        "curves": results[-1]["curves"],
        "timings": results[-1]["timings"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--synthetic-rounds", type=int, default=3)
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_synthetic_child(*args.child)
        return 0
    figures: dict[str, Any] = {"load_average_before": os.getloadavg(), "svamp": time_svamp(args.rounds)}
    svamp = figures["svamp"]
    print(
        f"load average before: {' '.join(f'{x:.1f}' for x in figures['load_average_before'])} ({os.cpu_count()} CPUs)"
    )
    print(
        f"SVAMP audit ({svamp['problems']} x 30, {len(svamp['curves'])} curves, {svamp['bootstrap']} bootstrap "
        f"replicates): median {svamp['median_s']:.3f} s over {args.rounds} rounds = {svamp['ratio']:.2f} x the 2 s "
        f"anchor; CPU time {svamp['median_cpu_s']:.3f} s (with HTML and plots: {svamp['with_html_s']:.3f} s)"
    )
    for name, (method, value) in svamp["curves"].items():
        print(f"  {name}: {method}, {100 * value:.1f} % at k=30")
    if not args.skip_synthetic:
        figures["synthetic"] = time_synthetic(args.synthetic_rounds, 1000, 10_000)
        synth = figures["synthetic"]
        print(
            f"synthetic audit (1,000 x 10,000): median {synth['median_s']:.2f} s = {synth['ratio']:.2f} x the 30 s "
            f"anchor (CPU time {synth['median_cpu_s']:.2f} s); peak memory {synth['peak_bytes'] / 1e9:.2f} GB = "
            f"{synth['memory_ratio']:.2f} x the 2 GB anchor"
        )
        for name, (method, replicates, value) in synth["curves"].items():
            print(
                f"  {name}: {method}{f' ({replicates} replicates)' if replicates else ''}, "
                f"{100 * value:.1f} % at k=10,000"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
