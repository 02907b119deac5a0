"""The drop-in routes against the real clients: verl's SandboxFusion client (from the installed verl) calling
`/run_code`, which runs code in the real `local` sandbox of the `assay-sandboxes` distribution."""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest

from assay.plugins import UnknownComponent, get_registry
from assay.server import BackgroundServer, ServerSettings


@pytest.fixture(scope="module")
def verl() -> ModuleType:
    """verl's own SandboxFusion client package (`verl.utils.reward_score.sandbox_fusion`), as verl's code
    reward calls it; `make install` installs verl."""
    pytest.importorskip("requests")
    pytest.importorskip("verl")
    return importlib.import_module("verl.utils.reward_score.sandbox_fusion")


@pytest.fixture(scope="module")
def run_code_url() -> Iterator[str]:
    try:
        get_registry().sandbox_class("local")
    except UnknownComponent:
        pytest.skip("the `local` sandbox (distribution assay-sandboxes) is not installed")
    with BackgroundServer(ServerSettings(workers=1, sandbox_threads=4)) as url:
        yield f"{url}/run_code"


ADD = "```python\nimport sys\na, b = map(int, sys.stdin.read().split())\nprint(a + b)\n```"
STDIO_CASES = {"inputs": ["1 2\n", "10 -3\n", "0 0\n"], "outputs": ["3\n", "7\n", "0\n"]}


def test_verl_scores_stdin_stdout_programs(verl: ModuleType, run_code_url: str) -> None:
    score, metadata = verl.compute_score(run_code_url, None, 512, ADD, json.dumps(STDIO_CASES), timeout=10)
    assert score == 1.0
    assert [m["status"] for m in metadata] == ["success"] * 3
    wrong = ADD.replace("a + b", "a - b")
    score, metadata = verl.compute_score(run_code_url, None, 512, wrong, STDIO_CASES, timeout=10)
    assert score == pytest.approx(1 / 3)  # 0 - 0 == 0 + 0
    assert [m["status"] for m in metadata] == ["wrong_answer", "wrong_answer", "success"]


def test_verl_function_call_cases_through_its_wrapper(verl: ModuleType, run_code_url: str) -> None:
    cases = {
        "fn_name": "twoSum",
        "inputs": ["[2, 7, 11, 15]\n9", "[3, 3]\n6"],
        "outputs": ["[0, 1]", "[0, 1]"],
    }
    solution = (
        "```python\nclass Solution:\n    def twoSum(self, nums, target):\n"
        "        seen = {}\n        for i, n in enumerate(nums):\n"
        "            if target - n in seen:\n                return [seen[target - n], i]\n"
        "            seen[n] = i\n```"
    )
    score, metadata = verl.compute_score(run_code_url, None, 512, solution, cases, timeout=10)
    assert score == 1.0, metadata


def test_verl_sees_timeouts_runtime_errors_and_limits(verl: ModuleType, run_code_url: str) -> None:
    check = verl.utils.check_correctness
    results, metadata = check(
        run_code_url, {"inputs": [""], "outputs": ["x"]}, "while True:\n    pass\n", timeout=1
    )
    assert results == [-3] and metadata[0]["status"] == "timeout"
    results, metadata = check(
        run_code_url, {"inputs": [""], "outputs": ["x"]}, "raise SystemExit(3)\n", timeout=5
    )
    assert results == [-2] and metadata[0]["exit_code"] == 3
    hog = "x = bytearray(900 * 1024 * 1024)\nprint('x')\n"
    results, metadata = check(
        run_code_url, {"inputs": [""], "outputs": ["x"]}, hog, timeout=5, memory_limit_mb=256
    )
    assert results == [-2], metadata  # killed for memory: a runtime error to verl
    network = "import socket\nsocket.create_connection(('127.0.0.1', 1), timeout=1)\nprint('x')\n"
    results, _ = check(run_code_url, {"inputs": [""], "outputs": ["x"]}, network, timeout=5)
    assert results == [-2]  # no network inside the sandbox


@pytest.mark.skipif(shutil.which("g++") is None, reason="no g++ on this machine")
def test_verl_compiled_languages_and_compile_errors(verl: ModuleType, run_code_url: str) -> None:
    check = verl.utils.check_correctness
    source = '#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a*b<<"\\n";}\n'
    results, _ = check(
        run_code_url, {"inputs": ["6 7\n"], "outputs": ["42\n"]}, source, timeout=30, language="cpp"
    )
    assert results == [True]
    results, metadata = check(
        run_code_url,
        {"inputs": ["1\n", "2\n"], "outputs": ["1", "2"]},
        "int main( {",
        timeout=30,
        language="cpp",
    )
    assert results == [-4, -4]
    assert metadata[0]["status"] == "compile_error"


def test_run_code_files_in_and_out_and_unknown_languages(run_code_url: str) -> None:
    import base64

    request: dict[str, Any] = {
        "code": "data = open('in.txt').read()\nopen('out.txt', 'w').write(data.upper())\nprint(len(data))",
        "language": "python",
        "files": {"in.txt": base64.b64encode(b"hello").decode()},
        "fetch_files": ["out.txt"],
    }
    body = httpx.post(run_code_url, json=request, timeout=30).json()
    assert body["status"] == "Success" and body["run_result"]["stdout"] == "5\n"
    assert base64.b64decode(body["files"]["out.txt"]) == b"HELLO"
    escape = httpx.post(run_code_url, json={**request, "fetch_files": ["../etc/passwd"]}, timeout=30)
    assert escape.status_code == 422
    cobol = httpx.post(run_code_url, json={"code": "x", "language": "cobol"}, timeout=30).json()
    assert cobol["status"] == "SandboxError" and "python" in cobol["message"]
