"""The adversarial suite: samples that try to pass without being right must fail, with a reason; correct
samples written in unusual but legitimate ways must still pass.

Every attack below is a complete sample (a body continuing `def add(a, b):`, or a whole program) for a
task whose tests a correct `add` passes. Where an attack could also be right by accident, it is wrong on
purpose (`a - b`), so that only the trick could make it pass.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

import pytest

from assay import WALL_TIME_STRETCH, Sample, Task, Verdict
from assay_code.verifier import CodeVerifier

Judge = Callable[..., Verdict]
ADD_PROMPT = 'def add(a: int, b: int) -> int:\n    """Return a + b."""\n'


def function_task(entry_point: str, tests: str, prompt: str = "") -> Task:
    return Task(id="t", prompt=prompt, reference={"style": "function", "entry_point": entry_point, "tests": tests})


def body(code: str) -> str:
    """A function body for `def add(a, b):` from dedented code."""
    return textwrap.indent(textwrap.dedent(code).strip("\n"), "    ") + "\n"


# (id, sample text, reasons it may fail with)
ATTACKS: list[tuple[str, str, set[str]]] = [
    # -- exit early -------------------------------------------------------------------------------------
    ("sys_exit_at_import", "    return a - b\nimport sys\nsys.exit(0)\n", {"early_exit"}),
    ("sys_exit_in_call", body("import sys\nsys.exit(0)"), {"early_exit"}),
    ("raise_system_exit", body("raise SystemExit(0)"), {"early_exit"}),
    ("raise_keyboard_interrupt", body("raise KeyboardInterrupt"), {"early_exit"}),
    ("os_exit_at_import", "    return a - b\nimport os\nos._exit(0)\n", {"early_exit"}),
    ("os_exit_in_call", body("import os\nos._exit(0)"), {"early_exit"}),
    ("exit_builtin", body("exit()"), {"early_exit", "runtime_error"}),  # no `site`: no exit() either
    ("kill_self", body("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"), {"crashed", "early_exit"}),
    (
        "close_channel",
        body("import os\nfor fd in range(3, 64):\n    try: os.close(fd)\n    except OSError: pass\nreturn a - b"),
        {"early_exit"},
    ),
    # -- patch builtins, the harness, hooks ------------------------------------------------------------
    (
        "patch_assertion_error",
        "import builtins\nbuiltins.AssertionError = type('Nope', (Exception,), {})\ndef add(a, b):\n    return a - b\n",
        {"wrong_answer"},
    ),
    (
        "patch_harness_answers",
        "import sys\n"
        "for name, module in list(sys.modules.items()):\n"
        "    server = getattr(module, 'Server', None)\n"
        "    if server is not None and hasattr(server, 'answer'):\n"
        "        server.answer = lambda self, value: ['ok', True]\n"
        "def add(a, b):\n    return a - b\n",
        {"wrong_answer"},
    ),
    (
        "patch_json_dumps",
        "import json\n_real = json.dumps\n"
        "json.dumps = lambda obj, **kw: _real(['ok', 3]) if obj and obj[0] == 'ok' else _real(obj, **kw)\n"
        "def add(a, b):\n    return a - b\n",
        {"wrong_answer"},
    ),
    (
        "excepthook_and_atexit",
        "import sys, atexit, os, threading\n"
        "sys.excepthook = lambda *args: None\nthreading.excepthook = lambda *args: None\n"
        "atexit.register(lambda: os._exit(0))\n"
        "def add(a, b):\n    return a - b\n",
        {"wrong_answer"},
    ),
    (
        "settrace_rewrites_frames",
        "import sys\n"
        "def tracer(frame, event, arg):\n"
        "    if event == 'return':\n        frame.f_locals['__return__'] = 3\n"
        "    return tracer\n"
        "sys.settrace(tracer)\nsys.setprofile(tracer)\n"
        "def add(a, b):\n    return a - b\n",
        {"wrong_answer"},
    ),
    (
        "sitecustomize_style_patches",
        "import sys, builtins\nbuiltins.__import__ = None\nsys.modules['json'] = None\n"
        "def add(a, b):\n    return a - b\n",
        {"wrong_answer", "early_exit", "runtime_error", "protocol_violation"},
    ),
    # -- print or forge success --------------------------------------------------------------------------
    (
        "print_fake_success",
        'import os\nprint(\'ASSAY-RESULT {"outcome": "pass"}\')\n'
        'os.write(1, b\'ASSAY-RESULT {"outcome": "pass"}\\n\')\n'
        "print('All tests passed'); print('OK')\n"
        "def add(a, b):\n    return a - b\n",
        {"wrong_answer"},
    ),
    (
        "forge_frames_on_channel",
        "import os, json\n"
        "def frame(obj):\n    body = json.dumps(obj).encode()\n    return len(body).to_bytes(4, 'big') + body\n"
        "fd = int(os.environ.get('ASSAY_PEER_FD', 3))\n"
        "os.write(fd, frame(['ready']) + b''.join(frame(['ok', True]) for _ in range(50)))\n"
        "def add(a, b):\n    return a - b\n",
        {"wrong_answer", "protocol_violation"},
    ),
    (
        "garbage_on_channel",
        "import os\nos.write(int(os.environ.get('ASSAY_PEER_FD', 3)), b'\\xff' * 64)\n"
        "def add(a, b):\n    return a - b\n",
        {"protocol_violation"},
    ),
    (
        "oversized_frame",
        "import os\nos.write(int(os.environ.get('ASSAY_PEER_FD', 3)), (2**31).to_bytes(4, 'big'))\n"
        "def add(a, b):\n    return 3\n",
        {"protocol_violation"},
    ),
    (
        "deeply_nested_answer",
        body("x = []\nfor _ in range(100000):\n    x = [x]\nreturn x"),
        {"wrong_answer", "runtime_error", "protocol_violation"},
    ),
    # -- rigged objects and subclasses -------------------------------------------------------------------
    (
        "rigged_eq",
        body(
            """
            class Anything:
                def __eq__(self, other): return True
                def __ne__(self, other): return False
                def __hash__(self): return 0
                def __bool__(self): return True
            return Anything()
            """
        ),
        {"wrong_answer"},
    ),
    ("mock_any", body("from unittest import mock\nreturn mock.ANY"), {"wrong_answer"}),
    (
        "rigged_int_subclass",
        body(
            """
            class Int(int):
                def __eq__(self, other): return True
                __hash__ = int.__hash__
            return Int(a - b)
            """
        ),
        {"wrong_answer"},
    ),
    (
        "rigged_int_subclass_lies_about_value",
        body(
            """
            class Int(int):
                def __int__(self): return 3
                def __index__(self): return 3
                def __repr__(self): return '3'
                def __eq__(self, other): return True
                __hash__ = int.__hash__
            return Int(a - b)
            """
        ),
        {"wrong_answer"},
    ),
    (
        "rigged_str_and_list_subclasses",
        body(
            """
            class L(list):
                def __eq__(self, other): return True
                def __iter__(self): return iter([3])
            return L([a - b])
            """
        ),
        {"wrong_answer"},
    ),
    (
        "rigged_metaclass",
        body(
            """
            class Meta(type):
                def __eq__(cls, other): return True
                def __hash__(cls): return 0
            class Answer(metaclass=Meta): pass
            return Answer
            """
        ),
        {"wrong_answer"},
    ),
    ("not_implemented", body("return NotImplemented"), {"wrong_answer"}),
    (
        "float_nan_tricks",
        body("return float('nan')"),
        {"wrong_answer"},
    ),
    # -- reach the tests ---------------------------------------------------------------------------------
    (
        "read_the_tests",
        "import os, re, glob\n"
        "def _find():\n"
        "    found = []\n"
        "    paths = glob.glob('/proc/*/cmdline') + glob.glob('/proc/*/environ') + glob.glob('/proc/*/mem')\n"
        "    paths += glob.glob('*') + glob.glob('/tmp/**', recursive=True) + glob.glob('/proc/*/cwd/*')\n"
        "    for path in paths:\n"
        "        try:\n"
        "            with open(path, 'rb') as handle:\n"
        "                data = handle.read(1 << 20)\n"
        "        except Exception:\n"
        "            continue\n"
        "        found += re.findall(rb'candidate\\((-?\\d+), (-?\\d+)\\) == (\\S+)', data)\n"
        "    return {(int(x), int(y)): eval(z) for x, y, z in found}\n"
        "ANSWERS = _find()\n"
        "def add(a, b):\n    return ANSWERS.get((a, b), a - b)\n",
        {"wrong_answer"},
    ),
    (
        "scan_own_memory_for_tests",
        "import gc\n"
        "TEXTS = [o for o in gc.get_objects() if isinstance(o, str) and 'check' in o and 'candidate' in o]\n"
        "def add(a, b):\n    return 3 if TEXTS else a - b\n",
        {"wrong_answer"},
    ),
    (
        "walk_caller_frames",
        body(
            """
            import sys
            frame = sys._getframe(1)
            while frame is not None:
                for value in frame.f_locals.values():
                    if isinstance(value, dict) and 'tests' in value:
                        return 3
                frame = frame.f_back
            return a - b
            """
        ),
        {"wrong_answer"},
    ),
    # -- resources ---------------------------------------------------------------------------------------
    ("infinite_recursion", body("return add(a, b)"), {"runtime_error"}),
    (
        "deep_recursion_crash",
        # map() recurses on the C stack: this overflows it instead of raising RecursionError
        body("import sys\nsys.setrecursionlimit(10**8)\ndef f(n): return list(map(f, [n + 1]))\nreturn f(0)"),
        {"crashed", "early_exit", "runtime_error", "memory_limit"},
    ),
    ("memory_bomb", body("x = [0] * (10**10)\nreturn a + b"), {"memory_limit", "runtime_error"}),
    (
        "fork_bomb",
        body("import os\nwhile True:\n    try: os.fork()\n    except OSError: break\nreturn a - b"),
        {"wrong_answer", "time_limit", "early_exit", "crashed", "process_limit"},
    ),
    (
        "flood_stdout",
        body("import os\nos.write(1, b'x' * (1 << 26))\nreturn a - b"),
        {"output_limit"},
    ),
    (
        "endless_generator",
        body("import itertools\nreturn itertools.count()"),
        {"time_limit", "runtime_error", "wrong_answer"},
    ),
]


@pytest.mark.parametrize(("text", "reasons"), [(t, r) for _, t, r in ATTACKS], ids=[i for i, _, _ in ATTACKS])
def test_attack_fails_with_a_reason(judge: Judge, text: str, reasons: set[str]) -> None:
    verdict = judge(text)
    assert verdict.status in ("fail", "timeout"), verdict
    assert verdict.passed is False
    assert verdict.reason in reasons, (verdict.reason, verdict.details)


HELPER_TESTS = """
def check(candidate):
    for x, y in [(1, 2), (3, 4), (-1, 7)]:
        assert candidate(x, y) == helper(x) + helper(y) - x - y + x + y - helper(0)
