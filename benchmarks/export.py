"""What `assay export` costs: time per sample and peak memory, at n/10 and n samples.

    python -m benchmarks.export [--samples 1000000] [--per-problem 100]

Input in the worst order (samples and verdicts each shuffled, so nothing is grouped by problem), 200
bytes of text per sample. Each export runs in a fresh process so its peak RSS is its own. Reported as
ratios against the named anchor measured in the same run: a bare pass that only reads and parses the same
samples file (`assay.jsonl.read_lines`), in time and in peak memory.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from assay.jsonl import write_jsonl

_EXPORT = (
    "import resource, sys\n"
    "from assay.export import export\n"
    "export(sys.argv[1], sys.argv[2], [sys.argv[3]], kind='preference', out=sys.argv[4], per_problem=4)\n"
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
)
_ANCHOR = (
    "import resource, sys\n"
    "from assay.export import export\n"  # the same imports, so the anchor's memory has them too
    "from assay.jsonl import read_lines\n"
    "sum(1 for _ in read_lines(sys.argv[2]))\n"
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
)


def _data(folder: Path, samples: int, per_problem: int) -> list[str]:
    rng = random.Random(0)
    problems = max(1, samples // per_problem)
    order = list(range(samples))
    rng.shuffle(order)
    filler = "x" * 180
    write_jsonl(folder / "tasks.jsonl", ({"id": f"p{p}", "prompt": f"q{p}", "reference": {"answer": "1"}}
                                         for p in range(problems)))  # fmt: skip
    write_jsonl(folder / "samples.jsonl", ({"task_id": f"p{i % problems}", "index": i // problems,
                                            "text": f"{i} {filler}"} for i in order))  # fmt: skip
    rng.shuffle(order)
    write_jsonl(folder / "verdicts.jsonl", ({"task_id": f"p{i % problems}", "sample_index": i // problems,
                                             "verifier": "v@1", "status": "pass" if i % 3 == 0 else "fail",
                                             "passed": i % 3 == 0, "answer": str(i % 4)} for i in order))  # fmt: skip
    return [str(folder / name) for name in ("tasks.jsonl", "samples.jsonl", "verdicts.jsonl", "out.jsonl")]


def _run(script: str, args: list[str]) -> tuple[float, float]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, check=True)
    return time.perf_counter() - started, int(done.stdout.strip()) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--per-problem", type=int, default=100)
    options = parser.parse_args()
    print("| samples | export s | anchor s | time ratio | export peak MiB | anchor peak MiB | memory ratio |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for count in (options.samples // 10, options.samples):
        with tempfile.TemporaryDirectory() as folder:
            args = _data(Path(folder), count, options.per_problem)
            anchor_s, anchor_mib = _run(_ANCHOR, args)
            export_s, export_mib = _run(_EXPORT, args)
        print(f"| {count:,} | {export_s:.1f} | {anchor_s:.1f} | {export_s / anchor_s:.1f} | {export_mib:.0f} | "
              f"{anchor_mib:.0f} | {export_mib / anchor_mib:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
