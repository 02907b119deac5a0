"""Drop-in routes for other harnesses' protocols: OpenRLHF's remote reward model (`/get_reward`) and
SandboxFusion's code runner (`/run_code`, as verl calls it). The translation of their payloads into tasks
and samples lives with the other integrations (`assay.integrations.convert`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response

from assay.integrations.convert import as_reference, passed_of, response_of, reward_of
from assay.models import Sample, Task
from assay.server.models import ERROR_RESPONSES, GetRewardRequest, GetRewardResponse
from assay.server.routes import PROTECTED, json_response
from assay.server.runcode import RunCodeRequest, RunCodeResponse
from assay.server.state import ServerState


def compat_routes(state: ServerState) -> APIRouter:
    settings = state.settings
    router = APIRouter(tags=["compat"], dependencies=PROTECTED, responses=ERROR_RESPONSES)

    @router.post("/get_reward", response_model=GetRewardResponse)
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
        return json_response(
            {"rewards": rewards, "scores": scores, "extra_logs": {"assay_pass": scores, "assay_decided": applicable}}
        )

    @router.post("/run_code", response_model=RunCodeResponse)
    async def run_code(request: RunCodeRequest) -> RunCodeResponse:
        """SandboxFusion's `run_code`, as verl's `sandbox_fusion` reward calls it
        (`sandbox_fusion.url=http://HOST:PORT/run_code`), run in an assay sandbox."""
        return await state.run_code(request)

    return router
