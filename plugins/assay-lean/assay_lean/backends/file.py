"""One `lean --json FILE` per proof, inside an assay sandbox (a file can run code through `#eval`).

The sandbox bounds address space, and Lean reserves a lot of it that it never uses: with its default
thread stacks it does not start under about 7 GiB. With `THREAD_STACK_KB` stacks it needs about 4 GiB
(`ADDRESS_SPACE_HEADROOM_MB`), which the limit adds to the configured memory. Memory-mapped `.olean` files
count too: `import Mathlib` maps several GiB. Inside a Lake project the toolchain carries the project's
`LEAN_PATH` (what `lake env` sets).
"""

from __future__ import annotations

import re
from typing import Any

from assay import Limits, Sandbox
from assay_lean.assemble import Assembly
from assay_lean.backends import CheckResult
from assay_lean.diagnostics import parse_json_lines
from assay_lean.toolchain import Toolchain

#: Address space Lean reserves beyond what it uses (the shared library, heap arenas, thread stacks).
ADDRESS_SPACE_HEADROOM_MB = 4096
#: Stack of each of Lean's threads (`lean -s`): deep enough for deeply nested terms, small enough that
#: the reservations fit the headroom.
THREAD_STACK_KB = 262144
FILE_NAME = "Proof.lean"
_OUT_OF_MEMORY = re.compile(
    r"failed to create thread|failed to map segment|bad_alloc|out of memory|memory exhausted", re.I
)


def sandbox_read_paths(toolchain: Toolchain) -> list[str]:
    """What a sandboxed Lean must read: its installation (binary, libraries) and the project's packages."""
    paths = {str(toolchain.lean.resolve().parent.parent)}
    paths.update(path for path in toolchain.read_paths if path)
    for entry in (toolchain.lean_path or "").split(":"):
        if entry:
            paths.add(entry)
    if toolchain.project_dir is not None:
        paths.add(str(toolchain.project_dir))
    return sorted(paths)


class FileBackend:
    name = "file"

    def __init__(
        self,
        toolchain: Toolchain,
        sandbox: Sandbox,
        *,
        memory_mb: int = 8192,
        threads: int = 1,
        headroom_mb: int = ADDRESS_SPACE_HEADROOM_MB,
    ) -> None:
        self.toolchain = toolchain
        self.sandbox = sandbox
        self.memory_mb = memory_mb
        self.threads = threads
        self.headroom_mb = headroom_mb

    def command(self) -> list[str]:
        return [
            str(self.toolchain.lean),
            f"--memory={self.memory_mb}",
            f"--threads={self.threads}",
            f"--tstack={THREAD_STACK_KB}",
            "--json",
            FILE_NAME,
        ]

    def check(self, assembly: Assembly, time_limit_s: float) -> CheckResult:
        limits = Limits(
            wall_time_s=time_limit_s,
            cpu_time_s=time_limit_s * max(2, self.threads + 1),
            memory_mb=self.memory_mb + self.headroom_mb,
            processes=256,
            output_bytes=16 << 20,
            file_size_mb=64,
            open_files=1024,
            network=False,
        )
        result = self.sandbox.run(
            self.command(),
            files={FILE_NAME: assembly.full_text()},
            limits=limits,
            env=self.toolchain.env(),
        )
        details: dict[str, Any] = {"timing": {"lean_wall_s": round(result.wall_s, 3)}, "sandbox_status": result.status}
        if result.status in ("time_limit", "cpu_limit"):
            return CheckResult("time_limit", message=f"Lean ran past {time_limit_s:g}s", details=details)
        stderr = result.stderr.decode("utf-8", errors="replace").strip()
        if result.status == "memory_limit" or (
            result.status in ("process_limit", "signaled", "exit_nonzero") and _OUT_OF_MEMORY.search(stderr)
        ):
            # Under an address-space limit an allocation or a thread's stack is what fails first; the
            # thread count stays far below the sandbox's process limit, so this is memory.
            return CheckResult("memory_limit", message=stderr[-300:] or None, details=details)
        if result.status == "output_limit":
            return CheckResult("output_limit", message="Lean's output passed the sandbox's limit", details=details)
        if result.status == "sandbox_error":
            return CheckResult("backend_error", message=f"sandbox: {result.message}", details=details)
        messages, other = parse_json_lines(result.stdout.decode("utf-8", errors="replace"))
        if stderr:
            details["stderr"] = stderr[-2000:]
        if other:
            details["stdout_other"] = other[:20]
        if result.status in ("ok", "exit_nonzero") and (messages or result.status == "ok"):
            shift = -assembly.header_lines
            return CheckResult("ok", [m.shifted(shift) for m in messages], details=details)
        # Killed by a signal (stack overflow, out of memory) or a thread limit: Lean never finished.
        return CheckResult("crashed", message=f"Lean ended with {result.status}: {stderr[-300:]}", details=details)

    def close(self) -> None:
        pass  # the sandbox belongs to the verifier, which closes it