"""
HELPER_PROMPT = "def helper(x):\n    return x\n\n\ndef add(a, b):\n"


def test_tests_use_the_prompts_helpers_not_the_candidates(judge: Judge) -> None:
    honest = judge("    return a + b\n", tests=HELPER_TESTS, prompt=HELPER_PROMPT)
    assert honest.status == "pass", honest
    cheat = judge("    return 0\ndef helper(x):\n    return 0\n", tests=HELPER_TESTS, prompt=HELPER_PROMPT)
    assert cheat.status == "fail" and cheat.reason == "wrong_answer"


def test_tests_that_swallow_exceptions_still_see_a_dead_candidate(judge: Judge) -> None:
    forgiving = """
def check(candidate):
    try:
        assert candidate(1, 2) == 3
    except BaseException:
        pass
"""
    assert judge("    return a + b\n", tests=forgiving).status == "pass"
    verdict = judge("    import os\n    os._exit(0)\n", tests=forgiving)
    assert verdict.status == "fail" and verdict.reason == "early_exit"


def test_infinite_loop_times_out(judge: Judge) -> None:
    verdict = judge(body("while True:\n    pass"), time_limit_s=1.0)
    assert verdict.status == "timeout" and verdict.reason == "time_limit"
    # Stopped by the sandbox's clock, which leaves out the time the run waited for a CPU: on a loaded
    # machine that is more than 1 s of real time, never more than WALL_TIME_STRETCH times it (the clock
    # itself is tested in sandboxes/tests/test_sandbox_clock.py).
    assert verdict.elapsed_s < 1.0 * WALL_TIME_STRETCH + 2.0


def test_sleeping_candidate_times_out(judge: Judge) -> None:
    verdict = judge(body("import time\ntime.sleep(60)"), time_limit_s=1.0)
    assert verdict.status == "timeout" and verdict.reason == "time_limit"


def test_killing_everything_reachable_does_not_hurt_the_next_sample(judge: Judge, isolation: dict[str, Any]) -> None:
    if not isolation["layers"].get("user"):
        pytest.skip("without a dropped uid, kill(-1) would reach this test run")
    verdict = judge(
        body(
            """
            import os, signal
            for target in (os.getppid(), 0, -1):
                try: os.kill(target, signal.SIGKILL)
                except OSError: pass
            try: os.killpg(os.getpgid(0), signal.SIGKILL)
            except OSError: pass
            return a - b
            """
        )
    )
    assert verdict.status == "fail", verdict
    assert judge("    return a + b\n").status == "pass"


def test_lingering_daemon_cannot_touch_the_next_sample(judge: Judge) -> None:
    daemon = body(
        """
        import os, time, signal
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(0.3)
                for _ in range(50):
                    try: os.kill(-1, signal.SIGKILL)
                    except OSError: pass
                    time.sleep(0.02)
                os._exit(0)
            os._exit(0)
        return a - b
        """
    )
    assert judge(daemon).status == "fail"
    for _ in range(3):
        assert judge("    return a + b\n").status == "pass"


def test_tests_that_hang_are_a_timeout_and_the_next_sample_is_judged(judge: Judge) -> None:
    hanging = "def check(candidate):\n    assert candidate(1, 2) == 3\n    while True:\n        pass\n"
    verdict = judge("    return a + b\n", tests=hanging, time_limit_s=1.0)
    assert verdict.status == "timeout" and verdict.reason == "time_limit"
    assert judge("    return a + b\n").status == "pass"
    assert judge("    return a - b\n").status == "fail"


def test_one_tester_for_many_samples_keeps_nothing_between_them(code_verifier: CodeVerifier) -> None:
    stateful = """
