"""Every bundled verifier's README shows its configuration as its code declares it: a block written by
`assay.testing.config_docs` from the `Config` class, checked here so that the two cannot drift."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from pydantic import Field

from assay import VerifierConfig
from assay.plugins import get_registry
from assay.testing.config_docs import BLOCK, config_table, rewrite, stale_blocks

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = sorted(path.parent for path in ROOT.glob("plugins/*/pyproject.toml"))


def _entry_point_modules(plugin: Path) -> list[str]:
    project = tomllib.loads((plugin / "pyproject.toml").read_text())["project"]
    return list(project.get("entry-points", {}).get("assay", {}).values())


@pytest.mark.parametrize("plugin", PLUGINS, ids=lambda path: path.name)
def test_each_verifier_of_a_plugin_has_its_config_block_and_it_is_current(plugin: Path) -> None:
    modules = _entry_point_modules(plugin)
    names = [name for name, cls in get_registry().verifiers.items() if cls.__module__.split(".")[0] in
             {module.split(":")[0].split(".")[0] for module in modules}]  # fmt: skip
    assert names, f"{plugin.name} registers no verifier here"
    readme = (plugin / "README.md").read_text(encoding="utf-8")
    blocks = [match["name"] for match in BLOCK.finditer(readme)]
    assert sorted(blocks) == sorted(names), "one config block per verifier"
    assert stale_blocks(readme) == [], "run: python -m assay.testing.config_docs " + str(plugin / "README.md")


class _Example(VerifierConfig):
    threshold: float = Field(default=0.5, description="passed = score >= threshold | at least.")
    names: list[str] = Field(default_factory=lambda: ["a"], description="Names\n   kept.")
    digest: str | None = Field(default=None, description="Filled in, not set: a hash.")


def test_the_table_lists_every_setting_with_its_default_and_escapes_pipes() -> None:
    table = config_table(_Example)
    assert table.splitlines()[2:] == [
        "| `time_limit_s` | `10.0` | Wall-clock budget for one sample, enforced by the verifier. |",
        "| `threshold` | `0.5` | passed = score >= threshold &#124; at least. |",
        '| `names` | `["a"]` | Names kept. |',
    ]


def test_a_stale_block_is_found_and_rewritten() -> None:
    text = "intro\n<!-- config: math -->\n| key |\n<!-- /config -->\nafter\n"
    assert stale_blocks(text) == ["math"]
    fresh = rewrite(text)
    assert stale_blocks(fresh) == [] and fresh.startswith("intro\n") and fresh.endswith("<!-- /config -->\nafter\n")
