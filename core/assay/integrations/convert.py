"""How other harnesses' values become assay's, and verdicts become their rewards: one policy for all.

Every adapter (TRL, verl, lm-evaluation-harness, Inspect AI, OpenRLHF's `/get_reward`) hands assay a
model's text and some ground truth in the harness's own shape; these functions are the only place that
shape is read and the only place a verdict is turned into a number.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from assay.models import Verdict

#: Special tokens a trainer may leave at the end of a decoded completion (decoded with
#: `skip_special_tokens=False`); they are not part of the answer.
END_MARKERS: tuple[str, ...] = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end|>", "</s>", "<eos>")


def as_reference(value: Any, field: str = "answer") -> dict[str, Any] | None:
    """A task reference from a harness's ground truth.

    A mapping is used as it is (with arrays as lists: verl's batches and parquet readers hand over numpy
    arrays); a string holding a JSON object is parsed (verl and OpenRLHF carry test cases that way);
    anything else becomes `{field: value}` (`field` is `answer` for math and echo). None means there is no
    ground truth: the verifier does not apply. Tests in a public data set's shape are read by the verifier
    itself (the code verifier's `assay_code.formats`), so they arrive here as they are.
    """
    if value is None:
        return None
    if isinstance(value, Mapping):
        try:
            return {str(key): _plain(item) for key, item in value.items()}
        except RecursionError:  # nested past any real data: the verifier reports it as a bad reference
            return dict(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("{"):
            try:
                parsed = orjson.loads(stripped)
            except orjson.JSONDecodeError:
                parsed = None
            if isinstance(parsed, dict):
                return parsed
        return {field: value}
    return {field: value if isinstance(value, int | float | bool | list) else str(value)}


def _plain(value: Any) -> Any:
    """JSON-ready containers: numpy arrays and scalars as Python lists and numbers, tuples as lists."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if not isinstance(value, str | bytes | int | float | bool) and callable(getattr(value, "tolist", None)):
        return _plain(value.tolist())
    return value


def completion_text(completion: Any) -> str:
    """The text of a completion: a plain string, or a conversation (a list of `{"role", "content"}`
    messages, as TRL passes for conversational data sets) whose last assistant message is the answer."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        return _content_text(completion.get("content"))
    if isinstance(completion, list | tuple):
        messages = [m for m in completion if isinstance(m, Mapping)]
        assistant = [m for m in messages if m.get("role", "assistant") == "assistant"]
        chosen = assistant or messages
        return _content_text(chosen[-1].get("content")) if chosen else ""
    return str(completion)


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # multimodal content parts: [{"type": "text", "text": ...}, ...]
        return "".join(
            str(part.get("text", "")) for part in content if isinstance(part, Mapping) and part.get("type") == "text"
        )
    return str(content)


def response_of(query: str, prompt: str | None) -> str:
    """The model's response inside a decoded prompt+response sequence (OpenRLHF's `query`)."""
    text = query
    if prompt:
        if query.startswith(prompt):
            text = query[len(prompt) :]
        else:
            at = query.find(prompt)
            if at >= 0:
                text = query[at + len(prompt) :]
    return strip_end_markers(text)


def strip_end_markers(text: str) -> str:
    stripped = text.rstrip()
    changed = True
    while changed:
        changed = False
        for marker in END_MARKERS:
            if stripped.endswith(marker):
                stripped = stripped[: -len(marker)].rstrip()
                changed = True
    return stripped


def reward_of(verdict: Verdict | Mapping[str, Any]) -> float | None:
    """The reward a verdict is worth: its score when it has one, else 1.0 for pass and 0.0 for fail or
    timeout; None when nothing was decided (`error`, `skipped`: the verifier does not apply, or failed)."""
    status, score, passed = _fields(verdict)
    if status in ("error", "skipped"):
        return None
    if score is not None:
        return float(score)
    return 1.0 if passed else 0.0


def passed_of(verdict: Verdict | Mapping[str, Any]) -> bool:
    return _fields(verdict)[2] is True


def _fields(verdict: Verdict | Mapping[str, Any]) -> tuple[str, float | None, bool | None]:
    if isinstance(verdict, Verdict):
        return verdict.status, verdict.score, verdict.passed
    return str(verdict.get("status")), verdict.get("score"), verdict.get("passed")
