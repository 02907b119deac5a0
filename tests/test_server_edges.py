"""`assay serve` at its edges, as a separate process on loopback driven with real sockets: clients that
never authenticate or never send their body, clients that leave, large requests beside small ones,
verifiers slow to start, the token's scope route by route, and answer keys without a reference."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay.models import Sample, Task
from assay.server import ServerSettings, create_app
from assay.server.app import DOCS_ASSETS, PUBLIC_ROUTES
from assay.testing.echo import EchoVerifier

Serve = Callable[..., str]
TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

#: Test plugins: a verifier slow to build, one that cannot be built, one without an answer_key.
PLUGINS = '''
import time
from assay.hookspecs import hookimpl
from assay.testing.echo import EchoVerifier
from assay.verifier import Verifier

class SlowStart(EchoVerifier):
    name = "slowstart"
    def __init__(self, config=None):
        time.sleep(3.0)
        super().__init__(config)

class NoStart(EchoVerifier):
    name = "nostart"
    def __init__(self, config=None):
        raise RuntimeError("this verifier cannot start")

class NoKey(EchoVerifier):
    name = "nokey"
    answer_key = Verifier.answer_key

@hookimpl
def register_verifiers(register):
    register(SlowStart)
    register(NoStart)
    register(NoKey)
'''


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def serve(echo_installed: Path, installed_plugins: Any, tmp_path: Path) -> Iterator[Serve]:
    """`serve("--token", "x", ...) -> base URL`: `assay serve` as a subprocess on a free loopback port,
    with the `echo` verifier and the test plugins above installed through entry points."""
    installed_plugins({"edge": "edge_plugins"}, modules={"edge_plugins": PLUGINS}, dist="assay-edge")
    processes: list[subprocess.Popen[bytes]] = []

    def start(*args: str, ready: str = "/healthz") -> str:
        port = _free_port()
        log = open(tmp_path / f"serve-{port}.log", "wb")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(
            [sys.executable, "-m", "assay", "serve", "--port", str(port), "--log-level", "warning", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "ASSAY_STORE": str(tmp_path / "store.sqlite")},
        )
        processes.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, (tmp_path / f"serve-{port}.log").read_text()
            try:
                if httpx.get(url + ready, timeout=2).status_code == 200:
                    return url
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "assay serve did not come up"
            time.sleep(0.1)

    try:
        yield start
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _body(texts: list[str], config: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "verifier": extra.pop("verifier", "echo"),
        "config": config or {},
        "tasks": [{"id": "a", "reference": {"answer": "1"}}],
        "samples": [{"task_id": "a", "index": i, "text": text} for i, text in enumerate(texts)],
        **extra,
    }


def _raw_request(body: bytes, headers: dict[str, str] | None = None, declared: int | None = None) -> bytes:
    head = "POST /v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {len(body) if declared is None else declared}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    return head.encode() + b"\r\n" + body


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def _answer(sock: socket.socket, timeout: float = 10.0) -> tuple[int | None, bool]:
    """(status of the response on `sock` or None if there was none, whether the server closed it)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        return (int(data.split(b" ", 2)[1]) if data else None), False
    return (int(data.split(b" ", 2)[1]) if data else None), True


def _pool(url: str, key_prefix: str) -> dict[str, Any]:
    pools = httpx.get(f"{url}/healthz", timeout=10).json()["pools"]
    return next(pool for pool in pools if pool["verifier"].startswith(key_prefix))


# -- starvation --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_600_stalled_unauthenticated_connections_leave_a_real_client_answered(serve: Serve) -> None:
    url = serve("--token", TOKEN, "--workers", "1", "--preload", "echo")
    stalled = []
    try:
        for _ in range(600):  # headers without a token, a body declared and never sent
            sock = _connect(url)
            sock.sendall(_raw_request(b"", declared=4096))
            stalled.append(sock)
        started = time.monotonic()
        response = httpx.post(f"{url}/v1/verify", json=_body(["1"]), headers=AUTH, timeout=10)
        assert response.status_code == 200, response.text
        assert time.monotonic() - started < 10
        assert response.json()["verdicts"][0]["status"] == "pass"
        # They were told why, and let go: 401 (or 429 for those over the per-address bound), never a slot.
        answers = {_answer(sock) for sock in stalled[:50]}
        assert answers <= {(401, True), (429, True)}, answers
    finally:
        for sock in stalled:
            sock.close()


