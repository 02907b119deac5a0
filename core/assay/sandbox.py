"""The sandbox contract: how verifiers run untrusted programs.

One `Limits` type describes every bound a run has; one `ExecResult` says how it ended. Backends (the local
fork-server, docker, ...) implement `Sandbox` and are registered through `register_sandboxes`.
"""

from __future__ import annotations

import inspect
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

#: How a run ended. `ok` and `exit_nonzero` mean the program ran to its own end; the rest name a limit
#: or a failure of the sandbox itself; `cancelled`: the caller ended it (the other half of a pair finished).
ExecStatus = Literal[
    "ok",
    "exit_nonzero",
    "signaled",
    "time_limit",
    "cpu_limit",
    "memory_limit",
    "output_limit",
    "file_limit",
    "process_limit",
    "sandbox_error",
    "cancelled",
]


#: A run's wall clock leaves out the time it waited for a CPU while the machine was busy with other work
#: (so its limit, and whether it is reached, do not depend on the load), but a backend never lets a run take
#: more than this many times `Limits.wall_time_s` of real time.
WALL_TIME_STRETCH = 10.0


class Limits(BaseModel):
    """Every bound a sandboxed run has. The defaults suit one unit-test run of a short program."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wall_time_s: float = Field(
        default=10.0,
        gt=0,
        description="Wall clock less the time the run waited for a CPU (real time at most WALL_TIME_STRETCH "
        "times this); the whole process group is killed.",
    )
    cpu_time_s: float = Field(default=10.0, gt=0, description="CPU seconds (RLIMIT_CPU).")
    memory_mb: int = Field(default=1024, gt=0, description="Address space in MiB (RLIMIT_AS / cgroup memory).")
    processes: int = Field(default=16, gt=0, description="Processes and threads the run may have at once.")
    output_bytes: int = Field(default=1 << 20, gt=0, description="stdout and stderr, each; the rest is cut.")
    file_size_mb: int = Field(default=16, ge=0, description="Largest file the run may write (RLIMIT_FSIZE).")
    disk_mb: int = Field(default=64, gt=0, description="All the run may write in its work dir (a tmpfs' size).")
    open_files: int = Field(default=64, gt=0, description="Open file descriptors (RLIMIT_NOFILE).")
    network: bool = Field(default=False, description="False: the run has no network at all.")


class ExecResult(BaseModel):
    """How one sandboxed run ended."""

    model_config = ConfigDict(extra="forbid")

    status: ExecStatus
    returncode: int | None = None
    stdout: bytes = b""
    stderr: bytes = b""
    wall_s: float = 0.0
    cpu_s: float = 0.0
    #: Of `wall_s`, the time the run's process waited for a CPU that other work held: left out of the clock
    #: its `wall_time_s` is counted on, so `wall_s - cpu_wait_s` is the time it would have taken on an idle
    #: machine. (.. versionadded:: 0.1)
    cpu_wait_s: float = 0.0
    #: Files the run left in its work dir that the caller asked to collect.
    files: dict[str, bytes] = Field(default_factory=dict)
    #: Isolation layers and whether each was on for this run (`{"seccomp": True, "netns": False, ...}`).
    isolation: dict[str, bool] = Field(default_factory=dict)
    message: str | None = None
    #: stdout or stderr went past `Limits.output_bytes` and was cut there.
    truncated: bool = False
    #: Peak resident memory of the run's main process, in MiB, where the backend can tell.
    peak_memory_mb: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@runtime_checkable
class Sandbox(Protocol):
    """A place to run untrusted commands.

    `files` are written into a fresh work dir (the command's cwd) before the run; `collect` names files to
    read back after it. Nothing a run does may outlive it or be seen by the next run.
    """

    name: str

    def run(
        self,
        command: Sequence[str],
        *,
        files: Mapping[str, str | bytes] | None = None,
        stdin: bytes | None = None,
        limits: Limits | None = None,
        env: Mapping[str, str] | None = None,
        collect: Sequence[str] = (),
    ) -> ExecResult:
        """Run `command` in a fresh work dir under `limits`; never raises for what the command does."""
        ...

    def isolation(self) -> dict[str, Any]:
        """Which isolation layers this backend has on this machine, and why any is off."""
        ...

    def close(self) -> None:
        """Stop warm processes or containers."""
        ...


T = TypeVar("T")


class PythonProgram(BaseModel):
    """Python source to run as `__main__` in a sandbox, with what it needs around it."""

    model_config = ConfigDict(extra="forbid")

    source: str
    files: dict[str, str | bytes] = Field(default_factory=dict)
    stdin: bytes | None = None
    argv: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    collect: list[str] = Field(default_factory=list)
    #: The name the source gets in the work dir (what tracebacks show).
    filename: str = "main.py"


class PairResult(BaseModel):
    """How a candidate/tester pair of runs ended."""

    candidate: ExecResult
    tester: ExecResult


@runtime_checkable
class PythonSandbox(Sandbox, Protocol):
    """A sandbox with the fast path for Python: source runs in a forked, already-warm interpreter (no exec)
    under the same isolation layers and `Limits` as `run`.

    `run_python_interactive` runs one program and lets the caller talk to it over a socket: the
    judgement stays in the caller's process, and each sample costs one sandboxed process.

    `run_python_pair` runs two programs that talk over a socket (`int(os.environ["ASSAY_PEER_FD"])` in
    each): the untrusted `candidate`, and the `tester` that decides. They run as different users, in
    processes forked from different servers (the candidate's never held the tester's data), and only bytes
    cross the socket; the pair ends when the tester ends (a candidate still running is `cancelled`).
    """

    def run_python(
        self,
        source: str,
        *,
        files: Mapping[str, str | bytes] | None = None,
        stdin: bytes | None = None,
        limits: Limits | None = None,
        env: Mapping[str, str] | None = None,
        collect: Sequence[str] = (),
        argv: Sequence[str] = (),
        filename: str = "main.py",
    ) -> ExecResult:
        """Run `source` as `__main__` in a fresh work dir under `limits`; never raises for what it does."""
        ...

    def run_python_pair(
        self,
        candidate: PythonProgram,
        tester: PythonProgram,
        *,
        limits: Limits | None = None,
        tester_limits: Limits | None = None,
    ) -> PairResult:
        """Run `candidate` and `tester` at once, connected by a socket; each under its own limits."""
        ...

    def run_python_interactive(
        self,
        program: PythonProgram,
        talk: Callable[[socket.socket], T],
        *,
        limits: Limits | None = None,
    ) -> tuple[ExecResult, T | None]:
        """Run `program` while `talk(sock)`, in the caller's process, speaks with it over a socket (the
        run's `ASSAY_PEER_FD`): one sandboxed process per sample, the judgement in the caller. Returns the
        run's result and what `talk` returned (None when the run could not start: the result says why).

        .. versionadded:: 0.1
        """
        ...


def takes_option(sandbox_class: type[Any], option: str) -> bool:
    """Whether a sandbox backend's constructor takes the keyword `option` (or any keyword)."""
    parameters = inspect.signature(sandbox_class).parameters.values()
    return any(
        (p.name == option and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)) or p.kind is p.VAR_KEYWORD
        for p in parameters
    )


def open_sandbox(name: str, *, optional: Mapping[str, Any] | None = None, **options: Any) -> Sandbox:
    """Start the registered sandbox backend `name`.

    `options` go to its constructor as they are; `optional` ones only where the constructor takes them
    (`read_paths`, `preload_sources`: what a verifier would like but can do without; see `takes_option`).
    The constructor is read, not probed, so a TypeError raised inside it is the backend's and propagates."""
    from assay.plugins import get_registry

    sandbox_class = get_registry().sandbox_class(name)
    wanted = {key: value for key, value in (optional or {}).items() if takes_option(sandbox_class, key)}
    return sandbox_class(**options, **wanted)
