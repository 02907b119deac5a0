"""Plugin loading from real entry points: failures are reported, never fatal; allow/block lists; strict mode."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from assay.plugins import PluginError, PluginHost, UnknownComponent, get_registry
from assay.testing.echo import EchoVerifier

GOOD_SELECTOR = """
import assay

class First:
    name = "first"

@assay.hookimpl
def register_selectors(register):
    register(First())
"""

HOOK_RAISES = """
import assay

@assay.hookimpl
def register_verifiers(register):
    raise RuntimeError("hook exploded")
"""

SAME_NAME = """
import assay
from assay.testing.echo import EchoVerifier

class Echo2(EchoVerifier):
    pass

@assay.hookimpl
def register_verifiers(register):
    register(Echo2)
"""

NOT_A_VERIFIER = """
import assay

@assay.hookimpl
def register_verifiers(register):
    register(object)
"""


def _by_name(registry):  # type: ignore[no-untyped-def]
    return {info.name: info for info in registry.plugins}


def test_a_plugin_that_raises_at_import_is_reported_not_fatal(installed_plugins) -> None:  # type: ignore[no-untyped-def]
    installed_plugins(
        {"echo": "assay.testing.echo", "broken": "broken_plugin", "missing": "no_such_module_anywhere"},
        modules={"broken_plugin": "raise ImportError('needs libfoo 3')\n"},
        dist="assay-mixed",
    )
    registry = get_registry()
    infos = _by_name(registry)
    assert infos["echo"].status == "ok"
    assert registry.verifier_class("echo") is EchoVerifier
    assert infos["broken"].status == "failed"
    assert infos["broken"].error == "ImportError: needs libfoo 3"
    assert infos["missing"].status == "failed"
    assert "ModuleNotFoundError" in (infos["missing"].error or "")
    assert infos["echo"].distribution == "assay-mixed"
    assert infos["echo"].version == "1.2.3"


def test_a_hook_that_raises_is_reported_and_the_others_still_register(installed_plugins) -> None:  # type: ignore[no-untyped-def]
    installed_plugins(
        {"echo": "assay.testing.echo", "exploding": "exploding_plugin", "selector": "selector_plugin"},
        modules={"exploding_plugin": HOOK_RAISES, "selector_plugin": GOOD_SELECTOR},
    )
    registry = get_registry()
    infos = _by_name(registry)
    assert infos["exploding"].status == "failed"
    assert "hook exploded" in (infos["exploding"].error or "")
    assert "echo" in registry.verifiers
    assert registry.selector("first").name == "first"
    assert infos["selector"].selectors == ["first"]


@pytest.mark.parametrize(
    ("module", "message"),
    [(SAME_NAME, "already registered"), (NOT_A_VERIFIER, "not a subclass of assay.Verifier")],
)
def test_conflicting_or_wrong_registrations_fail_that_plugin_only(installed_plugins, module, message) -> None:  # type: ignore[no-untyped-def]
    installed_plugins({"echo": "assay.testing.echo", "other": "other_plugin"}, modules={"other_plugin": module})
    registry = get_registry()
    infos = _by_name(registry)
    assert infos["other"].status == "failed"
    assert message in (infos["other"].error or "")
    assert registry.verifier_class("echo") is EchoVerifier


def test_allow_list_loads_only_named_plugins(installed_plugins, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    installed_plugins(
        {"echo": "assay.testing.echo", "selector": "selector_plugin"}, modules={"selector_plugin": GOOD_SELECTOR}
    )
    monkeypatch.setenv("ASSAY_PLUGINS", "selector")
    registry = get_registry()
    infos = _by_name(registry)
    assert infos["echo"].status == "disabled"
    assert "echo" not in registry.verifiers
    assert "first" in registry.selectors
    with pytest.raises(UnknownComponent, match="unknown verifier 'echo'"):
        registry.verifier_class("echo")


def test_block_list_skips_named_plugins(installed_plugins, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    installed_plugins(
        {"echo": "assay.testing.echo", "selector": "selector_plugin"}, modules={"selector_plugin": GOOD_SELECTOR}
    )
    monkeypatch.setenv("ASSAY_DISABLE_PLUGINS", " echo , nothing")
    registry = get_registry()
    assert _by_name(registry)["echo"].status == "disabled"
    assert "echo" not in registry.verifiers
    assert "first" in registry.selectors


def test_strict_mode_reraises(installed_plugins, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    installed_plugins({"broken": "broken_plugin"}, modules={"broken_plugin": "raise ImportError('nope')\n"})
    host = PluginHost(strict=True)
    with pytest.raises(PluginError, match="broken"):
        host.load()
    monkeypatch.setenv("ASSAY_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError):
        PluginHost().load()


def test_the_fixture_registers_for_one_test_and_unregisters(installed_plugins, assay_plugin) -> None:  # type: ignore[no-untyped-def]
    from assay.plugins import get_host

    class Module:
        @staticmethod
        def register_selectors(register):  # type: ignore[no-untyped-def]
            class Pick:
                name = "pick-first"

            register(Pick())

    import assay

    Module.register_selectors = assay.hookimpl(Module.register_selectors)  # type: ignore[method-assign]
    registry = assay_plugin(Module, name="by-hand")
    assert "pick-first" in registry.selectors
    get_host().unregister("by-hand")
    assert "pick-first" not in get_registry().selectors


def test_assay_plugins_json_lists_installed_plugins(installed_plugins) -> None:  # type: ignore[no-untyped-def]
    installed_plugins(
        {"echo": "assay.testing.echo", "broken": "broken_plugin"},
        modules={"broken_plugin": "import no_such_dependency\n"},
        dist="assay-echo",
    )
    result = subprocess.run(
        [sys.executable, "-m", "assay", "plugins", "--json"], capture_output=True, text=True, check=True
    )
    infos = {info["name"]: info for info in json.loads(result.stdout)}
    assert infos["echo"]["version"] == "1.2.3"
    assert infos["echo"]["distribution"] == "assay-echo"
    assert infos["echo"]["verifiers"] == {"echo": {"version": "1", "kind": "symbolic"}}
    assert infos["echo"]["hooks"] == ["register_verifiers"]
    assert infos["broken"]["status"] == "failed"
    assert "no_such_dependency" in infos["broken"]["error"]
    text = subprocess.run([sys.executable, "-m", "assay", "plugins"], capture_output=True, text=True, check=True)
    assert "verifier echo@1 (symbolic)" in text.stdout
    assert "[failed]" in text.stdout