@pytest.mark.slow
def test_a_body_that_never_arrives_holds_no_slot_and_gets_408(serve: Serve) -> None:
    url = serve("--token", TOKEN, "--workers", "1", "--max-concurrent", "2", "--read-timeout", "2")
    stalled = []
    try:
        for _ in range(10):  # with the token this time: past the token check, stuck in the body
            sock = _connect(url)
            sock.sendall(_raw_request(b'{"verifier": ', AUTH, declared=4096))
            stalled.append(sock)
        response = httpx.post(f"{url}/v1/verify", json=_body(["1"]), headers=AUTH, timeout=30)
        assert response.status_code == 200, response.text  # 10 stalled bodies, 2 slots: none taken
        assert httpx.get(f"{url}/healthz").json()["in_flight"] == 0
        assert _answer(stalled[0]) == (408, True)
    finally:
        for sock in stalled:
            sock.close()


def test_a_body_declared_larger_than_the_limit_is_refused_before_it_is_read(serve: Serve) -> None:
    url = serve("--token", TOKEN, "--workers", "1", "--max-body-mb", "1", "--read-timeout", "30")
    for declared in (2 << 20, 1 << 30, 10**15):  # just past the limit, a gigabyte, more than any disk
        sock = _connect(url)
        try:
            started = time.monotonic()
            sock.sendall(_raw_request(b'{"verifier": "echo"', AUTH, declared=declared))
            status, _ = _answer(sock)
            assert status == 413, declared
            assert time.monotonic() - started < 5.0  # at once, not after the read deadline
        finally:
            sock.close()
    # A body that does not say its size and keeps coming is cut off at the limit too.
    sock = _connect(url)
    try:
        head = "POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        head += f"Authorization: {AUTH['Authorization']}\r\n\r\n"
        sock.sendall(head.encode())
        chunk = b"x" * 65536
        with contextlib.suppress(OSError):  # the server may close while this side still writes
            for _ in range(40):  # 2.5 MiB against a 1 MiB limit
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        assert _answer(sock)[0] == 413
    finally:
        sock.close()
    response = httpx.post(f"{url}/v1/verify", json=_body(["1"]), headers=AUTH, timeout=30)
    assert response.status_code == 200 and httpx.get(f"{url}/healthz").json()["in_flight"] == 0


@pytest.mark.slow
def test_connections_per_address_are_bounded_and_unfinished_headers_time_out(serve: Serve) -> None:
    url = serve("--workers", "1", "--max-connections-per-client", "4", "--read-timeout", "1.5")
    held = [_connect(url) for _ in range(4)]
    try:
        time.sleep(0.3)
        extra = _connect(url)
        extra.sendall(_raw_request(json.dumps(_body(["1"])).encode()))
        assert _answer(extra) == (429, True)
        extra.close()
        for sock in held[:2]:
            sock.sendall(b"POST /v1/verify HTTP/1.1\r\nHost: x\r\n")  # headers begun, never finished
        # The read deadline closes all four (two idle, two with half their headers): room again.
        assert [_answer(sock) for sock in held] == [(None, True)] * 4
        response = httpx.post(f"{url}/v1/verify", json=_body(["1"]), timeout=30)
        assert response.status_code == 200
    finally:
        for sock in held:
            sock.close()


