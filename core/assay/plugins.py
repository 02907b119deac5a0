"""Plugin loading and the registry of what plugins provide.

Every entry point in the group `assay` is loaded in its own try/except: a plugin that fails to import, or
whose hook raises, is listed with its error by `assay plugins` and never takes the host down.

Environment:
- `ASSAY_PLUGINS`: comma-separated allow-list of entry-point names (only these load).
- `ASSAY_DISABLE_PLUGINS`: comma-separated block-list.
- `ASSAY_STRICT_PLUGINS=1`: re-raise the first plugin failure (for CI).
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import threading
import traceback
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, Literal, get_args

import pluggy
from pluggy import HookImpl

from assay import hookspecs
from assay.cli.command import BUILTIN_COMMANDS, Command
from assay.verifier import Verifier, VerifierKind
from assay.version import __version__

if TYPE_CHECKING:
    from assay.sandbox import Sandbox
    from assay.selection import Selector

ENTRY_POINT_GROUP = "assay"
#: Built-in pieces, registered through the same hooks as third-party plugins.
DEFAULT_PLUGINS: tuple[str, ...] = ("assay.selection.builtin",)

PluginStatus = Literal["ok", "failed", "disabled"]


class PluginError(RuntimeError):
    """A plugin failed to load or register while strict mode was on."""


class UnknownComponent(LookupError):
    """A verifier, sandbox or selector name that no loaded plugin registered."""


@dataclass
class PluginInfo:
    """What `assay plugins` reports for one plugin."""

    name: str
    distribution: str | None = None
    version: str | None = None
    status: PluginStatus = "ok"
    error: str | None = None
    hooks: list[str] = field(default_factory=list)
    verifiers: dict[str, dict[str, Any]] = field(default_factory=dict)
    sandboxes: dict[str, dict[str, Any]] = field(default_factory=dict)
    selectors: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "status": self.status,
            "error": self.error,
            "hooks": self.hooks,
            "verifiers": self.verifiers,
            "sandboxes": self.sandboxes,
            "selectors": self.selectors,
            "commands": self.commands,
        }


@dataclass
class Registry:
    """Everything the loaded plugins registered, by name."""

    verifiers: dict[str, type[Verifier]] = field(default_factory=dict)
    sandboxes: dict[str, type[Sandbox]] = field(default_factory=dict)
    selectors: dict[str, Selector] = field(default_factory=dict)
    commands: dict[str, Command] = field(default_factory=dict)
    plugins: list[PluginInfo] = field(default_factory=list)

    def verifier_class(self, name: str) -> type[Verifier]:
        cls: type[Verifier] = _lookup(self.verifiers, name, "verifier")
        return cls

    def sandbox_class(self, name: str) -> type[Sandbox]:
        cls: type[Sandbox] = _lookup(self.sandboxes, name, "sandbox")
        return cls

    def selector(self, name: str) -> Selector:
        selector: Selector = _lookup(self.selectors, name, "selector")
        return selector


def _lookup(table: dict[str, Any], name: str, what: str) -> Any:
    try:
        return table[name]
    except KeyError:
        known = ", ".join(sorted(table)) or "none"
        raise UnknownComponent(
            f"unknown {what} {name!r} (installed: {known}); `assay plugins` lists what loaded and why not"
        ) from None


def _hooks_of(plugin: object) -> list[str]:
    return sorted(name for name in _ADDERS if hasattr(plugin, name))


def _names_from_env(variable: str) -> set[str] | None:
    raw = os.environ.get(variable)
    if raw is None or not raw.strip():
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def strict_from_env() -> bool:
    return os.environ.get("ASSAY_STRICT_PLUGINS", "").lower() in ("1", "true", "yes")


class PluginHost:
    """The pluggy manager plus a typed facade over it: host code never calls hooks with loose kwargs."""

    def __init__(self, *, strict: bool | None = None) -> None:
        self.strict = strict_from_env() if strict is None else strict
        self.pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.pm.add_hookspecs(hookspecs)
        self._infos: dict[str, PluginInfo] = {}
        self._registry: Registry | None = None
        self._lock = threading.RLock()
        #: The plugins whose hook is running now, innermost last.
        self._running: list[PluginInfo] = []
        #: Hook implementations already wrapped by `_guard`.
        self._guarded: set[Callable[..., Any]] = set()

    # -- loading -----------------------------------------------------------------------------------------

    def load(self, eps: Iterable[EntryPoint] | None = None) -> None:
        """Register the built-in plugins and every entry point in the group `assay`."""
        allow = _names_from_env("ASSAY_PLUGINS")
        block = _names_from_env("ASSAY_DISABLE_PLUGINS") or set()
        for module_name in DEFAULT_PLUGINS:
            built_in = PluginInfo(name=module_name, distribution="assay", version=__version__)
            self._register_module(module_name, functools.partial(importlib.import_module, module_name), built_in)
        if eps is None:
            eps = entry_points(group=ENTRY_POINT_GROUP)
        for ep in eps:
            info = PluginInfo(name=ep.name)
            if ep.dist is not None:
                info.distribution = ep.dist.name
                info.version = ep.dist.version
            if (allow is not None and ep.name not in allow) or ep.name in block:
                info.status = "disabled"
                info.error = "disabled by ASSAY_PLUGINS / ASSAY_DISABLE_PLUGINS"
                self._infos[ep.name] = info
                continue
            self._infos[ep.name] = info
            self._register_module(ep.name, ep.load, info)

    def _register_module(self, name: str, load: Callable[[], object], info: PluginInfo | None = None) -> None:
        info = info or self._infos.setdefault(name, PluginInfo(name=name))
        self._infos[name] = info
        try:
            plugin = load()
            self.pm.register(plugin, name=name)
        except Exception as exc:
            self._fail(info, exc)
            return
        info.hooks = _hooks_of(plugin)
        self._registry = None

    def _fail(self, info: PluginInfo, exc: BaseException) -> None:
        info.status = "failed"
        info.error = f"{type(exc).__name__}: {exc}"
        if self.strict:
            raise PluginError(f"plugin {info.name!r} failed: {info.error}\n{traceback.format_exc()}") from exc

    def register(self, plugin: object, name: str) -> None:
        """Register a plugin object (a module or an instance with hookimpls) by hand."""
        with self._lock:
            self.pm.register(plugin, name=name)
            self._infos[name] = PluginInfo(name=name, hooks=_hooks_of(plugin))
            self._registry = None

    def unregister(self, name: str) -> None:
        with self._lock:
            plugin = self.pm.get_plugin(name)
            if plugin is not None:
                self.pm.unregister(plugin, name=name)
            self._infos.pop(name, None)
            self._registry = None

    # -- the registry --------------------------------------------------------------------------------------

    @property
    def registry(self) -> Registry:
        with self._lock:
            if self._registry is None:
                self._registry = self._build_registry()
            return self._registry

    def _build_registry(self) -> Registry:
        registry = Registry()
        for info in self._infos.values():
            info.verifiers.clear()
            info.sandboxes.clear()
            info.selectors.clear()
            info.commands.clear()
        registration_order = {name: position for position, name in enumerate(self._infos)}
        for hook_name, adder in _ADDERS.items():
            offered: list[tuple[PluginInfo, Any]] = []

            def register(obj: Any, _hook: str = hook_name, _offered: list[tuple[PluginInfo, Any]] = offered) -> None:
                if not self._running:
                    raise RuntimeError(f"{_hook}: `register` was called after the hook returned")
                _offered.append((self._running[-1], obj))

            # pluggy calls the implementations (its order: tryfirst/trylast, wrappers around the rest); each
            # runs guarded, so a plugin whose hook raises is reported without losing the others.
            caller = getattr(self.pm.hook, hook_name)
            for impl in caller.get_hookimpls():
                self._guard(impl)
            arguments = {"register": register}
            assert caller.spec is not None
            caller(**{name: arguments[name] for name in caller.spec.argnames})
            # Names are claimed in the order plugins were loaded (built-ins first), whatever order the calls
            # ran in: a later plugin that takes a name already taken is the one reported.
            for info, obj in sorted(offered, key=lambda pair: registration_order.get(pair[0].name, len(self._infos))):
                if info.status != "ok":
                    continue
                try:
                    adder(registry, info, obj)
                except Exception as exc:
                    self._fail(info, exc)
        registry.plugins = sorted(self._infos.values(), key=lambda i: i.name)
        return registry

    # -- running one plugin's hook ---------------------------------------------------------------------------

    @contextmanager
    def _running_as(self, info: PluginInfo) -> Iterator[None]:
        """What `register` attributes objects to while a plugin's hook runs (wrappers nest around the rest)."""
        self._running.append(info)
        try:
            yield
        finally:
            self._running.pop()

    def _guard(self, impl: HookImpl) -> None:
        """Replace a hook implementation by one that runs only while its plugin is ok, attributes what it
        registers to it, and turns what it raises into that plugin's failure."""
        if impl.function in self._guarded:
            return
        original: Callable[..., Any] = impl.function
        plugin_name = impl.plugin_name

        def call(*args: Any, **kwargs: Any) -> Any:
            info = self._info(plugin_name)
            if info.status != "ok":
                return None
            try:
                with self._running_as(info):
                    return original(*args, **kwargs)
            except Exception as exc:
                self._fail(info, exc)
                return None

        def wrap(*args: Any, **kwargs: Any) -> Generator[None, Any, Any]:
            # A hook wrapper yields once: what comes before runs before the other implementations, what
            # comes after runs after them. A broken one fails its plugin and lets the others run.
            info = self._info(plugin_name)
            inner: Generator[None, Any, Any] | None = None
            if info.status == "ok":
                try:
                    with self._running_as(info):
                        inner = original(*args, **kwargs)
                        next(inner)
                except StopIteration:
                    self._fail(info, RuntimeError(f"hook wrapper {original.__qualname__} did not yield"))
                    inner = None
                except Exception as exc:
                    self._fail(info, exc)
                    inner = None
            outcome = yield
            if inner is None:
                return outcome
            try:
                with self._running_as(info):
                    inner.send(outcome)
            except StopIteration as stop:
                return stop.value
            except Exception as exc:
                self._fail(info, exc)
                return outcome
            self._fail(info, RuntimeError(f"hook wrapper {original.__qualname__} yielded more than once"))
            return outcome

        guarded: Callable[..., Any] = wrap if (impl.wrapper or impl.hookwrapper) else call
        self._guarded.add(guarded)
        setattr(impl, "function", guarded)  # noqa: B010 (pluggy declares the attribute final, not read-only)

    def _info(self, plugin_name: str) -> PluginInfo:
        return self._infos.setdefault(plugin_name, PluginInfo(name=plugin_name))


