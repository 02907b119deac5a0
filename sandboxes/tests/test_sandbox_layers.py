"""A layer that is off is reported off, with its reason, in `describe()`, `isolation()` and every result;
and the other layers still hold without it."""

from __future__ import annotations

import json
import os
import socket
from typing import Any

import pytest

from assay.sandbox import Limits
from assay_sandboxes import local as local_module
from assay_sandboxes.docker_backend import DockerSandbox
from assay_sandboxes.local import LocalSandbox
from assay_sandboxes.seccomp import SeccompUnavailable

LAYERS = {"network", "user", "disk_quota", "rlimits", "landlock", "seccomp"}
LIMITS = Limits(wall_time_s=5, cpu_time_s=5, memory_mb=256, processes=8)


@pytest.mark.parametrize("cls", [LocalSandbox, DockerSandbox])
def test_describe_names_every_layer_and_why_any_is_off(cls: Any) -> None:
    described = cls.describe()
    assert set(described["layers"]) >= LAYERS
    for layer, on in described["layers"].items():
        if not on:
            assert described["off"].get(layer), f"{layer} is off without a reason"


def test_a_run_without_privilege_drop_says_so() -> None:
    with LocalSandbox(limits=LIMITS, drop_privileges=False) as sandbox:
        info = sandbox.isolation()
        result = sandbox.run_python("print('ran')")
    assert result.status == "ok"
    assert result.isolation["user"] is False
    assert info["layers"]["user"] is False
    assert "turned off" in info["off"]["user"]


def test_without_seccomp_the_network_namespace_still_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    if not LocalSandbox.describe()["layers"]["network"]:
        pytest.skip("no network namespace here (not root)")

    def unavailable(network: bool) -> bytes:
        raise SeccompUnavailable("libseccomp removed for this test")

    monkeypatch.setattr(local_module, "compile_filter", unavailable)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        with LocalSandbox(limits=LIMITS) as sandbox:
            info = sandbox.isolation()
            result = sandbox.run_python(
                f"import socket\ns = socket.socket()\ns.settimeout(1)\ns.connect(('127.0.0.1', {port}))\nprint('in')"
            )
    finally:
        listener.close()
    assert info["layers"]["seccomp"] is False
    assert "libseccomp removed" in info["off"]["seccomp"]
    assert result.isolation["seccomp"] is False
    assert result.status == "exit_nonzero"
    assert b"in" not in result.stdout
    # With seccomp off the socket is created; the empty namespace and Landlock are what refuse it.
    assert b"Errno" in result.stderr


def test_as_an_unprivileged_user_the_root_only_layers_are_reported_off() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root, to become an unprivileged user for the test")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        os.close(read)
        try:
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            with LocalSandbox(limits=LIMITS) as sandbox:
                info = sandbox.isolation()
                result = sandbox.run_python("print('ran')")
            report = {"info": info, "status": result.status, "isolation": result.isolation}
        except Exception as exc:
            report = {"error": f"{type(exc).__name__}: {exc}"}
        os.write(write, json.dumps(report).encode())
        os._exit(0)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 1 << 16):
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    report = json.loads(b"".join(chunks))
    if "error" in report:
        if "Permission denied" in report["error"]:
            pytest.skip(f"this checkout is not readable by an unprivileged user: {report['error']}")
        raise AssertionError(report["error"])
    assert report["status"] == "ok"
    layers, off = report["info"]["layers"], report["info"]["off"]
    for layer in ("network", "user", "disk_quota"):
        assert layers[layer] is False and report["isolation"][layer] is False
        assert off[layer]
    assert layers["landlock"] is LocalSandbox.describe()["layers"]["landlock"]
    assert layers["seccomp"] is True


def test_a_missing_interpreter_is_a_sandbox_error_not_a_crash() -> None:
    with LocalSandbox(limits=LIMITS, interpreter="/nonexistent/python3") as sandbox:
        result = sandbox.run_python("print('x')")
    assert result.status == "sandbox_error"
    assert "/nonexistent/python3" in (result.message or "")


