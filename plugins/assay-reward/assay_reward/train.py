"""Fitting a head on labelled samples: `assay reward train`.

Labels come from the samples' own `label` field (the data), or from a verifier's verdicts (`--verdicts`,
the output of `assay verify`: inference results fed back into training). Problems are split, never
samples: a problem is either wholly in the training split or wholly held out, so held-out figures say how
the head does on problems it has never seen.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay import InputError, Sample, Task, read_lines, read_models
from assay_reward.encoders import EmbeddingCache, EncoderName, build_encoder
from assay_reward.head import Recipe, RewardHead, make_features
from assay_reward.metrics import summarise

if TYPE_CHECKING:
    import numpy as np

#: L2 strength of the shipped recipe, chosen on held-out problems (see the README).
DEFAULT_L2 = 1000.0


@dataclass(frozen=True)
class Example:
    """One labelled sample with its problem's prompt."""

    task_id: str
    prompt: str
    text: str
    label: bool


@dataclass
class LoadReport:
    examples: list[Example] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    unlabelled: int = 0
    unknown_task: int = 0
    label_source: str = "label"


def load_examples(pairs: Sequence[tuple[str, str]], verdict_files: Sequence[str] = ()) -> LoadReport:
    """Labelled examples from (tasks, samples) file pairs. A verdict (`passed` true/false) for the same
    (task_id, sample_index) overrides the sample's `label`; undecided verdicts are ignored."""
    report = LoadReport()
    verdict_labels: dict[tuple[str, int], bool] = {}
    for path in verdict_files:
        report.label_source = "verdicts"
        for line, obj in read_lines(path):
            if isinstance(obj, InputError):
                report.errors.append(obj)
                continue
            task_id, index, passed = obj.get("task_id"), obj.get("sample_index"), obj.get("passed")
            if not isinstance(task_id, str):
                report.errors.append(InputError(path, line, "task_id", "expected a string"))
            elif not isinstance(index, int) or isinstance(index, bool):
                report.errors.append(InputError(path, line, "sample_index", "expected an integer"))
            elif passed is not None and not isinstance(passed, bool):
                report.errors.append(InputError(path, line, "passed", "expected true, false or null"))
            elif passed is not None:
                verdict_labels[(task_id, index)] = passed
    for tasks_path, samples_path in pairs:
        prompts: dict[str, str] = {}
        for _, task in read_models(tasks_path, Task):
            if isinstance(task, InputError):
                report.errors.append(task)
            else:
                prompts.setdefault(task.id, task.prompt)
        for line, sample in read_models(samples_path, Sample):
            if isinstance(sample, InputError):
                report.errors.append(sample)
                continue
            prompt = prompts.get(sample.task_id)
            if prompt is None:
                report.unknown_task += 1
                report.errors.append(
                    InputError(samples_path, line, "task_id", f"no task {sample.task_id!r} in {tasks_path}")
                )
                continue
            label = verdict_labels.get((sample.task_id, sample.index), sample.label)
            if label is None:
                report.unlabelled += 1
                continue
            report.examples.append(Example(sample.task_id, prompt, sample.text, bool(label)))
    return report


