"""verl reward functions: name this module in verl's `reward.custom_reward_function`.

```yaml
reward:
  custom_reward_function:
    path: pkg://assay.integrations.verl  # or this file's path
    name: compute_score                  # or compute_score_batch with verl's BatchRewardManager
    reward_kwargs:                       # on the command line: +reward.custom_reward_function.reward_kwargs.KEY=...
      verifier: math                     # optional: else extra_info["assay_verifier"], ..., the data source
      url: http://127.0.0.1:8000         # optional: verify on an assay server, not in the trainer's process
```

verl calls `compute_score(data_source=..., solution_str=..., ground_truth=..., extra_info=...,
**reward_kwargs)` once per response and reads a float, or a dict with `"score"` whose other keys it
logs (every response must give the same keys). The file may be loaded by path, so it imports nothing
relative and nothing heavy.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

from assay.integrations.convert import as_reference, passed_of, reward_of
from assay.integrations.grader import get_grader
from assay.models import Sample, Task, Verdict

#: verl's data sets (its `data_source` values) and the verifier that fits each.
DATA_SOURCES: dict[str, str] = {
    "openai/gsm8k": "math",
    "lighteval/MATH": "math",
    "DigitalLearningGmbH/MATH-lighteval": "math",
    "HuggingFaceH4/MATH-500": "math",
    "math_dapo": "math",
    "numina_aops_forum": "math",
    "numina_synthetic_math": "math",
    "numina_amc_aime": "math",
    "numina_olympiads": "math",
    "numina_cn_k12": "math",
    "codecontests": "code",
    "apps": "code",
    "codeforces": "code",
    "taco": "code",
}

#: Words in a data source's name that mark a code data set (`likaixin/TACO-verified`, `livecodebench/...`,
#: `PrimeIntellect/verifiable-coding-problems`, `KodCode/...`), checked after the names above and math.
CODE_SOURCE_WORDS: tuple[str, ...] = ("code", "apps", "taco", "humaneval", "mbpp", "leetcode")


def _verifier_for(data_source: str, extra_info: dict[str, Any] | None, verifier: str | None) -> str:
    chosen = verifier or (extra_info or {}).get("assay_verifier") or os.environ.get("ASSAY_VERL_VERIFIER")
    if chosen:
        return str(chosen)
    if data_source in DATA_SOURCES:
        return DATA_SOURCES[data_source]
    if data_source.startswith("aime") or "math" in data_source.lower():
        return "math"
    if any(word in data_source.lower() for word in CODE_SOURCE_WORDS):
        return "code"
    raise ValueError(
        f"no assay verifier for data_source {data_source!r}: set "
        "custom_reward_function.reward_kwargs.verifier, extra_info['assay_verifier'] or $ASSAY_VERL_VERIFIER"
    )


#: Named, not `__name__`: verl may load this file by path, as a module with a made-up name.
logger = logging.getLogger("assay.integrations.verl")
_reported: set[tuple[str, str]] = set()
_reported_lock = threading.Lock()


def _report_undecided(verdict: Verdict) -> None:
    """An error verdict (a reference in no known format, a verifier that failed) still reads as a reward
    of 0 to verl, so it is logged, once per verifier and reason, with what to fix."""
    key = (verdict.verifier, verdict.reason or "")
    with _reported_lock:
        if key in _reported:
            return
        _reported.add(key)
    logger.warning(
        "assay %s gave %s (%s) for data: %s; the reward is 0.0 for every such response "
        "(see reward_extra_info's assay_status and assay_reason; logged once)",
        verdict.verifier,
        verdict.status,
        verdict.reason,
        verdict.details.get("message") or verdict.details,
    )


def _result(verdict: Verdict) -> dict[str, Any]:
    reward = reward_of(verdict)
    if reward is None:
        _report_undecided(verdict)
    return {
        "score": 0.0 if reward is None else reward,
        "acc": passed_of(verdict),
        "pred": verdict.answer or "",
        "assay_status": verdict.status,
        "assay_reason": verdict.reason or "",
    }


def _pair(index: int, solution_str: str, ground_truth: Any, reference_field: str) -> tuple[Task, Sample] | None:
    reference = as_reference(ground_truth, reference_field)
    if reference is None:
        return None
    task = Task(id=str(index), reference=reference)
    return task, Sample(task_id=task.id, index=0, text=solution_str)


_NOT_APPLICABLE = {"score": 0.0, "acc": False, "pred": "", "assay_status": "skipped", "assay_reason": "no_reference"}


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: dict[str, Any] | None = None,
    *,
    verifier: str | None = None,
    config: dict[str, Any] | None = None,
    url: str | None = None,
    token: str | None = None,
    reference_field: str = "answer",
    **_: Any,
) -> dict[str, Any]:
    """verl's per-response reward: `{"score", "acc", "pred", "assay_status", "assay_reason"}`."""
    name = _verifier_for(data_source, extra_info, verifier)
    pair = _pair(0, solution_str, ground_truth, reference_field)
    if pair is None:
        return dict(_NOT_APPLICABLE)
    grader = get_grader(name, config, url=url, token=token)
    return _result(grader.verify([pair])[0])


def compute_score_batch(
    data_sources: Sequence[str],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[dict[str, Any] | None] | None = None,
    *,
    verifier: str | None = None,
    config: dict[str, Any] | None = None,
    url: str | None = None,
    token: str | None = None,
    reference_field: str = "answer",
    **_: Any,
) -> list[dict[str, Any]]:
    """verl's batch reward manager form: one call per batch, one result per response (grouped by verifier,
    so that each verifier sees its whole share of the batch at once)."""
    infos = list(extra_infos) if extra_infos is not None else [None] * len(solution_strs)
    results: list[dict[str, Any]] = [dict(_NOT_APPLICABLE) for _ in solution_strs]
    groups: dict[str, list[tuple[int, tuple[Task, Sample]]]] = {}
    for index, (source, solution, truth, info) in enumerate(
        zip(data_sources, solution_strs, ground_truths, infos, strict=True)
    ):
        pair = _pair(index, solution, truth, reference_field)
        if pair is not None:
            groups.setdefault(_verifier_for(source, info, verifier), []).append((index, pair))
    for name, members in groups.items():
        verdicts = get_grader(name, config, url=url, token=token).verify([member[1] for member in members])
        for member, verdict in zip(members, verdicts, strict=True):
            results[member[0]] = _result(verdict)
    return results
