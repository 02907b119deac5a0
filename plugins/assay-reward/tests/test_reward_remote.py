"""The remote backend against a real HTTP server on loopback speaking OpenRLHF's `POST /get_reward`."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from assay import Sample, Task
from assay_reward import RewardVerifier

Answer = Callable[[dict[str, Any]], tuple[int, bytes]]


def length_rewards(body: dict[str, Any]) -> tuple[int, bytes]:
    """A reward server in OpenRLHF's shape: one reward per query (here: answer length minus prompt length,
    with a bonus when the sample mentions the label)."""
    rewards = [
        float(len(q) - len(p)) + (10.0 if label and label in q[len(p):] else 0.0)
        for q, p, label in zip(body["query"], body["prompts"], body["labels"], strict=True)
    ]
    return 200, json.dumps({"rewards": rewards, "scores": rewards, "extra_logs": {}}).encode()


class Server:
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "body": body})
                status, payload = outer.answer(body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/get_reward"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[[Answer], Server]]:
    servers: list[Server] = []

    def start(answer: Answer) -> Server:
        server = Server(answer)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


TASK = Task(id="svamp-1", prompt="# Question: 2 + 3?\n", reference={"answer": "5"})


def samples(n: int) -> list[Sample]:
    return [Sample(task_id=TASK.id, index=i, text="ans = 5" if i % 2 else "x" * i) for i in range(n)]


def test_scores_come_from_the_server_in_openrlhf_shape(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve(length_rewards)
    verifier = RewardVerifier({"backend": "remote", "url": server.url, "threshold": 8.0})
    verdicts = verifier.verify_batch(TASK, samples(5))
    assert len(server.requests) == 1  # one request for the batch
    body = server.requests[0]["body"]
    assert server.requests[0]["path"] == "/get_reward"
    assert body["query"] == [TASK.prompt + s.text for s in samples(5)]
    assert body["prompts"] == [TASK.prompt] * 5 and body["labels"] == ["5"] * 5
    assert [v.score for v in verdicts] == [0.0, 17.0, 2.0, 17.0, 4.0]  # identity: the server's own rewards
    assert [v.status for v in verdicts] == ["fail", "pass", "fail", "pass", "fail"]
    assert verifier.transform == "identity"


def test_requests_are_cut_to_the_remote_batch_size(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve(length_rewards)
    verifier = RewardVerifier({"backend": "remote", "url": server.url, "remote_batch_size": 4})
    verdicts = verifier.verify_batch(TASK, samples(10))
    assert [len(r["body"]["query"]) for r in server.requests] == [4, 4, 2]
    assert [v.sample_index for v in verdicts] == list(range(10))


def test_sigmoid_turns_logits_into_probabilities(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve(lambda body: (200, json.dumps({"rewards": [[-2.0]] * len(body["query"])}).encode()))
    verifier = RewardVerifier({"backend": "remote", "url": server.url, "transform": "sigmoid"})
    verdict = verifier.verify(TASK, samples(1)[0])
    assert verdict.score == pytest.approx(1 / (1 + math.exp(2.0)))
    assert verdict.details["raw_score"] == -2.0 and verdict.status == "fail"


@pytest.mark.parametrize(
    "answer, reason, words",
    [
        (lambda body: (500, b'{"detail": "CUDA out of memory"}'), "remote_error", "HTTP 500"),
        (lambda body: (200, b"<html>"), "remote_bad_response", "not JSON"),
        (lambda body: (200, b'{"rewards": [1.0]}'), "remote_bad_response", "expected a list of 3 numbers, got 1"),
        (lambda body: (200, b'{"scores": [1, 2, 3]}'), "remote_bad_response", "field 'rewards'"),
        (lambda body: (200, b'{"rewards": [1, "2", 3]}'), "remote_bad_response", "rewards[1]"),
        (lambda body: (200, b'{"rewards": [1, NaN, 3]}'), "remote_bad_response", "rewards[1]"),
    ],
)
def test_server_failures_become_error_verdicts(serve, answer: Answer, reason: str, words: str) -> None:  # type: ignore[no-untyped-def]
    server = serve(answer)
    verifier = RewardVerifier({"backend": "remote", "url": server.url})
    verdicts = verifier.verify_batch(TASK, samples(3))
    assert [v.status for v in verdicts] == ["error"] * 3
    assert {v.reason for v in verdicts} == {reason}
    assert words in verdicts[0].details["message"]
    assert len(server.requests) == 1  # a failing server is not asked again sample by sample


def test_unreachable_and_slow_servers(serve) -> None:  # type: ignore[no-untyped-def]
    closed = Server(length_rewards)
    url = closed.url
    closed.close()
    verdict = RewardVerifier({"backend": "remote", "url": url}).verify(TASK, samples(1)[0])
    assert (verdict.status, verdict.reason) == ("error", "remote_unreachable")

    def slow(body: dict[str, Any]) -> tuple[int, bytes]:
        time.sleep(1.5)
        return length_rewards(body)

    server = serve(slow)
    started = time.monotonic()
    verdict = RewardVerifier({"backend": "remote", "url": server.url, "time_limit_s": 0.5}).verify(TASK, samples(1)[0])
    assert (verdict.status, verdict.reason) == ("error", "remote_timeout")
    assert time.monotonic() - started < 1.4


def test_remote_needs_a_url() -> None:
    with pytest.raises(ValueError, match="needs `url`"):
        RewardVerifier({"backend": "remote"})


def test_labels_without_an_answer_are_the_reference_as_json(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve(length_rewards)
    task = Task(id="he", prompt="def f():\n", reference={"entry_point": "f"})
    RewardVerifier({"backend": "remote", "url": server.url}).verify(task, Sample(task_id="he", index=0, text="  pass"))
    assert server.requests[0]["body"]["labels"] == ['{"entry_point": "f"}']
