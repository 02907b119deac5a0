"""A client for a running Kimina Lean Server (`POST /check`).

The server keeps its own pool of REPLs with header reuse. It splits each snippet into a header (the
leading `import` and blank lines) and a body, runs the body in the header's environment, and reports
message positions relative to that body; `kimina_line_offset` turns them back into file lines.
Request: `{"snippets": [{"id", "code"}], "timeout": s, "debug": false, "reuse": true}`; reply:
`{"results": [{"id", "time", "error", "response": {"env", "messages", "sorries"} | {"message"}}]}`.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
import uuid
from typing import Any

from assay_lean.assemble import Assembly
from assay_lean.backends import CheckResult
from assay_lean.diagnostics import LeanMessage


def kimina_line_offset(code: str) -> int:
    """How many leading lines the server moves into its header (imports and blanks before anything else)."""
    count = 0
    for line in code.splitlines():
        if line.strip() == "" or line.strip().startswith("import "):
            count += 1
        else:
            break
    return count


class KiminaBackend:
    name = "kimina"

    def __init__(self, url: str, *, api_key: str | None = None, grace_s: float = 30.0) -> None:
        self.url = url.rstrip("/") + "/check"
        self.api_key = api_key
        self.grace_s = grace_s

    def check(self, assembly: Assembly, time_limit_s: float) -> CheckResult:
        code = assembly.full_text()
        snippet_id = uuid.uuid4().hex
        payload = {
            "snippets": [{"id": snippet_id, "code": code}],
            "timeout": max(1, math.ceil(time_limit_s)),
            "debug": False,
            "reuse": True,
        }
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, json.dumps(payload).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=time_limit_s + self.grace_s) as reply:
                body = json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            return CheckResult("backend_error", message=f"Kimina server answered HTTP {exc.code}: {exc.reason}")
        except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
            return CheckResult("backend_error", message=f"Kimina server at {self.url}: {exc}")
        return self._read(body, snippet_id, assembly)

    def _read(self, body: Any, snippet_id: str, assembly: Assembly) -> CheckResult:
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list) or not results:
            return CheckResult("backend_error", message=f"Kimina reply has no results: {str(body)[:300]}")
        result = next((r for r in results if isinstance(r, dict) and r.get("id") == snippet_id), results[0])
        details = {"timing": {"server_s": result.get("time")}}
        error = result.get("error")
        if error:
            status = (
                "time_limit"
                if "timed out" in str(error).lower() or "timeout" in str(error).lower()
                else "backend_error"
            )
            return CheckResult(status, message=str(error), details=details)  # type: ignore[arg-type]
        response = result.get("response") or {}
        if "messages" not in response and "env" not in response:
            return CheckResult("backend_error", message=str(response.get("message", response))[:500], details=details)
        shift = kimina_line_offset(assembly.full_text()) - assembly.header_lines
        messages = [LeanMessage.from_json(item).shifted(shift) for item in response.get("messages", [])]
        sorries = [item for item in response.get("sorries", []) if isinstance(item, dict)]
        return CheckResult("ok", messages, sorries, details=details)

    def close(self) -> None:
        pass