#: A verifier's name and version appear in `name@version` ids, file names and command lines.
_DECLARED_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


def declaration_problems(cls: type[Verifier]) -> list[str]:
    """What is wrong with the class attributes a verifier declares (empty: nothing). A missing `version`
    would make every verdict `name@0`, and a cached verdict would outlive a change to the verifier."""
    problems = []
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not _DECLARED_TOKEN.fullmatch(name):
        problems.append(f"`name` must be a word of letters, digits, _ . + - (got {name!r})")
    declared = any("version" in vars(base) for base in cls.__mro__ if base is not Verifier)
    version = getattr(cls, "version", None)
    if not declared:
        problems.append("`version` is not declared (set version = \"0.1.0\" and raise it when verdicts change)")
    elif not isinstance(version, str) or not _DECLARED_TOKEN.fullmatch(version):
        problems.append(f"`version` must be a string such as \"0.1.0\" without spaces or @ (got {version!r})")
    kinds = get_args(VerifierKind)
    kind = getattr(cls, "kind", None)
    if kind not in kinds:
        problems.append(f"`kind` must be one of {', '.join(kinds)} (got {kind!r})")
    return problems


def _add_verifier(registry: Registry, info: PluginInfo, cls: Any) -> None:
    if not (isinstance(cls, type) and issubclass(cls, Verifier)):
        raise TypeError(f"register_verifiers: {cls!r} is not a subclass of assay.Verifier")
    problems = declaration_problems(cls)
    if problems:
        raise TypeError(f"register_verifiers: {cls.__qualname__}: " + "; ".join(problems))
    _claim(registry.verifiers, cls.name, cls, info, "verifier")
    info.verifiers[cls.name] = {"version": cls.version, "kind": cls.kind}


