"""The code that runs inside the sandbox, and how it gets there.

Two roles, each in its own sandboxed process: `candidate` (loads the sample's program and answers calls)
and `tester` (runs the trusted tests against a stand-in that forwards calls to the candidate). Both are
standard-library modules of this package. Where the sandbox can preload modules (`preload_sources()`, run
once by its fork-server), every run finds them imported and gets only its job on stdin; elsewhere they
reach the sandbox's interpreter as compiled code objects on the run's stdin, before the job, so that a
run compiles nothing but a short bootstrap (compiling the harness from source would cost more than the
fork), or as sources where the sandbox's interpreter is another minor version of Python than this one.
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

#: The `__main__` of every harness run: load the modules from stdin, hand the job to the role.
BOOTSTRAP = """\
import marshal, os, sys, types
def _boot():
    data = sys.stdin.buffer.read()
    size = int.from_bytes(data[:4], "big")
    bundle, job = marshal.loads(data[4 : 4 + size]), marshal.loads(data[4 + size :])
    for name, code in bundle["modules"]:
        module = types.ModuleType(name)
        if name in bundle["packages"]:
            module.__path__ = []
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)
        exec(compile(code, name, "exec") if isinstance(code, str) else code, module.__dict__)
    sys.modules[bundle["main"]].main(job, int(os.environ.get("ASSAY_PEER_FD", "3")))
_boot()
"""


def _source(module: str) -> str:
    if module in _PACKAGES:
        return ""  # the packages' own __init__ would import pydantic and assay: the sandbox needs neither
    package, _, name = module.rpartition(".")
    return resources.files(package).joinpath(f"{name}.py").read_text(encoding="utf-8")


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
    """Every role's modules as sources, in import order, for a sandbox's `preload_sources`."""
    names = (*_MODULES, *(f"assay_code.harness.{role}" for role in ROLES))
    return {name: _source(name) for name in names}


def bundle(role: str, job: dict[str, Any], sandbox_python: str | None = None, preloaded: bool = False) -> bytes:
    """The stdin of a harness run: the role's modules (none when the sandbox preloaded them; compiled when
    the sandbox's Python is this one's minor version; marshalled once per process) and its job, marshalled."""
    compiled = sandbox_python is None or sandbox_python.split(".")[:2] == [str(v) for v in sys.version_info[:2]]
    return _modules_blob(role, compiled, preloaded) + marshal.dumps(job)
