"""The `Sandbox.run` / `run_python` API on both backends: files, stdin, env, argv, collect, exit codes."""

from __future__ import annotations

import shutil
import textwrap
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay.sandbox import Limits, PythonSandbox, Sandbox

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def test_backends_implement_the_contract(sandbox: Any) -> None:
    assert isinstance(sandbox, Sandbox)
    assert isinstance(sandbox, PythonSandbox)
    layers = sandbox.isolation()["layers"]
    assert {"network", "user", "rlimits", "landlock", "seccomp", "disk_quota"} <= set(layers)


def test_exec_a_command_with_files_stdin_env_and_collect(sandbox: Any) -> None:
    result = sandbox.run(
        ["/bin/sh", "-c", 'cat input.txt; cat; echo "$GREETING" > out/answer.txt; echo done >&2'],
        files={"input.txt": "from a file\n", "out/.keep": b""},
        stdin=b"from stdin\n",
        env={"GREETING": "hello"},
        collect=["out/answer.txt", "missing.txt"],
    )
    assert result.status == "ok", result
    assert result.stdout == b"from a file\nfrom stdin\n"
    assert result.stderr == b"done\n"
    assert result.files == {"out/answer.txt": b"hello\n"}
    assert "missing.txt" in (result.message or "")


def test_run_python_reads_stdin_argv_and_files(sandbox: Any) -> None:
    source = textwrap.dedent(
        """
        import sys, helper
        print(sys.argv[1:], sys.stdin.read().upper(), helper.VALUE, __name__)
        """
    )
    result = sandbox.run_python(source, stdin=b"abc", argv=["x", "y"], files={"helper.py": "VALUE = 42\n"})
    assert result.status == "ok", result
    assert result.stdout == b"['x', 'y'] ABC 42 __main__\n"


@pytest.mark.parametrize(
    ("source", "status", "returncode"),
    [
        ("pass", "ok", 0),
        ("import sys\nsys.exit(3)", "exit_nonzero", 3),
        ("raise SystemExit('bye')", "exit_nonzero", 1),
        ("import os\nos._exit(7)", "exit_nonzero", 7),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)", "signaled", -15),
    ],
)
def test_exit_statuses(sandbox: Any, source: str, status: str, returncode: int) -> None:
    result = sandbox.run_python(source)
    assert (result.status, result.returncode) == (status, returncode)


def test_an_exception_gives_a_traceback_with_the_line(sandbox: Any) -> None:
    result = sandbox.run_python("x = 1\nassert x == 2, 'x is not two'\n", filename="solution.py")
    assert result.status == "exit_nonzero"
    assert b'solution.py", line 2' in result.stderr
    assert b"assert x == 2" in result.stderr
    assert b"AssertionError: x is not two" in result.stderr


def test_a_traceback_shows_the_program_and_nothing_of_the_host(sandbox: Any) -> None:
    result = sandbox.run_python("def f():\n    return 1 / 0\n\nf()\n", filename="solution.py")
    frames = [line for line in result.stderr.decode().splitlines() if line.startswith("  File ")]
    assert frames == ['  File "solution.py", line 4, in <module>', '  File "solution.py", line 2, in f'], result.stderr
    syntax = sandbox.run_python("x = (\n", filename="solution.py")
    assert syntax.stderr.startswith(b'  File "solution.py", line 1\n'), syntax.stderr
    assert b"SyntaxError" in syntax.stderr and b"forkserver" not in syntax.stderr


def test_the_standard_streams_behave_as_in_python3(sandbox: Any) -> None:
    # A pipe is not seekable, so reconfiguring stdout needs no seek; stderr is line-buffered and escapes
    # what it cannot encode; stdout is strict.
    result = sandbox.run_python(
        "import sys\n"
        "sys.stdout.reconfigure(line_buffering=True)\n"
        "print(sys.stdout.seekable(), sys.stderr.line_buffering, sys.stdout.errors, sys.stderr.errors)\n"
        "print('\\udc80', file=sys.stderr)\n"
        "print('\\u00e9')\n"
    )
    assert result.status == "ok", result
    assert result.stdout == "False True strict backslashreplace\né\n".encode()
    assert result.stderr == b"\\udc80\n"


def test_threads_and_atexit_finish_before_the_run_ends(sandbox: Any) -> None:
    source = textwrap.dedent(
        """
        import atexit, threading, time
        atexit.register(lambda: print("atexit"))
        def work():
            time.sleep(0.1)
            print("thread")
        threading.Thread(target=work).start()
        """
    )
    result = sandbox.run_python(source)
    assert result.stdout == b"thread\natexit\n"


def test_a_module_the_server_did_not_preload_imports(sandbox: Any) -> None:
    result = sandbox.run_python("import hashlib, statistics\nprint(hashlib.md5(b'a').hexdigest()[:6])")
    assert result.stdout == b"0cc175\n", result