SEEN = []
def check(candidate):
    SEEN.append(1)
    assert len(SEEN) == 1
    assert candidate(1, 2) == 3
"""
    task = function_task("add", stateful, ADD_PROMPT)
    for index, text in enumerate(["    return a + b\n", "    return 3\n", "    return a + b\n"] * 3):
        verdict = code_verifier.verify(task, Sample(task_id="t", index=index, text=text))
        assert verdict.status == "pass", (index, verdict.details)


def test_stop_iteration_cannot_end_the_tests_early(judge: Judge) -> None:
    # all(map(...)) over a function that raises StopIteration sees an empty iteration: True.
    tests = "def check(candidate):\n    assert all(map(lambda x: candidate(x, 1) == x + 1, range(5)))\n"
    assert judge("    return a + b\n", tests=tests).status == "pass"
    verdict = judge("    raise StopIteration\n", tests=tests)
    assert verdict.status == "fail" and verdict.reason == "runtime_error", verdict.details


def test_handing_back_a_non_plain_answer_is_the_candidates_failure(judge: Judge) -> None:
    tests = "def check(candidate):\n    assert candidate(candidate(1, 2), 0) == 3\n"
    assert judge("    return a + b\n", tests=tests).status == "pass"
    verdict = judge("    return object() if b else a\n", tests=tests)
    assert verdict.status == "fail" and verdict.reason == "runtime_error", verdict.details


SECRET_TESTS = "def check(candidate):\n    assert candidate(3) == 'SECRET-3-xyz'\n"
MEMORY_THIEF = r"""
    import ctypes, os, re
    # Read raw memory through a pipe: write() from an unmapped address fails with EFAULT, no segfault.
    read_end, write_end = os.pipe()
    found, chunk = [], 1 << 16
    probe = "".join(["pro", "be"])  # a string made at run time: where this process keeps its objects
    buf = ctypes.create_string_buffer(chunk)
    for centre in {id(probe) & ~0xFFFF, id(os) & ~0xFFFF, ctypes.addressof(buf) & ~0xFFFF}:
        for offset in range(-(1 << 28), 1 << 28, chunk):
            address = centre + offset
            if address <= 0:
                continue
            try:
                n = os.write(write_end, (ctypes.c_char * chunk).from_address(address))
            except OSError:
                continue
            data = os.read(read_end, n)
            found += re.findall(rb"return '(SECRET-%d-[a-z]+)' % x  # MARK" + rb"ER", data)
    return found[0].decode() % x if found else "nothing"
