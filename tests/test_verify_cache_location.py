"""`assay.verify()` caches verdicts in ~/.cache/assay by default: it says where, once, when it creates the file,
and logs the location on the `assay` logger at first use."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import assay


def test_the_default_cache_is_announced_once(
    echo_installed: Path, echo_data: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    monkeypatch.delenv("ASSAY_STORE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    expected = tmp_path / "cache" / "assay" / "verdicts.sqlite"
    tasks, samples = echo_data
    said: list[str] = []
    with caplog.at_level(logging.INFO, logger="assay"):
        summary = assay.verify(tasks, samples, "echo", jobs=0, progress=False, on_warning=said.append).run()
        assay.verify(tasks, samples, "echo", jobs=0, progress=False, on_warning=said.append).run()
    assert summary.samples == 200
    assert expected.exists()
    (message,) = said
    assert message.startswith(f"caching verdicts in {expected} ")
    assert [r.getMessage() for r in caplog.records if "verdict cache" in r.getMessage()] == [
        f"verdict cache: {expected} (store= or ASSAY_STORE to move it)"
    ]
