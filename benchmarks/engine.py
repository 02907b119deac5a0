"""What the engine costs a verifier: overhead per sample and peak memory, with a verifier that does nothing.

    python -m benchmarks.engine [--samples 100000] [--jobs 2] [--repeats 3]

Each run is a fresh process (`assay verify` through the Python API, JSONL in and out, a fresh SQLite
store), so its peak RSS is its own. Reported:
- overhead per sample = wall time / samples (the verifier does nothing, so all of it is the engine);
  the figure is printed as a ratio against the 0.2 ms/sample budget, and beside the cost of a bare
  in-process loop that only builds the models and calls `verify` (no files, no cache, no workers);
- peak memory of the engine process and of its workers, at n/10 and n samples: flat means the engine
  streams (memory does not grow with the number of samples).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from assay import Sample, Task, Verdict, Verifier

BUDGET_S = 0.2e-3


class Noop(Verifier):
    """Judges nothing: every cost measured with it is the engine's."""

    name = "noop"
    version = "1"
    kind = "symbolic"

    def verify(self, task: Task, sample: Sample) -> Verdict:
        return self.verdict(task, sample, "pass")


def write_inputs(folder: Path, samples: int, task_count: int = 1000) -> tuple[Path, Path]:
    """`task_count` tasks whatever the number of samples: tasks are held in memory by design, samples not."""
    per_task = max(1, samples // task_count)
    tasks = folder / "tasks.jsonl"
    with open(tasks, "wb") as handle:
        for t in range(task_count):
            handle.write(orjson.dumps({"id": f"task-{t}", "prompt": "p", "reference": {"answer": "42"}}) + b"\n")
    sample_file = folder / "samples.jsonl"
    with open(sample_file, "wb") as handle:
        for i in range(samples):
            row = {"task_id": f"task-{i // per_task % task_count}", "index": i, "text": f"answer number {i}"}
            handle.write(orjson.dumps(row) + b"\n")
    return tasks, sample_file


def child(tasks: str, samples: str, jobs: int, out: str) -> None:
    """One engine run, in this (fresh) process; prints a JSON line of measurements."""
    from assay.engine import VerifyRun

    started = time.perf_counter()
    run = VerifyRun(tasks, samples, Noop, jobs=jobs, out=out, store=out + ".sqlite", progress=False)
    summary = run.run()
    elapsed = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        json.dumps(
            {
                "samples": summary.samples,
                "wall_s": elapsed,
                "engine_cpu_s": own.ru_utime + own.ru_stime,
                "worker_cpu_s": workers.ru_utime + workers.ru_stime,
                "engine_mb": own.ru_maxrss / 1024,
                "worker_mb": workers.ru_maxrss / 1024,
            }
        )
    )


def bare_loop(samples_path: Path, limit: int) -> float:
    """Seconds per sample to parse, validate and verify in a plain loop: the floor any engine adds to."""
    verifier = Noop()
    task = Task(id="t", reference={"answer": "42"})
    started = time.perf_counter()
    with open(samples_path, "rb") as handle:
        for n, line in enumerate(handle):
            if n >= limit:
                break
            verifier.verify(task, Sample.model_validate(orjson.loads(line))).model_dump(mode="json")
    return (time.perf_counter() - started) / limit


def measure(tasks: Path, samples: Path, jobs: int, folder: Path) -> dict[str, float]:
    out = folder / f"verdicts-{time.monotonic_ns()}.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.engine", "--child", str(tasks), str(samples), str(jobs), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    measured: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    for leftover in folder.glob(out.name + "*"):
        leftover.unlink()
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        tasks, samples, jobs, out = args.child
        child(tasks, samples, int(jobs), out)
        return

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        small_dir, large_dir = folder / "small", folder / "large"
        small_dir.mkdir()
        large_dir.mkdir()
        small = write_inputs(small_dir, args.samples // 10)
        large = write_inputs(large_dir, args.samples)
        bare = statistics.median(bare_loop(large[1], 20_000) for _ in range(args.repeats))
        runs = [measure(*large, args.jobs, folder) for _ in range(args.repeats)]
        small_runs = [measure(*small, args.jobs, folder) for _ in range(args.repeats)]

    per_sample = statistics.median(r["wall_s"] / r["samples"] for r in runs)
    engine_cpu = statistics.median(r["engine_cpu_s"] / r["samples"] for r in runs)
    worker_cpu = statistics.median(r["worker_cpu_s"] / r["samples"] for r in runs)
    engine_mb = statistics.median(r["engine_mb"] for r in runs)
    small_engine_mb = statistics.median(r["engine_mb"] for r in small_runs)
    worker_mb = statistics.median(r["worker_mb"] for r in runs)
    small_worker_mb = statistics.median(r["worker_mb"] for r in small_runs)
    print(f"engine, no-op verifier, {args.samples:,} samples, --jobs {args.jobs}, {os.cpu_count()} CPUs, "
          f"median of {args.repeats}")
    print(f"  overhead per sample     {per_sample * 1e3:.4f} ms   = {per_sample / BUDGET_S:.2f}x the 0.2 ms budget")
    print(f"  CPU per sample          engine process {engine_cpu * 1e3:.4f} ms, workers {worker_cpu * 1e3:.4f} ms "
          "(wall time on a loaded machine can exceed these; CPU time cannot be stolen)")
    print(f"  bare in-process loop    {bare * 1e3:.4f} ms   (engine / bare = {per_sample / bare:.2f}x)")
    print(f"  throughput              {1 / per_sample:,.0f} samples/s")
    print(f"  peak RSS, engine        {small_engine_mb:.0f} MB at {args.samples // 10:,} samples, "
          f"{engine_mb:.0f} MB at {args.samples:,} (ratio {engine_mb / small_engine_mb:.2f})")
    print(f"  peak RSS, one worker    {small_worker_mb:.0f} MB at {args.samples // 10:,} samples, "
          f"{worker_mb:.0f} MB at {args.samples:,} (ratio {worker_mb / small_worker_mb:.2f})")


if __name__ == "__main__":
    main()
