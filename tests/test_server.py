"""`assay serve` over real HTTP on loopback, with the `echo` verifier installed through a real entry point."""

from __future__ import annotations

import concurrent.futures
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay.models import Sample, Task
from assay.server import BackgroundServer, ServerSettings
from assay.testing.echo import EchoVerifier

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def serve(echo_installed: Path) -> Iterator[Any]:
    """`serve(**settings) -> base URL`: a real server in a background thread, stopped after the test."""
    servers: list[BackgroundServer] = []

    def start(**overrides: Any) -> str:
        options: dict[str, Any] = {"workers": 2, "shutdown_timeout_s": 10}
        options.update(overrides)
        server = BackgroundServer(ServerSettings(**options))
        servers.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


def _wait_in_flight(url: str, n: int, timeout: float = 20.0) -> None:
    """Wait until the server is working on `n` requests (`/healthz` is not counted)."""
    deadline = time.monotonic() + timeout
    while httpx.get(f"{url}/healthz").json()["in_flight"] < n:
        assert time.monotonic() < deadline, f"{n} requests never were in flight together"
        time.sleep(0.02)


def _body(samples: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    tasks = [{"id": "a", "reference": {"answer": "1"}}, {"id": "b", "reference": {"answer": "two"}}]
    return {"verifier": "echo", "tasks": tasks, "samples": samples, **extra}


def _strip_timing(verdict: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in verdict.items() if k != "elapsed_s"}


def test_verify_returns_the_verifiers_own_verdicts_in_request_order(serve: Any) -> None:
    url = serve()
    samples = [
        {"task_id": "b", "index": 0, "text": "two"},
        {"task_id": "a", "index": 0, "text": " 1 "},
        {"task_id": "missing", "index": 0, "text": "1"},
        {"task_id": "a", "index": 1, "text": "2"},
        {"task_id": "b", "index": 1, "text": "TWO"},
    ] + [{"task_id": "a", "index": i, "text": str(i % 3)} for i in range(2, 30)]
    response = httpx.post(f"{url}/v1/verify", json=_body(samples), timeout=30)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["verifier"] == "echo@1"
    verdicts = payload["verdicts"]
    assert [(v["task_id"], v["sample_index"]) for v in verdicts] == [
        (s["task_id"], s["index"]) for s in samples
    ]
    missing = verdicts[2]
    assert (missing["status"], missing["reason"], missing["passed"]) == ("error", "unknown_task", None)

    direct = EchoVerifier()
    tasks = {t["id"]: Task.model_validate(t) for t in _body([])["tasks"]}
    for sample, verdict in zip(samples, verdicts, strict=True):
        if sample["task_id"] in tasks:
            expected = direct.verify(tasks[sample["task_id"]], Sample.model_validate(sample))
            assert _strip_timing(verdict) == _strip_timing(expected.model_dump(mode="json"))


def test_config_reaches_the_verifier_and_bad_requests_name_the_problem(serve: Any) -> None:
    url = serve()
    samples = [{"task_id": "b", "index": 0, "text": "TWO"}]
    plain = httpx.post(f"{url}/v1/verify", json=_body(samples)).json()["verdicts"][0]
    folded = httpx.post(f"{url}/v1/verify", json=_body(samples, config={"casefold": True})).json()[
        "verdicts"
    ][0]
    assert (plain["status"], folded["status"]) == ("fail", "pass")

    bad_config = httpx.post(f"{url}/v1/verify", json=_body(samples, config={"casefold": "maybe"}))
    assert bad_config.status_code == 422
    assert "config.casefold" in bad_config.json()["detail"]
    unknown_key = httpx.post(f"{url}/v1/verify", json=_body(samples, config={"nope": 1}))
    assert unknown_key.status_code == 422 and "config.nope" in unknown_key.json()["detail"]

    unknown = httpx.post(f"{url}/v1/verify", json={**_body(samples), "verifier": "nosuch"})
    assert unknown.status_code == 404 and "nosuch" in unknown.json()["detail"]

    twice = _body(samples)
    twice["tasks"].append({"id": "a", "reference": {"answer": "x"}})
    duplicate = httpx.post(f"{url}/v1/verify", json=twice)
    assert duplicate.status_code == 422 and "'a'" in duplicate.json()["detail"]

    malformed = httpx.post(f"{url}/v1/verify", json={"verifier": "echo", "tasks": [], "samples": samples})
    assert malformed.status_code == 422


def test_verifiers_and_health(serve: Any) -> None:
    url = serve(preload=["echo"])
    listed = httpx.get(f"{url}/v1/verifiers").json()
    echo = next(v for v in listed if v["name"] == "echo")
    assert (echo["version"], echo["kind"], echo["plugin"]) == ("1", "symbolic", "echo")
    assert set(echo["config_schema"]["properties"]) >= {"time_limit_s", "casefold", "misbehave", "delay_s"}
    health = httpx.get(f"{url}/healthz").json()
    assert health["status"] == "ok"
    assert [pool["verifier"].split("#")[0] for pool in health["pools"]] == ["echo@1"]  # preloaded
    assert "python" in health["languages"]


def test_bearer_token_guards_every_route_but_health(serve: Any) -> None:
    url = serve(token="s3cret")
    body = _body([{"task_id": "a", "index": 0, "text": "1"}])
    reward = {"query": ["1"], "prompts": [""], "labels": ["1"]}
    for method, path, payload in (
        ("POST", "/v1/verify", body),
        ("GET", "/v1/verifiers", None),
        ("POST", "/get_reward?verifier=echo", reward),
        ("POST", "/run_code", {"code": "print(1)", "language": "python"}),
    ):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
            response = httpx.request(method, url + path, json=payload, headers=headers)
            assert response.status_code == 401, (path, headers, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
    good = {"Authorization": "Bearer s3cret"}
    assert httpx.post(f"{url}/v1/verify", json=body, headers=good).status_code == 200
    assert httpx.get(f"{url}/v1/verifiers", headers=good).status_code == 200
    assert httpx.get(f"{url}/healthz").status_code == 200


def test_body_and_sample_limits_answer_413(serve: Any) -> None:
    url = serve(max_body_bytes=4096, max_samples=5)
    big = _body([{"task_id": "a", "index": 0, "text": "x" * 5000}])
    declared = httpx.post(f"{url}/v1/verify", json=big)
    assert declared.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server must count as it reads
        yield b'{"verifier": "echo", "tasks": [{"id": "a", "reference": {"answer": "1"}}], "samples": ['
        for i in range(200):
            yield b'{"task_id": "a", "index": %d, "text": "%s"},' % (i, b"y" * 40)
        yield b'{"task_id": "a", "index": 999, "text": "1"}]}'

    streamed = httpx.post(f"{url}/v1/verify", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413

    many = _body([{"task_id": "a", "index": i, "text": "1"} for i in range(6)])
    assert httpx.post(f"{url}/v1/verify", json=many).status_code == 413
    assert httpx.post(f"{url}/v1/verify", json={**many, "samples": many["samples"][:5]}).status_code == 200


def test_too_many_requests_in_flight_get_429_and_the_rest_finish(serve: Any) -> None:
    url = serve(max_concurrent=2)
    slow = _body([{"task_id": "a", "index": 0, "text": "!slow"}], config={"misbehave": True, "delay_s": 1.5})
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(httpx.post, f"{url}/v1/verify", json=slow, timeout=30) for _ in range(2)]
        _wait_in_flight(url, 2)
        third = httpx.post(f"{url}/v1/verify", json=slow, timeout=30)
        assert third.status_code == 429
        assert third.headers["retry-after"] == "1"
        assert [f.result().status_code for f in futures] == [200, 200]
    assert httpx.post(f"{url}/v1/verify", json=slow, timeout=30).status_code == 200  # room again


def test_request_time_limit_answers_504_and_the_server_carries_on(serve: Any) -> None:
    url = serve()
    slow = _body([{"task_id": "a", "index": 0, "text": "!slow"}], config={"misbehave": True, "delay_s": 3})
    started = time.monotonic()
    response = httpx.post(f"{url}/v1/verify", json={**slow, "timeout_s": 0.5}, timeout=30)
    assert response.status_code == 504
    assert time.monotonic() - started < 2.5
    ok = httpx.post(f"{url}/v1/verify", json=_body([{"task_id": "a", "index": 0, "text": "1"}]), timeout=30)
    assert ok.json()["verdicts"][0]["status"] == "pass"


def test_a_hung_sample_gets_a_timeout_verdict_and_its_worker_is_replaced(serve: Any) -> None:
    url = serve(workers=1)
    config = {"misbehave": True, "time_limit_s": 0.3}
    samples = [
        {"task_id": "a", "index": 0, "text": "1"},
        {"task_id": "a", "index": 1, "text": "!hang"},
        {"task_id": "a", "index": 2, "text": "1"},
    ]
    verdicts = httpx.post(f"{url}/v1/verify", json=_body(samples, config=config), timeout=60).json()[
        "verdicts"
    ]
    assert [v["status"] for v in verdicts] == ["pass", "timeout", "pass"]
    assert verdicts[1]["reason"] == "time_limit"
    crashed = _body([{"task_id": "a", "index": 0, "text": "!crash"}], config=config)
    verdict = httpx.post(f"{url}/v1/verify", json=crashed, timeout=60).json()["verdicts"][0]
    assert (verdict["status"], verdict["reason"]) == ("error", "worker_crashed")
    again = httpx.post(f"{url}/v1/verify", json=_body(samples[:1], config=config), timeout=60)
    assert again.json()["verdicts"][0]["status"] == "pass"


def test_openrlhf_get_reward_as_the_trainer_sends_it(serve: Any) -> None:
    url = serve(reward_verifier="echo")
    # The payload OpenRLHF's SingleTurnAgentExecutor posts: `query` is the decoded prompt + response,
    # special tokens kept.
    payload = {
        "query": [
            "<|im_start|>user\nsay 1<|im_end|>\n<|im_start|>assistant\n1<|im_end|>",
            "<|im_start|>user\nsay two<|im_end|>\n<|im_start|>assistant\nthree<|im_end|>",
            "no label here",
            "Q: tests? A: 7",
        ],
        "prompts": [
            "<|im_start|>user\nsay 1<|im_end|>\n<|im_start|>assistant\n",
            "<|im_start|>user\nsay two<|im_end|>\n<|im_start|>assistant\n",
            "",
            "Q: tests? A:",
        ],
        "labels": ["1", "two", None, '{"answer": "7"}'],
    }
    response = httpx.post(f"{url}/get_reward", json=payload)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["rewards"] == [1.0, 0.0, 0.0, 1.0]
    assert body["scores"] == [1.0, 0.0, 0.0, 1.0]
    assert body["extra_logs"]["assay_decided"] == [1.0, 1.0, 0.0, 1.0]
    named = httpx.post(f"{url}/get_reward?verifier=echo", json={"query": ["x"], "labels": ["x"]})
    assert named.json()["rewards"] == [1.0]
    uneven = httpx.post(f"{url}/get_reward", json={"query": ["x", "y"], "labels": ["x"]})
    assert uneven.status_code == 422


def test_get_reward_without_a_verifier_says_how_to_name_one(serve: Any) -> None:
    url = serve()
    response = httpx.post(f"{url}/get_reward", json={"query": ["x"], "labels": ["x"]})
    assert response.status_code == 422 and "?verifier=" in response.json()["detail"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(st.text(max_size=40), min_size=1, max_size=12),
    answers=st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=3),
)
def test_any_texts_get_one_verdict_each_equal_to_the_verifiers(
    shared_server: str, texts: list[str], answers: list[str]
) -> None:
    tasks = [{"id": f"t{i}", "reference": {"answer": answer}} for i, answer in enumerate(answers)]
    samples = [
        {"task_id": f"t{i % (len(answers) + 1)}", "index": i, "text": text} for i, text in enumerate(texts)
    ]
    response = httpx.post(
        f"{shared_server}/v1/verify", json={"verifier": "echo", "tasks": tasks, "samples": samples}
    )
    assert response.status_code == 200, response.text
    verdicts = response.json()["verdicts"]
    direct = EchoVerifier()
    by_id = {t["id"]: Task.model_validate(t) for t in tasks}
    assert len(verdicts) == len(samples)
    for sample, verdict in zip(samples, verdicts, strict=True):
        task = by_id.get(sample["task_id"])
        if task is None:
            assert verdict["reason"] == "unknown_task"
        else:
            expected = direct.verify(task, Sample.model_validate(sample)).model_dump(mode="json")
            assert _strip_timing(verdict) == _strip_timing(expected)


@pytest.fixture
def shared_server(serve: Any) -> str:
    url: str = serve(workers=1)
    return url


def test_openapi_is_served_and_every_route_is_documented(serve: Any) -> None:
    url = serve()
    spec = httpx.get(f"{url}/openapi.json").json()
    paths = set(spec["paths"])
    assert paths == {"/v1/verify", "/v1/answer_key", "/v1/verifiers", "/healthz", "/get_reward", "/run_code"}
    for path, methods in spec["paths"].items():
        for operation in methods.values():
            assert operation.get("description"), f"{path} has no description"
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert "<html" in httpx.get(f"{url}/docs").text.lower()
    readme = (ROOT / "core" / "assay" / "server" / "README.md").read_text()
    documented = set(re.findall(r"`(?:GET|POST) (/[a-z0-9_/]+)", readme))
    assert paths <= documented, f"routes missing from the README: {sorted(paths - documented)}"


# -- the real command, under a real signal -------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"assay serve exited with {process.returncode}: {process.stderr.read()!r}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("assay serve did not come up")


@pytest.mark.slow
def test_sigterm_finishes_work_in_flight_then_exits(echo_installed: Path, tmp_path: Path) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "assay",
            "serve",
            "--port",
            str(port),
            "--workers",
            "1",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "ASSAY_STORE": str(tmp_path / "store.sqlite")},
    )
    try:
        _wait_healthy(url, process)
        slow = _body(
            [{"task_id": "a", "index": 0, "text": "!slow"}], config={"misbehave": True, "delay_s": 2}
        )
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pending = pool.submit(httpx.post, f"{url}/v1/verify", json=slow, timeout=30)
            _wait_in_flight(url, 1)
            process.send_signal(signal.SIGTERM)
            response = pending.result()
        assert response.status_code == 200
        assert response.json()["verdicts"][0]["status"] == "fail"
        # uvicorn re-raises the signal once it has shut down, so the exit is the conventional one for SIGTERM.
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)
        assert b"Traceback" not in process.stderr.read()  # type: ignore[union-attr]
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{url}/healthz", timeout=1)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_command_rejects_bad_settings(echo_installed: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "assay", "serve", "--workers", "-3"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "workers" in result.stderr
