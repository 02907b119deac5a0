"""The `__main__` of every harness run: load the role's modules from stdin, then hand the job to the role.

The run's stdin holds a marshalled bundle (the modules, none where the sandbox's server preloaded them, and
which role is `main`) and the job after it. Where the server preloaded the harness, this module is among
what it preloaded, and a run's `__main__` is one line that calls `boot()`: nothing is compiled per run.
Elsewhere its source, with the call, is the run's `__main__`.

Standard library only.
"""

import marshal
import os
import sys
import types


def boot() -> None:
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
