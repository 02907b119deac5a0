"""The Ray executor against a real Ray head started on loopback (`ray start --head`), compared with the local
executor verdict for verdict."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assay.executors.ray import prepare_ray_environment

# Before Ray is imported: no usage statistics, and every connection on loopback (see the function). The
# head and every driver share the suite's token (Ray's token authentication; set in the root conftest).
prepare_ray_environment("127.0.0.1")
pytest.importorskip("ray")

import assay  # noqa: E402
from assay.executors import ExecutorFactory, by_name  # noqa: E402
from assay.executors.ray import _warm, ray_executor, shutdown_warm_actors  # noqa: E402
from assay.executors.supervision import WorkersKeepDying  # noqa: E402
from assay.testing.echo import EchoVerifier  # noqa: E402

pytestmark = pytest.mark.slow
RAY = Path(sys.executable).with_name("ray")


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@pytest.fixture(scope="module")
def ray_head() -> Iterator[str]:
    """A Ray head on 127.0.0.1 with its own ports and temp dir, stopped (its whole process group) after."""
    gcs, agent, agent_grpc, metrics, runtime_env = _free_ports(5)
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    command = [
        str(RAY), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={gcs}",
        f"--dashboard-agent-listen-port={agent}",
        f"--dashboard-agent-grpc-port={agent_grpc}", f"--metrics-export-port={metrics}",
        f"--runtime-env-agent-port={runtime_env}", "--include-dashboard=false", "--disable-usage-stats",
        "--num-cpus=2", "--object-store-memory=100000000", f"--temp-dir={temp_dir}",
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env=os.environ.copy(),
    )
    address = f"127.0.0.1:{gcs}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise AssertionError(f"ray start failed: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", gcs)) == 0:
                    break
            if time.monotonic() > deadline:
                raise AssertionError("the Ray head did not come up")
            time.sleep(0.5)
        time.sleep(2.0)  # the raylet registers with the GCS just after it listens
        yield address
    finally:
        # The head and everything it started share its process group (its own session); `ray start --block`
        # does not always stop its children on SIGTERM, so the group is killed after a grace period.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)


def _verify(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assay", "verify", *args], capture_output=True, text=True, env=env, timeout=300
    )


def _verdicts(path: Path) -> list[dict[str, object]]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for row in rows:
        row.pop("elapsed_s")
    return rows


def test_cli_on_a_ray_head_gives_the_local_executors_verdicts_into_the_same_store(
    ray_head: str, echo_installed: Path, echo_data: tuple[Path, Path], tmp_path: Path
) -> None:
    tasks, samples = echo_data
    env = {**os.environ, "ASSAY_STORE": str(tmp_path / "ray.sqlite")}
    ray_out, local_out = tmp_path / "ray.jsonl", tmp_path / "local.jsonl"
    summary = tmp_path / "summary.json"
    ran = _verify(
        [str(tasks), str(samples), "-v", "echo", "-o", str(ray_out), "--executor", "ray",
         "--address", ray_head, "--jobs", "2", "--quiet", "--summary-json", str(summary)],
        env,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    local_env = {**os.environ, "ASSAY_STORE": str(tmp_path / "local.sqlite")}
    ran = _verify(
        [str(tasks), str(samples), "-v", "echo", "-o", str(local_out), "--jobs", "2", "--quiet"], local_env
    )
    assert ran.returncode == 0, ran.stderr
    assert _verdicts(ray_out) == _verdicts(local_out)
    judged = json.loads(summary.read_text())
    assert judged["samples"] == 200 and judged["cached"] == 0

    # Every verdict the Ray actors produced is in the store: a local run on it judges nothing again.
    again = tmp_path / "again.jsonl"
    ran = _verify([str(tasks), str(samples), "-v", "echo", "-o", str(again), "--quiet", "--summary-json",
                   str(summary)], env)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    rerun = json.loads(summary.read_text())
    assert rerun["cached"] + rerun["deduplicated"] == 200
    assert _verdicts(again) == _verdicts(local_out)


def test_hung_and_crashing_samples_on_ray_get_the_local_executors_verdicts(
    ray_head: str, tmp_path: Path
) -> None:
    tasks = [{"id": "a", "reference": {"answer": "1"}}]
    texts = ["1", "!hang", "2", "!crash", "1", "!raise", "x"]
    samples = [{"task_id": "a", "index": i, "text": text} for i, text in enumerate(texts)]
    config = {"misbehave": True, "time_limit_s": 0.5}

    def run(executor: object) -> list[tuple[str, str | None]]:
        verdicts = assay.verify(
            tasks, samples, EchoVerifier, config=config, jobs=2,
            store=str(tmp_path / f"{id(executor)}.sqlite"), progress=False, executor=executor,
        )  # fmt: skip
        return [(v.status, v.reason) for v in verdicts]

    on_ray = run(by_name("ray", address=ray_head))
    assert on_ray == run(None)
    assert on_ray == [
        ("pass", None), ("timeout", "time_limit"), ("fail", "wrong_answer"), ("error", "worker_crashed"),
        ("pass", None), ("error", "verifier_error"), ("fail", "wrong_answer"),
    ]  # fmt: skip


def test_samples_blocking_in_c_on_every_actor_at_once_time_out_while_large_units_queue(
    ray_head: str, tmp_path: Path
) -> None:
    # One task per blocking sample, so that each is its own unit and both actors block at once.
    tasks = [{"id": name, "reference": {"answer": "1"}} for name in ("h0", "h1", "ok")]
    big = "2" * 800_000
    samples = [{"task_id": f"h{i}", "index": 0, "text": "!block"} for i in range(2)]
    samples += [{"task_id": "ok", "index": j, "text": big if j % 3 == 0 else "1"} for j in range(24)]
    config = {"misbehave": True, "time_limit_s": 0.3}
    started = time.monotonic()
    verdicts = list(
        assay.verify(tasks, samples, EchoVerifier, config=config, jobs=2, store=":memory:", progress=False,
                     executor=by_name("ray", address=ray_head))
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert [(v.status, v.reason) for v in verdicts[:2]] == [("timeout", "time_limit")] * 2
    assert [v.status for v in verdicts[2:]] == ["fail" if j % 3 == 0 else "pass" for j in range(24)]
    # Each blocked actor is killed at its deadline and replaced (a Ray actor's start-up is seconds on a
    # loaded machine); nothing waits on the blocked ones.
    backstop = EchoVerifier.Config.model_validate(config).time_limit_s + 2.0
    assert elapsed < 2 * backstop + 45, elapsed


def test_a_driver_without_the_clusters_token_fails_at_once_and_says_what_to_set(
    ray_head: str, echo_installed: Path, echo_data: tuple[Path, Path], tmp_path: Path
) -> None:
    tasks, samples = echo_data
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
    started = time.monotonic()
    ran = _verify([str(tasks), str(samples), "-v", "echo", "--executor", "ray", "--address", ray_head,
                   "--jobs", "1", "--store", str(tmp_path / "s.sqlite")], env)  # fmt: skip
    assert ran.returncode == 2, ran.stderr[-2000:]  # could not run at all
    assert "RAY_AUTH_MODE=token" in ran.stderr and ray_head in ran.stderr
    assert "Traceback" not in ran.stderr
    assert time.monotonic() - started < 15  # Ray alone retries for 20 s and more before it says anything


@pytest.fixture
def warm_factory(ray_head: str) -> Iterator[ExecutorFactory]:
    """A `keep_warm=True` executor factory on the loopback head; every parked actor is stopped after."""
    import ray

    try:
        yield ray_executor(ray_head, keep_warm=True)
    finally:
        shutdown_warm_actors()
        ray.shutdown()


def _echo_run(factory: ExecutorFactory, count: int, answer: str = "1", **config: object) -> list[bool | None]:
    tasks = [{"id": "a", "reference": {"answer": answer}}]
    samples = [{"task_id": "a", "index": i, "text": str(i % 2)} for i in range(count)]
    run = assay.verify(tasks, samples, EchoVerifier, config=config, jobs=2, store=":memory:", progress=False,
                       executor=factory)  # fmt: skip
    return [v.passed for v in run]


def _parked() -> list[str]:
    return sorted(handle._actor_id.hex() for handle in _warm.handles())


def test_keep_warm_reuses_the_same_actors_for_the_next_run(warm_factory: ExecutorFactory) -> None:
    first = _echo_run(warm_factory, 20)
    actors = _parked()
    assert len(actors) == 2
    # The same actors judge the next run, and it sees none of the last run's tasks: the same task id with
    # another reference gets the new reference's verdicts.
    second = _echo_run(warm_factory, 20, answer="0")
    assert _parked() == actors
    assert first == [i % 2 == 1 for i in range(20)]
    assert second == [i % 2 == 0 for i in range(20)]


def test_a_parked_actor_that_died_is_replaced_and_costs_the_next_run_nothing(warm_factory: ExecutorFactory) -> None:
    import ray

    _echo_run(warm_factory, 20)
    victim, survivor = _warm.handles()
    victim_id = victim._actor_id.hex()
    ray.kill(victim)
    assert _echo_run(warm_factory, 40) == [i % 2 == 1 for i in range(40)]
    parked = _parked()
    assert len(parked) == 2 and survivor._actor_id.hex() in parked and victim_id not in parked


def test_two_runs_at_once_in_one_process_never_share_an_actor(warm_factory: ExecutorFactory) -> None:
    _echo_run(warm_factory, 4)
    assert len(_parked()) == 2
    slow = {"misbehave": True, "delay_s": 0.05}
    tasks = [{"id": "a", "reference": {"answer": "!slow"}}]
    samples = [{"task_id": "a", "index": i, "text": "!slow" if i % 2 else "x"} for i in range(60)]
    results: dict[str, list[bool | None]] = {}
    first_under_way = threading.Event()

    def run(name: str) -> None:
        verdicts = assay.verify(tasks, samples, EchoVerifier, config=slow, jobs=2, store=":memory:",
                                progress=False, executor=warm_factory)  # fmt: skip
        passed = []
        for verdict in verdicts:
            first_under_way.set()
            passed.append(verdict.passed)
        results[name] = passed

    threads = [threading.Thread(target=run, args=(name,)) for name in ("one", "two")]
    threads[0].start()
    assert first_under_way.wait(120)
    # The second run starts while the first holds both parked actors. The head has 2 CPUs: its own actors
    # can start only once the first run has parked its actors and they are stopped to make room.
    threads[1].start()
    for thread in threads:
        thread.join(240)
    assert results["one"] == results["two"] == [i % 2 == 1 for i in range(60)]
    parked = _parked()
    assert len(parked) == len(set(parked)) == 2  # no actor parked twice: none served both runs
    assert _echo_run(warm_factory, 4) == [False, True, False, True]


def test_parked_actors_of_another_configuration_make_room_for_a_runs_own(warm_factory: ExecutorFactory) -> None:
    _echo_run(warm_factory, 4)
    first = _parked()
    assert len(first) == 2  # they hold both of the head's CPUs
    started = time.monotonic()
    assert _echo_run(warm_factory, 4, casefold=True) == [False, True, False, True]
    assert time.monotonic() - started < 60  # not the 300 s an actor may wait for room
    parked = _parked()
    assert len(parked) == 2 and not set(parked) & set(first)


def test_a_run_stopped_half_way_parks_no_actor_with_work_left(warm_factory: ExecutorFactory) -> None:
    tasks = [{"id": "a", "reference": {"answer": "!slow"}}]
    samples = [{"task_id": "a", "index": i, "text": "!slow"} for i in range(64)]
    verdicts = assay.verify(tasks, samples, EchoVerifier, config={"misbehave": True, "delay_s": 1.0}, jobs=2,
                            store=":memory:", progress=False, executor=warm_factory)  # fmt: skip
    records = verdicts.records()
    next(records)  # an actor is busy with the rest of its call (about 30 s of work)...
    started = time.monotonic()
    records.close()  # ...when the run is dropped: it is killed at once, not parked
    assert time.monotonic() - started < 5
    # The next run is not queued behind the dropped run's work.
    started = time.monotonic()
    assert _echo_run(warm_factory, 4) == [False, True, False, True]
    assert time.monotonic() - started < 20


def test_parked_actors_stop_when_their_driver_exits(ray_head: str) -> None:
    driver = f"""
