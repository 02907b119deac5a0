"""`assay review` with a million samples: next-sample and save-label latency over real HTTP.

    python -m benchmarks.review [--samples 1000000] [--labels 400] [--dir DIR]

Writes synthetic tasks, samples and two verifiers' verdicts (`--samples` samples, 50 per task, texts of
about 200 characters with Markdown and LaTeX; kept in `--dir` and reused when the sizes match), builds
the review index (timed), starts `assay review` as its own process on loopback, signs in, and then, as a
reviewer would, for `--labels` rounds:

- save-label: POST /api/label on the sample shown (append the label, commit with fsync, find the next
  sample that wants this reviewer's label);
- next-sample: GET the page of the sample it returned (rendered: Markdown, MathML, verdicts);

and finally `--labels` pages at uniformly random positions among all the samples (the index, not a warm
prefix). Reported: p50/p99/max of each in ms, as a ratio to the 50 ms budget (the anchor); the server's CPU
time per round (what a request costs, apart from waiting for a core on a busy machine); and its resident
memory, which stays far below the size of the inputs: pages read SQLite, not memory.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BUDGET_MS = 50.0
PER_TASK = 50


def write_inputs(folder: Path, samples: int) -> tuple[Path, Path, list[Path]]:
    folder.mkdir(parents=True, exist_ok=True)
    tasks_path, samples_path = folder / "tasks.jsonl", folder / "samples.jsonl"
    verdict_paths = [folder / "math.jsonl", folder / "reward.jsonl"]
    stamp = folder / f"complete-{samples}"
    if stamp.exists():
        return tasks_path, samples_path, verdict_paths
    rng = random.Random(0)
    task_count = max(1, samples // PER_TASK)
    with open(tasks_path, "w") as handle:
        for t in range(task_count):
            prompt = f"Problem {t}: find $x$ such that $x^2 - {t % 97} = 0$, then give $\\frac{{x}}{{2}}$."
            handle.write(json.dumps({"id": f"p{t}", "prompt": prompt, "reference": {"answer": str(t % 7)}}) + "\n")
    with open(samples_path, "w") as s, open(verdict_paths[0], "w") as m, open(verdict_paths[1], "w") as r:
        for n in range(samples):
            t, j = divmod(n, PER_TASK)
            answer = rng.choice("0123456")
            text = (
                f"We have $x^2 = {t % 97}$, so **x** is its square root. Halving, the result is "
                f"$\\frac{{x}}{{2}}$. Checking the cases one by one gives {answer}.\n\n"
                f"The answer is $\\boxed{{{answer}}}$."
            )
            s.write(json.dumps({"task_id": f"p{t}", "index": j, "text": text}) + "\n")
            right = answer == str(t % 7)
            m.write(
                json.dumps(
                    {
                        "task_id": f"p{t}",
                        "sample_index": j,
                        "verifier": "math@0.1.0",
                        "status": "pass" if right else "fail",
                        "passed": right,
                        "answer": answer,
                        "reason": None if right else "wrong_answer",
                        "details": {"extracted": answer},
                    }
                )
                + "\n"
            )
            score = min(1.0, max(0.0, rng.gauss(0.7 if right else 0.3, 0.2)))
            r.write(
                json.dumps(
                    {
                        "task_id": f"p{t}",
                        "sample_index": j,
                        "verifier": "reward@0.1.0",
                        "status": "pass" if score >= 0.5 else "fail",
                        "passed": score >= 0.5,
                        "score": round(score, 4),
                    }
                )
                + "\n"
            )
    stamp.touch()
    return tasks_path, samples_path, verdict_paths


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(name: str, values: list[float]) -> dict[str, float]:
    p50, p99 = statistics.median(values), percentile(values, 0.99)
    print(
        f"  {name:28s} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms ({p99 / BUDGET_MS:.2f} x the {BUDGET_MS:.0f} ms budget)"
        f"   max {max(values):6.2f} ms   n={len(values)}"
    )
    return {"p50_ms": round(p50, 3), "p99_ms": round(p99, 3), "max_ms": round(max(values), 3)}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    """CPU time (user + system) the process has used: what a request costs, whatever the queue for a core."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--labels", type=int, default=400, help="save-label/next-sample rounds (default 400)")
    parser.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "assay-bench-review"))
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    folder = Path(args.dir)
    started = time.perf_counter()
    tasks, samples, verdicts = write_inputs(folder, args.samples)
    print(f"inputs: {args.samples:,} samples, 2 verifiers ({time.perf_counter() - started:.1f} s to write or find)")
    input_mb = sum(p.stat().st_size for p in [tasks, samples, *verdicts]) / 1e6

    from assay.review import index_path_for
    from assay.review.index import build_index

    # The index is kept with the inputs (rebuilt only when they change); the labels start empty each run.
    labels = folder / "labels.sqlite"
    for stale in (labels, Path(f"{labels}-wal"), Path(f"{labels}-shm")):
        stale.unlink(missing_ok=True)
    index = index_path_for(labels)
    started = time.perf_counter()
    build_index(index, tasks, samples, verdicts, progress=True)
    build_s = time.perf_counter() - started
    print(f"index built or found in {build_s:.1f} s ({index.stat().st_size / 1e6:.0f} MB; inputs {input_mb:.0f} MB)")

    launched = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "assay",
            "review",
            str(tasks),
            str(samples),
            "--verdicts",
            *map(str, verdicts),
            "--labels",
            str(labels),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        found = re.search(r"(http://\S+/)", first)
        if found is None:
            raise SystemExit(f"assay review did not start: {first}{process.stdout.read()}")
        url = found.group(1)
        startup_s = time.perf_counter() - launched
        client = httpx.Client(base_url=url, timeout=30)
        client.post("/login", data={"name": "bench"})
        page = client.get("/")
        token = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page.text)
        at = re.search(r'data-position="(\d+)"', page.text)
        assert token is not None and at is not None
        headers = {"X-CSRF-Token": token.group(1)}
        position = int(at.group(1))
        rss_start = rss_mb(process.pid)
        cpu_start = cpu_s(process.pid)
        save_ms: list[float] = []
        next_ms: list[float] = []
        for round_number in range(args.labels):
            label = ("correct", "wrong", "unsure")[round_number % 3]
            t0 = time.perf_counter()
            saved = client.post("/api/label", json={"position": position, "label": label}, headers=headers)
            t1 = time.perf_counter()
            assert saved.status_code == 200, saved.text
            shown = client.get(saved.json()["next"])
            t2 = time.perf_counter()
            assert shown.status_code == 200
            following = re.search(r'data-position="(\d+)"', shown.text)
            assert following is not None
            position = int(following.group(1))
            save_ms.append(1000 * (t1 - t0))
            next_ms.append(1000 * (t2 - t1))
        cpu_per_round_ms = 1000 * (cpu_s(process.pid) - cpu_start) / args.labels
        rng = random.Random(1)
        random_ms: list[float] = []
        for _ in range(args.labels):
            target = rng.randrange(args.samples)
            t0 = time.perf_counter()
            response = client.get("/", params={"at": target})
            random_ms.append(1000 * (time.perf_counter() - t0))
            assert response.status_code == 200
        rss_end = rss_mb(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    print(f"server up in {startup_s:.1f} s (index found, label state rebuilt); over HTTP on loopback:")
    figures = {
        "samples": args.samples,
        "index_build_s": round(build_s, 1),
        "server_startup_s": round(startup_s, 1),
        "save_label": summary("save-label (POST)", save_ms),
        "next_sample": summary("next-sample (page)", next_ms),
        "random_sample": summary("random sample (page)", random_ms),
        "server_cpu_per_save_and_page_ms": round(cpu_per_round_ms, 2),
        "server_rss_mb": {"start": round(rss_start), "end": round(rss_end)},
        "inputs_mb": round(input_mb),
        "load_average": os.getloadavg()[0],
    }
    print(f"  server CPU time per save-label + next-sample page: {cpu_per_round_ms:.2f} ms")
    print(f"  server resident memory {rss_start:.0f} MB -> {rss_end:.0f} MB (inputs {input_mb:.0f} MB on disk)")
    print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    worst = max(figures["save_label"]["p99_ms"], figures["next_sample"]["p99_ms"])  # type: ignore[index]
    return 0 if worst < BUDGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
