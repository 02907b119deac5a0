"""assay: verifiers for repeated sampling.

The public surface: the models, the Verifier base, the Sandbox contract, the hook marker for plugins,
and the engine's entry points. Everything else is an implementation detail.
"""

from assay.engine import RunSummary, VerifyRun, get_verifier, verify
from assay.hookspecs import hookimpl
from assay.models import STATUSES, Sample, Status, Task, Verdict
from assay.plugins import get_registry
from assay.sandbox import ExecResult, ExecStatus, Limits, Sandbox
from assay.verifier import BadReference, Verifier, VerifierConfig, VerifierKind
from assay.version import __version__

__all__ = [
    "STATUSES",
    "BadReference",
    "ExecResult",
    "ExecStatus",
    "Limits",
    "RunSummary",
    "Sample",
    "Sandbox",
    "Status",
    "Task",
    "Verdict",
    "Verifier",
    "VerifierConfig",
    "VerifierKind",
    "VerifyRun",
    "__version__",
    "get_registry",
    "get_verifier",
    "hookimpl",
    "verify",
]
