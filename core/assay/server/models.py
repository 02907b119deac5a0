"""The server's request and response models (its OpenAPI schema), and the errors every route may answer."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from assay.models import Sample, Task, Verdict


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


#: What a route may answer besides 200, for the OpenAPI description.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
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