"""


def test_cannot_copy_an_earlier_samples_program_from_memory(judge: Judge) -> None:
    # Earlier samples of the same task went through the same warm servers; none of their code may be found
    # in a later candidate's memory (it reads its whole neighbourhood with process_vm_readv, which does
    # not fault on unmapped pages).
    for _ in range(3):
        good = judge(
            "    return 'SECRET-%d-xyz' % x  # MARKER\n", tests=SECRET_TESTS, prompt="def f(x):\n", entry_point="f"
        )
        assert good.status == "pass"
    verdict = judge(MEMORY_THIEF, tests=SECRET_TESTS, prompt="def f(x):\n", entry_point="f")
    assert verdict.status == "fail", verdict.details
    assert verdict.details.get("last_result") in ("'nothing'", None), verdict.details


def test_stdin_programs_cannot_copy_an_earlier_sample_either(code_verifier: CodeVerifier) -> None:
    task = Task(id="io", reference={"style": "io", "cases": [{"input": "3\n", "output": "SECRET-3-xyz\n"}]})
    good = "def f(x):\n    return 'SECRET-%d-xyz' % x  # MARKER\nprint(f(int(input())))\n"
    for index in range(3):
        assert code_verifier.verify(task, Sample(task_id="io", index=index, text=good)).status == "pass"
    thief = "x = int(input())\n" + textwrap.dedent(MEMORY_THIEF).replace(
        'return found[0].decode() % x if found else "nothing"', 'print(found[0].decode() % x if found else "nothing")'
    )
    verdict = code_verifier.verify(task, Sample(task_id="io", index=9, text=thief))
    assert verdict.status == "fail", verdict.details
    assert "got 'nothing'" in verdict.details["first_failure"]["message"], verdict.details


def test_rewriting_the_preloaded_harness_touches_only_the_candidates_own_run(judge: Judge) -> None:
    # The sandbox's server holds the harness modules; each run rewrites its own forked copy, never the
    # server's, so the samples after it are judged by the harness as it was.
    vandal = (
        "import sys\n"
        "for name, module in list(sys.modules.items()):\n"
        "    if name.startswith('assay_code'):\n"
        "        for attr in list(vars(module)):\n"
        "            if not attr.startswith('__'):\n"
        "                setattr(module, attr, None)\n"
        "def add(a, b):\n    return a - b\n"
    )
    assert judge(vandal).status == "fail"
    assert judge("    return a + b\n").status == "pass"
    wrong = judge("    return a * b\n")
    assert wrong.status == "fail" and wrong.reason == "wrong_answer", wrong.details


def test_a_sandbox_that_cannot_preload_gets_the_harness_on_stdin(assay_plugin: Any) -> None:
    from assay import hookimpl
    from assay_sandboxes.local import LocalSandbox

    class PlainLocal(LocalSandbox):
        """A backend whose constructor does not take `preload_sources` (assay reads the signature)."""

        name = "plain-local"

        def __init__(self, *, read_paths: tuple[str, ...] = ()) -> None:
            super().__init__(read_paths=read_paths)

    class Plugin:
        @hookimpl
        def register_sandboxes(self, register: Any) -> None:
            register(PlainLocal)

    assay_plugin(Plugin())
    task = function_task("add", "def check(candidate):\n    assert candidate(2, 3) == 5\n", ADD_PROMPT)
    with CodeVerifier({"time_limit_s": 5, "sandbox": "plain-local"}) as verifier:
        verdicts = [
            verifier.verify(task, Sample(task_id="t", index=i, text=text))
            for i, text in enumerate(["    return a + b\n", "    return a - b\n"])
        ]
        assert type(verifier.sandbox) is PlainLocal and verifier.sandbox not in verifier._preloaded
    assert [v.status for v in verdicts] == ["pass", "fail"], [v.details for v in verdicts]


def test_network_is_off(judge: Judge) -> None:
    verdict = judge(
        body(
            """
            import socket
            try:
                socket.create_connection(("1.1.1.1", 53), timeout=1).close()
                return a + b
            except OSError:
                return a - b
            """
        )
    )
    assert verdict.status == "fail" and verdict.reason == "wrong_answer"


# -- correct samples written in unusual ways ------------------------------------------------------------

LEGIT: list[tuple[str, str]] = [
    ("plain", "    return a + b\n"),
    ("int_enum", body("import enum\nclass N(enum.IntEnum):\n    X = 0\nreturn N.X + (a + b)")),
    ("bool_arithmetic", body("return sum([a, b, False])")),
    ("lambda_entry_point", "add = lambda a, b: a + b\n"),
    ("full_function_again", "def add(a: int, b: int) -> int:\n    return b + a\n"),
    ("chatty_fenced", "Sure! Here is the function:\n\n```python\ndef add(a, b):\n    return a + b\n```\n\nIt adds."),
    ("chatty_unfenced", "Here is the solution:\n\ndef add(a, b):\n    return a + b\n\nThis returns the sum of both."),
    (
        "fence_then_usage",
        "```python\ndef add(a, b):\n    return a + b\n```\nUsage:\n```python\nassert add(1, 1) == 3\n```\n",
    ),
    ("prints_a_lot", body("for i in range(20000):\n    print('debug', i)\nreturn a + b")),
    ("main_guard", "    return a + b\n\nif __name__ == '__main__':\n    raise SystemExit('never runs')\n"),
    (
        "threads",
        body(
            "import threading\nout = []\nt = threading.Thread(target=lambda: out.append(a + b))\n"
            "t.start(); t.join()\nreturn out[0]"
        ),
    ),
    (
        "recursion",
        body(
            "def go(x, y):\n    return x if y == 0 else go(x + (1 if y > 0 else -1), y - (1 if y > 0 else -1))\n"
            "return go(a, b) if abs(b) < 500 else a + b"
        ),
    ),
    (
        "lru_cache_and_globals",
        "import functools\nCALLS = []\n@functools.lru_cache(None)\n"
        "def add(a, b):\n    CALLS.append(1)\n    return a + b\n",
    ),
    (
        "temp_file",
        body(
            "import tempfile\nwith tempfile.TemporaryFile('w+') as f:\n"
            "    f.write(str(a + b)); f.seek(0)\n    return int(f.read())"
        ),
    ),
    ("catches_its_own_exit", body("try:\n    raise SystemExit(1)\nexcept SystemExit:\n    return a + b")),
    ("big_answer_unused", body("junk = list(range(200000))\nreturn a + b + junk[0]")),
    ("exec_inside", body("ns = {}\nexec('r = a + b', {'a': a, 'b': b}, ns)\nreturn ns['r']")),
    ("numeric_subclass_honest", body("class Sum(int):\n    pass\nreturn Sum(a + b)")),
]


@pytest.mark.parametrize("text", [t for _, t in LEGIT], ids=[i for i, _ in LEGIT])
def test_legitimate_solution_passes(judge: Judge, text: str) -> None:
    verdict = judge(text)
    assert verdict.status == "pass", (verdict.reason, verdict.details)


def test_expected_exceptions_can_be_caught_by_the_tests(judge: Judge) -> None:
    tests = """