def test_the_server_is_restarted_after_it_dies() -> None:
    with LocalSandbox(limits=LIMITS) as sandbox:
        assert sandbox.run_python("pass").status == "ok"
        server = sandbox._servers["candidate"]
        server.process.kill()  # type: ignore[attr-defined]
        server.process.wait()  # type: ignore[attr-defined]
        result = sandbox.run_python("print('again')")
    assert result.status == "ok" and result.stdout == b"again\n"


def test_a_forked_worker_gets_its_own_servers() -> None:
    with LocalSandbox(limits=LIMITS) as sandbox:
        assert sandbox.run_python("pass").status == "ok"
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through the pipe
            result = sandbox.run_python("print('child')")
            os.write(write, result.stdout)
            sandbox.close()
            os._exit(0)
        os.close(write)
        assert os.read(read, 100) == b"child\n"
        os.waitpid(pid, 0)
        assert sandbox.run_python("print('parent')").stdout == b"parent\n"


def test_plugin_listing_shows_the_layers(capsys: pytest.CaptureFixture[str]) -> None:
    from assay.cli import main

    assert main(["plugins", "--json"]) == 0
    plugins = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
    entry = plugins["sandboxes"]
    assert entry["status"] == "ok", entry
    assert set(entry["sandboxes"]) == {"local", "docker"}
    assert set(entry["sandboxes"]["local"]["layers"]) >= LAYERS
    assert "sandbox" in entry["commands"]


def test_assay_sandbox_check_reports_the_local_backend(capsys: pytest.CaptureFixture[str]) -> None:
    from assay.cli import main

    assert main(["sandbox", "check", "local", "--runs", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["backend"] == "local"
    assert set(report["layers"]) >= LAYERS
    assert report["seconds_per_trivial_run"] > 0


def test_assay_sandbox_build_builds_the_host_image(docker_sandbox: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from assay.cli import main

    tag = f"assay-sandbox-test:{os.getpid()}"
    client = docker_sandbox.client()
    try:
        assert main(["sandbox", "build", "--recipe", "host", "--tag", tag]) == 0
        assert f"built {tag}" in capsys.readouterr().out
        labels = client.images.get(tag).labels
        assert labels["assay.sandbox.recipe"] == "host"
        assert labels["assay.sandbox.bind"] == "/usr"
        with DockerSandbox(limits=LIMITS, image=tag) as sandbox:
            result = sandbox.run_python("import sys\nprint(sys.version_info[0])")
        assert result.stdout == b"3\n", result
        assert result.isolation["container"] is True
    finally:
        client.images.remove(tag, force=True)


def test_an_unknown_image_is_a_clear_error(docker_sandbox: Any) -> None:
    with DockerSandbox(limits=LIMITS, image="assay-sandbox:no-such-image") as sandbox:
        result = sandbox.run_python("pass")
    assert result.status == "sandbox_error"
    assert "assay sandbox build" in (result.message or "")


def test_describe_is_cheap_enough_for_every_command() -> None:
    import time

    started = time.perf_counter()
    for _ in range(20):
        LocalSandbox.describe()
        DockerSandbox.describe()
    assert (time.perf_counter() - started) / 20 < 0.05, "describe() runs at every registry build"


@pytest.mark.parametrize("cls", [LocalSandbox, DockerSandbox])
def test_describe_says_the_hosts_unix_sockets_are_open_without_seccomp(
    cls: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assay_sandboxes import base

    described = cls.describe()
    on = described["layers"]["seccomp"]
    assert described["protections"]["host_unix_sockets"] == {"layer": "seccomp", "on": on}

    def unavailable(network: bool) -> bytes:
        raise SeccompUnavailable("libseccomp removed for this test")

    monkeypatch.setattr(base, "compile_filter", unavailable)
    described = cls.describe()
    assert described["layers"]["seccomp"] is False
    assert described["protections"]["host_unix_sockets"] == {"layer": "seccomp", "on": False}