def _add_sandbox(registry: Registry, info: PluginInfo, cls: Any) -> None:
    name = getattr(cls, "name", None)
    if not isinstance(name, str):
        raise TypeError(f"register_sandboxes: {cls!r} has no `name`")
    _claim(registry.sandboxes, name, cls, info, "sandbox")
    describe = getattr(cls, "describe", None)
    info.sandboxes[name] = describe() if callable(describe) else {}


def _add_selector(registry: Registry, info: PluginInfo, selector: Any) -> None:
    name = getattr(selector, "name", None)
    if not isinstance(name, str):
        raise TypeError(f"register_selectors: {selector!r} has no `name`")
    _claim(registry.selectors, name, selector, info, "selector")
    info.selectors.append(name)


def _add_command(registry: Registry, info: PluginInfo, command: Any) -> None:
    name = getattr(command, "name", None)
    if not isinstance(name, str) or not callable(getattr(command, "run", None)):
        raise TypeError(f"register_commands: {command!r} is not an assay.cli.Command")
    if name in BUILTIN_COMMANDS:
        raise ValueError(f"command name {name!r} is a built-in command of assay")
    _claim(registry.commands, name, command, info, "command")
    info.commands.append(name)


#: What each hook's `register` adds to the registry.
_ADDERS: dict[str, Callable[[Registry, PluginInfo, Any], None]] = {
    "register_verifiers": _add_verifier,
    "register_sandboxes": _add_sandbox,
    "register_selectors": _add_selector,
    "register_commands": _add_command,
}


def _claim(table: dict[str, Any], name: str, obj: Any, info: PluginInfo, what: str) -> None:
    if name in table and table[name] is not obj:
        raise ValueError(f"{what} name {name!r} is already registered by another plugin")
    table[name] = obj


_host: PluginHost | None = None
_host_lock = threading.Lock()


def get_host() -> PluginHost:
    """The process-wide plugin host, loaded on first use."""
    global _host
    with _host_lock:
        if _host is None:
            host = PluginHost()
            host.load()
            _host = host
        return _host


def get_registry() -> Registry:
    return get_host().registry


def reset_host() -> None:
    """Forget the loaded plugins (the next `get_host()` loads them again, reading the environment anew)."""
    global _host
    with _host_lock:
        _host = None
