"""The report's text on any data: a title, a headline that names coverage at the largest k, short input
names, rounding that keeps small rates visible, and every plot's legend recorded; never an exception."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.audit import AuditOptions, audit
from assay.audit.data import AnswerGroups, AuditData, VerifierData
from assay.audit.report import _with_interval, headline, input_files, saved_legend, title


@st.composite
def audit_data(draw: st.DrawFn) -> AuditData:
    problems = draw(st.integers(1, 6))
    width = draw(st.integers(1, 8))
    n = [draw(st.integers(1, width)) for _ in range(problems)]
    valid = np.zeros((problems, width), dtype=bool)
    for row, count in enumerate(n):
        valid[row, :count] = True
    label = np.array([[draw(st.booleans()) for _ in range(width)] for _ in range(problems)]) & valid
    keys = [[draw(st.sampled_from(["a", "b", "c", None])) if valid[r, c] else None for c in range(width)]
            for r in range(problems)]  # fmt: skip
    passed = np.where(valid, np.array([[draw(st.sampled_from([1, 0, -1])) for _ in range(width)]
                                       for _ in range(problems)]), -1).astype(np.int8)[None]  # fmt: skip
    noise = np.random.default_rng(draw(st.integers(0, 99))).random(passed[0].shape)
    score = np.where(passed[0] >= 0, np.round(noise, 2), np.nan)[None]
    verifier = VerifierData(
        "v@1", passed, score, AnswerGroups.build(keys, width), np.full((problems, width), -1, dtype=np.int32), []
    )
    index = np.where(valid, np.arange(width)[None, :], -1).astype(np.int64)
    return AuditData(
        task_ids=[f"p{i}" for i in range(problems)],
        index=index,
        valid=valid,
        label=label,
        text_answers=AnswerGroups.build(keys, width),
        verifiers={"v@1": verifier},
        sources={
            "tasks": "/very/long/absolute/path/data/tasks.jsonl",
            "samples": "/abs/data/samples.jsonl.gz",
            "verdicts": ["/abs/out/v.jsonl"],
            "labels": "label",
        },
    )


@given(audit_data())
@settings(max_examples=15, deadline=None)
def test_any_report_writes_and_reads_at_a_glance(data: AuditData) -> None:
    report = audit(data, AuditOptions(bootstrap=30, mc_samples=4))
    assert title(report.json) == "data"
    assert [name for _, name in input_files(report.json)][:3] == ["data/tasks.jsonl", "data/samples.jsonl.gz",
                                                                  "out/v.jsonl"]  # fmt: skip
    sentence = headline(report.json)
    assert sentence.startswith(f"At k = {report.json['k'][-1]:,} samples per problem: coverage ")
    with tempfile.TemporaryDirectory() as folder:
        paths = report.write(folder)
        summary = paths["markdown"].read_text()
        assert sentence in summary and "/very/long" not in summary
        for path in Path(folder).glob("*.png"):
            assert saved_legend(path), path.name


@given(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1))
def test_intervals_round_alike_and_keep_small_rates(value: float, a: float, b: float) -> None:
    low, high = sorted((a, b))
    text = _with_interval({"value": value, "ci_low": low, "ci_high": high})
    numbers = re.findall(r"\d+\.(\d+)", text)
    assert len(numbers) == 3 and len({len(decimals) for decimals in numbers}) == 1
    if 0 < value < 0.01:
        assert not text.startswith("0.0 %")  # a 0.4 % false-positive rate is not shown as 0.0


@given(st.floats(-50, -1e-6), st.floats(-5, -1e-9), st.floats(0.01, 0.999))
def test_the_k_a_target_needs_never_overflows(a: float, b: float, target: float) -> None:
    from assay.audit.stats import PowerLawFit

    k = PowerLawFit(a, b, 1.0, 0.0, 3).k_for(target)
    assert k >= 0  # inf where the fit is too flat to ever reach it; 0 where it starts above the target