def is_held_out(task_id: str, test_fraction: float, seed: int) -> bool:
    """A problem's split, from a hash of (seed, task id): stable whatever other problems are in the data."""
    digest = hashlib.blake2b(f"{seed}\x00{task_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < test_fraction


@dataclass
class TrainResult:
    head: RewardHead
    report: dict[str, Any]
    test_scores: np.ndarray
    test_labels: np.ndarray
    test_task_ids: list[str]


def embed_examples(examples: Sequence[Example], cache: EmbeddingCache, *, progress: bool = False) -> tuple[
    np.ndarray, np.ndarray
]:
    """(prompt embeddings, sample embeddings), one row per example; each distinct text is encoded once."""
    import numpy as np

    chunk = 512
    prompts = np.empty((len(examples), 384), dtype=np.float32)
    responses = np.empty((len(examples), 384), dtype=np.float32)
    for start in range(0, len(examples), chunk):
        part = examples[start : start + chunk]
        prompts[start : start + len(part)] = cache.embed([e.prompt for e in part])
        responses[start : start + len(part)] = cache.embed([e.text for e in part])
        if progress:
            print(f"\rembedded {start + len(part)}/{len(examples)} samples", end="", file=sys.stderr, flush=True)
    if progress and examples:
        print(file=sys.stderr)
    return prompts, responses


def train(
    examples: Sequence[Example],
    *,
    cache: EmbeddingCache,
    recipe: Recipe = "interaction",
    l2: float = DEFAULT_L2,
    test_fraction: float = 0.2,
    seed: int = 0,
    threshold: float = 0.5,
    progress: bool = False,
    sources: Iterable[str] = (),
    label_source: str = "label",
) -> TrainResult:
    """Fit a head on the training problems and measure it on the held-out ones."""
    import numpy as np

    if not examples:
        raise ValueError("no labelled samples to train on")
    held_out = np.array([is_held_out(e.task_id, test_fraction, seed) for e in examples])
    if held_out.all():
        raise ValueError(f"every problem fell in the held-out split (test fraction {test_fraction}); lower it")
    labels = np.array([e.label for e in examples])
    if labels[~held_out].all() or not labels[~held_out].any():
        raise ValueError("the training split holds one class only: a head needs right and wrong samples")
    prompts, responses = embed_examples(examples, cache, progress=progress)
    features = make_features(recipe, prompts, responses, [e.text for e in examples], [e.task_id for e in examples])
    head = RewardHead.fit(
        features[~held_out], labels[~held_out], recipe=recipe, l2=l2, encoder=cache.encoder.name, threshold=threshold
    )
    scores = head.probabilities(features)
    train_ids = {e.task_id for e, h in zip(examples, held_out, strict=True) if not h}
    test_ids = {e.task_id for e, h in zip(examples, held_out, strict=True) if h}
    report: dict[str, Any] = {
        "data": list(sources),
        "label_source": label_source,
        "split": {"by": "task_id", "test_fraction": test_fraction, "seed": seed},
        "recipe": recipe,
        "l2": l2,
        "encoder": cache.encoder.name,
        "problems": {"train": len(train_ids), "test": len(test_ids)},
        "train": _brief(summarise(scores[~held_out], labels[~held_out], threshold)),
        "test": summarise(scores[held_out], labels[held_out], threshold) if held_out.any() else None,
    }
    head.training = {key: value for key, value in report.items() if key != "test"}
    if report["test"] is not None:
        head.training["test"] = _brief(report["test"])
    return TrainResult(
        head=head,
        report=report,
        test_scores=scores[held_out],
        test_labels=labels[held_out],
        test_task_ids=[e.task_id for e, h in zip(examples, held_out, strict=True) if h],
    )


def _brief(summary: dict[str, Any]) -> dict[str, Any]:
    return {key: (round(value, 4) if isinstance(value, float) else value)
            for key, value in summary.items() if key != "reliability"}


def render(report: dict[str, Any]) -> str:
    """The report as a user reads it."""
    lines = [
        f"problems: {report['problems']['train']} train, {report['problems']['test']} held out "
        f"(split by task id, seed {report['split']['seed']}); encoder {report['encoder']}, recipe "
        f"{report['recipe']}, l2 {report['l2']:g}",
    ]
    for split in ("train", "test"):
        summary = report[split]
        if summary is None:
            lines.append("held out: none (test fraction 0): no honest figures")
            continue
        auroc = "n/a (one class)" if summary["auroc"] is None else f"{summary['auroc']:.3f}"
        lines.append(
            f"{'held out' if split == 'test' else 'train':>8}: {summary['samples']} samples "
            f"({summary['positives']} correct)  AUROC {auroc}  Brier {summary['brier']:.3f}  ECE {summary['ece']:.3f}  "
            f"at {summary['threshold']:g}: TP {summary['true_positive']} FP {summary['false_positive']} "
            f"TN {summary['true_negative']} FN {summary['false_negative']}"
        )
    test = report["test"]
    if test is not None and test["reliability"]:
        lines.append("calibration on held-out problems (score bin: samples, mean score, fraction correct):")
        for row in test["reliability"]:
            low, high = row["bin"]
            lines.append(
                f"  [{low:.1f}, {high:.1f}): {row['count']:>6}  {row['mean_score']:.3f}  {row['fraction_correct']:.3f}"
            )
    return "\n".join(lines)


def build_cache(encoder: EncoderName, threads: int | None = None) -> EmbeddingCache:
    return EmbeddingCache(build_encoder(encoder, threads=threads), max_entries=10_000_000)


def write_head(result: TrainResult, out: str | Path) -> Path:
    return result.head.save(out)
