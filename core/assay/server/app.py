"""The FastAPI application behind `assay serve`.

Routes:
- `POST /v1/verify`: tasks and samples in, one verdict per sample out (the models of `assay.models`).
- `GET /v1/verifiers`: what is installed, with each verifier's config schema.
- `GET /healthz`: liveness, draining state, warm pools (never needs the token).
- `POST /get_reward`: OpenRLHF's remote reward model protocol.
- `POST /run_code`: SandboxFusion's code runner, as verl calls it.
- `POST /v1/answer_key`: each sample's canonical answer (for votes), without judging and without a reference.
- `GET /openapi.json`, `GET /docs`: the OpenAPI spec and its browsable form (never need the token).
"""

from __future__ import annotations

import asyncio
import hmac
import importlib.util
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, ValidationError

import assay
from assay.executors.base import VerifierSpec, unknown_task_verdict
from assay.integrations.convert import as_reference, passed_of, response_of, reward_of
from assay.models import Sample, Task, Verdict
from assay.plugins import UnknownComponent, get_registry
from assay.server.answer_keys import KEYED, AnswerKeys, answer_keys_config, has_answer_key
from assay.server.pools import PoolBusy, VerdictDict, VerifierPool, VerifierPools
from assay.server.runcode import RunCodeRequest, RunCodeResponse, SandboxRunner
from assay.server.settings import ServerSettings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Routes that do work (verify or run code): counted against `max_concurrent`.
WORK_ROUTES = frozenset({"/v1/verify", "/v1/answer_key", "/get_reward", "/run_code"})
#: Where /docs's own files (Swagger UI) are served.
DOCS_ASSETS = "/docs/assets"
#: Routes that answer without the token: health, and the API's description (the same for every server:
#: nothing in it depends on what is installed here, unlike `/v1/verifiers`).
PUBLIC_ROUTES = frozenset({"/healthz", "/openapi.json", "/docs"})


def is_public(path: str) -> bool:
    return path in PUBLIC_ROUTES or path.startswith(DOCS_ASSETS + "/")


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


# -- request and response models -------------------------------------------------------------------------


class VerifyRequest(BaseModel):
    """Tasks and samples to judge with one verifier."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "verifier": "math",
                    "config": {"time_limit_s": 5},
                    "tasks": [{"id": "t1", "prompt": "What is 1/2 + 1/4?", "reference": {"answer": "3/4"}}],
                    "samples": [
                        {"task_id": "t1", "index": 0, "text": "The answer is \\boxed{0.75}"},
                        {"task_id": "t1", "index": 1, "text": "The answer is \\boxed{1/3}"},
                    ],
                }
            ]
        },
    )

    verifier: str = Field(description="A registered verifier name (`GET /v1/verifiers`).")
    config: dict[str, Any] = Field(default_factory=dict, description="Verifier config (its `config_schema`).")
    tasks: list[Task] = Field(min_length=1, description="The problems; each sample names one by `task_id`.")
    samples: list[Sample] = Field(min_length=1, description="Model outputs; verdicts come back in this order.")
    timeout_s: float | None = Field(
        default=None, gt=0, description="Give up after this many seconds (504); at most the server's limit."
    )


class VerifyResponse(BaseModel):
    verifier: str = Field(description="`name@version` of the verifier that judged.")
    verdicts: list[Verdict] = Field(description="One per sample, in the request's order.")
    elapsed_s: float


class VerifierInfo(BaseModel):
    name: str
    version: str
    kind: str
    deterministic: bool
    plugin: str | None = Field(description="The plugin (entry point) that registered it.")
    description: str
    config_schema: dict[str, Any]


class PoolInfo(BaseModel):
    verifier: str
    workers: int
    queued_samples: int
    samples_done: int


class Health(BaseModel):
    status: str = Field(description="`ok`, or `draining` while shutting down.")
    version: str
    in_flight: int
    max_concurrent: int
    pools: list[PoolInfo]
    languages: list[str] = Field(description="Languages /run_code can run here.")


class GetRewardRequest(BaseModel):
    """OpenRLHF's remote reward request: `query` is prompt + response as the trainer decoded it."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [{"query": ["Q: 1+1? A: \\boxed{2}"], "prompts": ["Q: 1+1? A: "], "labels": ["2"]}]
        },
    )

    query: list[str]
    prompts: list[str] | None = None
    labels: list[Any] | None = Field(
        default=None, description="Ground truth per query: a string (the answer), a JSON object, or null."
    )