def _misbehave(url: str, behaviour: str, data: bytes) -> socket.socket:
    """Open a connection that misbehaves as `behaviour` says (`data`: arbitrary bytes for `garbage`)."""
    full = json.dumps(_body(["!slow"] * 4, {"misbehave": True, "delay_s": 0.2})).encode()
    sock = _connect(url)
    if behaviour == "partial_headers":
        sock.sendall(b"POST /v1/verify HTTP/1.1\r\nHost: x\r\n")
    elif behaviour == "no_token_no_body":
        sock.sendall(_raw_request(b"", declared=4096))
    elif behaviour == "token_half_body":
        sock.sendall(_raw_request(full[:20], AUTH, declared=len(full)))
    elif behaviour == "wrong_token":
        sock.sendall(_raw_request(full, {"Authorization": "Bearer nope"}))
    elif behaviour == "garbage":
        sock.sendall(data)
    elif behaviour in ("leave_after_body", "leave_mid_body"):
        sock.sendall(_raw_request(full if behaviour == "leave_after_body" else full[:30], AUTH, declared=len(full)))
        time.sleep(0.01)
        sock.close()
    return sock  # "connect_only": nothing sent


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    crowd=st.lists(
        st.tuples(
            st.sampled_from(
                ["connect_only", "partial_headers", "no_token_no_body", "token_half_body", "wrong_token",
                 "garbage", "leave_after_body", "leave_mid_body"]
            ),
            st.integers(1, 30),
            st.binary(min_size=1, max_size=200),
        ),
        min_size=1,
        max_size=5,
    )
)  # fmt: skip
def test_no_crowd_of_misbehaving_clients_starves_a_real_one_or_leaks_a_slot(
    guarded_server: str, crowd: list[tuple[str, int, bytes]]
) -> None:
    url = guarded_server
    sockets = [_misbehave(url, behaviour, data) for behaviour, count, data in crowd for _ in range(count)]
    try:
        started = time.monotonic()
        response = httpx.post(f"{url}/v1/verify", json=_body(["1", "2"]), headers=AUTH, timeout=10)
        assert response.status_code == 200, response.text
        assert [v["status"] for v in response.json()["verdicts"]] == ["pass", "fail"]
        assert time.monotonic() - started < 10
    finally:
        for sock in sockets:
            sock.close()
    # Every slot comes back and nothing of the clients that left stays queued.
    deadline = time.monotonic() + 10
    while True:
        health = httpx.get(f"{url}/healthz", timeout=10).json()
        if health["in_flight"] == 0 and all(pool["queued_samples"] == 0 for pool in health["pools"]):
            break
        assert time.monotonic() < deadline, health
        time.sleep(0.1)


@pytest.fixture
def guarded_server(serve: Serve) -> str:
    return serve("--token", TOKEN, "--workers", "1", "--preload", "echo", "--max-concurrent", "4")


# -- abandoned requests and fairness ---------------------------------------------------------------------

SLOW = {"misbehave": True, "delay_s": 0.25}


@pytest.mark.slow
def test_samples_of_clients_that_left_are_dropped(serve: Serve) -> None:
    url = serve("--workers", "2", "--preload", "echo")
    abandoned = json.dumps(_body(["!slow"] * 12, SLOW)).encode()
    for _ in range(40):  # 480 samples of 0.25 s each: a minute of work for two workers, if it were done
        sock = _connect(url)
        sock.sendall(_raw_request(abandoned))
        time.sleep(0.01)
        sock.close()
    time.sleep(0.5)
    started = time.monotonic()
    response = httpx.post(f"{url}/v1/verify", json=_body(["1"], SLOW), timeout=60)
    took = time.monotonic() - started
    assert response.status_code == 200 and response.json()["verdicts"][0]["status"] == "pass"
    assert took < 5, f"a 1-sample request took {took:.1f}s behind 40 abandoned ones"
    time.sleep(1.0)
    pool = _pool(url, "echo@1")  # the slow config's pool: far fewer samples done than were sent
    assert pool["queued_samples"] == 0
    assert pool["samples_done"] < 100, pool


