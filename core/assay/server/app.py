"""The FastAPI application behind `assay serve`.

Routes (one router per protocol, in `assay.server.routes`):
- `POST /v1/verify`: tasks and samples in, one verdict per sample out (the models of `assay.models`).
- `GET /v1/verifiers`: what is installed, with each verifier's config schema.
- `GET /healthz`: liveness, draining state, warm pools (never needs the token).
- `POST /get_reward`: OpenRLHF's remote reward model protocol.
- `POST /run_code`: SandboxFusion's code runner, as verl calls it.
- `POST /v1/answer_key`: each sample's canonical answer (for votes), without judging and without a reference.
- `GET /openapi.json`, `GET /docs`: the OpenAPI spec and its browsable form (never need the token).

Under the routes, `LimitsMiddleware` (`assay.server.middleware`) checks the token, the body and the work
slots; `ServerState` (`assay.server.state`) holds what the routes share.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from assay.server.middleware import DOCS_ASSETS, PUBLIC_ROUTES, WORK_ROUTES, LimitsMiddleware, is_public
from assay.server.routes.compat import compat_routes
from assay.server.routes.docs import add_docs, swagger_ui_assets
from assay.server.routes.native import native_routes
from assay.server.settings import ServerSettings
from assay.server.state import ServerState
from assay.version import __version__

__all__ = [
    "DOCS_ASSETS",
    "PUBLIC_ROUTES",
    "WORK_ROUTES",
    "ServerState",
    "create_app",
    "is_public",
    "swagger_ui_assets",
]

DESCRIPTION = """
assay judges model samples with verifiers (unit tests in a sandbox, Lean proofs, symbolic math,
learned reward models). This service exposes them over HTTP for RL trainers and eval harnesses.

* `POST /v1/verify` takes tasks and samples in assay's own models and returns one verdict per sample.
* `POST /get_reward` speaks OpenRLHF's remote reward model protocol; `POST /run_code` speaks
  SandboxFusion's, as verl calls it: point those harnesses here unchanged.
* `POST /v1/answer_key` gives each sample's canonical answer (for votes) without judging it.
* With a token configured, every route except `/healthz`, `/openapi.json` and `/docs` needs
  `Authorization: Bearer TOKEN`.
* Too many requests at once get **429** (retry after `Retry-After` seconds), a body over the size limit
  **413**, a body that does not arrive in time **408**, a request past its time limit **504**, a verifier
  that cannot start **503**.
"""


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    """The ASGI application; `assay serve` runs it under uvicorn."""
    settings = settings or ServerSettings()
    state = ServerState(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for name in settings.preload:
            pool = state.pools.get(state.spec(name, {}))
            if not await asyncio.to_thread(pool.wait_started, settings.startup_timeout_s):
                limit = settings.startup_timeout_s
                raise RuntimeError(f"--preload {name}: its workers did not start within {limit:g}s")
        try:
            yield
        finally:
            # uvicorn has stopped accepting and waited for requests in flight; now stop the workers.
            await asyncio.to_thread(state.close)

    app = FastAPI(
        title="assay",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # One docs page, served by `add_docs` with Swagger UI's files from this machine where they are installed.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        openapi_tags=[
            {"name": "verify", "description": "assay's own API."},
            {"name": "compat", "description": "Drop-in routes for other harnesses' protocols."},
            {"name": "ops", "description": "Health."},
        ],
    )
    app.state.assay = state
    app.include_router(native_routes(state))
    app.include_router(compat_routes(state))
    add_docs(app)
    app.add_middleware(LimitsMiddleware, state=state)
    return app
