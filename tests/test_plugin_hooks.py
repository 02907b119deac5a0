"""Hooks are called through pluggy: its ordering (`tryfirst`, `trylast`) and wrappers hold, each plugin's
hook still runs guarded (a broken one fails that plugin only), and names are claimed in load order."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Generator
from typing import Any

import pytest

import assay
from assay.plugins import PluginError, PluginHost, get_registry
from assay.selection import BaseSelector


def _selector(name: str) -> BaseSelector:
    return type(f"Selector_{name}", (BaseSelector,), {"name": name})()


class _Recorder:
    """A plugin whose `register_selectors` appends its name to a shared list and registers one selector."""

    def __init__(self, name: str, calls: list[str], **marks: bool) -> None:
        self.name = name
        self.calls = calls

        @assay.hookimpl(**marks)
        def register_selectors(register: Callable[[Any], None]) -> None:
            calls.append(name)
            register(_selector(f"sel-{name}"))

        self.register_selectors = register_selectors


def _host(*plugins: tuple[str, object], strict: bool = False) -> PluginHost:
    host = PluginHost(strict=strict)
    for name, plugin in plugins:
        host.register(plugin, name)
    return host


def test_tryfirst_and_trylast_order_the_calls() -> None:
    calls: list[str] = []
    host = _host(
        ("late", _Recorder("late", calls, trylast=True)),
        ("plain", _Recorder("plain", calls)),
        ("early", _Recorder("early", calls, tryfirst=True)),
    )
    registry = host.registry
    assert calls == ["early", "plain", "late"]
    assert {"sel-early", "sel-plain", "sel-late"} <= set(registry.selectors)


def test_a_name_goes_to_the_plugin_loaded_first_whatever_order_the_calls_ran_in() -> None:
    class Claim:
        def __init__(self, marks: dict[str, bool]) -> None:
            @assay.hookimpl(**marks)
            def register_selectors(register: Callable[[Any], None]) -> None:
                register(_selector("shared"))

            self.register_selectors = register_selectors

    host = _host(("first", Claim({})), ("second", Claim({"tryfirst": True})))
    registry = host.registry
    infos = {info.name: info for info in registry.plugins}
    assert infos["first"].status == "ok" and infos["first"].selectors == ["shared"]
    assert infos["second"].status == "failed" and "already registered" in (infos["second"].error or "")


class _Wrapper:
    def __init__(self, calls: list[str], style: str, fail: str = "") -> None:
        if style == "new":

            @assay.hookimpl(wrapper=True)
            def register_selectors(register: Callable[[Any], None]) -> Generator[None, Any, Any]:
                calls.append("before")
                if fail == "before":
                    raise RuntimeError("wrapper broke before")
                register(_selector("from-wrapper"))
                result = yield
                calls.append("after")
                if fail == "after":
                    raise RuntimeError("wrapper broke after")
                return result

        else:

            @assay.hookimpl(hookwrapper=True)
            def register_selectors(register: Callable[[Any], None]) -> Generator[None, Any, None]:
                calls.append("before")
                register(_selector("from-wrapper"))
                outcome = yield
                outcome.get_result()
                calls.append("after")

        self.register_selectors = register_selectors


@pytest.mark.parametrize("style", ["new", "old"])
def test_a_hook_wrapper_runs_around_the_other_implementations(style: str) -> None:
    calls: list[str] = []
    host = _host(("plain", _Recorder("plain", calls)), ("wrapper", _Wrapper(calls, style)))
    registry = host.registry
    assert calls == ["before", "plain", "after"]
    assert {"from-wrapper", "sel-plain"} <= set(registry.selectors)
    assert {info.name: info.status for info in registry.plugins} == {"plain": "ok", "wrapper": "ok"}


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_wrapper_that_raises_fails_its_plugin_only(where: str) -> None:
    calls: list[str] = []
    host = _host(("plain", _Recorder("plain", calls)), ("wrapper", _Wrapper(calls, "new", fail=where)))
    registry = host.registry
    infos = {info.name: info for info in registry.plugins}
    assert infos["wrapper"].status == "failed" and f"wrapper broke {where}" in (infos["wrapper"].error or "")
    assert infos["plain"].status == "ok" and "sel-plain" in registry.selectors
    assert "plain" in calls
    # What a plugin registered before it failed is not kept.
    assert "from-wrapper" not in registry.selectors


def test_a_failure_in_strict_mode_is_raised() -> None:
    class Raises:
        @staticmethod
        @assay.hookimpl
        def register_selectors(register: Callable[[Any], None]) -> None:
            raise RuntimeError("boom")

    host = _host(("raises", Raises()), strict=True)
    with pytest.raises(PluginError, match="boom"):
        _ = host.registry


def test_a_register_callback_kept_and_called_after_the_hook_is_refused() -> None:
    kept: list[Callable[[Any], None]] = []

    class Keeps:
        @staticmethod
        @assay.hookimpl
        def register_selectors(register: Callable[[Any], None]) -> None:
            kept.append(register)

    host = _host(("keeps", Keeps()))
    assert host.registry.plugins[0].status == "ok"
    with pytest.raises(RuntimeError, match="after the hook returned"):
        kept[0](_selector("late"))


ASKS_FOR_MORE = """
import assay

@assay.hookimpl
def register_selectors(register, config):
    pass
"""


def test_an_implementation_asking_for_an_argument_no_hook_offers_is_reported(installed_plugins) -> None:  # type: ignore[no-untyped-def]
    installed_plugins({"asks": "asks_plugin"}, modules={"asks_plugin": ASKS_FOR_MORE})
    infos = {info.name: info for info in get_registry().plugins}
    assert infos["asks"].status == "failed" and "config" in (infos["asks"].error or "")


SHADOWS_VERIFY = """
import assay
from assay.cli import Command

@assay.hookimpl
def register_commands(register):
    register(Command(name="verify", help="mine", configure=lambda parser: None, run=lambda args: 0))
"""


def test_a_plugin_command_named_like_a_built_in_is_reported_not_dropped(installed_plugins) -> None:  # type: ignore[no-untyped-def]
    installed_plugins({"shadow": "shadow_plugin"}, modules={"shadow_plugin": SHADOWS_VERIFY})
    registry = get_registry()
    info = next(info for info in registry.plugins if info.name == "shadow")
    assert info.status == "failed" and "'verify' is a built-in command" in (info.error or "")
    assert "verify" not in registry.commands
    listed = subprocess.run(
        [sys.executable, "-m", "assay", "plugins", "--json"], capture_output=True, text=True, timeout=120
    )
    shown = {plugin["name"]: plugin for plugin in json.loads(listed.stdout)}
    assert shown["shadow"]["status"] == "failed"
