"""Reading Lean text without Lean: the code view, the statement, extraction, re-indentation, pre-checks."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.verifier import BadReference
from assay_lean.assemble import assemble, extract_code, repair_body
from assay_lean.diagnostics import parse_axioms, parse_json_lines
from assay_lean.lexer import code_view
from assay_lean.precheck import PrecheckPolicy, precheck
from assay_lean.reference import parse_statement

STATEMENT = parse_statement(
    "theorem mathd_algebra_478 (b h v : ℝ) (h₀ : 0 < b ∧ 0 < h ∧ 0 < v) (h₁ : v = 1 / 3 * (b * h))\n"
    "    (h₂ : b = 30) (h₃ : h = 13 / 2) : v = 65 := by"
)


# -- the code view ---------------------------------------------------------------------------------------------


@given(st.text(max_size=400))
@settings(max_examples=300, deadline=None)
def test_code_view_keeps_every_position(text: str) -> None:
    view = code_view(text)
    assert len(view.code) == len(text)
    assert [i for i, c in enumerate(view.code) if c == "\n"] == [i for i, c in enumerate(text) if c == "\n"]


@pytest.mark.parametrize(
    "text",
    [
        "-- sorry",
        "/- sorry -/",
        "/- /- nested -/ sorry -/",
        "/-- doc: sorry -/",
        '"sorry"',
        '"escaped \\" sorry"',
        'r#"raw "sorry""#',
        "'s' -- sorry",
        "«sorry»",
        "h_sorry",
        "sorry'",
        "Foo.sorry",
    ],
)
def test_sorry_outside_code_is_not_a_sorry(text: str) -> None:
    assert precheck(code_view(text)).findings == []


def test_unterminated_comment_and_string() -> None:
    assert code_view("x /- open").unterminated == "comment"
    assert code_view('x "open').unterminated == "string"
    assert precheck(code_view("exact h\n/-")).reason == "unterminated_comment"


# -- pre-checks ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("  sorry", "sorry"),
        ("  exact (by admit)", "sorry"),
        ("  native_decide", "axiom:Lean.ofReduceBool"),
        ("  bv_decide", "axiom:Lean.ofReduceBool"),
        ("axiom cheat : False", "axiom:cheat"),
        ("set_option debug.skipKernelTC true in", "forbidden:debug.skipKernelTC"),
        ("set_option pp.proofs false", "forbidden:pp.proofs"),
        ("@[implemented_by f] def g := 1", "forbidden:implemented_by"),
        ('@[extern "c_fn"] def g := 1', "forbidden:extern"),
        ("attribute [implemented_by f] g", "forbidden:implemented_by"),
        ('@[simp, extern "x"] def g := 1', "forbidden:extern"),
        ("unsafe def g : Nat := 1", "forbidden:unsafe"),
        ("#exit", "forbidden:#exit"),
        ("#eval IO.println 1", "forbidden:#eval"),
        ("#eval! 1", "forbidden:#eval!"),
        ("#guard_msgs in example : True := trivial", "forbidden:#guard_msgs"),
        ('local notation "ℝ" => ℕ', "forbidden:notation"),
        ('notation3 "x" => 1', "forbidden:notation3"),
        ("macro_rules | `(type_of% $e) => `(True)", "forbidden:macro_rules"),
        ('macro "trivial" : tactic => `(tactic| sorry)', "sorry"),
        ('syntax "foo" : term', "forbidden:syntax"),
        ('elab "x" : term => pure default', "forbidden:elab"),
        ('infixl:65 " +' + "' " + '" => HAdd.hAdd', "forbidden:infixl"),
        ("run_cmd pure ()", "forbidden:run_cmd"),
        ("initialize pure ()", "forbidden:initialize"),
        ("import Mathlib", "forbidden:import"),
    ],
)
def test_each_forbidden_construct(text: str, reason: str) -> None:
    assert precheck(code_view(text)).reason == reason


def test_allowed_axioms_and_constructs_are_configurable() -> None:
    policy = PrecheckPolicy(
        allowed_axioms=frozenset({"Lean.ofReduceBool", "myAx"}), forbidden_commands=(), forbidden_options=()
    )
    assert precheck(code_view("  native_decide"), policy).findings == []
    assert precheck(code_view("axiom myAx : True"), policy).findings == []
    assert precheck(code_view('notation "x" => 1'), policy).findings == []
    assert precheck(code_view("set_option pp.all true"), policy).findings == []


def test_sorry_is_reported_before_other_findings() -> None:
    found = precheck(code_view("#exit\n  sorry\naxiom a : False"))
    assert [f.reason for f in found.findings] == ["sorry", "axiom:a", "forbidden:#exit"]
    assert found.findings[0].line == 2


# -- the statement -----------------------------------------------------------------------------------------


def test_statement_parts() -> None:
    assert (STATEMENT.keyword, STATEMENT.name, STATEMENT.opening) == ("theorem", "mathd_algebra_478", ":= by")
    assert STATEMENT.signature.startswith("(b h v : ℝ)") and STATEMENT.signature.endswith(": v = 65")
    documented = parse_statement("/-- doc := by -/\n@[simp] lemma Foo.bar {α : Type} [Inhabited α] : True :=")
    assert (documented.keyword, documented.name, documented.opening) == ("lemma", "Foo.bar", ":=")
    assert documented.prefix.startswith("/-- doc := by -/")
    universes = parse_statement("theorem refl.{u, v} {α : Sort u} {β : Sort v} (a : α) : a = a :=")
    assert (universes.name, universes.universes, universes.signature[:5]) == ("refl", ".{u, v}", "{α : ")
    example = parse_statement("example : 1 = 1 := by")
    assert (example.name, example.signature) == (None, ": 1 = 1")


@pytest.mark.parametrize("text", ["def f : Nat := 1", "theorem", "theorem foo := by", "theorem foo /- open"])
def test_unusable_statements_are_bad_references(text: str) -> None:
    with pytest.raises(BadReference):
        parse_statement(text)


# -- extraction and assembly -----------------------------------------------------------------------------------


def test_a_continuation_is_cut_at_its_closing_fence() -> None:
    text = "nlinarith [sq_nonneg x]\n```\n\nProse.\n```lean4\ntheorem other : True := trivial\n```"
    assert extract_code(text, STATEMENT).code == "nlinarith [sq_nonneg x]\n"


def test_the_block_that_declares_the_theorem_is_chosen() -> None:
    text = (
        "Plan:\n```lean\nhave h := 1\n```\nFull:\n```lean4\nimport Mathlib\n"
        "theorem mathd_algebra_478 (b h v : ℝ) : v = 65 := by\n  simp\n```\nDone."
    )
    extraction = extract_code(text, STATEMENT)
    assert extraction.code.startswith("import Mathlib\ntheorem mathd_algebra_478")
    assembly = assemble("import Mathlib\n", STATEMENT, text)
    assert assembly.mode == "theorem" and "dropped_imports" in assembly.repairs
    assert "import" not in assembly.sample_code


def test_a_draft_proof_inside_the_reasoning_is_never_the_one_checked() -> None:
    theorem = "theorem mathd_algebra_478 (b h v : ℝ) : v = 65 := by\n"
    draft, final = theorem + "  sorry\n", theorem + "  simp\n"
    text = f"<think>\nTry:\n```lean4\n{draft}```\n</think>\nProof:\n```lean4\n{final}```"
    assert extract_code(text, STATEMENT).code == final
    reasoning_only = f"<think>\n```lean4\n{final}```\n</think>\nI could not prove it."
    assert "simp" not in extract_code(reasoning_only, STATEMENT).code


def test_first_line_that_lost_its_indent() -> None:
    body, trailing, repairs = repair_body("have : v = 65 := by\n    calc v = 65 := by simp\n  assumption")
    assert body.split("\n")[0] == "  have : v = 65 := by" and trailing == ""
    assert repairs == ["indented_first_line"]


def test_an_unindented_body_is_indented_and_trailing_commands_split() -> None:
    body, trailing, repairs = repair_body("intro x\nsimp\n\ntheorem extra : True := trivial\n")
    assert body == "  intro x\n  simp" and trailing == "theorem extra : True := trivial"
    assert repairs == ["split_trailing_commands", "indented_body"]


def test_regions_point_at_the_check_lines() -> None:
    for text in ["simp", "  simp\n  ring", "theorem mathd_algebra_478 : True := trivial", "-- only a comment"]:
        assembly = assemble("import Mathlib\nopen Real\n", STATEMENT, text)
        lines = assembly.body.split("\n")
        assert lines[assembly.regions.reference[0] - 1].startswith(f"axiom {assembly.reference_name}")
        assert lines[assembly.regions.check_type - 1].startswith("theorem assay_check_")
        assert lines[assembly.regions.check_axioms - 1] == f"#print axioms _root_.assay_check_{STATEMENT.tag}"
        full = assembly.full_text().split("\n")
        assert (
            full[assembly.header_lines + assembly.regions.check_axioms - 1] == lines[assembly.regions.check_axioms - 1]
        )


@given(st.text(max_size=500))
@settings(max_examples=200, deadline=None)
def test_assembly_never_raises_and_keeps_the_checks_last(text: str) -> None:
    assembly = assemble("import Mathlib\n", STATEMENT, text)
    lines = assembly.body.rstrip("\n").split("\n")
    assert lines[-1] == f"#print axioms _root_.assay_check_{STATEMENT.tag}"
    assert lines[-2].endswith(":= @_root_.mathd_algebra_478")
    assert assembly.regions.check_axioms == len(lines)
    assert assembly.regions.sample[0] <= assembly.regions.sample[1] < assembly.regions.check_type


# -- Lean's output ---------------------------------------------------------------------------------------------


def test_axiom_lines() -> None:
    report = parse_axioms("'foo' depends on axioms: [propext, Classical.choice, Quot.sound]")
    assert report is not None and report.axioms == ("propext", "Classical.choice", "Quot.sound")
    none = parse_axioms("'foo' does not depend on any axioms")
    assert none is not None and none.axioms == ()
    wrapped = parse_axioms("'foo' depends on axioms: [propext,\n sorryAx]")
    assert wrapped is not None and wrapped.axioms == ("propext", "sorryAx")
    assert parse_axioms("foo : True") is None


def test_json_lines_with_noise() -> None:
    stdout = (
        '{"severity":"information","pos":{"line":3,"column":0},"endPos":null,"data":"hi"}\n'
        "stray output\n"
        '{"severity":"error","pos":{"line":4,"column":2},"endPos":{"line":4,"column":5},"data":"bad"}\n'
    )
    messages, other = parse_json_lines(stdout)
    assert [(m.severity, m.line, m.column, m.end_line) for m in messages] == [("info", 3, 0, None), ("error", 4, 2, 4)]
    assert other == ["stray output"]


# -- the decision -----------------------------------------------------------------------------------------------

_severities = st.sampled_from(["error", "warning", "info"])


@given(
    st.lists(
        st.tuples(
            _severities,
            st.integers(min_value=-5, max_value=60),
            st.sampled_from(["declaration uses `sorry`", "unsolved goals", "'x' does not depend on any axioms"])
            | st.text(max_size=40),
        ),
        max_size=6,
    ),
    st.booleans(),
)
@settings(max_examples=500, deadline=None)
def test_decide_passes_only_a_clean_run(raw: list[tuple[str, int, str]], with_axioms_line: bool) -> None:
    from assay_lean.decide import decide
    from assay_lean.diagnostics import LeanMessage

    assembly = assemble("import Mathlib\n", STATEMENT, "  simp")
    messages = [LeanMessage(severity, line, 0, text) for severity, line, text in raw]  # type: ignore[arg-type]
    if with_axioms_line:
        messages.append(
            LeanMessage("info", assembly.regions.check_axioms, 0, "'x' depends on axioms: [propext, Quot.sound]")
        )
    verdict = decide(assembly, messages, {"propext", "Classical.choice", "Quot.sound"})
    # A header's own sorry is not the sample's (its use would show as sorryAx in the axioms).
    # The axioms report is Lean's info on the `#print axioms` line: the one appended here, or a drawn
    # "does not depend on any axioms" that happens to land on that line (as clean a report as any).
    reported = with_axioms_line or any(
        severity == "info" and line == assembly.regions.check_axioms and "does not depend on any axioms" in text
        for severity, line, text in raw
    )
    clean = reported and not any(
        m.severity == "error" or (m.is_sorry_warning and m.line >= assembly.regions.sample[0]) for m in messages
    )
    if verdict.decision == "pass":
        assert clean
        assert not any(m.severity == "error" for m in messages)
    elif clean and not any(line == assembly.regions.check_axioms and severity == "info" for severity, line, _ in raw):
        assert verdict.decision == "pass", verdict
