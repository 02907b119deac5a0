"""SandboxFusion's `run_code`, answered by an assay sandbox.

The request and response shapes are SandboxFusion's (`RunCodeRequest`, `RunCodeResponse`), as verl's
`verl.utils.reward_score.sandbox_fusion` sends and reads them, so a harness pointed at SandboxFusion can
be pointed here unchanged. The fields verl uses are implemented, and `files`/`fetch_files`; the
languages are the ones whose toolchain this machine has (`/healthz` lists them).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from assay.sandbox import ExecResult, Limits, PythonSandbox, Sandbox

RunStatus = Literal["Finished", "Error", "TimeLimitExceeded"]
ApiStatus = Literal["Success", "Failed", "SandboxError"]

#: Compilers need far more address space than the programs they build.
_COMPILE_MEMORY_MB = 4096
#: How long a language whose hello-world failed in the sandbox is refused before it is tried again.
PROBE_RETRY_S = 60.0


@dataclass(frozen=True)
class Language:
    """How one language is built and run inside a sandbox work dir."""

    source: str
    run: tuple[str, ...]
    compile: tuple[str, ...] | None = None
    #: The file the compile step leaves behind, carried into the run's work dir.
    artifact: str | None = None
    needs: str | None = None
    #: A program that prints `hello\n`: a language whose toolchain is here but cannot run it in the
    #: sandbox (a file its runtime reads at start that the sandbox does not let it read) is not served.
    hello: str = ""

    def available(self) -> bool:
        return self.needs is None or shutil.which(self.needs) is not None


LANGUAGES: dict[str, Language] = {
    # `python` runs in the sandbox's own interpreter (its warm fast path where it has one; see `_run`).
    "python": Language("main.py", ("python3", "main.py"), hello="print('hello')\n"),
    "cpp": Language(
        "main.cpp",
        ("./main",),
        ("g++", "-O2", "-std=c++17", "-o", "main", "main.cpp"),
        "main",
        needs="g++",
        hello='#include <cstdio>\nint main() { std::puts("hello"); }\n',
    ),
    "c": Language(
        "main.c",
        ("./main",),
        ("gcc", "-O2", "-o", "main", "main.c", "-lm"),
        "main",
        needs="gcc",
        hello='#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n',
    ),
    "bash": Language("main.sh", ("bash", "main.sh"), needs="bash", hello="echo hello\n"),
    "nodejs": Language("main.js", ("node", "main.js"), needs="node", hello="console.log('hello');\n"),
}


def available_languages() -> list[str]:
    # A snapshot: a server's probe thread reads this while the table may be extended beside it.
    return sorted(name for name, language in list(LANGUAGES.items()) if language.available())


class RunCodeRequest(BaseModel):
    """SandboxFusion's `RunCodeRequest` (the fields verl sends, and `files`/`fetch_files`)."""

    model_config = ConfigDict(extra="ignore")

    code: str
    language: str = "python"
    stdin: str | None = None
    compile_timeout: float = Field(default=10.0, gt=0, le=600)
    run_timeout: float = Field(default=10.0, gt=0, le=600)
    memory_limit_MB: int = Field(default=-1, description="-1: the sandbox's default limit")
    files: dict[str, str | None] = Field(
        default_factory=dict, description="relative path -> base64-encoded content, written before the run"
    )
    fetch_files: list[str] = Field(default_factory=list, description="relative paths to read back (base64)")

    @field_validator("files", "fetch_files")
    @classmethod
    def _relative_paths(cls, value: Any) -> Any:
        for path in value:
            parts = PurePosixPath(path).parts
            if not parts or PurePosixPath(path).is_absolute() or ".." in parts:
                raise ValueError(f"{path!r}: paths must be relative and stay inside the work dir")
        return value


class CommandRunResult(BaseModel):
    status: RunStatus
    execution_time: float | None = None
    return_code: int | None = None
    stdout: str | None = None
    stderr: str | None = None


