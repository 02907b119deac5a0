"""`/run_code` runs every language it lists, on both sandbox backends: a hello-world, a program that reads
stdin, and one that fails at run time (whose error shows the program, never the host's paths). A language
whose toolchain is not here is not listed."""

from __future__ import annotations

import functools
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from assay.plugins import UnknownComponent, get_registry
from assay.server import BackgroundServer, ServerSettings
from assay.server.runcode import LANGUAGES, Language, RunCodeRequest, SandboxRunner, available_languages

#: language -> (hello-world, a program that prints the sum of two numbers on stdin, one that fails at run
#: time, what that failure's stderr must hold)
PROGRAMS: dict[str, tuple[str, str, str, str]] = {
    "python": (
        'print("hello, world")\n',
        "import sys\nprint(sum(map(int, sys.stdin.read().split())))\n",
        "def fail():\n    raise ValueError('boom')\n\nfail()\n",
        "ValueError: boom",
    ),
    "cpp": (
        '#include <iostream>\nint main() { std::cout << "hello, world" << std::endl; }\n',
        "#include <iostream>\nint main() { long a, b; std::cin >> a >> b; std::cout << a + b << std::endl; }\n",
        '#include <stdexcept>\nint main() { throw std::runtime_error("boom"); }\n',
        "boom",
    ),
    "c": (
        '#include <stdio.h>\nint main(void) { puts("hello, world"); return 0; }\n',
        '#include <stdio.h>\nint main(void) { long a, b; scanf("%ld %ld", &a, &b); printf("%ld\\n", a + b); }\n',
        '#include <stdio.h>\n#include <stdlib.h>\nint main(void) { fputs("boom\\n", stderr); abort(); }\n',
        "boom",
    ),
    "bash": (
        'echo "hello, world"\n',
        "read a b\necho $((a + b))\n",
        "set -e\necho boom >&2\nno_such_command_here\n",
        "no_such_command_here",
    ),
    "nodejs": (
        'console.log("hello, world");\n',
        "const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number);\n"
        "console.log(a + b);\n",
        "function fail() { throw new Error('boom'); }\nfail();\n",
        "Error: boom",
    ),
}


def test_every_language_has_programs_here() -> None:
    assert set(PROGRAMS) == set(LANGUAGES)
    assert all(language.hello for language in LANGUAGES.values())


def test_a_language_whose_toolchain_is_missing_is_not_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "node" else real_which(name, *a, **k))
    assert "nodejs" not in available_languages()
    assert "python" in available_languages()


@pytest.fixture(scope="module", params=["local", "docker"])
def runner(request: pytest.FixtureRequest) -> Iterator[SandboxRunner]:
    from assay_sandboxes.docker_backend import DockerSandbox
    from assay_sandboxes.local import LocalSandbox
    from assay_sandboxes.testing import require_docker

    factory: Any = LocalSandbox
    if request.param == "docker":
        require_docker()
        factory = functools.partial(DockerSandbox, image=os.environ.get("ASSAY_TEST_DOCKER_IMAGE"))
    runner = SandboxRunner(factory)
    try:
        yield runner
    finally:
        runner.close()


