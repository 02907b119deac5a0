"""Assembly and the text pre-checks on real miniF2F proofs from three provers (shared data; no kernel).

The source pipeline's labels (`lake env lean` on Mathlib, no sorry or axiom checks) are a lower bound on
correctness: a sample it accepted must assemble into a well-formed file, and the only pre-check that may
reject such a sample is the one that pipeline did not have (`native_decide`, through Lean.ofReduceBool).
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

from assay_lean.assemble import assemble, structure_problems
from assay_lean.lexer import code_view, word_pattern
from assay_lean.precheck import precheck
from assay_lean.reference import parse_statement

#: Every third sample: all three provers, every problem, a third of the time.
STRIDE = 3


def test_minif2f_samples_assemble_and_precheck(shared_data: Path) -> None:
    folder = shared_data / "minif2f-lean4"
    problems = {}
    for line in (folder / "problems.jsonl").open():
        row = json.loads(line)
        problems[row["problem_id"]] = (row["header"], parse_statement(row["formal_statement"]))
    assert len(problems) == 244
    seen = well_formed = 0
    labelled_rejections: Counter[str] = Counter()
    models: Counter[str] = Counter()
    with gzip.open(folder / "samples.jsonl.gz", "rt") as lines:
        for number, line in enumerate(lines):
            if number % STRIDE:
                continue
            row = json.loads(line)
            header, statement = problems[row["problem_id"]]
            assembly = assemble(header, statement, row["response"])
            seen += 1
            models[row["model"]] += 1
            body_lines = assembly.body.rstrip("\n").split("\n")
            assert body_lines[-1] == f"#print axioms _root_.assay_check_{statement.tag}"
            assert body_lines[-2].endswith(f":= @_root_.{statement.name}")
            problems_found = structure_problems(assembly)
            well_formed += not problems_found
            found = precheck(code_view(assembly.sample_code))
            if row["label"]:
                assert problems_found == [], (row["problem_id"], row["sample_index"], problems_found)
                if found.reason:
                    labelled_rejections[found.reason] += 1
            uses_native = word_pattern("native_decide").search(code_view(assembly.sample_code).code)
            if uses_native:
                assert found.reason is not None
            if row["extra"]["contains_sorry"] and word_pattern("sorry").search(code_view(assembly.sample_code).code):
                assert found.reason == "sorry"
    assert seen == 17568 // STRIDE and len(models) == 3
    assert well_formed / seen > 0.9
    assert set(labelled_rejections) <= {"axiom:Lean.ofReduceBool"}
