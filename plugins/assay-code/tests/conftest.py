"""Fixtures for the assay-code tests: warm verifiers (one per module) and a `judge` shortcut."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from assay import Sample, Task, Verdict
from assay_code.verifier import CodeVerifier
from assay_sandboxes.testing import require_docker

Judge = Callable[..., Verdict]


@pytest.fixture(scope="module")
def code_verifier() -> Iterator[CodeVerifier]:
    verifier = CodeVerifier({"time_limit_s": 5})
    try:
        yield verifier
    finally:
        verifier.close()


@pytest.fixture(scope="module")
def isolation(code_verifier: CodeVerifier) -> dict[str, Any]:
    """Which sandbox layers are on here (some attacks are only safe to try with a dropped uid)."""
    return code_verifier.sandbox.isolation()


ADD_TESTS = """
def check(candidate):
    assert candidate(1, 2) == 3
    assert candidate(-5, 5) == 0
    assert candidate(10**20, 1) == 10**20 + 1
    assert candidate(2, 2) == 4
"""
ADD_PROMPT = 'def add(a: int, b: int) -> int:\n    """Return a + b."""\n'


@pytest.fixture(scope="module")
def pair_verifier() -> Iterator[CodeVerifier]:
    """Judges with a fresh tester per sample (`run_python_pair`) instead of a long-lived one."""
    verifier = CodeVerifier({"time_limit_s": 5, "shared_tester": False})
    try:
        yield verifier
    finally:
        verifier.close()


@pytest.fixture(scope="module")
def docker_verifier() -> Iterator[CodeVerifier]:
    """Judges in the docker backend's sandbox (a real daemon; skips where none answers)."""
    require_docker()
    verifier = CodeVerifier({"time_limit_s": 5, "sandbox": "docker"})
    try:
        yield verifier
    finally:
        verifier.close()


@pytest.fixture(scope="module", params=["shared_tester", "pair", "docker"])
def judge(request: pytest.FixtureRequest, code_verifier: CodeVerifier) -> Judge:
    """`judge(text, tests=ADD_TESTS, prompt=ADD_PROMPT, entry_point="add", **config)` -> Verdict, once with a
    long-lived tester, once with a tester per sample, and once in the docker backend."""
    config_base: dict[str, Any] = {}
    if request.param == "pair":
        code_verifier = request.getfixturevalue("pair_verifier")
        config_base = {"shared_tester": False}
    elif request.param == "docker":
        code_verifier = request.getfixturevalue("docker_verifier")
        config_base = {"sandbox": "docker"}

    def run(
        text: str, tests: str = ADD_TESTS, prompt: str = ADD_PROMPT, entry_point: str = "add", **config: Any
    ) -> Verdict:
        task = Task(id="t", prompt=prompt, reference={"style": "function", "entry_point": entry_point, "tests": tests})
        sample = Sample(task_id=task.id, index=0, text=text)
        if config:
            with CodeVerifier({"time_limit_s": 5, **config_base, **config}) as verifier:
                return verifier.verify(task, sample)
        return code_verifier.verify(task, sample)

    return run
