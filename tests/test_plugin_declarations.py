"""What a plugin declares is checked when it registers: a verifier without a version, or with an unknown kind,
is a failed plugin that `assay plugins` names, never a silent `name@0`."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from assay import Verifier, hookimpl
from assay.plugins import declaration_problems, get_host
from assay.testing.fixtures import RegisterPlugin


def _verifier_class(**attributes: Any) -> type[Verifier]:
    def verify(self: Verifier, task: Any, sample: Any) -> Any:
        return self.verdict(task, sample, "fail", reason="never")

    return type("Declared", (Verifier,), {"verify": verify, **attributes})


class _Plugin:
    def __init__(self, cls: type[Verifier]) -> None:
        self.cls = cls

    @hookimpl
    def register_verifiers(self, register: Any) -> None:
        register(self.cls)


@pytest.mark.parametrize(
    ("attributes", "named"),
    [
        ({"name": "noversion", "kind": "symbolic"}, "`version` is not declared"),
        ({"name": "badkind", "version": "1", "kind": "magic"}, "`kind` must be one of"),
        ({"name": "nokind", "version": "1"}, "`kind` must be one of"),
        ({"name": "bad@name", "version": "1", "kind": "symbolic"}, "`name`"),
        ({"name": "numeric", "version": 2, "kind": "symbolic"}, "`version` must be a string"),
        ({"name": "spaced", "version": "1 beta", "kind": "symbolic"}, "`version` must be a string"),
    ],
)
def test_a_bad_declaration_fails_the_plugin_and_says_why(
    assay_plugin: RegisterPlugin, attributes: dict[str, Any], named: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ASSAY_STRICT_PLUGINS", raising=False)
    cls = _verifier_class(**attributes)
    registry = assay_plugin(_Plugin(cls), name="declares")
    info = next(i for i in registry.plugins if i.name == "declares")
    assert info.status == "failed" and named in (info.error or "")
    assert attributes["name"] not in registry.verifiers


def test_a_good_declaration_registers(assay_plugin: RegisterPlugin) -> None:
    cls = _verifier_class(name="good", version="0.2.0", kind="proof")
    assert declaration_problems(cls) == []
    registry = assay_plugin(_Plugin(cls))
    assert registry.verifiers["good"] is cls


def test_every_installed_verifier_declares_itself() -> None:
    for name, cls in get_host().registry.verifiers.items():
        assert declaration_problems(cls) == [], name


def test_the_conformance_suite_says_how_to_get_hypothesis() -> None:
    code = "import sys; sys.modules['hypothesis'] = None; import assay.testing.conformance"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "pip install 'assay[testing]'" in result.stderr
