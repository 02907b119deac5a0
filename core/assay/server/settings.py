"""The server's settings: one type, filled by `assay serve`'s flags or by hand for `create_app`."""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


def _cpus() -> int:
    return os.cpu_count() or 1


class ServerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str | None = Field(
        default=None,
        min_length=1,
        description="Bearer token every route requires but the public ones (`PUBLIC_ROUTES`: health and the "
        "API docs); None: no auth.",
    )
    workers: int = Field(
        default_factory=_cpus,
        ge=0,
        description="Worker processes per verifier configuration (0: in the server process, without the "
        "time-limit backstop).",
    )
    max_pools: int = Field(default=8, ge=1, description="Verifier configurations kept warm at once.")
    max_body_bytes: int = Field(default=16 << 20, gt=0, description="Largest request body; larger gets 413.")
    max_samples: int = Field(default=4096, gt=0, description="Most samples in one request; more gets 413.")
    max_concurrent: int = Field(
        default=512,
        gt=0,
        description="Requests being worked on at once (all routes that verify or run code, counted once "
        "their body is read); one more gets 429.",
    )
    max_connections_per_client: int = Field(
        default=1024,
        ge=0,
        description="Open connections from one client address; one more is answered 429 and closed "
        "(0: no bound; behind a reverse proxy every client has the proxy's address).",
    )
    read_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="How long a client may take to send a request's headers (from connecting, or from its "
        "previous response), and again its body; then the connection is closed (a body gets 408).",
    )
    startup_timeout_s: float = Field(
        default=300.0,
        gt=0,
        description="How long a verifier's workers may take to start (build the verifier) before requests "
        "for it get 503; start-up never counts against a request's own time limit.",
    )
    request_timeout_s: float = Field(
        default=300.0, gt=0, description="Longest a request may take; then 504. A request may ask for less."
    )
    preload: list[str] = Field(
        default_factory=list,
        description="Verifiers whose workers start (and are warm) before the server accepts requests.",
    )
    reward_verifier: str | None = Field(
        default=None,
        description="Verifier for OpenRLHF's /get_reward when the URL names none (`?verifier=`).",
    )
    reward_config: dict[str, Any] = Field(default_factory=dict, description="Its config.")
    reference_field: str = Field(
        default="answer", description="Reference field a plain-text label fills (`{field: label}`)."
    )
    sandbox: str = Field(default="local", description="Sandbox backend for /run_code (see `assay plugins`).")
    sandbox_threads: int = Field(
        default_factory=lambda: max(4, 2 * _cpus()), gt=0, description="Sandboxed runs at once for /run_code."
    )
    shutdown_timeout_s: float = Field(
        default=30.0, gt=0, description="How long shutdown waits for work in flight before stopping workers."
    )
