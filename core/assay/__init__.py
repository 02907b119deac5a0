"""assay: verifiers for repeated sampling.

The public API, for users and plugin authors alike; everything else is an implementation detail and may
change. Plugins import from here.

Running verifiers:
    verify(tasks, samples, verifier, ...) -> VerifyRun   iterate it for Verdicts, or .run()
    get_verifier(name, **config) -> Verifier             one ready verifier, to call directly
    get_registry() -> Registry                            what the installed plugins registered

The data:
    Task, Sample, Verdict, Status, STATUSES

Writing a verifier (see the README's "Writing a plugin"):
    Verifier, VerifierConfig, VerifierKind, BadReference, generic_feedback, hookimpl
    visible_text(response), answer_in_tags(response)     the answer a response shows, not its reasoning

Sandboxes (a verifier that runs untrusted code asks for one):
    open_sandbox(name, optional={...}, **options), takes_option(cls, option)
    Sandbox, PythonSandbox, PythonProgram, PairResult, ExecResult, ExecStatus, Limits, WALL_TIME_STRETCH

Commands and input files (a plugin's own subcommand, reading JSONL as the host does):
    Command, read_lines, read_models, dumps (one JSONL line), InputError, InputFileError

Errors: UnknownComponent (a name no plugin registered), RunStopped (a run that ended early).
"""

from assay.cli.command import Command
from assay.engine import RunStopped, RunSummary, VerifyRun, get_verifier, verify
from assay.hookspecs import hookimpl
from assay.jsonl import InputError, InputFileError, dumps, read_lines, read_models
from assay.models import STATUSES, Sample, Status, Task, Verdict
from assay.plugins import UnknownComponent, get_registry
from assay.response import answer_in_tags, visible_text
from assay.sandbox import (
    WALL_TIME_STRETCH,
    ExecResult,
    ExecStatus,
    Limits,
    PairResult,
    PythonProgram,
    PythonSandbox,
    Sandbox,
    open_sandbox,
    takes_option,
)
from assay.verifier import BadReference, Verifier, VerifierConfig, VerifierKind, generic_feedback
from assay.version import __version__

__all__ = [
    "STATUSES",
    "WALL_TIME_STRETCH",
    "BadReference",
    "Command",
    "ExecResult",
    "ExecStatus",
    "InputError",
    "InputFileError",
    "Limits",
    "PairResult",
    "PythonProgram",
    "PythonSandbox",
    "RunStopped",
    "RunSummary",
    "Sample",
    "Sandbox",
    "Status",
    "Task",
    "UnknownComponent",
    "Verdict",
    "Verifier",
    "VerifierConfig",
    "VerifierKind",
    "VerifyRun",
    "__version__",
    "answer_in_tags",
    "dumps",
    "generic_feedback",
    "get_registry",
    "get_verifier",
    "hookimpl",
    "open_sandbox",
    "read_lines",
    "read_models",
    "takes_option",
    "verify",
    "visible_text",
]
