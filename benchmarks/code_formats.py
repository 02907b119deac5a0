"""What reading a public data set's tests costs per sample, with and without the converter's cache.

    python -m benchmarks.code_formats [--cases 20] [--numbers 100000] [--repeat 7]

The `code` verifier validates a task's reference once per sample. A LiveCodeBench row keeps its hidden
tests compressed (base64 of zlib of a pickled JSON string); this builds one with `--cases` stdin cases of
`--numbers` integers each (about 20 MB of tests by default) and times, per sample, in the same run:

- the anchor: `to_reference(row)`, the conversion alone, as every sample would pay it uncached;
- ours: `CodeReference.model_validate(row)`, what the verifier does (conversion through the cache of the
  last few rows, then validation);
- beside them, the validation of the already-converted reference (an `io` reference written by
  `assay code convert`).

Prints medians over `--repeat` rounds and the ratio anchor/ours.
"""

from __future__ import annotations

import argparse
import base64
import json
import pickle
import random
import statistics
import time
import zlib
from collections.abc import Callable
from typing import Any

from assay_code.formats import to_reference
from assay_code.references import CodeReference


def _row(cases: int, numbers: int) -> dict[str, Any]:
    rng = random.Random(0)
    tests = [
        {
            "input": " ".join(str(rng.randrange(10**9)) for _ in range(numbers)) + "\n",
            "output": f"{rng.randrange(10**9)}\n",
            "testtype": "stdin",
        }
        for _ in range(cases)
    ]
    packed = base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests[1:])))).decode()
    return {"public_test_cases": json.dumps(tests[:1]), "private_test_cases": packed, "metadata": "{}"}


def _median_ms(work: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--numbers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    row = _row(args.cases, args.numbers)
    converted = to_reference(row)
    size = sum(len(case["input"]) + len(case["output"]) for case in converted["cases"])
    print(f"one LiveCodeBench row: {args.cases} cases, {size / 1e6:.1f} MB of tests")
    CodeReference.model_validate(row)  # the first sample of the task fills the cache
    anchor = _median_ms(lambda: to_reference(row), args.repeat)
    ours = _median_ms(lambda: CodeReference.model_validate(row), args.repeat)
    native = _median_ms(lambda: CodeReference.model_validate(converted), args.repeat)
    print(f"anchor (convert every sample):  median {anchor:.2f} ms a sample")
    print(f"ours (the verifier, cached):    median {ours:.3f} ms a sample")
    print(f"a converted reference:          median {native:.3f} ms a sample")
    print(f"ratio: anchor/ours {anchor / ours:.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
