"""The Kimina client against a loopback HTTP server speaking Kimina's `/check` API.

The server is the shape of Kimina Lean Server (split the snippet into its import header and body, run the
body in the header's REPL environment, answer `{"results": [...]}`) over this package's REPL pool on the
real Lean 4.35 frontend: the answers are Lean's, not canned.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from assay import Sample, Task
from assay_lean import LeanVerifier
from assay_lean.backends.kimina import kimina_line_offset
from assay_lean.backends.repl import ReplError, ReplProcess, ReplTimeout

STATEMENT = "theorem add_zero_right (n : N) : Eq (N.add n N.zero) n :="


@pytest.fixture(scope="module")
def kimina_url(lsp_repl_command: list[str]) -> Iterator[str]:
    state: dict[str, object] = {"process": ReplProcess(lsp_repl_command), "headers": {}}
    lock = threading.Lock()

    def run(header: str, body: str, timeout: float) -> dict[str, object]:
        """Kimina's flow: the import header once per REPL (none: the body runs on its own)."""
        process: ReplProcess = state["process"]  # type: ignore[assignment]
        headers: dict[str, int] = state["headers"]  # type: ignore[assignment]
        try:
            if not header.strip():
                reply = process.request({"cmd": body}, timeout)
            else:
                if header not in headers:
                    env = process.request({"cmd": header}, 300).env
                    assert env is not None
                    headers[header] = env
                reply = process.request({"cmd": body, "env": headers[header]}, timeout)
        except (ReplTimeout, ReplError) as exc:
            state["process"], state["headers"] = ReplProcess(lsp_repl_command), {}
            kind = "timed out" if isinstance(exc, ReplTimeout) else "failed"
            return {"error": f"Lean REPL command {kind} in {timeout} seconds"}
        return {"time": 0.01, "response": reply.raw}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path != "/check":
                self.send_error(404)
                return
            results = []
            for snippet in request["snippets"]:
                lines = snippet["code"].split("\n")
                skip = kimina_line_offset(snippet["code"])
                header, body = "\n".join(lines[:skip]), "\n".join(lines[skip:])
                with lock:
                    results.append({"id": snippet["id"], **run(header, body, float(request["timeout"]))})
            payload = json.dumps({"results": results}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        state["process"].kill()  # type: ignore[attr-defined]


def test_kimina_backend_judges_like_the_others(kimina_url: str, prelude_header: str) -> None:
    # The prelude header has no imports, so the server's "header" is empty and positions are the file's.
    verifier = LeanVerifier({"backend": "kimina", "kimina_url": kimina_url, "time_limit_s": 20})
    task = Task(id="t", reference={"header": prelude_header, "statement": STATEMENT})
    got = [
        (v.status, v.reason)
        for v in (
            verifier.verify(task, Sample(task_id="t", index=i, text=text))
            for i, text in enumerate(
                ["Eq.refl n", "sorryAx _ Bool.false", "theorem add_zero_right (n : N) : True := True.intro"]
            )
        )
    ]
    assert got == [("pass", None), ("fail", "sorry"), ("fail", "statement_changed")]


def test_kimina_timeouts_and_unreachable_servers(kimina_url: str, prelude_header: str, slow_proof: str) -> None:
    task = Task(id="t", reference={"header": prelude_header, "statement": "theorem slow' : True :="})
    verifier = LeanVerifier({"backend": "kimina", "kimina_url": kimina_url, "time_limit_s": 2})
    verdict = verifier.verify(task, Sample(task_id="t", index=0, text=f"True.intro\n{slow_proof}"))
    assert (verdict.status, verdict.reason) == ("timeout", "time_limit")
    gone = LeanVerifier({"backend": "kimina", "kimina_url": "http://127.0.0.1:9", "time_limit_s": 2})
    verdict = gone.verify(task, Sample(task_id="t", index=0, text="True.intro"))
    assert (verdict.status, verdict.reason) == ("error", "backend_error")


def test_kimina_line_offset_follows_the_servers_split() -> None:
    assert kimina_line_offset("import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n") == 3
    assert kimina_line_offset("prelude\nimport X") == 0