@pytest.mark.slow
def test_a_small_request_is_not_starved_behind_a_large_one(serve: Serve) -> None:
    url = serve("--workers", "1", "--preload", "echo")
    slow = {"misbehave": True, "delay_s": 0.05}
    big = _connect(url)
    big.sendall(_raw_request(json.dumps(_body(["!slow"] * 300, slow)).encode()))  # 15 s of work
    try:
        deadline = time.monotonic() + 20
        while httpx.get(f"{url}/healthz").json()["in_flight"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        started = time.monotonic()
        small = httpx.post(f"{url}/v1/verify", json=_body(["1", "2"], slow), timeout=60)
        took = time.monotonic() - started
        assert small.status_code == 200
        assert [v["status"] for v in small.json()["verdicts"]] == ["pass", "fail"]
        assert took < 5, f"the small request waited {took:.1f}s behind the large one"
        assert httpx.get(f"{url}/healthz").json()["in_flight"] == 1  # the large one is still being worked on
    finally:
        big.close()  # and once its client leaves, the rest of it is dropped
    time.sleep(1.5)
    done = _pool(url, "echo@1")["samples_done"]
    time.sleep(1.0)
    assert _pool(url, "echo@1")["samples_done"] == done < 300


# -- cold pools --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_start_up_does_not_count_against_a_requests_time_limit(serve: Serve) -> None:
    url = serve("--workers", "2")
    # The verifier takes 3 s to build in each worker; the request allows itself 1 s.
    response = httpx.post(f"{url}/v1/verify", json=_body(["1"], verifier="slowstart", timeout_s=1), timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["verdicts"][0]["status"] == "pass"
    # Warm now: the limit is the request's own again.
    again = httpx.post(
        f"{url}/v1/verify", json=_body(["!slow"], {"misbehave": True, "delay_s": 3}, verifier="slowstart",
                                       timeout_s=0.5), timeout=60
    )  # fmt: skip
    assert again.status_code == 504
    broken = httpx.post(f"{url}/v1/verify", json=_body(["1"], verifier="nostart"), timeout=60)
    assert broken.status_code == 503 and "cannot start" in broken.json()["detail"], broken.text
    assert httpx.post(f"{url}/v1/verify", json=_body(["1"]), timeout=60).status_code == 200


@pytest.mark.slow
def test_preload_means_warm_workers_before_the_first_request(serve: Serve) -> None:
    url = serve("--workers", "2", "--preload", "slowstart")
    started = time.monotonic()
    response = httpx.post(f"{url}/v1/verify", json=_body(["1"], verifier="slowstart", timeout_s=1), timeout=60)
    assert response.status_code == 200 and time.monotonic() - started < 2.5


# -- the token's scope, route by route ---------------------------------------------------------------------


def _every_route() -> list[tuple[str, str]]:
    """(method, path) of every route the application has, read from the application itself."""
    app = create_app(ServerSettings(workers=0))
    routes = []
    pending = list(app.routes)
    while pending:
        route = pending.pop(0)
        included = getattr(route, "original_router", None)  # a router the app includes (FastAPI >= 0.16x)
        if included is not None:
            pending.extend(included.routes)
            continue
        path = getattr(route, "path", "")
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            if method != "HEAD":
                routes.append((method, path or "/"))
    return routes


def test_the_token_guards_every_route_but_health_and_the_api_description(serve: Serve) -> None:
    url = serve("--token", TOKEN, "--workers", "1")
    payloads: dict[str, Any] = {
        "/v1/verify": _body(["1"]),
        "/v1/answer_key": _body(["1"]),
        "/get_reward": {"query": ["1"], "labels": ["1"]},
        "/run_code": {"code": "print(1)", "language": "python"},
    }
    routes = _every_route()
    assert {path for _, path in routes} >= set(payloads) | set(PUBLIC_ROUTES) | {DOCS_ASSETS}
    for method, path in routes:
        target = f"{DOCS_ASSETS}/swagger-ui.css" if path == DOCS_ASSETS else path
        query = "?verifier=echo" if path == "/get_reward" else ""
        public = path in PUBLIC_ROUTES or path == DOCS_ASSETS
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
            response = httpx.request(method, url + target + query, json=payloads.get(path), headers=headers, timeout=60)
            if public:
                assert response.status_code == 200, (method, path, response.status_code)
            else:
                assert response.status_code == 401, (method, path, headers, response.status_code)
                assert response.headers["www-authenticate"] == "Bearer"
        with_token = httpx.request(method, url + target + query, json=payloads.get(path), headers=AUTH, timeout=60)
        assert with_token.status_code != 401, (method, path)
        assert with_token.status_code < 500 or path == "/run_code", (method, path, with_token.text)
    # A path no route has is not revealed to a client without the token either.
    assert httpx.get(f"{url}/nothing-here").status_code == 401
    assert httpx.get(f"{url}/nothing-here", headers=AUTH).status_code == 404


def test_docs_load_swagger_ui_from_the_server_itself(serve: Serve) -> None:
    url = serve("--workers", "1")
    page = httpx.get(f"{url}/docs").text
    assert not re.findall(r"https?://", page)  # nothing from elsewhere: the page works offline
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert f"{DOCS_ASSETS}/{asset}" in page
        response = httpx.get(f"{url}{DOCS_ASSETS}/{asset}")
        assert response.status_code == 200 and len(response.content) > 10_000
    spec = httpx.get(f"{url}/openapi.json").json()
    assert spec["openapi"].startswith("3.1")  # the bundled Swagger UI is a 5.x, which reads OpenAPI 3.1
    assert httpx.get(f"{url}/redoc").status_code == 404  # one docs page


@pytest.mark.slow
def test_docs_render_in_a_real_browser_without_the_token_and_offline(serve: Serve) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        pytest.skip("no Chromium on this machine")
    url = serve("--token", TOKEN, "--workers", "1")
    rendered = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=15000", "--dump-dom",
         f"{url}/docs"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    dom = rendered.stdout
    # Swagger UI ran (its script came from the server), fetched the spec and drew every operation.
    for path in ("/v1/verify", "/v1/answer_key", "/v1/verifiers", "/healthz", "/get_reward", "/run_code"):
        assert f'data-path="{path}"' in dom, (path, rendered.stderr[-2000:])


# -- answer keys without a reference ---------------------------------------------------------------------


def test_answer_keys_need_no_reference_and_say_why_one_is_missing(serve: Serve) -> None:
    url = serve("--workers", "1")
    body = {
        "verifier": "echo",
        "config": {"casefold": True},
        "tasks": [{"id": "q"}],
        "samples": [
            {"task_id": "q", "index": 0, "text": " Two "},
            {"task_id": "q", "index": 1, "text": "two"},
            {"task_id": "q", "index": 2, "text": "   "},
            {"task_id": "elsewhere", "index": 0, "text": "x"},
        ],
    }
    response = httpx.post(f"{url}/v1/answer_key", json=body, timeout=60)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["verifier"] == "echo@1"
    assert [(a["answer"], a["error"]) for a in payload["answers"]] == [
        ("two", None),
        ("two", None),
        (None, None),
        (None, "unknown_task"),
    ]
    nokey = httpx.post(f"{url}/v1/answer_key", json={**body, "verifier": "nokey"}, timeout=60)
    assert nokey.status_code == 422 and "answer_key" in nokey.json()["detail"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(st.text(max_size=30), min_size=1, max_size=20),
    casefold=st.booleans(),
    references=st.lists(st.none() | st.text(min_size=1, max_size=5), min_size=1, max_size=3),
)
def test_answer_keys_over_http_equal_the_verifiers_own(
    warm_server: str, texts: list[str], casefold: bool, references: list[str | None]
) -> None:
    tasks: list[dict[str, Any]] = [
        {"id": f"t{i}", **({"reference": {"answer": r}} if r is not None else {})} for i, r in enumerate(references)
    ]
    samples: list[dict[str, Any]] = [
        {"task_id": f"t{i % len(tasks)}", "index": i, "text": text} for i, text in enumerate(texts)
    ]
    body = {"verifier": "echo", "config": {"casefold": casefold}, "tasks": tasks, "samples": samples}
    response = httpx.post(f"{warm_server}/v1/answer_key", json=body, timeout=60)
    assert response.status_code == 200, response.text
    direct = EchoVerifier({"casefold": casefold})
    by_id = {t["id"]: Task.model_validate(t) for t in tasks}
    expected = [direct.answer_key(by_id[s["task_id"]], Sample.model_validate(s)) for s in samples]
    answers = response.json()["answers"]
    assert [(a["task_id"], a["sample_index"]) for a in answers] == [(s["task_id"], s["index"]) for s in samples]
    assert [a["answer"] for a in answers] == expected
    assert all(a["error"] is None for a in answers)


@pytest.fixture
def warm_server(serve: Serve) -> str:
    return serve("--workers", "1", "--preload", "echo")


@pytest.mark.slow
def test_lm_eval_vote_over_http_matches_the_vote_in_process(
    serve: Serve, math_installed: None, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("lm_eval")
    from assay.integrations.lm_eval import AssayMajorityVote

    url = serve("--workers", "1", "--token", TOKEN)
    responses = [
        ["1/3", "\\boxed{0.5}", "\\frac{1}{2}", "1/3", "0.50"],
        ["3", "\\boxed{2}", "2", "3", "2.0"],
        ["no answer", "none here either"],
    ]
    docs: list[dict[str, Any]] = [{}, {}, {}]
    local = AssayMajorityVote(verifier="math").apply(responses, docs)
    with caplog.at_level(logging.WARNING, logger="assay.integrations.lm_eval"):
        remote = AssayMajorityVote(verifier="math", url=url, token=TOKEN).apply(responses, docs)
    assert remote == local == [["\\boxed{0.5}"], ["\\boxed{2}"], ["no answer"]]
    assert "1 of 3 documents" in caplog.text  # the one that could not vote is reported, not hidden
    with pytest.raises(RuntimeError, match="answer_key"):
        AssayMajorityVote(verifier="nokey", url=url, token=TOKEN).apply(responses, docs)
    with pytest.raises(RuntimeError, match="401"):
        AssayMajorityVote(verifier="math", url=url, token="wrong").apply(responses, docs)


@pytest.mark.slow
def test_a_real_lm_eval_evaluation_votes_over_http_as_it_does_in_process(
    serve: Serve, math_installed: None, lm_eval_vote: Any
) -> None:
    """lm-eval's own evaluate(): a task from a config (a local JSONL data set), a scripted LM, the filter and
    process_results pointed at the server; equivalent answers written differently must vote together."""
    from assay.integrations.lm_eval import process_results_for

    answers = {"What is half of 1?": "1/2", "What is 1+1?": "2", "What is 2*3?": "6", "What is 3-1?": "2",
               "What is 10/5?": "2"}  # fmt: skip
    scripted = {
        "What is half of 1?": ["1/3", "\\boxed{0.5}", "\\frac{1}{2}", "1/3", "0.50"],
        "What is 1+1?": ["3", "\\boxed{2}", "2", "3", "2.0"],
        "What is 2*3?": ["6", "7", "6", "7", "\\boxed{6}"],
        "What is 3-1?": ["5", "2", "2.00", "5", "\\boxed{2}"],
        "What is 10/5?": ["1", "\\boxed{2}", "1", "4/2", "2"],
    }

    url = serve("--workers", "1", "--token", TOKEN, "--preload", "math")
    remote = {"verifier": "math", "url": url, "token": TOKEN}
    filter_list = [
        {"name": "http", "filter": [{"function": "assay_majority_vote", **remote}, {"function": "take_first"}]},
        {"name": "local", "filter": [{"function": "assay_majority_vote", "verifier": "math"},
                                     {"function": "take_first"}]},
    ]  # fmt: skip
    figures = lm_eval_vote(
        answers, scripted, filter_list, process_results_for("math", reference="answer", url=url, token=TOKEN)
    )
    assert figures["acc,http"] == figures["acc,local"] == 1.0


@pytest.mark.slow
def test_many_concurrent_requests_all_answered(serve: Serve) -> None:
    """The guards cost nothing to well-behaved clients: 64 at once from one address, all answered."""
    url = serve("--workers", "2", "--preload", "echo")
    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        futures = [pool.submit(httpx.post, f"{url}/v1/verify", json=_body(["1"]), timeout=60) for _ in range(64)]
        assert [f.result().status_code for f in futures] == [200] * 64