def check(candidate):
    assert candidate(3) == 9
    try:
        candidate(-1)
    except ValueError as exc:
        assert "negative" in str(exc)
    else:
        assert False, "expected a ValueError"
"""
    prompt = "def square(x):\n"
    good = judge(body("if x < 0:\n    raise ValueError('negative input')\nreturn x * x"), tests, prompt, "square")
    assert good.status == "pass", good
    bad = judge(body("return x * x"), tests, prompt, "square")
    assert bad.status == "fail" and bad.reason == "wrong_answer"


def test_generators_and_views_behave_as_in_one_process(judge: Judge) -> None:
    tests = """
def check(candidate):
    assert list(candidate(3)) == [0, 1, 2]
    assert tuple(candidate(2)) == (0, 1)
"""
    prompt = "def upto(n):\n"
    assert judge(body("return (i for i in range(n))"), tests, prompt, "upto").status == "pass"
    assert judge(body("return range(n)"), tests, prompt, "upto").status == "pass"
    assert judge(body("return {i: 0 for i in range(n)}.keys()"), tests, prompt, "upto").status == "pass"
    # A generator is not a list: comparing one with `==` fails here as it does in one process.
    strict = "def check(candidate):\n    assert candidate(2) == [0, 1]\n"
    assert judge(body("return (i for i in range(n))"), strict, prompt, "upto").status == "fail"


def test_tests_that_call_the_entry_point_by_name(code_verifier: CodeVerifier) -> None:
    task = function_task("add", "assert add(1, 2) == 3\nassert add(0, 0) == 0\n", ADD_PROMPT)
    assert code_verifier.verify(task, Sample(task_id="t", index=0, text="    return a + b\n")).status == "pass"
    assert code_verifier.verify(task, Sample(task_id="t", index=0, text="    return a * b\n")).status == "fail"
