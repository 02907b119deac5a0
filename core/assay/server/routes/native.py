"""assay's own API: `/v1/verify`, `/v1/answer_key`, `/v1/verifiers` and `/healthz`."""

from __future__ import annotations

import time
from collections import Counter

from fastapi import APIRouter, HTTPException, Response

from assay.executors.base import VerifierSpec
from assay.models import Task
from assay.plugins import get_registry
from assay.server.answer_keys import KEYED, AnswerKeys, answer_keys_config, has_answer_key
from assay.server.models import (
    ERROR_RESPONSES,
    AnswerKeyResponse,
    Health,
    PoolInfo,
    VerifierInfo,
    VerifyRequest,
    VerifyResponse,
)
from assay.server.routes import PROTECTED, json_response
from assay.server.state import ServerState
from assay.version import __version__


def native_routes(state: ServerState) -> APIRouter:
    settings = state.settings
    router = APIRouter()

    @router.post(
        "/v1/verify", response_model=VerifyResponse, tags=["verify"], dependencies=PROTECTED, responses=ERROR_RESPONSES
    )
    async def verify(request: VerifyRequest) -> Response:
        """Judge every sample with one verifier. Samples whose `task_id` is not among `tasks` get an
        `error` verdict with reason `unknown_task`; a sample never fails the request."""
        if len(request.samples) > settings.max_samples:
            raise HTTPException(413, f"{len(request.samples)} samples; at most {settings.max_samples} per request")
        spec = state.spec(request.verifier, request.config)
        started = time.perf_counter()
        verdicts = await state.verify(spec, _unique_tasks(request.tasks), request.samples, request.timeout_s)
        return json_response(
            {"verifier": spec.id, "verdicts": verdicts, "elapsed_s": round(time.perf_counter() - started, 6)}
        )

    @router.post(
        "/v1/answer_key",
        response_model=AnswerKeyResponse,
        tags=["verify"],
        dependencies=PROTECTED,
        responses=ERROR_RESPONSES,
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
        return json_response(
            {"verifier": inner.id, "answers": answers, "elapsed_s": round(time.perf_counter() - started, 6)}
        )

    @router.get("/v1/verifiers", response_model=list[VerifierInfo], tags=["verify"], dependencies=PROTECTED)
    async def verifiers() -> list[VerifierInfo]:
        """Every installed verifier, with the JSON schema of its config."""
        return _verifier_infos()

    @router.get("/healthz", response_model=Health, tags=["ops"])
    async def healthz() -> Health:
        """Liveness (no token needed): `status` is `draining` once shutdown has begun."""
        return Health(
            status="draining" if state.draining else "ok",
            version=__version__,
            in_flight=state.in_flight,
            max_concurrent=settings.max_concurrent,
            pools=[PoolInfo(**pool) for pool in state.pools.describe()],
            languages=state.listed_languages(),
        )

    return router


def _unique_tasks(tasks: list[Task]) -> list[Task]:
    counts = Counter(task.id for task in tasks)
    if len(counts) != len(tasks):
        duplicate = next(task_id for task_id, count in counts.items() if count > 1)
        raise HTTPException(422, f"tasks: duplicate task id {duplicate!r}")
    return tasks


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
