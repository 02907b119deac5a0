"""The audit against human labels: what `assay audit --labels LABELS.sqlite` reports.

Reviewers label a subset of the samples, drawn in strata (see `assay.review.index`): the informative strata
first, and a uniform random slice alongside. Within a stratum the labelled samples are a simple random
sample of it, so each label stands for population/labelled samples of its stratum; weighting by that makes
the estimates (a verifier's false-positive and false-negative rates, the share of correct samples)
unbiased for the strata that have labels, however much more often the informative ones were labelled.
Intervals come from a stratified bootstrap (labelled samples resampled within their stratum). Labels given
while the queue was filtered (`browsed`), or under an earlier design (other inputs or order), are counted
and listed but stay out of the weighted estimates.

The human verdict on a sample is its reviewers' consensus (majority of correct/wrong; unsure abstains; a tie
decides nothing). Agreement between reviewers: Cohen's kappa per pair on the samples both labelled, and
Fleiss' kappa over every sample labelled more than once (three categories: correct, wrong, unsure).
"""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import ValidationError

from assay.jsonl import InputError, open_text, validation_error
from assay.models import Verdict
from assay.review import labels as label_db

CATEGORIES = label_db.LABELS


def cohen_kappa(first: Sequence[str], second: Sequence[str]) -> float | None:
    """Cohen's kappa of two raters' labels of the same items (None: no items, or no variation at all)."""
    n = len(first)
    if n == 0:
        return None
    observed = sum(a == b for a, b in zip(first, second, strict=True)) / n
    counts_a, counts_b = Counter(first), Counter(second)
    expected = sum(counts_a[c] * counts_b[c] for c in set(counts_a) | set(counts_b)) / (n * n)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def fleiss_kappa(items: Sequence[Sequence[str]]) -> float | None:
    """Fleiss' kappa over items each rated by two or more raters (the number may vary by item)."""
    rated = [labels for labels in items if len(labels) >= 2]
    if not rated:
        return None
    agreement = []
    totals: Counter[str] = Counter()
    for labels in rated:
        counts = Counter(labels)
        m = len(labels)
        agreement.append((sum(c * c for c in counts.values()) - m) / (m * (m - 1)))
        totals.update(labels)
    all_ratings = sum(totals.values())
    expected = sum((count / all_ratings) ** 2 for count in totals.values())
    observed = float(np.mean(agreement))
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


@dataclass
class _Labelled:
    keys: list[tuple[str, int]]
    truth: NDArray[np.bool_]
    stratum: NDArray[np.int64]


def _figure(value: float, low: float, high: float) -> dict[str, float | None]:
    def clean(x: float) -> float | None:
        return None if not np.isfinite(x) else round(float(x), 6)

    return {"value": clean(value), "ci_low": clean(low), "ci_high": clean(high)}


def _ratio(numerator: NDArray[np.float64], denominator: NDArray[np.float64]) -> NDArray[np.float64]:
    with np.errstate(invalid="ignore", divide="ignore"):
        out: NDArray[np.float64] = np.where(
            denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan
        )
    return out


def read_verdicts_for(
    paths: Sequence[str | Path], wanted: set[tuple[str, int]]
) -> tuple[dict[str, dict[tuple[str, int], int]], list[InputError]]:
    """verifier -> (task, sample) -> passed (1, 0, -1 undecided), first run only, for the wanted samples."""
    decisions: dict[str, dict[tuple[str, int], int]] = defaultdict(dict)
    errors: list[InputError] = []
    for path in paths:
        with open_text(path) as handle:
            for line, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                try:
                    verdict = Verdict.model_validate_json(raw)
                except ValidationError as exc:
                    errors.append(validation_error(str(path), line, exc))
                    continue
                key = (verdict.task_id, verdict.sample_index)
                if key in wanted:
                    decisions[verdict.verifier].setdefault(key, -1 if verdict.passed is None else int(verdict.passed))
    return dict(decisions), errors


