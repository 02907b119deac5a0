"""TRL reward functions: `reward_funcs=[assay.integrations.trl.reward_function("math")]`.

TRL's trainers (GRPOTrainer, RLOOTrainer) call every reward function with keyword arguments:
`prompts`, `completions` (strings, or conversations: lists of `{"role", "content"}` messages),
`completion_ids`, every other column of the data set (one value per completion), and `trainer_state`,
`log_extra`, `log_metric`. The function returns one float per completion, or None where it does not
apply; an `async def` function is awaited on TRL's own event loop, in parallel with the others.

The reference comes from a data set column (`reference_column`, default `answer`): a mapping is used as the
whole reference, a JSON object string is parsed, anything else becomes `{reference_field: value}`. A row
whose reference is None gets None (this verifier does not apply to it; with several reward functions TRL
sums the others).

Importing this module does not import TRL: the functions only follow its calling convention.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from assay.integrations.convert import as_reference, completion_text, reward_of
from assay.integrations.grader import Pair, get_grader
from assay.models import Sample, Task, Verdict
from assay.verifier import Verifier

RewardFunc = Callable[..., list[float | None]]
AsyncRewardFunc = Callable[..., Awaitable[list[float | None]]]


class _Rows:
    """Turns one TRL call's arguments into (task, sample) pairs, remembering which rows have none."""

    def __init__(self, reference_column: str, reference_field: str) -> None:
        self.reference_column = reference_column
        self.reference_field = reference_field

    def pairs(
        self, prompts: Sequence[Any], completions: Sequence[Any], columns: dict[str, Any]
    ) -> tuple[list[Pair], list[int]]:
        if self.reference_column not in columns:
            known = sorted(k for k in columns if k not in ("trainer_state", "log_extra", "log_metric"))
            raise KeyError(
                f"the data set has no column {self.reference_column!r} for the reference "
                f"(columns: {', '.join(known) or 'none'}); pass reference_column=..."
            )
        references = columns[self.reference_column]
        pairs: list[Pair] = []
        rows: list[int] = []
        for row, completion in enumerate(completions):
            reference = as_reference(references[row], self.reference_field)
            if reference is None:
                continue
            prompt = completion_text(prompts[row]) if row < len(prompts) else ""
            task = Task(id=str(row), prompt=prompt, reference=reference)
            pairs.append((task, Sample(task_id=task.id, index=0, text=completion_text(completion))))
            rows.append(row)
        return pairs, rows

    @staticmethod
    def rewards(n: int, rows: list[int], verdicts: list[Verdict]) -> list[float | None]:
        rewards: list[float | None] = [None] * n
        for row, verdict in zip(rows, verdicts, strict=True):
            rewards[row] = reward_of(verdict)
        return rewards


def reward_function(
    verifier: str | type[Verifier],
    *,
    config: dict[str, Any] | None = None,
    reference_column: str = "answer",
    reference_field: str = "answer",
    url: str | None = None,
    token: str | None = None,
    name: str | None = None,
) -> RewardFunc:
    """A synchronous TRL reward function backed by a warm verifier (or an assay server at `url`).

    Its `__name__` (what TRL logs the reward under) is `name`, default `assay_<verifier>`.
    """
    grader = get_grader(verifier, config, url=url, token=token)
    rows = _Rows(reference_column, reference_field)

    def reward(prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list[float | None]:
        pairs, kept = rows.pairs(prompts, completions, columns)
        return rows.rewards(len(completions), kept, grader.verify(pairs))

    reward.__name__ = reward.__qualname__ = name or f"assay_{grader.verifier_name}"
    return reward


def async_reward_function(
    verifier: str | type[Verifier],
    *,
    config: dict[str, Any] | None = None,
    reference_column: str = "answer",
    reference_field: str = "answer",
    url: str | None = None,
    token: str | None = None,
    name: str | None = None,
) -> AsyncRewardFunc:
    """An `async` TRL reward function: TRL runs it on its event loop alongside the other async ones, so a
    slow verifier (code in a sandbox, a remote server) overlaps with the rest of the reward computation."""
    grader = get_grader(verifier, config, url=url, token=token)
    rows = _Rows(reference_column, reference_field)

    async def reward(prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list[float | None]:
        pairs, kept = rows.pairs(prompts, completions, columns)
        return rows.rewards(len(completions), kept, await grader.averify(pairs))

    reward.__name__ = reward.__qualname__ = name or f"assay_{grader.verifier_name}"
    return reward
