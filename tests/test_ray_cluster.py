"""The Ray executor on a real Ray cluster of several nodes on loopback (`ray.cluster_utils.Cluster`: one raylet
per node, one CPU each): units batched over several actors, hung and crashing samples among them, and a node
killed in the middle of a run."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from assay.executors.ray import prepare_ray_environment

prepare_ray_environment("127.0.0.1")  # before Ray is imported: every connection on loopback
pytest.importorskip("ray")

import assay  # noqa: E402
from assay.executors.ray import ray_executor  # noqa: E402
from assay.testing.echo import EchoVerifier  # noqa: E402

pytestmark = pytest.mark.slow

#: Ray notices a dead node by missed health checks: make that quick (its default takes tens of seconds,
#: longer than these samples' time limit, so the test would measure Ray's patience instead).
_FAST_HEALTH_CHECKS = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 500,
    "health_check_timeout_ms": 500,
    "health_check_failure_threshold": 4,
}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    import ray
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    head_args = {"num_cpus": 0, "include_dashboard": False, "_system_config": _FAST_HEALTH_CHECKS}
    cluster = Cluster(initialize_head=True, head_node_args=head_args)
    try:
        for _ in range(3):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False, logging_level="WARNING")
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


def _verdicts(tasks: list[dict[str, Any]], samples: list[dict[str, Any]], config: dict[str, Any], executor: Any,
              jobs: int) -> list[tuple[str, str | None]]:  # fmt: skip
    run = assay.verify(tasks, samples, EchoVerifier, config=config, jobs=jobs, store=":memory:", progress=False,
                       executor=executor)  # fmt: skip
    return [(v.status, v.reason) for v in run]


def test_hung_and_crashing_samples_among_batched_units_on_three_nodes_get_the_local_executors_verdicts(
    cluster: Any,
) -> None:
    # One task per sample, so that every unit is one sample and one call carries many of them: the actor's
    # progress is seen in blocks, and the culprit must still be found among them.
    texts = ["1"] * 40
    texts[5], texts[17], texts[18], texts[30] = "!hang", "!crash", "!block", "!raise"
    texts[9] = texts[25] = "2"
    tasks = [{"id": f"t{i}", "reference": {"answer": "1"}, "metadata": {"n": i}} for i in range(len(texts))]
    samples = [{"task_id": f"t{i}", "index": 0, "text": text} for i, text in enumerate(texts)]
    config = {"misbehave": True, "time_limit_s": 0.5}
    on_ray = _verdicts(tasks, samples, config, ray_executor(cluster.address), 3)
    assert on_ray == _verdicts(tasks, samples, config, None, 2)
    expected = {5: ("timeout", "time_limit"), 17: ("error", "worker_crashed"), 18: ("timeout", "time_limit"),
                30: ("error", "verifier_error"), 9: ("fail", "wrong_answer"), 25: ("fail", "wrong_answer")}  # fmt: skip
    assert on_ray == [expected.get(i, ("pass", None)) for i in range(len(texts))]


def test_a_node_that_dies_mid_run_loses_no_verdict(cluster: Any) -> None:
    count = 150
    tasks = [{"id": f"t{i}", "reference": {"answer": "!slow"}, "metadata": {"n": i}} for i in range(count)]
    samples = [{"task_id": f"t{i}", "index": 0, "text": "!slow"} for i in range(count)]
    config = {"misbehave": True, "delay_s": 0.05, "time_limit_s": 5.0}
    verdicts: list[tuple[str, str | None]] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            run = assay.verify(tasks, samples, EchoVerifier, config=config, jobs=3, store=":memory:",
                               progress=False, executor=ray_executor(cluster.address))  # fmt: skip
            verdicts.extend((v.status, v.reason) for v in run)
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 120
    while len(verdicts) < 20 and worker.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert 20 <= len(verdicts) < count, "the run should be under way when the node dies"
    victim = cluster.worker_nodes and list(cluster.worker_nodes)[1]
    cluster.remove_node(victim, allow_graceful=False)  # its raylet and its actor are killed at once
    cluster.add_node(num_cpus=1)  # room for the replacement actor
    worker.join(180)
    assert not worker.is_alive() and not failure, failure
    assert verdicts == [("pass", None)] * count
