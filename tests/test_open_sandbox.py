"""`assay.open_sandbox`: a verifier asks for a backend by name and passes what the backend takes; what it
would only like (`optional`) is left out where the backend's constructor does not take it, and an error
raised inside a constructor is never mistaken for a missing option."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import assay
from assay.plugins import get_host


class _Plain:
    name = "plain-test-sandbox"

    def __init__(self) -> None:
        self.options: dict[str, Any] = {}


class _Paths:
    name = "paths-test-sandbox"

    def __init__(self, *, read_paths: list[str] | None = None, memory_mb: int = 1) -> None:
        self.options = {"read_paths": read_paths, "memory_mb": memory_mb}


class _Anything:
    name = "anything-test-sandbox"

    def __init__(self, **options: Any) -> None:
        self.options = options


class _Broken:
    name = "broken-test-sandbox"

    def __init__(self, *, read_paths: list[str] | None = None) -> None:
        raise TypeError("a bug inside the backend")


class _Backends:
    @staticmethod
    @assay.hookimpl
    def register_sandboxes(register: Callable[[type[Any]], None]) -> None:
        for cls in (_Plain, _Paths, _Anything, _Broken):
            register(cls)


@pytest.fixture(autouse=True)
def _backends() -> Iterator[None]:
    host = get_host()
    host.register(_Backends(), "test-backends")
    try:
        yield
    finally:
        host.unregister("test-backends")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (_Plain.name, {}),
        (_Paths.name, {"read_paths": ["/opt/x"], "memory_mb": 1}),
        (_Anything.name, {"read_paths": ["/opt/x"], "preload_sources": "import x"}),
    ],
)
def test_optional_options_reach_only_backends_that_take_them(name: str, expected: dict[str, Any]) -> None:
    sandbox = assay.open_sandbox(name, optional={"read_paths": ["/opt/x"], "preload_sources": "import x"})
    assert sandbox.options == expected


def test_required_options_always_reach_the_constructor() -> None:
    assert assay.open_sandbox(_Paths.name, memory_mb=7).options["memory_mb"] == 7
    with pytest.raises(TypeError):
        assay.open_sandbox(_Plain.name, memory_mb=7)  # the backend cannot honour it: said, not dropped


def test_an_error_inside_a_constructor_propagates() -> None:
    with pytest.raises(TypeError, match="a bug inside the backend"):
        assay.open_sandbox(_Broken.name, optional={"read_paths": ["/opt/x"]})


def test_takes_option_reads_the_constructor() -> None:
    assert assay.takes_option(_Paths, "read_paths") and not assay.takes_option(_Plain, "read_paths")
    assert assay.takes_option(_Anything, "whatever")


def test_an_unknown_backend_names_the_installed_ones() -> None:
    with pytest.raises(assay.UnknownComponent, match="paths-test-sandbox"):
        assay.open_sandbox("no-such-sandbox")
