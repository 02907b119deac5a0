"""Fixtures for plugin authors: register a plugin for one test, always unregistered afterwards."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest

from assay.plugins import Registry, get_host

_counter = itertools.count()

RegisterPlugin = Callable[..., Registry]


@pytest.fixture
def assay_plugin() -> Iterator[RegisterPlugin]:
    """`assay_plugin(obj, name=None) -> Registry`: register a module or object with hookimpls for this test."""
    host = get_host()
    names: list[str] = []

    def register(plugin: object, name: str | None = None) -> Registry:
        name = name or f"test-plugin-{next(_counter)}"
        host.register(plugin, name=name)
        names.append(name)
        return host.registry

    try:
        yield register
    finally:
        for name in reversed(names):
            host.unregister(name)


@pytest.fixture
def assay_registry() -> Registry:
    """The registry of the plugins loaded in this process."""
    return get_host().registry