class GetRewardResponse(BaseModel):
    rewards: list[float] = Field(description="The reward per query (a verdict's score, or 1/0 for pass/fail).")
    scores: list[float] = Field(description="1.0 for a passing sample, else 0.0 (OpenRLHF's dynamic filtering).")
    extra_logs: dict[str, list[float]] = Field(description="Per-query figures for the trainer's logs.")


class AnswerKey(BaseModel):
    task_id: str
    sample_index: int
    answer: str | None = Field(description="The canonical answer; null when the sample has none (or `error`).")
    error: str | None = Field(description="Why no key could be computed (a verdict reason); null when it was.")


class AnswerKeyResponse(BaseModel):
    verifier: str = Field(description="`name@version` of the verifier whose answer_key was used.")
    answers: list[AnswerKey] = Field(description="One per sample, in the request's order.")
    elapsed_s: float


class ErrorBody(BaseModel):
    detail: Any


# -- the ASGI layer under the routes: token, body, slots, disconnects ----------------------------------


class LimitsMiddleware:
    """What is decided before a route runs, in this order, so that a client without the token, or one
    that never sends its body, costs no work slot:

    1. the bearer token, from the headers alone (401, and the connection is closed unread);
    2. the body, read whole within `read_timeout_s` (408) and `max_body_bytes` (413);
    3. for routes that do work, a slot among `max_concurrent` (429), held until the response is sent;
    4. while a route works, the client is watched: when it disconnects, the route is cancelled, and with
       it the request's samples not yet handed to a worker.
    """

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app = app
        self.state = state
        token = state.settings.token
        self.token = token.encode() if token is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = self.state.settings
        path: str = scope["path"]
        if self.token is not None and not is_public(path) and not self._authorized(scope):
            await _send_error(
                send, 401, "missing or wrong bearer token", close=True, extra=[(b"www-authenticate", b"Bearer")]
            )
            return
        limit = settings.max_body_bytes
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = limit + 1
                if declared > limit:
                    await _send_error(send, 413, f"request body over {limit} bytes", close=True)
                    return
        work = path in WORK_ROUTES and scope.get("method") == "POST"
        if work and self.state.draining:
            await _send_error(send, 503, "the server is shutting down", retry_after=5, close=True)
            return
        body = await self._read_body(receive, send, limit, settings.read_timeout_s)
        if body is None:
            return
        if not work:
            await self.app(scope, _replay(body, receive), send)
            return
        if self.state.in_flight >= settings.max_concurrent:
            await _send_error(send, 429, "too many requests in flight; retry later", retry_after=1)
            return
        self.state.in_flight += 1
        try:
            await self._run_watched(scope, body, receive, send)
        finally:
            self.state.in_flight -= 1

    def _authorized(self, scope: Scope) -> bool:
        assert self.token is not None
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, given = bytes(value).partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self.token)
        return False

    async def _read_body(self, receive: Receive, send: Send, limit: int, timeout_s: float) -> bytes | None:
        """The whole body, or None once the client is answered (408, 413) or gone."""
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        await _send_error(send, 413, f"request body over {limit} bytes", close=True)
                        return None
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            await _send_error(send, 408, f"the request body did not arrive within {timeout_s:g}s", close=True)
            return None

    async def _run_watched(self, scope: Scope, body: bytes, receive: Receive, send: Send) -> None:
        """Run the route; cancel it if the client disconnects first (its queued samples are then dropped)."""
        route = asyncio.current_task()
        assert route is not None
        gone = asyncio.Event()
        answered = False

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            if not answered:  # after the answer, a disconnect is the end of the exchange, not a client leaving
                gone.set()
                route.cancel()

        async def receive_after_body() -> Message:
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send_watched(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                answered = True
            await send(message)

        watcher = asyncio.create_task(watch())
        try:
            await self.app(scope, _replay(body, receive_after_body), send_watched)
        except asyncio.CancelledError:
            if not gone.is_set():
                raise
            route.uncancel()  # the client left: nothing to answer, and nothing went wrong here
        finally:
            watcher.cancel()


def _replay(body: bytes, then: Receive) -> Receive:
    """A receive that hands the app the body already read, then defers to `then`."""
    pending = True

    async def receive() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await then()

    return receive


async def _send_error(
    send: Send,
    status: int,
    detail: str,
    retry_after: int | None = None,
    close: bool = False,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """An error answered by the ASGI layer; `close` for one sent before the body was read whole (the
    connection cannot carry another request)."""
    body = orjson.dumps({"detail": detail})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    if close:
        headers.append((b"connection", b"close"))
    headers.extend(extra or [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# -- state ----------------------------------------------------------------------------------------------


class ServerState:
    """What the routes share: settings, warm pools, the sandbox runner, counters."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.pools = VerifierPools(settings.workers, settings.max_pools)
        self.in_flight = 0
        self.draining = False
        self._runner: SandboxRunner | None = None
        self._sandbox_threads = ThreadPoolExecutor(settings.sandbox_threads, thread_name_prefix="assay-sandbox")

    def spec(self, verifier: str, config: dict[str, Any]) -> VerifierSpec:
        try:
            cls = get_registry().verifier_class(verifier)
        except UnknownComponent as exc:
            raise HTTPException(404, str(exc)) from None
        try:
            cls.Config.model_validate(config)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in ("config", *first["loc"]))
            raise HTTPException(422, f"{field}: {first['msg']}") from None
        return VerifierSpec(cls, dict(config))

    def listed_languages(self) -> list[str]:
        """The languages `/run_code` can run, for `/healthz`: none without a sandbox."""
        try:
            return self.runner().listed_languages()
        except HTTPException:
            return []

    def runner(self) -> SandboxRunner:
        if self._runner is None:
            try:
                cls = get_registry().sandbox_class(self.settings.sandbox)
            except UnknownComponent as exc:
                raise HTTPException(503, f"/run_code needs a sandbox: {exc}") from None
            self._runner = SandboxRunner(cls)
        return self._runner

    async def verify(
        self, spec: VerifierSpec, tasks: list[Task], samples: list[Sample], timeout_s: float | None
    ) -> list[VerdictDict]:
        """One verdict dict per sample, in order; samples whose task is missing get `unknown_task`."""
        by_id = {task.id: task for task in tasks}
        groups: dict[str, list[int]] = {}
        results: list[VerdictDict | None] = [None] * len(samples)
        for position, sample in enumerate(samples):
            if sample.task_id in by_id:
                groups.setdefault(sample.task_id, []).append(position)
            else:
                results[position] = unknown_task_verdict(
                    spec, sample, f"no task {sample.task_id!r} in the request's tasks"
                )
        if groups:
            ordered = [(by_id[task_id], positions) for task_id, positions in groups.items()]
            try:
                pool = self.pools.get(spec)
                future = pool.submit([(task, [samples[p] for p in positions]) for task, positions in ordered])
            except PoolBusy as exc:
                raise HTTPException(429, str(exc), headers={"Retry-After": "5"}) from None
            except RuntimeError as exc:  # shutting down
                raise HTTPException(503, str(exc)) from None
            try:
                await self._started(pool, spec)
                # The request's clock starts once its pool is warm: start-up is not the request's to pay.
                limit = min(timeout_s or self.settings.request_timeout_s, self.settings.request_timeout_s)
                try:
                    verdicts = await asyncio.wait_for(asyncio.wrap_future(future), limit)
                except TimeoutError:
                    raise HTTPException(504, f"verification took longer than {limit:g}s") from None
                except RuntimeError as exc:
                    raise HTTPException(503, f"verifier {spec.cls.name!r} is unavailable: {exc}") from None
            except BaseException:
                future.cancel()  # its samples not yet handed to a worker are dropped (also when the client left)
                raise
            flat = (position for _, positions in ordered for position in positions)
            for position, verdict in zip(flat, verdicts, strict=True):
                results[position] = verdict
        return [verdict for verdict in results if verdict is not None]

    async def _started(self, pool: VerifierPool, spec: VerifierSpec) -> None:
        """Wait while `pool` starts (its workers build the verifier), up to `startup_timeout_s`."""
        limit = self.settings.startup_timeout_s
        deadline = time.monotonic() + limit
        try:
            while not pool.wait_started(0):
                if time.monotonic() > deadline:
                    raise HTTPException(
                        503, f"verifier {spec.cls.name!r} did not start within {limit:g}s", headers={"Retry-After": "5"}
                    )
                await asyncio.sleep(0.05)
        except HTTPException:
            raise
        except Exception as exc:
            raise HTTPException(503, f"verifier {spec.cls.name!r} failed to start: {exc}") from None

    async def run_code(self, request: RunCodeRequest) -> RunCodeResponse:
        runner = self.runner()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._sandbox_threads, runner.run, request)
        # The sandbox enforces the run's own limits; this bounds the whole request (compile, queue, run).
        limit = min(request.compile_timeout + request.run_timeout + 30.0, self.settings.request_timeout_s)
        try:
            return await asyncio.wait_for(future, limit)
        except TimeoutError:
            raise HTTPException(504, f"run_code took longer than {limit:g}s") from None

    def close(self) -> None:
        self.draining = True
        self.pools.close(self.settings.shutdown_timeout_s)
        self._sandbox_threads.shutdown(wait=True, cancel_futures=False)
        if self._runner is not None:
            self._runner.close()


_bearer = HTTPBearer(auto_error=False, description="Set with `assay serve --token` or $ASSAY_SERVE_TOKEN.")


def _json(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json")


def _verifier_infos() -> list[VerifierInfo]:
    registry = get_registry()
    plugin_of = {name: info.name for info in registry.plugins for name in info.verifiers}
    return [
        VerifierInfo(
            name=name,
            version=cls.version,
            kind=cls.kind,
            deterministic=cls.deterministic,
            plugin=plugin_of.get(name),
            description=(cls.__doc__ or "").strip().split("\n\n")[0],
            config_schema=cls.Config.model_json_schema(),
        )
        for name, cls in sorted(registry.verifiers.items())
    ]


# -- the application ------------------------------------------------------------------------------------


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

    errors: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorBody, "description": text}
        for code, text in (
            (401, "Missing or wrong bearer token."),
            (404, "Unknown verifier."),
            (408, "The request body did not arrive within the read timeout."),
            (413, "Request body or sample count over the limit."),
            (422, "Malformed request, or a config the verifier rejects."),
            (429, "Too many requests in flight (or connections from this address); retry after `Retry-After`."),
            (503, "The verifier could not start, or the server is shutting down."),
            (504, "The request's time limit passed (a verifier's start-up not counted)."),
        )
    }
    app = FastAPI(
        title="assay",
        version=assay.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # One docs page, served below with Swagger UI's files from this machine where they are installed.
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
    # The token is checked by LimitsMiddleware, before the body is read; this declares it in the OpenAPI spec.
    protected = [Depends(_bearer)]

    @app.post("/v1/verify", response_model=VerifyResponse, tags=["verify"], dependencies=protected, responses=errors)
    async def verify(request: VerifyRequest) -> Response:
        """Judge every sample with one verifier. Samples whose `task_id` is not among `tasks` get an
        `error` verdict with reason `unknown_task`; a sample never fails the request."""
        if len(request.samples) > settings.max_samples:
            raise HTTPException(413, f"{len(request.samples)} samples; at most {settings.max_samples} per request")
        spec = state.spec(request.verifier, request.config)
        started = time.perf_counter()
        verdicts = await state.verify(spec, _unique_tasks(request.tasks), request.samples, request.timeout_s)
        return _json(
            {
                "verifier": spec.id,
                "verdicts": verdicts,
                "elapsed_s": round(time.perf_counter() - started, 6),
            }
        )

    @app.post(
        "/v1/answer_key",
        response_model=AnswerKeyResponse,
        tags=["verify"],
        dependencies=protected,
        responses=errors,
    )
    async def answer_key(request: VerifyRequest) -> Response:
        """The verifier's canonical answer (`answer_key`) of every sample, without judging: equivalent
        answers (`1/2`, `0.5`, `\\frac{1}{2}`) get the same key, so a client can count votes. No reference is
        needed (a task's reference is read where the verifier uses it, e.g. multiple-choice letters). An
        `answer` of null with no `error` means the sample has no answer; `error` says why no key could be
        computed (`unknown_task`, `time_limit`, `worker_crashed`, `verifier_error`). A verifier without an
        `answer_key` is a 422."""
        if len(request.samples) > settings.max_samples:
            raise HTTPException(413, f"{len(request.samples)} samples; at most {settings.max_samples} per request")
        inner = state.spec(request.verifier, request.config)
        if not has_answer_key(inner.cls):
            raise HTTPException(
                422, f"verifier {inner.cls.name!r} has no answer_key: its verdicts' `answer` is all it offers"
            )
        spec = VerifierSpec(AnswerKeys, answer_keys_config(inner.cls, inner.config))
        started = time.perf_counter()
        verdicts = await state.verify(spec, _unique_tasks(request.tasks), request.samples, request.timeout_s)
        answers = [
            {
                "task_id": verdict["task_id"],
                "sample_index": verdict["sample_index"],
                "answer": verdict["answer"] if verdict["reason"] == KEYED else None,
                "error": None if verdict["reason"] == KEYED else verdict["reason"],
            }
            for verdict in verdicts
        ]
        return _json(
            {
                "verifier": inner.id,
                "answers": answers,
                "elapsed_s": round(time.perf_counter() - started, 6),
            }
        )

    @app.get("/v1/verifiers", response_model=list[VerifierInfo], tags=["verify"], dependencies=protected)
    async def verifiers() -> list[VerifierInfo]:
        """Every installed verifier, with the JSON schema of its config."""
        return _verifier_infos()

    @app.get("/healthz", response_model=Health, tags=["ops"])
    async def healthz() -> Health:
        """Liveness (no token needed): `status` is `draining` once shutdown has begun."""
        return Health(
            status="draining" if state.draining else "ok",
            version=assay.__version__,
            in_flight=state.in_flight,
            max_concurrent=settings.max_concurrent,
            pools=[PoolInfo(**pool) for pool in state.pools.describe()],
            languages=state.listed_languages(),
        )

    @app.post(
        "/get_reward",
        response_model=GetRewardResponse,
        tags=["compat"],
        dependencies=protected,
        responses=errors,
    )
    async def get_reward(
        request: GetRewardRequest,
        verifier: Annotated[str | None, Query(description="Verifier name; default: `--reward-verifier`.")] = None,
    ) -> Response:
        """OpenRLHF's remote reward model (`--remote_rm_url http://HOST:PORT/get_reward`). The response is
        the query minus its prompt (and trailing end-of-turn tokens); a label is the reference answer (or a
        JSON object used as the whole reference). A query with no label, or one the verifier cannot
        decide, gets reward 0."""
        name = verifier or settings.reward_verifier
        if name is None:
            raise HTTPException(422, "no verifier: add ?verifier=NAME to the URL or start with --reward-verifier")
        config = settings.reward_config if verifier is None or verifier == settings.reward_verifier else {}
        spec = state.spec(name, config)
        n = len(request.query)
        if n > settings.max_samples:
            raise HTTPException(413, f"{n} queries; at most {settings.max_samples} per request")
        prompts = request.prompts or [""] * n
        labels = request.labels if request.labels is not None else [None] * n
        if len(prompts) != n or len(labels) != n:
            raise HTTPException(422, f"query, prompts and labels differ in length ({n}, {len(prompts)}, {len(labels)})")
        tasks: list[Task] = []
        samples: list[Sample] = []
        positions: list[int] = []
        for i, (query, prompt, label) in enumerate(zip(request.query, prompts, labels, strict=True)):
            reference = as_reference(label, settings.reference_field)
            if reference is None:
                continue
            tasks.append(Task(id=str(i), prompt=prompt, reference=reference))
            samples.append(Sample(task_id=str(i), index=0, text=response_of(query, prompt)))
            positions.append(i)
        verdicts = await state.verify(spec, tasks, samples, None) if samples else []
        rewards = [0.0] * n
        scores = [0.0] * n
        applicable = [0.0] * n
        for position, verdict in zip(positions, verdicts, strict=True):
            reward = reward_of(verdict)
            rewards[position] = 0.0 if reward is None else reward
            scores[position] = 1.0 if passed_of(verdict) else 0.0
            applicable[position] = 0.0 if reward is None else 1.0
        return _json(
            {
                "rewards": rewards,
                "scores": scores,
                "extra_logs": {"assay_pass": scores, "assay_decided": applicable},
            }
        )

    @app.post("/run_code", response_model=RunCodeResponse, tags=["compat"], dependencies=protected, responses=errors)
    async def run_code(request: RunCodeRequest) -> RunCodeResponse:
        """SandboxFusion's `run_code`, as verl's `sandbox_fusion` reward calls it
        (`sandbox_fusion.url=http://HOST:PORT/run_code`), run in an assay sandbox."""
        return await state.run_code(request)

    assets = swagger_ui_assets()
    if assets is not None:
        app.mount(DOCS_ASSETS, StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        openapi_url, title = f"{root}/openapi.json", "assay: API"
        if assets is None:
            return get_swagger_ui_html(openapi_url=openapi_url, title=title)
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon-32x32.png",
        )

    app.add_middleware(LimitsMiddleware, state=state)
    return app


def _unique_tasks(tasks: list[Task]) -> list[Task]:
    counts = Counter(task.id for task in tasks)
    if len(counts) != len(tasks):
        duplicate = next(task_id for task_id, count in counts.items() if count > 1)
        raise HTTPException(422, f"tasks: duplicate task id {duplicate!r}")
    return tasks


def swagger_ui_assets() -> Path | None:
    """The folder of Swagger UI's files from the `swagger-ui-py` distribution (installed with
    `assay[serve]`), found without importing it; None when it is missing (then /docs loads them from a CDN)."""
    found = importlib.util.find_spec("swagger_ui")
    if found is None or not found.submodule_search_locations:
        return None
    folder = Path(next(iter(found.submodule_search_locations))) / "static"
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None
