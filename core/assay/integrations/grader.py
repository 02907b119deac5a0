"""The one way adapters verify: a warm verifier in this process, or a running `assay serve` over HTTP.

Adapters are called once per batch by their harness (a TRL step, a verl batch, an lm-eval task), so the
verifier is built once and kept warm, shared by every adapter that names the same configuration. With
`url`, the same calls go to `POST /v1/verify` of an assay server (on another machine, or one whose
worker processes enforce time limits by killing hung samples).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from assay.models import Sample, Task, Verdict
from assay.plugins import get_registry
from assay.verifier import Verifier

Pair = tuple[Task, Sample]

#: Samples per `POST /v1/answer_key` request (under the server's default `max_samples`).
ANSWER_KEYS_PER_REQUEST = 1024


@dataclass(frozen=True)
class AnswerKey:
    """A sample's canonical answer. `key` is None when the sample has no answer, or when none could be
    computed: then `error` says why (`verifier_error`, `time_limit`, `worker_crashed`, ...)."""

    key: str | None
    error: str | None = None


def _answer_key(verifier: Verifier, task: Task, sample: Sample) -> AnswerKey:
    try:
        return AnswerKey(verifier.answer_key(task, sample))
    except Exception as exc:
        return AnswerKey(None, f"verifier_error: {type(exc).__name__}: {exc}")


class Grader:
    """Verifies (task, sample) pairs with one verifier configuration; thread-safe."""

    def __init__(
        self,
        verifier: str | type[Verifier],
        config: dict[str, Any] | None = None,
        *,
        url: str | None = None,
        token: str | None = None,
        timeout_s: float = 300.0,
    ) -> None:
        self.verifier_name = verifier if isinstance(verifier, str) else verifier.name
        self._cls: type[Verifier] | None
        if isinstance(verifier, str):
            # A remote grader needs nothing installed here but assay: the server knows the verifier.
            self._cls = None if url else get_registry().verifier_class(verifier)
        else:
            self._cls = verifier
        self.config = dict(config or {})
        if self._cls is not None:
            self._cls.Config.model_validate(self.config)  # a typo is reported now, not at the first batch
        self.url = url.rstrip("/") if url else None
        self.token = token
        self.timeout_s = timeout_s
        self._verifier: Verifier | None = None
        self._lock = threading.Lock()

    @property
    def verifier(self) -> Verifier:
        """The warm in-process verifier (built on first use)."""
        with self._lock:
            if self._verifier is None:
                assert self._cls is not None, "a remote grader has no in-process verifier"
                self._verifier = self._cls(self.config)
            return self._verifier

    def verify(self, pairs: Sequence[Pair]) -> list[Verdict]:
        """One verdict per pair, in order."""
        if not pairs:
            return []
        if self.url is not None:
            import httpx

            response = httpx.post(
                f"{self.url}/v1/verify",
                content=self._body(pairs),
                headers=self._headers(),
                timeout=self.timeout_s,
            )
            return self._verdicts(response)
        verifier = self.verifier
        return [verifier.verify(task, sample) for task, sample in pairs]

    async def averify(self, pairs: Sequence[Pair]) -> list[Verdict]:
        """`verify` for event loops: the in-process verifier runs in a thread, HTTP calls are awaited."""
        if not pairs:
            return []
        if self.url is not None:
            import httpx

            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                response = await client.post(
                    f"{self.url}/v1/verify", content=self._body(pairs), headers=self._headers()
                )
            return self._verdicts(response)
        return await asyncio.to_thread(self.verify, pairs)

    def answer_keys(self, pairs: Sequence[Pair]) -> list[AnswerKey]:
        """The verifier's canonical answer of each sample, for voting (no reference needed, nothing
        judged); a remote grader asks the server's `POST /v1/answer_key`. Raises ValueError when the
        verifier has no `answer_key` (votes would silently fall apart), RuntimeError when the server
        answers with an error."""
        if not pairs:
            return []
        if self.url is not None:
            import httpx

            keys: list[AnswerKey] = []
            for start in range(0, len(pairs), ANSWER_KEYS_PER_REQUEST):
                response = httpx.post(
                    f"{self.url}/v1/answer_key",
                    content=self._body(pairs[start : start + ANSWER_KEYS_PER_REQUEST]),
                    headers=self._headers(),
                    timeout=self.timeout_s,
                )
                if response.status_code != 200:
                    raise RuntimeError(
                        f"assay server at {self.url} answered {response.status_code} to /v1/answer_key: "
                        f"{response.text[:500]}"
                    )
                keys.extend(AnswerKey(item["answer"], item["error"]) for item in response.json()["answers"])
            return keys
        verifier = self.verifier
        if type(verifier).answer_key is Verifier.answer_key:
            raise ValueError(f"verifier {verifier.name!r} has no answer_key: it cannot group answers for a vote")
        return [_answer_key(verifier, task, sample) for task, sample in pairs]

    def answer_key(self, task: Task, sample: Sample) -> str | None:
        """`answer_keys` for one sample: its key, or None."""
        return self.answer_keys([(task, sample)])[0].key

    def close(self) -> None:
        with self._lock:
            if self._verifier is not None:
                self._verifier.close()
                self._verifier = None

    # -- HTTP ----------------------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        return headers

    def _body(self, pairs: Sequence[Pair]) -> bytes:
        tasks: dict[str, dict[str, Any]] = {}
        samples = []
        for task, sample in pairs:
            known = tasks.get(task.id)
            if known is None:
                tasks[task.id] = task.model_dump(mode="json")
            elif known != task.model_dump(mode="json"):
                raise ValueError(f"two different tasks share the id {task.id!r}")
            samples.append(sample.model_dump(mode="json"))
        body = {
            "verifier": self.verifier_name,
            "config": self.config,
            "tasks": list(tasks.values()),
            "samples": samples,
        }
        return orjson.dumps(body)

    def _verdicts(self, response: Any) -> list[Verdict]:
        if response.status_code != 200:
            raise RuntimeError(f"assay server at {self.url} answered {response.status_code}: {response.text[:500]}")
        return [Verdict.model_validate(v) for v in response.json()["verdicts"]]


_graders: dict[tuple[str, bytes, str | None, str | None], Grader] = {}
_graders_lock = threading.Lock()


def get_grader(
    verifier: str | type[Verifier],
    config: dict[str, Any] | None = None,
    *,
    url: str | None = None,
    token: str | None = None,
) -> Grader:
    """The shared warm Grader for this configuration (adapters call this once per batch)."""
    name = verifier if isinstance(verifier, str) else f"{verifier.__module__}.{verifier.__qualname__}"
    key = (name, orjson.dumps(config or {}, option=orjson.OPT_SORT_KEYS), url, token)
    with _graders_lock:
        grader = _graders.get(key)
        if grader is None:
            grader = _graders[key] = Grader(verifier, config, url=url, token=token)
        return grader


def close_graders() -> None:
    """Close every shared verifier (their pools, REPLs, models)."""
    with _graders_lock:
        graders = list(_graders.values())
        _graders.clear()
    for grader in graders:
        grader.close()
