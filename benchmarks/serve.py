"""`assay serve` under load, and the Ray executor against the local one; same machine, same run.

    python benchmarks/serve.py [--clients 200] [--seconds 60] [--workers N] [--json OUT]

1. Load test: `assay serve` (a separate process, `--workers N`) on 127.0.0.1; `--clients` concurrent
   keep-alive clients post `/v1/verify` (the `math` verifier, 4 samples a request, cases from the vendored
   Math-Verify/lighteval slice in plugins/assay-math/tests/data) as fast as they are answered, for
   `--seconds`. Reported: requests/s and samples/s, p50/p99 latency, errors (anything but 200), and the
   resident memory of the server with its workers (after warm-up and at the end). Anchor: the same
   verifier called in one process on the same pairs (samples/s); the ratio is server/anchor.
2. Executors: `assay.verify` over the same cases (5,000 samples, every task distinct so nothing is
   deduplicated, no cache) with `--jobs 2` on the local executor and on a Ray started on this machine
   (loopback), three runs each. Each Ray run gets fresh actors, as each local run forks fresh workers (Ray's
   own start-up is timed apart); the ratio is Ray/local throughput. Runs with `keep_warm` actors are
   reported too: their verifiers' caches already hold these texts, which is the point of keeping them.

The clients are a minimal HTTP/1.1 keep-alive client on asyncio, so that on a small machine the load
generator takes as little CPU as possible from the server it measures.
"""

from __future__ import annotations

import os
import sys

# Run as a script, this folder comes first on sys.path, where benchmarks/math.py would shadow `math`.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "plugins" / "assay-math" / "tests" / "data" / "math-equality-slice.jsonl"
SAMPLES_PER_REQUEST = 4


def load_cases() -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in CASES.read_text().splitlines() if line.strip()]
    return [row for row in rows if isinstance(row.get("gold"), str) and isinstance(row.get("prediction"), str)]


def request_bodies(cases: list[dict[str, Any]], count: int) -> list[bytes]:
    """`count` different request bodies, each 4 (task, sample) pairs taken round-robin from the cases."""
    bodies = []
    for r in range(count):
        tasks, samples = [], []
        for j in range(SAMPLES_PER_REQUEST):
            case = cases[(r * SAMPLES_PER_REQUEST + j) % len(cases)]
            tasks.append({"id": f"t{j}", "reference": {"answer": case["gold"]}})
            samples.append({"task_id": f"t{j}", "index": 0, "text": case["prediction"]})
        bodies.append(json.dumps({"verifier": "math", "tasks": tasks, "samples": samples}).encode())
    return bodies


# -- the anchor: the verifier in this process -----------------------------------------------------------


def anchor_samples_per_s(cases: list[dict[str, Any]], seconds: float = 5.0) -> float:
    import assay

    verifier = assay.get_verifier("math")
    pairs = [
        (
            assay.Task(id=str(i), reference={"answer": c["gold"]}),
            assay.Sample(task_id=str(i), index=0, text=c["prediction"]),
        )
        for i, c in enumerate(cases)
    ]
    for task, sample in pairs:  # warm, as the server's workers are after their warm-up
        verifier.verify(task, sample)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for task, sample in pairs:
            verifier.verify(task, sample)
        done += len(pairs)
    return done / (time.perf_counter() - started)


# -- the load test ---------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MiB."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{current}/task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / 1024


