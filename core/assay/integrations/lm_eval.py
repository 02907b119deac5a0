"""lm-evaluation-harness: a majority-vote filter that counts equivalent answers together, and a
`process_results` that scores with a verifier.

lm-eval's own `majority_vote` filter compares exact strings, so `1/2`, `0.5` and `\\frac{1}{2}` split the
vote. `AssayMajorityVote` groups a document's responses by the verifier's `answer_key` (a canonical
form) and keeps the first response of the largest group (ties: the group seen first). In a task YAML:

```yaml
repeats: 16
filter_list:
  - name: maj@16
    filter:
      - function: assay_majority_vote     # registered when this module is imported (see utils.py below)
        verifier: math
      - function: take_first
process_results: !function utils.process_results
metric_list:
  - {metric: acc, aggregation: mean, higher_is_better: true}
```

```python
# utils.py beside the YAML
from assay.integrations.lm_eval import process_results_for

process_results = process_results_for("math", reference="answer")   # doc["answer"] is the reference
```

Needs `lm-eval` (`pip install lm-eval`); importing this module registers the filter under
`assay_majority_vote`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from lm_eval.api.filter import Filter  # type: ignore[import-untyped,import-not-found,unused-ignore]
from lm_eval.api.registry import register_filter  # type: ignore[import-untyped,import-not-found,unused-ignore]

from assay.integrations.convert import as_reference, completion_text, passed_of, reward_of
from assay.integrations.grader import get_grader
from assay.models import Sample, Task
from assay.verifier import Verifier

Reference = str | Callable[[dict[str, Any]], Any] | None

logger = logging.getLogger(__name__)


def _reference_of(doc: dict[str, Any], reference: Reference, field: str) -> dict[str, Any] | None:
    if reference is None:
        return None
    value = reference(doc) if callable(reference) else doc.get(reference)
    return as_reference(value, field)


def majority_answer(keys: Sequence[str | None]) -> int | None:
    """Index of the first response of the largest group of equal keys (None keys do not vote)."""
    counts: dict[str, int] = {}
    first: dict[str, int] = {}
    for index, key in enumerate(keys):
        if key is None:
            continue
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, index)
    if not counts:
        return None
    winner = max(counts, key=lambda key: (counts[key], -first[key]))
    return first[winner]


class AssayMajorityVote(Filter):  # type: ignore[misc]
    """Majority vote over a verifier's canonical answers; returns `[chosen response]` per document, like
    lm-eval's `majority_vote` (follow it with `take_first`).

    With `url`, the keys come from an assay server's `POST /v1/answer_key` (one request per batch of
    responses), the same keys as in this process. A verifier without `answer_key`, or a server that answers
    with an error, raises: the filter never falls back to the first response without saying so. A document
    none of whose responses has an answer the verifier can read keeps its first response, and the count of
    such documents is logged as a warning (logger `assay.integrations.lm_eval`)."""

    def __init__(
        self,
        verifier: str | type[Verifier] = "math",
        config: dict[str, Any] | None = None,
        reference: Reference = None,
        reference_field: str = "answer",
        url: str | None = None,
        token: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.grader = get_grader(verifier, config, url=url, token=token)
        self.reference = reference
        self.reference_field = reference_field

    def apply(self, resps: Iterable[Sequence[Any]], docs: Sequence[dict[str, Any]]) -> list[list[Any]]:
        documents = [list(responses) for responses in resps]
        if len(documents) != len(docs):
            raise ValueError(f"{len(documents)} lists of responses for {len(docs)} documents")
        pairs: list[tuple[Task, Sample]] = []
        for number, (responses, doc) in enumerate(zip(documents, docs, strict=True)):
            # Most verifiers' answer_key reads the sample alone; a reference is passed where one is set.
            task = Task(id=str(number), reference=_reference_of(doc, self.reference, self.reference_field) or {})
            pairs.extend(
                (task, Sample(task_id=task.id, index=i, text=completion_text(response)))
                for i, response in enumerate(responses)
            )
        keys = iter(self.grader.answer_keys(pairs))
        chosen: list[list[Any]] = []
        no_vote = 0
        errors: Counter[str] = Counter()
        for responses in documents:
            found = [next(keys) for _ in responses]
            errors.update(key.error.split(":")[0] for key in found if key.error)
            if not responses:
                chosen.append([])
                continue
            winner = majority_answer([key.key for key in found])
            if winner is None:
                no_vote += 1
            chosen.append([responses[0 if winner is None else winner]])
        if no_vote or errors:
            detail = ", ".join(f"{count} {reason}" for reason, count in errors.most_common())
            logger.warning(
                "assay_majority_vote (%s): %d of %d documents had no response with an answer the verifier "
                "could read; each keeps its first response%s",
                self.grader.verifier_name,
                no_vote,
                len(documents),
                f" (responses whose key could not be computed: {detail})" if detail else "",
            )
        return chosen


register_filter("assay_majority_vote")(AssayMajorityVote)


def process_results_for(
    verifier: str | type[Verifier],
    *,
    reference: Reference = "answer",
    reference_field: str = "answer",
    config: dict[str, Any] | None = None,
    metric: str = "acc",
    score_metric: str | None = None,
    url: str | None = None,
    token: str | None = None,
) -> Callable[[dict[str, Any], Sequence[Any]], dict[str, float]]:
    """A `process_results(doc, results)` for a generate_until task: judges the (filtered) response with the
    verifier. `reference` is the doc field holding the ground truth, or a function of the doc. Returns
    `{metric: 1.0 for pass else 0.0}`, and `{score_metric: the verdict's score}` when `score_metric` is set
    (a fraction of tests passed, a reward probability; list it in `metric_list` too)."""
    grader = get_grader(verifier, config, url=url, token=token)

    def process_results(doc: dict[str, Any], results: Sequence[Any]) -> dict[str, float]:
        response = results[0] if results else ""
        while isinstance(response, list | tuple):  # a filter that left a list per document
            response = response[0] if response else ""
        ref = _reference_of(doc, reference, reference_field)
        if ref is None:
            raise KeyError(f"document has no reference ({reference!r}); documents carry: {sorted(doc)}")
        task = Task(id="doc", reference=ref)
        verdict = grader.verify([(task, Sample(task_id="doc", index=0, text=completion_text(response)))])[0]
        figures = {metric: 1.0 if passed_of(verdict) else 0.0}
        if score_metric is not None:
            score = reward_of(verdict)
            figures[score_metric] = 0.0 if score is None else score
        return figures

    return process_results
