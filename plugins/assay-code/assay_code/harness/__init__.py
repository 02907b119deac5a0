"""The code that runs inside the sandbox, and how it gets there.

Two roles, each in its own sandboxed process: `candidate` (loads the sample's program and answers calls)
and `tester` (runs the trusted tests against a stand-in that forwards calls to the candidate). Both are
standard-library modules of this package. Where the sandbox can preload modules (`preload_sources()`, run
once by its fork-server), every run finds them imported, gets only its job on stdin, and compiles
nothing: its `__main__` is one line calling the preloaded `boot` module. Elsewhere they reach the
sandbox's interpreter as compiled code objects on the run's stdin, before the job, so that a run compiles
nothing but the boot module (compiling the harness from source would cost more than the fork), or as
sources where the sandbox's interpreter is another minor version of Python than this one.
"""

from __future__ import annotations

import marshal
import sys
from functools import cache
from importlib import resources
from typing import Any

#: Modules a role needs, in import order; the packages among them get an empty `__path__`.
_MODULES = ("assay_code", "assay_code.wire", "assay_code.harness", "assay_code.harness.channel")
_PACKAGES = frozenset({"assay_code", "assay_code.harness"})
ROLES = ("candidate", "tester")
#: The module every run starts in (`boot()`: load the bundle from stdin, hand the job to the role).
_BOOT = "assay_code.harness.boot"


def _source(module: str) -> str:
    if module in _PACKAGES:
        return ""  # the packages' own __init__ would import pydantic and assay: the sandbox needs neither
    package, _, name = module.rpartition(".")
    return resources.files(package).joinpath(f"{name}.py").read_text(encoding="utf-8")


#: The `__main__` of a harness run in a sandbox that did not preload the harness.
BOOTSTRAP = _source(_BOOT) + "\nboot()\n"
#: The `__main__` of a harness run in a sandbox whose server preloaded the harness.
PRELOADED_BOOTSTRAP = f"import sys\nsys.modules[{_BOOT!r}].boot()\n"


@cache
def _modules(role: str, compiled: bool) -> tuple[tuple[str, Any], ...]:
    names = (*_MODULES, f"assay_code.harness.{role}")
    modules = []
    for name in names:
        source = _source(name)
        # optimize=2 drops docstrings: smaller code objects load faster in every run
        code = compile(source, f"<{name}>", "exec", dont_inherit=True, optimize=2) if compiled else source
        modules.append((name, code))
    return tuple(modules)


@cache
def _modules_blob(role: str, compiled: bool, preloaded: bool) -> bytes:
    if role not in ROLES:
        raise ValueError(f"unknown harness role {role!r} (known: {', '.join(ROLES)})")
    modules = [] if preloaded else list(_modules(role, compiled))
    blob = marshal.dumps({"modules": modules, "packages": list(_PACKAGES), "main": f"assay_code.harness.{role}"})
    return len(blob).to_bytes(4, "big") + blob


@cache
def preload_sources() -> dict[str, str]:
    """Every role's modules and the boot module as sources, in import order, for a sandbox's
    `preload_sources`."""
    names = (*_MODULES, *(f"assay_code.harness.{role}" for role in ROLES), _BOOT)
    return {name: _source(name) for name in names}


def bootstrap(preloaded: bool) -> str:
    """The `__main__` of a harness run: where the sandbox preloaded the harness, one line that calls the
    preloaded boot module (compiling it in every run costs a candidate ~0.1 ms of CPU); elsewhere the boot
    module's source and the call."""
    return PRELOADED_BOOTSTRAP if preloaded else BOOTSTRAP


def bundle(role: str, job: dict[str, Any], sandbox_python: str | None = None, preloaded: bool = False) -> bytes:
    """The stdin of a harness run: the role's modules (none when the sandbox preloaded them; compiled when
    the sandbox's Python is this one's minor version; marshalled once per process) and its job, marshalled."""
    compiled = sandbox_python is None or sandbox_python.split(".")[:2] == [str(v) for v in sys.version_info[:2]]
    return _modules_blob(role, compiled, preloaded) + marshal.dumps(job)
