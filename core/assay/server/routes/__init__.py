"""The server's routes, one router per protocol: assay's own API (`native`), the drop-in routes of other
harnesses (`compat`: OpenRLHF, SandboxFusion) and the API's browsable description (`docs`)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Depends, Response
from fastapi.security import HTTPBearer

_bearer = HTTPBearer(auto_error=False, description="Set with `assay serve --token` or $ASSAY_SERVE_TOKEN.")
#: Declares the bearer token in the OpenAPI description; `LimitsMiddleware` checks it, before the body is read.
PROTECTED = [Depends(_bearer)]


def json_response(payload: Any, status: int = 200) -> Response:
    """Verdicts as plain dicts, serialised once (no pydantic round trip on the way out)."""
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json")
