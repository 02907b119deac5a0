"""Shared fixtures for the host's tests.

Plugins are installed for real: `installed_plugins` writes a `*.dist-info` folder with an
`entry_points.txt` onto sys.path (and PYTHONPATH, for subprocesses), which is exactly what pip leaves
behind, so the host's entry-point loading is exercised as users hit it.
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from assay.jsonl import write_jsonl
from assay.plugins import UnknownComponent, get_registry, reset_host

InstallPlugins = Callable[..., Path]


@pytest.fixture
def installed_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InstallPlugins]:
    """`installed_plugins({"echo": "assay.testing.echo"}, modules={"broken_mod": "raise ImportError('x')"})`."""
    site = tmp_path / "site"
    site.mkdir()
    counter = iter(range(1000))

    def install(entry_points: dict[str, str], modules: dict[str, str] | None = None, dist: str | None = None) -> Path:
        for name, source in (modules or {}).items():
            (site / f"{name}.py").write_text(textwrap.dedent(source))
        dist = dist or f"assay-test-plugin-{next(counter)}"
        info = site / f"{dist.replace('-', '_')}-1.2.3.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
        lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[assay]\n{lines}\n")
        return site

    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    for variable in ("ASSAY_PLUGINS", "ASSAY_DISABLE_PLUGINS", "ASSAY_STRICT_PLUGINS"):
        monkeypatch.delenv(variable, raising=False)
    reset_host()
    try:
        yield install
    finally:
        reset_host()
        for name in list(sys.modules):
            module = sys.modules[name]
            if getattr(module, "__file__", None) and str(site) in str(module.__file__):
                del sys.modules[name]


@pytest.fixture
def echo_installed(installed_plugins: InstallPlugins) -> Path:
    return installed_plugins({"echo": "assay.testing.echo"}, dist="assay-echo")


@pytest.fixture
def store_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "verdicts.sqlite"
    monkeypatch.setenv("ASSAY_STORE", str(path))
    return path


@pytest.fixture
def echo_data(tmp_path: Path) -> tuple[Path, Path]:
    """10 tasks x 20 samples; sample j of task i is right when j % 4 == 0; some texts repeat."""
    tasks = [{"id": f"t{i}", "prompt": f"say {i}", "reference": {"answer": str(i)}} for i in range(10)]
    samples = [
        {"task_id": f"t{i}", "index": j, "text": str(i) if j % 4 == 0 else f"wrong {j % 3}"}
        for i in range(10)
        for j in range(20)
    ]
    return write_jsonl(tmp_path / "tasks.jsonl", tasks), write_jsonl(tmp_path / "samples.jsonl", samples)


@pytest.fixture
def math_installed() -> None:
    """Skips the test where the `math` verifier plugin (distribution assay-math) is not installed."""
    try:
        get_registry().verifier_class("math")
    except UnknownComponent:
        pytest.skip("the `math` verifier (distribution assay-math) is not installed")


ScriptedLM = Callable[[dict[str, list[str]]], Any]


@pytest.fixture
def scripted_lm() -> ScriptedLM:
    """`scripted_lm({question: [reply, ...]})`: an lm-eval `LM` that answers each question with its next
    scripted reply (lm-eval's own model interface, so its evaluate() runs unchanged)."""
    pytest.importorskip("lm_eval")
    from lm_eval.api.model import LM

    class Scripted(LM):  # type: ignore[misc]
        def __init__(self, script: dict[str, list[str]]) -> None:
            super().__init__()
            self.script = script
            self.asked: dict[str, int] = {}

        def loglikelihood(self, requests: Any) -> Any:
            raise NotImplementedError

        def loglikelihood_rolling(self, requests: Any) -> Any:
            raise NotImplementedError

        def generate_until(self, requests: Any) -> list[str]:
            replies = []
            for request in requests:
                question = request.args[0].strip()
                turn = self.asked.get(question, 0)
                self.asked[question] = turn + 1
                replies.append(self.script[question][turn])
            return replies

    return Scripted