async def _client(
    port: int, bodies: list[bytes], offset: int, deadline: float, latencies: list[float], errors: list[str]
) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    i = offset
    while time.monotonic() < deadline:
        body = bodies[i % len(bodies)]
        i += 1
        request = (
            b"POST /v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        started = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert reader is not None
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            payload = await reader.readexactly(length)
            if status != 200:
                errors.append(f"HTTP {status}: {payload[:200]!r}")
            else:
                latencies.append(time.perf_counter() - started)
        except (OSError, asyncio.IncompleteReadError, ValueError, StopIteration) as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            if writer is not None:
                writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def _load(port: int, bodies: list[bytes], clients: int, seconds: float) -> tuple[list[float], list[str]]:
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.monotonic() + seconds
    await asyncio.gather(*(_client(port, bodies, k * 7, deadline, latencies, errors) for k in range(clients)))
    return latencies, errors


def load_test(cases: list[dict[str, Any]], clients: int, seconds: float, workers: int) -> dict[str, Any]:
    port = _free_port()
    store = tempfile.mkdtemp(prefix="assay-bench-")
    server = subprocess.Popen(
        [sys.executable, "-m", "assay", "serve", "--port", str(port), "--workers", str(workers),
         "--preload", "math", "--max-concurrent", str(clients * 2), "--log-level", "warning",
         "--max-connections-per-client", "0"],  # every client here comes from one address
        env={**os.environ, "ASSAY_STORE": os.path.join(store, "verdicts.sqlite")},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("assay serve did not start")
            time.sleep(0.2)
        bodies = request_bodies(cases, 512)
        asyncio.run(_load(port, bodies, min(clients, 16), 5.0))  # warm-up: imports, parse caches
        rss_start = tree_rss_mb(server.pid)
        samples_rss: list[float] = []

        async def run_with_memory() -> tuple[list[float], list[str]]:
            async def sample_memory() -> None:
                while True:
                    samples_rss.append(tree_rss_mb(server.pid))
                    await asyncio.sleep(2.0)

            sampler = asyncio.create_task(sample_memory())
            try:
                return await _load(port, bodies, clients, seconds)
            finally:
                sampler.cancel()

        started = time.monotonic()
        latencies, errors = asyncio.run(run_with_memory())
        elapsed = time.monotonic() - started
        rss_end = tree_rss_mb(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    latencies.sort()

    def quantile(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")

    third = max(1, len(samples_rss) // 3)
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "workers": workers,
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "samples_per_s": round(len(latencies) * SAMPLES_PER_REQUEST / elapsed, 1),
        "p50_ms": round(quantile(0.50), 1),
        "p99_ms": round(quantile(0.99), 1),
        "errors": len(errors),
        "first_errors": errors[:5],
        "rss_mb_after_warmup": round(rss_start, 1),
        "rss_mb_first_third_median": round(statistics.median(samples_rss[:third]), 1) if samples_rss else None,
        "rss_mb_last_third_median": round(statistics.median(samples_rss[-third:]), 1) if samples_rss else None,
        "rss_mb_end": round(rss_end, 1),
    }


# -- Ray against local ------------------------------------------------------------------------------------


def executors(cases: list[dict[str, Any]], samples: int, jobs: int) -> dict[str, Any]:
    from assay.executors.ray import prepare_ray_environment

    prepare_ray_environment(None)  # before Ray is imported: loopback only, no usage statistics
    import ray

    import assay
    from assay.executors.ray import ray_executor, shutdown_warm_actors

    tasks = [
        {"id": f"t{i}", "reference": {"answer": cases[i % len(cases)]["gold"]}, "metadata": {"n": i}}
        for i in range(samples)
    ]
    rows = [{"task_id": f"t{i}", "index": 0, "text": cases[i % len(cases)]["prediction"]} for i in range(samples)]

    def timed(executor: Any) -> float:
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            run = assay.verify(tasks, rows, "math", jobs=jobs, store=os.path.join(folder, "s.sqlite"),
                               use_cache=False, progress=False, executor=executor)  # fmt: skip
            summary = run.run()
            elapsed = time.perf_counter() - started
        assert summary.samples == samples and summary.deduplicated == 0
        return elapsed

    local = [timed(None) for _ in range(3)]
    started = time.perf_counter()
    ray.init(include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    ray_start = time.perf_counter() - started
    # Fresh actors every run, as the local executor forks fresh workers: no verifier cache carries over.
    fresh = [timed(ray_executor(None)) for _ in range(3)]
    # Actors kept between runs (keep_warm): their verifiers' caches already hold these texts after the first.
    factory = ray_executor(None, keep_warm=True)
    warm = [timed(factory) for _ in range(4)][1:]
    shutdown_warm_actors()
    ray.shutdown()
    local_s, fresh_s, warm_s = statistics.median(local), statistics.median(fresh), statistics.median(warm)
    return {
        "samples": samples,
        "jobs": jobs,
        "local_s_median": round(local_s, 2),
        "local_samples_per_s": round(samples / local_s, 1),
        "ray_s_median": round(fresh_s, 2),
        "ray_samples_per_s": round(samples / fresh_s, 1),
        "ray_over_local_throughput": round(local_s / fresh_s, 3),
        "ray_keep_warm_s_median": round(warm_s, 2),
        "ray_keep_warm_samples_per_s": round(samples / warm_s, 1),
        "ray_start_s": round(ray_start, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--executor-samples", type=int, default=5000)
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    cases = load_cases()
    anchor = anchor_samples_per_s(cases)
    figures: dict[str, Any] = {"cases": len(cases), "anchor_in_process_samples_per_s": round(anchor, 1)}
    load = load_test(cases, args.clients, args.seconds, args.workers)
    figures["load"] = load
    figures["server_over_anchor"] = round(load["samples_per_s"] / anchor, 3)
    print(f"load: {load['clients']} clients, {load['seconds']}s, {load['workers']} workers: "
          f"{load['requests_per_s']} req/s ({load['samples_per_s']} samples/s), p50 {load['p50_ms']} ms, "
          f"p99 {load['p99_ms']} ms, errors {load['errors']}")  # fmt: skip
    print(f"  memory (server + workers): {load['rss_mb_after_warmup']} MiB after warm-up, "
          f"median {load['rss_mb_first_third_median']} -> {load['rss_mb_last_third_median']} MiB "
          f"(first -> last third), {load['rss_mb_end']} MiB at the end")  # fmt: skip
    print(f"  anchor (math verifier in one process): {anchor:.0f} samples/s; "
          f"server/anchor = {figures['server_over_anchor']}")  # fmt: skip
    if not args.skip_ray:
        figures["executors"] = ex = executors(cases, args.executor_samples, 2)
        print(f"executors ({ex['samples']} samples, jobs {ex['jobs']}, medians of 3): local "
              f"{ex['local_samples_per_s']}/s, Ray {ex['ray_samples_per_s']}/s (fresh actors each run); "
              f"Ray/local = {ex['ray_over_local_throughput']}; Ray with keep_warm actors "
              f"{ex['ray_keep_warm_samples_per_s']}/s (verifier caches carried over); Ray start-up "
              f"{ex['ray_start_s']}s")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0 if load["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