import os, ray, assay
from assay.executors.ray import _warm, ray_executor
from assay.testing.echo import EchoVerifier
factory = ray_executor({ray_head!r}, keep_warm=True)
tasks = [{{"id": "a", "reference": {{"answer": "1"}}}}]
samples = [{{"task_id": "a", "index": i, "text": "1"}} for i in range(8)]
assert all(v.passed for v in assay.verify(tasks, samples, EchoVerifier, jobs=2, store=":memory:", progress=False,
                                          executor=factory))
print(*ray.get([h.__ray_call__.remote(lambda actor: os.getpid()) for h in _warm.handles()]))
"""
    ran = subprocess.run([sys.executable, "-c", driver], capture_output=True, text=True, timeout=180)
    assert ran.returncode == 0, ran.stderr[-3000:]
    pids = [int(pid) for pid in ran.stdout.split()]
    assert len(pids) == 2
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in pids)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


class _BrokenAtStart(EchoVerifier):
    """A verifier whose construction fails wherever it runs (a missing model file, a missing toolchain)."""

    name = "broken-at-start"

    def __init__(self, config: Any = None) -> None:
        raise RuntimeError("no toolchain on this node")


def test_a_verifier_that_cannot_start_in_an_actor_stops_the_run_and_says_why(warm_factory: ExecutorFactory) -> None:
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the actor cannot import this test module
    tasks = [{"id": "a", "reference": {"answer": "1"}}]
    samples = [{"task_id": "a", "index": 0, "text": "1"}]
    try:
        with pytest.raises(WorkersKeepDying, match=r"'broken-at-start' failed to start in a Ray actor.*no toolchain"):
            assay.verify(tasks, samples, _BrokenAtStart, jobs=2, store=":memory:", progress=False,
                         executor=warm_factory).run()  # fmt: skip
        assert _parked() == []  # actors that cannot run the verifier are not kept for the next run
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def test_unknown_executor_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="local, ray"):
        by_name("dask")
