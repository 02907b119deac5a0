"""What a verifier reads of a model's response: the answer the model shows, not its hidden reasoning.

Reasoning models write `<think> ... </think>` before their answer, chat templates leave special tokens
(`<|im_end|>`, `<|eot_id|>`) after it, and RL prompts often ask for the answer inside `<answer>` tags. A
verifier grades what the response gives as its answer: code or a number inside the reasoning is a draft,
not the answer. The bundled verifiers that grade a final answer (math, code, lean) read responses through
these functions; the learned reward model scores the whole text it is given.
"""

from __future__ import annotations

import re

_THINK_END = re.compile(r"</think>", re.IGNORECASE)
_THINK_START = re.compile(r"<think>", re.IGNORECASE)
_CHAT_TOKEN = re.compile(r"<\|(?:im_start|im_end|endoftext|eot_id|end|user|assistant)\|>")
_ANSWER_START = re.compile(r"<answer>", re.IGNORECASE)
_ANSWER_END = re.compile(r"</answer>", re.IGNORECASE)


def visible_text(text: str) -> str:
    """The response without its hidden reasoning and chat scaffolding: what follows the last `</think>`
    (the whole text, less a stray `<think>`, when there is none), up to a chat template's next special
    token (one at the very start is left alone: the answer follows it)."""
    ends = [match.end() for match in _THINK_END.finditer(text)]
    if ends:
        text = text[ends[-1] :]
    text = _THINK_START.sub(" ", text)
    chat = _CHAT_TOKEN.search(text)
    if chat and chat.start() > 0:
        text = text[: chat.start()]
    return text


def answer_in_tags(text: str) -> str | None:
    """What the last `<answer>` tag of the response holds (up to its `</answer>`, or to the end of a
    response cut off inside it), or None when there is no such tag or it holds nothing but space."""
    starts = [match.end() for match in _ANSWER_START.finditer(text)]
    if not starts:
        return None
    inside = text[starts[-1] :]
    end = _ANSWER_END.search(inside)
    inside = inside[: end.start()] if end else inside
    return inside if inside.strip() else None
