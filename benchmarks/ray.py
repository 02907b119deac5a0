"""The Ray executor against the local one on one machine, and over several Ray nodes on this machine.

    python -m benchmarks.ray [--samples 5000] [--runs 3] [--max-nodes 3] [--json OUT]

1. One node: `assay.verify` with `--jobs 2` over `--samples` math samples (the cases of benchmarks/serve.py:
   the vendored Math-Verify/lighteval slice, every task distinct so nothing is deduplicated, no cache), on
   the local executor and on a Ray started on this machine (loopback), runs alternating local, Ray cold,
   Ray warm, `--runs` each, medians. Ray cold: fresh actors per run (`ray_executor(None)`), as each local
   run forks fresh workers: their start-up (a new Python process per actor that imports Ray, assay, the
   plugin and sympy) is in the figure. Ray warm: `keep_warm=True`, the same two actors for every run (what
   a training loop or a server that verifies every step gets after its first step); their start-up is paid
   once, before the timed runs, and their verifiers keep their caches of parsed answers from one run to
   the next (these samples have 61 distinct texts). Reported: samples/s end to end (start-up included:
   forking workers, starting or waking actors) and after start-up (the time to the first verdict taken
   off: what a long job sees), and Ray/local for both, each as the median over runs of the ratio against
   the local run just before it.
2. Scaling: a Ray cluster of 1, 2, ... `--max-nodes` nodes on loopback (`ray.cluster_utils.Cluster`: a head
   that runs no work and one raylet per node, each offering one CPU, one actor per node), the same samples,
   `--runs` runs per size, medians after start-up. Each node's actor is one process; the nodes share this
   machine's cores, so throughput can rise with nodes only up to the machine's core count.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.serve import load_cases


def _workload(cases: list[dict[str, Any]], samples: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    tasks = [
        {"id": f"t{i}", "reference": {"answer": cases[i % len(cases)]["gold"]}, "metadata": {"n": i}}
        for i in range(samples)
    ]
    rows = [{"task_id": f"t{i}", "index": 0, "text": cases[i % len(cases)]["prediction"]} for i in range(samples)]
    return tasks, rows


def _timed_run(tasks: list[dict[str, Any]], rows: list[dict[str, Any]], jobs: int, factory: Any) -> tuple[float, float]:
    """(seconds end to end, seconds until the first verdict) for one run into a fresh store: by the first
    verdict the workers or actors are up and their verifiers built."""
    import assay

    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        run = assay.verify(tasks, rows, "math", jobs=jobs, store=os.path.join(folder, "s.sqlite"),
                           use_cache=False, progress=False, executor=factory)  # fmt: skip
        first = 0.0
        for _ in run.records():
            first = first or time.perf_counter() - started
        elapsed = time.perf_counter() - started
    summary = run.summary
    assert summary.samples == len(rows) and summary.deduplicated == 0
    assert summary.statuses.get("error", 0) == _local_errors(tasks, rows), "Ray and local verdicts differ"
    return elapsed, first


_errors_by_size: dict[int, int] = {}


def _local_errors(tasks: list[dict[str, Any]], rows: list[dict[str, Any]]) -> int:
    """How many `error` verdicts the local executor gives these samples (some cases are errors for any
    executor): every run must give the same number."""
    import assay

    if len(rows) not in _errors_by_size:
        summary = assay.verify(tasks, rows, "math", jobs=2, store=":memory:", use_cache=False, progress=False).run()
        _errors_by_size[len(rows)] = summary.statuses.get("error", 0)
    return _errors_by_size[len(rows)]


def one_node(cases: list[dict[str, Any]], samples: int, runs: int) -> dict[str, Any]:
    import ray

    from assay.executors.ray import ray_executor, shutdown_warm_actors

    tasks, rows = _workload(cases, samples)
    # 4 logical CPUs (the machine's cores are what they are): room for the two parked warm actors and the
    # two fresh ones of a cold run side by side, so that neither has to make room for the other.
    ray.init(include_dashboard=False, log_to_driver=False, logging_level="WARNING", num_cpus=4)
    warm = ray_executor(None, keep_warm=True)
    try:
        _timed_run(tasks[:200], rows[:200], 2, ray_executor(None))  # Ray's first workers start once
        _timed_run(tasks[:200], rows[:200], 2, warm)  # the warm actors start (and are parked) once
        times: dict[str, list[tuple[float, float]]] = {"local": [], "cold": [], "warm": []}
        for _ in range(runs):
            times["local"].append(_timed_run(tasks, rows, 2, None))
            times["cold"].append(_timed_run(tasks, rows, 2, ray_executor(None)))
            times["warm"].append(_timed_run(tasks, rows, 2, warm))
    finally:
        shutdown_warm_actors()
        ray.shutdown()

    figures: dict[str, Any] = {"samples": samples, "jobs": 2, "runs": runs}
    for name, measured in times.items():
        figures[f"{name}_samples_per_s"] = round(samples / statistics.median(t for t, _ in measured), 1)
        steady = statistics.median(t - ready for t, ready in measured)
        figures[f"{name}_after_start_samples_per_s"] = round(samples / steady, 1)
        figures[f"{name}_start_s"] = round(statistics.median(ready for _, ready in measured), 2)
    for name in ("cold", "warm"):
        # Per run, against the local run just before it (the machine's load drifts), then the median.
        figures[f"{name}_over_local"] = round(
            statistics.median(l_t / r_t for (l_t, _), (r_t, _) in zip(times["local"], times[name], strict=True)), 3
        )
        figures[f"{name}_over_local_after_start"] = round(
            statistics.median(
                (l_t - l_ready) / (r_t - r_ready)
                for (l_t, l_ready), (r_t, r_ready) in zip(times["local"], times[name], strict=True)
            ),
            3,
        )
    return figures


def scaling(cases: list[dict[str, Any]], samples: int, runs: int, max_nodes: int) -> list[dict[str, Any]]:
    import ray
    from ray.cluster_utils import Cluster

    from assay.executors.ray import ray_executor

    tasks, rows = _workload(cases, samples)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    table: list[dict[str, Any]] = []
    try:
        ray.init(address=cluster.address, log_to_driver=False, logging_level="WARNING")
        for nodes in range(1, max_nodes + 1):
            cluster.add_node(num_cpus=1)
            cluster.wait_for_nodes()
            _timed_run(tasks[:200], rows[:200], nodes, ray_executor(None))  # the new node's first worker
            times = [_timed_run(tasks, rows, nodes, ray_executor(None)) for _ in range(runs)]
            steady = statistics.median(t - ready for t, ready in times)
            table.append({"nodes": nodes, "actors": nodes, "after_start_samples_per_s": round(samples / steady, 1)})
        for row in table:
            row["over_one_node"] = round(row["after_start_samples_per_s"] / table[0]["after_start_samples_per_s"], 2)
    finally:
        ray.shutdown()
        cluster.shutdown()
    return table


def main() -> int:
    from assay.executors.ray import prepare_ray_environment

    prepare_ray_environment(None)  # before Ray is imported: loopback only, no usage statistics
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-nodes", type=int, default=3)
    parser.add_argument("--skip-scaling", action="store_true")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    cases = load_cases()
    figures: dict[str, Any] = {"cpus": os.cpu_count(), "load_average_before": os.getloadavg()[0]}
    figures["one_node"] = one = one_node(cases, args.samples, args.runs)
    print(f"one node ({one['samples']} samples, jobs 2, runs alternating local / Ray cold / Ray warm, medians of "
          f"{one['runs']}; load average {figures['load_average_before']:.1f} on {figures['cpus']} CPUs):")
    for span, suffix in (("end to end", ""), ("after start", "_after_start")):
        line = f"  {span + ':':13}local {one[f'local{suffix}_samples_per_s']}/s"
        for name in ("cold", "warm"):
            rate, ratio = one[f"{name}{suffix}_samples_per_s"], one[f"{name}_over_local{suffix}"]
            line += f"; Ray {name} {rate}/s, Ray/local = {ratio}"
        print(line)
    print(f"  first verdict after: local {one['local_start_s']}s, Ray cold {one['cold_start_s']}s, "
          f"Ray warm {one['warm_start_s']}s")
    if not args.skip_scaling:
        figures["scaling"] = table = scaling(cases, args.samples, args.runs, args.max_nodes)
        print(f"scaling (Ray nodes on loopback, 1 CPU and 1 actor each, {figures['cpus']} cores shared, "
              f"medians of {args.runs}, after start-up):")
        print("  | nodes | samples/s | x one node |")
        print("  | ---: | ---: | ---: |")
        for row in table:
            print(f"  | {row['nodes']} | {row['after_start_samples_per_s']} | {row['over_one_node']} |")
    figures["load_average_after"] = os.getloadavg()[0]
    print(f"load average after: {figures['load_average_after']:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
