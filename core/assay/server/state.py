"""What the routes share: settings, warm verifier pools, the sandbox runner, the in-flight count."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import HTTPException
from pydantic import ValidationError

from assay.executors.base import VerifierSpec, unknown_task_verdict
from assay.models import Sample, Task
from assay.plugins import UnknownComponent, get_registry
from assay.server.pools import PoolBusy, VerdictDict, VerifierPool, VerifierPools
from assay.server.runcode import RunCodeRequest, RunCodeResponse, SandboxRunner
from assay.server.settings import ServerSettings


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
        spec = VerifierSpec(cls, dict(config))
        try:
            spec.validated_config  # noqa: B018 (checked here, so that a typo is a 422 and not a worker's error)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in ("config", *first["loc"]))
            raise HTTPException(422, f"{field}: {first['msg']}") from None
        return spec

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