class RunCodeResponse(BaseModel):
    """SandboxFusion's `RunCodeResponse`. `assay_status` is assay's own name for how the run ended."""

    status: ApiStatus
    message: str = ""
    compile_result: CommandRunResult | None = None
    run_result: CommandRunResult | None = None
    executor_pod_name: str | None = None
    files: dict[str, str] = Field(default_factory=dict)
    assay_status: str | None = None


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _command_result(result: ExecResult) -> CommandRunResult:
    if result.status in ("time_limit", "cpu_limit"):
        status: RunStatus = "TimeLimitExceeded"
    elif result.status == "sandbox_error":
        status = "Error"
    else:
        # A program killed for memory or output still "finished" in SandboxFusion's terms, with a
        # non-zero return code; assay's finer status travels in `assay_status`.
        status = "Finished"
    return_code = result.returncode
    if status == "Finished" and return_code is None:
        return_code = 1 if result.status != "ok" else 0
    return CommandRunResult(
        status=status,
        execution_time=round(result.wall_s, 6),
        return_code=return_code,
        stdout=_text(result.stdout),
        stderr=_program_paths_only(_text(result.stderr)),
    )


# A runtime (node, a compiled program's assert) names files by the absolute path it ran them from: the
# sandbox's work dir on the host. The user sees the path their request gave (`main.js`), nothing of the host.
_WORK_DIR_PREFIX = re.compile(r"(?:/[^\s/:'\"()\[\]]+)*/work/(?=[^\s/:'\"()]+)")


def _program_paths_only(text: str | None) -> str | None:
    return None if text is None else _WORK_DIR_PREFIX.sub("", text)


def _decode_files(files: dict[str, str | None]) -> dict[str, bytes]:
    decoded: dict[str, bytes] = {}
    for path, content in files.items():
        if content is None:
            continue
        try:
            decoded[path] = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"files[{path!r}]: not valid base64") from None
    return decoded