def test_a_language_that_cannot_run_in_the_sandbox_is_refused(
    runner: SandboxRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its toolchain is here (`sh`), but what it needs at start is out of the sandbox's reach.
    broken = Language("main.txt", ("/bin/sh", "-c", "cat /etc/hostname >/dev/null && cat main.txt"), needs="sh")
    monkeypatch.setitem(LANGUAGES, "needs_the_hosts_etc", replace(broken, hello="hello\n"))
    assert "needs_the_hosts_etc" in available_languages()
    assert "needs_the_hosts_etc" not in runner.languages()
    assert "python" in runner.languages()
    response = _run(runner, "needs_the_hosts_etc", "hello\n")
    assert response.status == "SandboxError"
    assert "cannot run in this sandbox" in response.message, response.message


def test_what_healthz_lists_drops_a_language_once_its_probe_fails(
    runner: SandboxRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = Language("main.txt", ("/bin/sh", "-c", "cat /etc/hostname >/dev/null && cat main.txt"), needs="sh")
    monkeypatch.setitem(LANGUAGES, "needs_the_hosts_etc", replace(broken, hello="hello\n"))
    runner.listed_languages()  # answers at once and starts the probes in the background
    deadline = time.monotonic() + 120
    while "needs_the_hosts_etc" in runner.listed_languages() and time.monotonic() < deadline:
        time.sleep(0.2)
    listed = runner.listed_languages()
    assert "needs_the_hosts_etc" not in listed
    assert "python" in listed


def _run(runner: SandboxRunner, language: str, code: str, stdin: str | None = None) -> Any:
    request = RunCodeRequest(code=code, language=language, stdin=stdin, compile_timeout=60, run_timeout=10)
    return runner.run(request)


@pytest.mark.parametrize("language", available_languages())
def test_hello_world(runner: SandboxRunner, language: str) -> None:
    response = _run(runner, language, PROGRAMS[language][0])
    assert response.status == "Success", response
    assert response.run_result is not None and response.run_result.stdout == "hello, world\n"


@pytest.mark.parametrize("language", available_languages())
def test_a_program_that_reads_stdin(runner: SandboxRunner, language: str) -> None:
    response = _run(runner, language, PROGRAMS[language][1], stdin="20 22\n")
    assert response.status == "Success", response
    assert response.run_result is not None and response.run_result.stdout == "42\n"


@pytest.mark.parametrize("language", available_languages())
def test_a_runtime_error_shows_the_program_not_the_host(runner: SandboxRunner, language: str) -> None:
    response = _run(runner, language, PROGRAMS[language][2])
    assert response.status == "Failed", response
    result = response.run_result
    assert result is not None and result.status == "Finished"
    assert result.return_code not in (0, None)
    assert PROGRAMS[language][3] in (result.stderr or ""), result.stderr
    for host_path in ("forkserver", "assay_sandboxes", os.getcwd()):
        assert host_path not in (result.stderr or ""), result.stderr


def test_a_python_traceback_names_the_program_file_only(runner: SandboxRunner) -> None:
    response = _run(runner, "python", PROGRAMS["python"][2])
    stderr = response.run_result.stderr if response.run_result else ""
    assert stderr.startswith("Traceback (most recent call last):\n"), stderr
    frames = [line for line in stderr.splitlines() if line.startswith("  File ")]
    assert frames == ['  File "main.py", line 4, in <module>', '  File "main.py", line 2, in fail'], stderr
    syntax = _run(runner, "python", "x = (\n")
    assert syntax.run_result is not None and 'File "main.py", line 1' in (syntax.run_result.stderr or "")
    assert "forkserver" not in (syntax.run_result.stderr or "")


@pytest.fixture(scope="module", params=["local", "docker"])
def server_url(request: pytest.FixtureRequest) -> Iterator[str]:
    from assay_sandboxes.testing import require_docker

    try:
        get_registry().sandbox_class(request.param)
    except UnknownComponent:
        pytest.skip(f"the `{request.param}` sandbox is not installed")
    if request.param == "docker":
        require_docker()
    with BackgroundServer(ServerSettings(workers=1, sandbox_threads=2, sandbox=request.param)) as url:
        yield url


def test_every_language_healthz_lists_runs_over_http(server_url: str) -> None:
    languages = httpx.get(f"{server_url}/healthz", timeout=30).json()["languages"]
    assert set(languages) <= set(available_languages())
    assert "python" in languages
    for language in languages:
        hello, adder, _failing, _marker = PROGRAMS[language]
        body = httpx.post(
            f"{server_url}/run_code", json={"code": hello, "language": language, "compile_timeout": 60}, timeout=90
        ).json()
        assert body["status"] == "Success", (language, body)
        assert body["run_result"]["stdout"] == "hello, world\n"
        request = {"code": adder, "language": language, "stdin": "1 2\n", "compile_timeout": 60}
        body = httpx.post(f"{server_url}/run_code", json=request, timeout=90).json()
        assert body["run_result"]["stdout"] == "3\n", (language, body)
