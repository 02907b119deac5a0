"""Weak signals about one sample, as numbers: what the `ensemble` selector combines.

A signal is any number that tends to be higher for right samples than wrong ones, or lower: the ensemble
learns the direction and the strength of each. They come from three places, and the selector never needs
to know which plugin gave which:

- the sample's `metadata`: every number or boolean, nested dicts flattened with dots
  (`metadata:logprob`, `metadata:judge.score`); lists and strings are ignored;
- every verdict on the sample: its `score` and `passed` (`<verifier id>:score`, `<verifier id>:passed`),
  and every number in `details["signals"]` (`<verifier id>:<name>`), the place for a plugin's own weak
  checks;
- a cheap feature of the text: `text:chars`, the log of its length (long, rambling or truncated
  outputs tend to be wrong; short ones can be too: the ensemble learns which).

Signals that depend on the other samples of the problem (the answer's vote share, the answer's mean of
each signal) are computed by the selector itself, from whichever samples it is given.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.models import Sample, Verdict

#: Nested metadata deeper than this is not read (bounded work on hostile input).
MAX_DEPTH = 4
#: At most this many signals from one sample's metadata or one verdict's details.
MAX_SIGNALS = 64


TEXT_CHARS = "text:chars"


def sample_signals(sample: Sample) -> dict[str, float]:
    """The sample's own signals: its metadata numbers and its text length."""
    out = metadata_signals(sample.metadata)
    out[TEXT_CHARS] = math.log1p(len(sample.text))
    return out


def metadata_signals(metadata: Mapping[str, Any]) -> dict[str, float]:
    """Every number and boolean in a sample's metadata, named `metadata:<dotted path>`."""
    return _numbers(metadata, "metadata:")


def verdict_signals(verdict: Verdict) -> dict[str, float]:
    """A verdict's signals, named after its verifier."""
    out: dict[str, float] = {}
    if verdict.score is not None and math.isfinite(verdict.score):
        out[f"{verdict.verifier}:score"] = float(verdict.score)
    if verdict.passed is not None:
        out[f"{verdict.verifier}:passed"] = float(verdict.passed)
    extra = verdict.details.get("signals") if isinstance(verdict.details, dict) else None
    if isinstance(extra, Mapping):
        out.update(_numbers(extra, f"{verdict.verifier}:"))
    return out


def _numbers(values: Mapping[str, Any], prefix: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, value in _walk(values, prefix, 0):
        if len(out) >= MAX_SIGNALS:
            break
        out[name] = value
    return out


def _walk(values: Mapping[str, Any], prefix: str, depth: int) -> Iterator[tuple[str, float]]:
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, bool):
            yield name, float(value)
        elif isinstance(value, int | float):
            try:
                number = float(value)
            except OverflowError:  # an integer too large for a float
                continue
            if math.isfinite(number):
                yield name, number
        elif isinstance(value, Mapping) and depth + 1 < MAX_DEPTH:
            yield from _walk(value, f"{name}.", depth + 1)