def human_audit(
    labels_path: str | Path,
    verdicts: Sequence[str | Path] = (),
    *,
    bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """The report section for a label database (see the module's docstring). Raises ValueError on bad input."""
    db = label_db.connect(labels_path, readonly=True)
    try:
        rows = list(label_db.latest(db))
        sampling = label_db.sampling_of(db)
        designs = label_db.designs(db)
    finally:
        db.close()
    per_sample: dict[tuple[str, int], dict[str, str]] = defaultdict(dict)
    for row in rows:
        per_sample[(row.task_id, row.sample_index)][row.reviewer] = row.label
    design = designs[-1] if designs else None
    strata_names = list(design["strata"]) if design else []
    populations = (
        np.array([design["strata"][name] for name in strata_names], dtype=np.float64) if design else np.zeros(0)
    )

    sources: Counter[str] = Counter()
    keys: list[tuple[str, int]] = []
    truths: list[bool] = []
    stratum_of: list[int] = []
    undecided = 0
    for key, by_reviewer in per_sample.items():
        drawn = sampling.get(key)
        if drawn is None:
            source = label_db.BROWSED
        elif design is None or drawn[1] != design["id"] or drawn[0] not in strata_names:
            source = "earlier_design"
        else:
            source = drawn[0]
        sources[source] += 1
        consensus = label_db.consensus(list(by_reviewer.values()))
        if consensus is None:
            undecided += 1
            continue
        if source in strata_names:
            keys.append(key)
            truths.append(consensus)
            stratum_of.append(strata_names.index(source))
    labelled = _Labelled(keys, np.array(truths, dtype=bool), np.array(stratum_of, dtype=np.int64))
    counts = np.bincount(labelled.stratum, minlength=len(strata_names)).astype(np.float64)
    weights_per_stratum = _ratio(populations, counts)
    covered = populations[counts > 0].sum()
    total = populations.sum()
    weight = np.nan_to_num(weights_per_stratum[labelled.stratum]) if len(keys) else np.zeros(0)

    rng = np.random.default_rng(seed)
    multiplicity = _stratified_bootstrap(labelled.stratum, len(strata_names), bootstrap, rng)
    alpha = (1.0 - confidence) / 2.0

    def estimate(numerator_mask: NDArray[np.bool_], denominator_mask: NDArray[np.bool_]) -> dict[str, float | None]:
        value = _ratio(np.array([weight[numerator_mask].sum()]), np.array([weight[denominator_mask].sum()]))[0]
        if multiplicity.shape[0] == 0:
            return _figure(value, np.nan, np.nan)
        replicate_weights = multiplicity * weight[None, :]
        reps = _ratio(
            replicate_weights[:, numerator_mask].sum(axis=1), replicate_weights[:, denominator_mask].sum(axis=1)
        )
        reps = reps[np.isfinite(reps)]
        if reps.size == 0:
            return _figure(value, np.nan, np.nan)
        return _figure(value, float(np.quantile(reps, alpha)), float(np.quantile(reps, 1.0 - alpha)))

    truth: NDArray[np.bool_] = labelled.truth
    all_true = np.ones(len(keys), dtype=bool)
    wanted = set(per_sample)
    decisions, errors = read_verdicts_for(verdicts, wanted)
    if errors:
        raise ValueError("\n".join(str(error) for error in errors[:10]))
    verifier_reports = []
    for verifier_id in sorted(decisions):
        decided = decisions[verifier_id]
        passed = np.array([decided.get(key, -1) for key in keys], dtype=np.int8)
        is_pass, is_fail = passed == 1, passed == 0
        tp, fp = is_pass & truth, is_pass & ~truth
        tn, fn = is_fail & ~truth, is_fail & truth
        raw: Counter[str] = Counter()
        for key, by_reviewer in per_sample.items():
            human = label_db.consensus(list(by_reviewer.values()))
            decision = decided.get(key, -1)
            if human is None or decision < 0:
                raw["undecided"] += 1
            else:
                raw[("tp" if human else "fp") if decision == 1 else ("fn" if human else "tn")] += 1
        verifier_reports.append(
            {
                "id": verifier_id,
                "labelled_samples_judged": int((passed >= 0).sum()),
                "weighted_confusion": {
                    name: round(float(weight[mask].sum()), 3)
                    for name, mask in (("tp", tp), ("fp", fp), ("tn", tn), ("fn", fn), ("undecided", passed < 0))
                },
                "raw_confusion": {name: int(raw[name]) for name in ("tp", "fp", "tn", "fn", "undecided")},
                "false_positive_rate": estimate(fp, fp | tn),
                "false_negative_rate": estimate(fn, fn | tp),
                "precision": estimate(tp, tp | fp),
                "accuracy": estimate(tp | tn, is_pass | is_fail),
            }
        )
    reviewers = sorted({reviewer for by_reviewer in per_sample.values() for reviewer in by_reviewer})
    return {
        "database": str(labels_path),
        "design": design["id"] if design else None,
        "labelled_samples": len(per_sample),
        "labels": len(rows),
        "human_undecided": undecided,
        "by_sampling": dict(sorted(sources.items())),
        "strata": [
            {
                "name": name,
                "population": int(populations[i]),
                "labelled": int(counts[i]),
                "weight": None if not np.isfinite(weights_per_stratum[i]) else round(float(weights_per_stratum[i]), 4),
            }
            for i, name in enumerate(strata_names)
        ],
        "covered_share": round(float(covered / total), 6) if total else None,
        "unlabelled_strata": [name for i, name in enumerate(strata_names) if populations[i] > 0 and counts[i] == 0],
        "share_correct": estimate(truth, all_true),
        "reviewers": reviewers,
        "agreement": _agreement(per_sample, reviewers),
        "verifiers": verifier_reports,
        "options": {"bootstrap": bootstrap, "confidence": confidence, "seed": seed},
    }


def _stratified_bootstrap(
    stratum: NDArray[np.int64], strata: int, replicates: int, rng: np.random.Generator
) -> NDArray[np.float64]:
    """(replicates, samples): how often each labelled sample is drawn, resampling within each stratum."""
    n = stratum.size
    if replicates <= 0 or n == 0:
        return np.zeros((0, n))
    out = np.zeros((replicates, n))
    for h in range(strata):
        members = np.flatnonzero(stratum == h)
        if members.size:
            out[:, members] = rng.multinomial(members.size, np.full(members.size, 1.0 / members.size), size=replicates)
    return out


def _agreement(per_sample: dict[tuple[str, int], dict[str, str]], reviewers: list[str]) -> dict[str, Any]:
    pairs = []
    for a, b in itertools.combinations(reviewers, 2):
        both = [(labels[a], labels[b]) for labels in per_sample.values() if a in labels and b in labels]
        kappa = cohen_kappa([x for x, _ in both], [y for _, y in both])
        pairs.append(
            {
                "a": a,
                "b": b,
                "samples": len(both),
                "agreement": round(sum(x == y for x, y in both) / len(both), 6) if both else None,
                "cohen_kappa": None if kappa is None else round(kappa, 6),
            }
        )
    multi = [list(labels.values()) for labels in per_sample.values() if len(labels) >= 2]
    fleiss = fleiss_kappa(multi)
    return {
        "pairs": pairs,
        "fleiss_kappa": None if fleiss is None else round(fleiss, 6),
        "samples_labelled_twice_or_more": len(multi),
    }


def _percent(figure: dict[str, float | None]) -> str:
    value = figure["value"]
    if value is None:
        return "n/a"
    low, high = figure["ci_low"], figure["ci_high"]
    interval = f" [{100 * low:.1f}, {100 * high:.1f}]" if low is not None and high is not None else ""
    return f"{100 * value:.1f} %{interval}"


def markdown(report: dict[str, Any], path: str | Path | None = None) -> str:
    lines = [
        f"## Human labels: {report['database']}",
        "",
        f"{report['labelled_samples']} samples labelled ({report['labels']} standing labels by"
        f" {len(report['reviewers'])} reviewer(s)); {report['human_undecided']} left unsure or tied.",
        "By sampling: " + ", ".join(f"{name} {count}" for name, count in report["by_sampling"].items()),
    ]
    if report["covered_share"] is not None:
        lines.append(
            f"Weighted estimates cover strata holding {100 * report['covered_share']:.1f} % of the samples"
            + (f" (no labels yet in: {', '.join(report['unlabelled_strata'])})" if report["unlabelled_strata"] else "")
            + f"; share judged correct {_percent(report['share_correct'])}."
        )
    lines += ["", "| verifier | FPR | FNR | precision | accuracy |", "|---|---|---|---|---|"]
    for verifier in report["verifiers"]:
        lines.append(
            f"| {verifier['id']} | {_percent(verifier['false_positive_rate'])} |"
            f" {_percent(verifier['false_negative_rate'])} | {_percent(verifier['precision'])} |"
            f" {_percent(verifier['accuracy'])} |"
        )
    agreement = report["agreement"]
    for pair in agreement["pairs"]:
        kappa = "n/a" if pair["cohen_kappa"] is None else f"{pair['cohen_kappa']:.3f}"
        lines.append(f"Cohen's kappa {pair['a']} / {pair['b']}: {kappa} on {pair['samples']} samples")
    if agreement["fleiss_kappa"] is not None:
        lines.append(
            f"Fleiss' kappa: {agreement['fleiss_kappa']:.3f} on {agreement['samples_labelled_twice_or_more']} samples"
        )
    if path is not None:
        lines += ["", f"Report: {path}"]
    return "\n".join(lines)


def write(report: dict[str, Any], directory: str | Path) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "human_labels.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path