def test_preloaded_sources_are_imported_in_every_run_and_each_run_has_its_own_copy(new_sandbox: Any) -> None:
    sandbox = new_sandbox(
        preload_sources={
            "helpers": "",  # an empty package
            "helpers.counter": "COUNT = [0]\ndef bump():\n    COUNT[0] += 1\n    return COUNT[0]\n",
        }
    )
    source = textwrap.dedent(
        """
        import sys
        print(sorted(m for m in sys.modules if m.startswith("helpers")))
        from helpers.counter import bump
        print(bump(), bump())
        """
    )
    first, second = sandbox.run_python(source), sandbox.run_python(source)
    assert first.stdout == second.stdout == b"['helpers', 'helpers.counter']\n1 2\n", (first, second)


def test_a_preloaded_source_that_fails_makes_every_run_a_sandbox_error_naming_it(new_sandbox: Any) -> None:
    sandbox = new_sandbox(preload_sources={"broken": "raise RuntimeError('no good at all')"})
    result = sandbox.run_python("print(1)")
    assert result.status == "sandbox_error", result
    assert "preloading module 'broken' failed: RuntimeError: no good at all" in (result.message or "")


@pytest.mark.skipif(shutil.which("gcc") is None, reason="no C compiler here")
def test_a_compiler_works_inside(sandbox: Any) -> None:
    # ... and what it built runs from the work dir (docker mounts a tmpfs `noexec` unless told otherwise).
    result = sandbox.run(
        ["/bin/sh", "-c", "gcc -O1 -o prog prog.c && ./prog"],
        files={"prog.c": '#include <stdio.h>\nint main(void){puts("compiled");return 0;}\n'},
        limits=Limits(wall_time_s=60, cpu_time_s=60, memory_mb=1024, processes=16),
    )
    assert result.status == "ok", result
    assert result.stdout == b"compiled\n"


def test_a_missing_program_is_a_sandbox_error(sandbox: Any) -> None:
    result = sandbox.run(["no-such-program-anywhere"])
    assert result.status == "sandbox_error"
    assert "no-such-program-anywhere" in (result.message or "")


@pytest.mark.parametrize("name", ["/etc/passwd", "../escape", "a/../../b", ""])
def test_file_names_outside_the_work_dir_are_misuse(sandbox: Any, name: str) -> None:
    with pytest.raises(ValueError, match="relative path"):
        sandbox.run(["true"], files={name: "x"})
    with pytest.raises(ValueError, match="relative path"):
        sandbox.run(["true"], collect=[name])


@pytest.mark.parametrize("env", [{"A=B": "x"}, {"": "x"}, {"A": "x\0y"}])
def test_bad_environment_variables_are_misuse(sandbox: Any, env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="environment variable"):
        sandbox.run(["true"], env=env)


def test_a_command_string_is_misuse(sandbox: Any) -> None:
    with pytest.raises(TypeError):
        sandbox.run("echo hi")


def test_collect_never_follows_a_link_out_of_the_work_dir(sandbox: Any) -> None:
    result = sandbox.run(
        ["/bin/sh", "-c", "ln -s /etc/hostname link; mkdir d; ln -s /etc d2; echo ok"],
        collect=["link", "d2/hostname"],
    )
    assert result.status == "ok"
    assert result.files == {}
    assert "outside the work dir" in (result.message or "")


@SETTINGS
@given(data=st.binary(max_size=5000))
def test_stdin_comes_back_unchanged_through_cat(sandbox: Any, data: bytes) -> None:
    result = sandbox.run(["cat"], stdin=data)
    assert result.status == "ok"
    assert result.stdout == data


@SETTINGS
@given(
    files=st.dictionaries(
        st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True).filter(lambda n: n != "main.py"),
        st.binary(max_size=2000),
        max_size=5,
    )
)
def test_files_round_trip_through_collect(sandbox: Any, files: dict[str, bytes]) -> None:
    result = sandbox.run_python("pass", files=files, collect=list(files))
    assert result.status == "ok"
    assert result.files == files


@SETTINGS
@given(value=st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=50))
def test_env_values_reach_the_run(sandbox: Any, value: str) -> None:
    result = sandbox.run_python("import os\nprint(repr(os.environ['VALUE']))", env={"VALUE": value})
    assert result.status == "ok"
    assert result.stdout.decode() == repr(value) + "\n"


def test_network_can_be_granted_to_a_local_run(local_sandbox: Any) -> None:
    if not local_sandbox.isolation()["layers"]["network"]:
        pytest.skip("runs are not in a network namespace here")
    limits = local_sandbox.limits.model_copy(update={"network": True})
    source = "import socket\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\nprint('bound')"
    granted = local_sandbox.run_python(source, limits=limits)
    assert granted.status == "ok" and granted.isolation["network"] is False
    assert local_sandbox.run_python(source).status == "exit_nonzero"


def test_the_docker_backend_refuses_network(docker_sandbox: Any) -> None:
    result = docker_sandbox.run(["true"], limits=docker_sandbox.limits.model_copy(update={"network": True}))
    assert result.status == "sandbox_error"
    assert "network" in (result.message or "")