class SandboxRunner:
    """Runs `run_code` requests; each calling thread gets its own sandbox instance (a sandbox need not be
    thread-safe), all closed together."""

    def __init__(self, factory: Callable[[], Sandbox]) -> None:
        self._factory = factory
        self._local = threading.local()
        self._created: list[Sandbox] = []
        self._lock = threading.Lock()
        #: language -> (None when its hello-world ran in this runner's sandbox, else why not; when probed).
        self._probed: dict[str, tuple[str | None, float]] = {}
        self._probing: threading.Thread | None = None

    def unrunnable(self, name: str) -> str | None:
        """Why language `name` (whose toolchain is on this machine) cannot run in this runner's sandbox, or
        None when it can: its hello-world is run on first use; a success is kept, a failure is tried again
        after `PROBE_RETRY_S` (it may have been the machine's, not the toolchain's)."""
        known = self._probed.get(name)
        if known is None or (known[0] is not None and time.monotonic() - known[1] > PROBE_RETRY_S):
            language = LANGUAGES[name]
            response = self._execute(
                RunCodeRequest(code=language.hello, language=name, compile_timeout=60, run_timeout=30), language
            )
            output = response.run_result.stdout if response.run_result else None
            problem = None
            if response.status != "Success" or output != "hello\n":
                failed = response.run_result or response.compile_result
                detail = (failed.stderr or "").strip()[-500:] if failed else ""
                problem = response.message or detail or f"its hello-world ended {response.assay_status}"
            with self._lock:
                self._probed[name] = (problem, time.monotonic())
        return self._probed[name][0]

    def languages(self) -> list[str]:
        """The languages whose toolchain is here and runs in this runner's sandbox (each probed once)."""
        return [name for name in available_languages() if self.unrunnable(name) is None]

    def listed_languages(self) -> list[str]:
        """What `/healthz` lists, without waiting for a probe: the toolchains here, less those whose
        hello-world failed in this runner's sandbox. The first call probes every language in the background
        (a liveness route must answer at once, and a compile takes seconds)."""
        with self._lock:
            if self._probing is None:
                self._probing = threading.Thread(target=self.languages, name="assay-runcode-probe", daemon=True)
                self._probing.start()
            failed = {name for name, (problem, _) in self._probed.items() if problem is not None}
        return [name for name in available_languages() if name not in failed]

    def _sandbox(self) -> Sandbox:
        sandbox: Sandbox | None = getattr(self._local, "sandbox", None)
        if sandbox is None:
            sandbox = self._factory()
            self._local.sandbox = sandbox
            with self._lock:
                self._created.append(sandbox)
        return sandbox

    def run(self, request: RunCodeRequest) -> RunCodeResponse:
        language = LANGUAGES.get(request.language)
        if language is None or not language.available():
            return RunCodeResponse(
                status="SandboxError",
                message=f"language {request.language!r} is not available here "
                f"(available: {', '.join(available_languages())})",
            )
        problem = self.unrunnable(request.language)
        if problem is not None:
            return RunCodeResponse(
                status="SandboxError",
                message=f"language {request.language!r} cannot run in this sandbox ({problem})",
            )
        return self._execute(request, language)

    def _execute(self, request: RunCodeRequest, language: Language) -> RunCodeResponse:
        try:
            files = _decode_files(request.files)
        except ValueError as exc:
            return RunCodeResponse(status="SandboxError", message=str(exc))
        files[language.source] = request.code.encode("utf-8")
        memory = Limits().memory_mb if request.memory_limit_MB <= 0 else request.memory_limit_MB
        sandbox = self._sandbox()
        compile_result: CommandRunResult | None = None
        command: tuple[str, ...] = language.run
        if language.compile is not None:
            limits = Limits(
                wall_time_s=request.compile_timeout,
                cpu_time_s=request.compile_timeout,
                memory_mb=max(memory, _COMPILE_MEMORY_MB),
                processes=64,
                file_size_mb=256,
            )
            built = sandbox.run(
                list(language.compile), files=files, limits=limits, collect=[language.artifact or ""]
            )
            compile_result = _command_result(built)
            if built.status == "sandbox_error":
                return RunCodeResponse(
                    status="SandboxError",
                    message=built.message or "",
                    compile_result=compile_result,
                    assay_status=built.status,
                )
            artifact = built.files.get(language.artifact or "")
            if built.status != "ok" or artifact is None:
                return RunCodeResponse(
                    status="Failed", compile_result=compile_result, assay_status=built.status
                )
            files = {path: data for path, data in files.items() if path != language.source}
            files[language.artifact or ""] = artifact
            # Files arrive without their mode bits: make the artifact executable inside the run.
            command = ("/bin/sh", "-c", f"chmod +x {language.artifact} && exec {' '.join(language.run)}")
        limits = Limits(wall_time_s=request.run_timeout, cpu_time_s=request.run_timeout, memory_mb=memory)
        stdin = request.stdin.encode("utf-8") if request.stdin is not None else None
        if request.language == "python" and isinstance(sandbox, PythonSandbox):
            # The fast path: the source runs in an already-warm interpreter, no exec.
            del files[language.source]
            result = sandbox.run_python(
                request.code, files=files, stdin=stdin, limits=limits, collect=request.fetch_files
            )
        else:
            if request.language == "python":
                command = (getattr(sandbox, "interpreter", None) or sys.executable, language.source)
            result = sandbox.run(
                list(command), files=files, stdin=stdin, limits=limits, collect=request.fetch_files
            )
        run_result = _command_result(result)
        if result.status == "sandbox_error":
            status: ApiStatus = "SandboxError"
        elif result.status == "ok":
            status = "Success"
        else:
            status = "Failed"
        return RunCodeResponse(
            status=status,
            message=result.message or "",
            compile_result=compile_result,
            run_result=run_result,
            files={path: base64.b64encode(data).decode("ascii") for path, data in result.files.items()},
            assay_status=result.status,
        )

    def close(self) -> None:
        with self._lock:
            created, self._created = self._created, []
        for sandbox in created:
            with contextlib.suppress(Exception):
                sandbox.close()
