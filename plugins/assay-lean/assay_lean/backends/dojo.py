"""LeanDojo (`pip install 'assay-lean[dojo]'`): run a proof body tactic by tactic, as Large Language Monkeys
did on miniF2F.

The theorem comes from a traced repository, so the statement cannot be changed by the sample. The task's
reference needs `dojo: {"url": ..., "commit": ..., "file_path": ..., "full_name": ...}`. LeanDojo reports
errors and `sorry` (ProofGivenUp) per tactic; it runs no `#print axioms`, so the text pre-checks are what
reject `native_decide` and declared axioms here. Needs a Lean toolchain and network access for the trace.
"""

from __future__ import annotations

from typing import Any

from assay_lean.backends import CheckResult
from assay_lean.diagnostics import LeanMessage


def split_tactics(body: str) -> list[str]:
    """Top-level tactics of a `by` block: a line at the block's indent starts a new one, except match
    alternatives (`| ...`) and `<;>` combinators, which continue the tactic before them."""
    lines = [line for line in body.split("\n") if line.strip()]
    if not lines:
        return []
    indent = min(len(line) - len(line.lstrip()) for line in lines)
    tactics: list[list[str]] = []
    for line in lines:
        starts_new = len(line) - len(line.lstrip()) == indent and not line.lstrip().startswith(("|", "<;>"))
        if starts_new or not tactics:
            tactics.append([line[indent:]])
        else:
            tactics[-1].append(line[indent:])
    return ["\n".join(tactic) for tactic in tactics]


class DojoBackend:
    name = "dojo"

    def __init__(self, timeout_s: float = 600.0) -> None:
        try:
            import lean_dojo  # type: ignore[import-not-found]
        except ImportError as exc:
            raise RuntimeError("the `dojo` backend needs LeanDojo: pip install 'assay-lean[dojo]'") from exc
        self.lean_dojo: Any = lean_dojo
        self.timeout_s = timeout_s

    def prove(self, theorem: dict[str, Any], body: str, time_limit_s: float) -> CheckResult:
        dojo = self.lean_dojo
        repo = dojo.LeanGitRepo(theorem["url"], theorem["commit"])
        target = dojo.Theorem(repo, theorem["file_path"], theorem["full_name"])
        tactics = split_tactics(body)
        try:
            with dojo.Dojo(target, timeout=int(max(time_limit_s, 1))) as (session, state):
                for number, tactic in enumerate(tactics, 1):
                    state = session.run_tac(state, tactic)
                    if isinstance(state, dojo.LeanError):
                        message = LeanMessage("error", number, 0, f"{tactic!r}: {state.error}")
                        return CheckResult("ok", [message], details={"tactic": number})
                    if isinstance(state, dojo.ProofGivenUp):
                        return CheckResult("ok", sorries=[{"tactic": number, "text": tactic}])
                    if isinstance(state, dojo.ProofFinished):
                        return CheckResult("ok", details={"tactics": number, "finished": True})
                return CheckResult("ok", [LeanMessage("error", len(tactics), 0, "unsolved goals")])
        except dojo.DojoTacticTimeoutError:
            return CheckResult("time_limit")
        except (dojo.DojoCrashError, dojo.DojoInitError) as exc:
            return CheckResult("backend_error", message=f"LeanDojo: {exc}")

    def close(self) -> None:
        pass
