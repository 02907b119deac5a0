"""The audit: how good are the verifiers, and what does each selection method turn coverage into.

From Python::

    from assay.audit import audit_files

    report = audit_files("tasks.jsonl", "samples.jsonl", ["verdicts.jsonl"], ks=[1, 2, 4, 8, 16, 30])
    report.write("out/report")          # report.json, report.html, the PNG plots
    print(report.markdown())

`audit(data)` does the same on `AuditData` already in memory (see `assay.audit.data`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from assay.audit import stats
from assay.audit.coverage_fit import coverage_fit
from assay.audit.curves import (
    DEFAULT_TARGETS,
    AuditOptions,
    Curve,
    auto_mc_samples,
    default_ks,
    ks_for,
    selection_curves,
)
from assay.audit.data import AuditData, AuditInputError, load
from assay.audit.verifier_metrics import agreement, verifier_report
from assay.version import __version__


@dataclass
class AuditReport:
    """The audit's results: `json` is what report.json holds; `write` adds the HTML and the plots."""

    json: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)

    def write(self, directory: str | Path, html: bool = True) -> dict[str, Path]:
        from assay.audit.report import write_report

        return write_report(self, Path(directory), html=html)

    def markdown(self, html_path: str | Path | None = None) -> str:
        from assay.audit.report import markdown

        return markdown(self.json, html_path)

    def curve(self, name: str) -> dict[str, Any]:
        for curve in self.json["curves"]:
            if curve["name"] == name:
                return dict(curve)
        known = ", ".join(c["name"] for c in self.json["curves"])
        raise KeyError(f"no curve {name!r} (have: {known})")

    def at(self, name: str, k: int) -> float:
        """A curve's value at k."""
        curve = self.curve(name)
        try:
            return float(curve["value"][self.json["k"].index(k)])
        except ValueError:
            raise KeyError(f"k={k} is not among the audited ks {self.json['k']}") from None


def audit_files(
    tasks: str | Path | None,
    samples: str | Path,
    verdicts: Sequence[str | Path] = (),
    *,
    labels: str = "label",
    answer_key: bool = False,
    **options: Any,
) -> AuditReport:
    """Read the files (see `assay.audit.data.load`) and audit them; `options` are `AuditOptions` fields."""
    started = time.perf_counter()
    data = load(tasks, samples, verdicts, labels=labels, answer_key=answer_key)
    loaded = time.perf_counter() - started
    report = audit(data, AuditOptions(**options))
    report.timings["load_s"] = round(loaded, 3)
    return report


def audit(data: AuditData, options: AuditOptions | None = None) -> AuditReport:
    """Audit data in memory: selection curves, verifier accuracy, agreement, calibration, coverage fit."""
    options = options or AuditOptions()
    if data.label is None:
        raise AuditInputError(["the audit needs ground-truth labels on every sample"])
    if data.problems == 0:
        raise AuditInputError(["no problems to audit"])
    started = time.perf_counter()
    n = data.n
    n_max = int(n.max(initial=0))
    if n_max == 0:
        raise AuditInputError(["no samples to audit"])
    ks = ks_for(options.ks, n_max)
    rng = np.random.default_rng(options.seed)
    mc_samples = options.mc_samples or auto_mc_samples(data.valid.size)
    boot = stats.Bootstrap.draw(
        data.problems, options.bootstrap, np.random.default_rng([options.seed, 1]), options.confidence
    )

    curves = selection_curves(data, ks, rng, mc_samples, boot, options)
    curves_done = time.perf_counter()
    verifiers = [verifier_report(data, verifier_id, boot) for verifier_id in data.verifiers]
    agreements = agreement(data, boot)
    fit = coverage_fit(data, options.targets, boot)
    finished = time.perf_counter()

    answers = data.answer_source()
    label = data.label
    report = {
        "assay_version": __version__,
        "inputs": data.sources,
        "problems": data.problems,
        "samples": int(n.sum()),
        "samples_per_problem": {"min": int(n.min()), "max": n_max, "mean": round(float(n.mean()), 3)},
        "mean_accuracy": round(float((label & data.valid).sum() / max(int(n.sum()), 1)), 6),
        "answers_from": answers or "text",
        "k": [int(k) for k in ks],
        "options": {
            "bootstrap": boot.replicates,
            "confidence": options.confidence,
            "seed": options.seed,
            "mc_samples": mc_samples,
        },
        "curves": [curve.to_json() for curve in curves],
        "verifiers": verifiers,
        "agreement": agreements,
        "coverage_fit": fit,
        "problems_detail": [
            {"id": task_id, "samples": int(n[row]), "correct": int(label[row].sum())}
            for row, task_id in enumerate(data.task_ids)
        ],
    }
    return AuditReport(
        report, {"curves_s": round(curves_done - started, 3), "metrics_s": round(finished - curves_done, 3)}
    )


# -- selection curves -----------------------------------------------------------------------------------------------


# -- verifiers --------------------------------------------------------------------------------------------------------


# -- coverage fit -----------------------------------------------------------------------------------------------------


__all__ = [
    "DEFAULT_TARGETS",
    "AuditData",
    "AuditInputError",
    "AuditOptions",
    "AuditReport",
    "Curve",
    "audit",
    "audit_files",
    "default_ks",
    "load",
]
