"""The test formats of public code data sets and RL harnesses, converted into `code` references.

This module is the one place another shape of tests becomes an assay reference. The `code` verifier
calls it for any reference without a `style`, so a verl, APPS or CodeContests row can be verified as it
is; `assay code convert` writes the converted tasks out once. The plugin's README has the table of formats
and what each becomes (`io`, `function`, or `pytest` for call-based problems).

A reference that already has a `style` is assay's own and is returned unchanged. A row that fits no
format, or fits one with a broken field, raises `TestFormatError` naming the field: a format problem is
an error verdict (`bad_reference`), never a silent failing sample.
"""

from __future__ import annotations

import ast
import base64
import binascii
import contextlib
import io
import json
import pickle
import threading
import zlib
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from typing import Any

#: The formats `to_reference` reads, in the order they are tried.
FORMATS: tuple[str, ...] = (
    "assay",
    "verl",
    "apps",
    "code_contests",
    "live_code_bench",
    "sandbox_fusion",
    "humaneval",
    "mbpp",
)

#: CodeContests' three test sets, all of which a correct program passes.
CODE_CONTESTS_SETS: tuple[str, ...] = ("public_tests", "private_tests", "generated_tests")


class TestFormatError(ValueError):
    """A row whose tests cannot be read; `field` names the offending field (`inputs[3]`, `test`)."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message

    def within(self, prefix: str) -> TestFormatError:
        """The same error, its field read as part of `prefix` (`reward_model.ground_truth.`)."""
        return TestFormatError(prefix + self.field if self.field else prefix.rstrip("."), self.message)


def detect_format(row: Mapping[str, Any]) -> str | None:
    """The format of a row (one of `FORMATS`), or None when no format fits."""
    if "style" in row:
        return "assay"
    if "inputs" in row or "outputs" in row or "assert_case" in row:
        return "verl"
    if "input_output" in row:
        return "apps"
    if any(name in row for name in CODE_CONTESTS_SETS):
        return "code_contests"
    if "public_test_cases" in row or "private_test_cases" in row:
        return "live_code_bench"
    if "test" in row and not ("entry_point" in row and isinstance(row["test"], str) and _is_python_test(row["test"])):
        return "sandbox_fusion"
    if "test" in row and "entry_point" in row:
        return "humaneval"
    if "test_list" in row:
        return "mbpp"
    return None


def to_reference(row: Mapping[str, Any] | str, *, language: str = "python", fmt: str | None = None) -> dict[str, Any]:
    """A `code` reference from a row of any format in `FORMATS` (`fmt` forces one; else detected); a
    string is read as the JSON object it holds (verl and PRIME carry their tests that way).

    `language` is the language of stdin/stdout programs (`python` or `cpp`) where the row does not say.
    Raises TestFormatError naming the field when the row cannot be read.
    """
    if isinstance(row, str):
        row = _json_object(row, "")
    if not isinstance(row, Mapping):
        raise TestFormatError("", f"expected an object of tests, got {type(row).__name__}")
    chosen = fmt or detect_format(row)
    if chosen is None:
        raise TestFormatError(
            "",
            "no known test format: expected a `style` (assay), `inputs`/`outputs` (verl, PRIME, TACO), "
            "`input_output` (APPS, TACO), `public_tests`/`private_tests`/`generated_tests` (CodeContests), "
            "`public_test_cases` (LiveCodeBench), `test` + `entry_point` (HumanEval), `test_list` (MBPP) "
            f"or `test` (SandboxFusion); got the fields {sorted(map(str, row))[:12]}",
        )
    if chosen not in _READERS:
        raise TestFormatError("", f"unknown format {chosen!r}: one of {', '.join(FORMATS)}")
    stated = row.get("language")
    language = _LANGUAGES.get(str(stated).strip().lower(), str(stated)) if stated else language
    return _READERS[chosen](row, language)


#: How many converted rows `converted_reference` keeps: the engine judges a task's samples together, so a
#: few are enough, and one row of LiveCodeBench's can unpack to tens of MiB.
CACHED_ROWS = 8
_cache: OrderedDict[Hashable, dict[str, Any] | TestFormatError] = OrderedDict()
_cache_lock = threading.Lock()


def converted_reference(row: Mapping[str, Any]) -> dict[str, Any]:
    """`to_reference`, remembered for the last few rows: the verifier reads a task's reference once per
    sample, and unpacking a large compressed test set costs ~0.1 s a time. The key is the row's whole
    content (strings are hashed once, by Python), so an equal row converts the same way and a changed one
    converts again."""
    try:
        key = _frozen(row)
    except (TypeError, RecursionError):  # a value with no plain content: convert it every time
        return to_reference(row)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
    if hit is None:
        try:
            hit = to_reference(row)
        except TestFormatError as exc:
            hit = exc
        with _cache_lock:
            _cache[key] = hit
            while len(_cache) > CACHED_ROWS:
                _cache.popitem(last=False)
    if isinstance(hit, TestFormatError):
        raise TestFormatError(hit.field, hit.message)
    return dict(hit)


def _frozen(value: Any) -> Hashable:
    """A hashable copy of plain data that tells `1`, `1.0` and `True` apart (they convert differently)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return ("{", tuple(sorted((str(key), _frozen(item)) for key, item in value.items())))
    if isinstance(value, list | tuple):
        return ("[", tuple(_frozen(item) for item in value))
    if value is None or isinstance(value, bool | int | float | bytes):
        return (type(value).__name__, value)
    if callable(getattr(value, "tolist", None)):
        return _frozen(value.tolist())
    raise TypeError(f"not plain data: {type(value).__name__}")


#: The names data sets give the languages of stdin/stdout programs, and assay's.
_LANGUAGES = {"python": "python", "python3": "python", "py": "python", "py3": "python", "cpp": "cpp", "c++": "cpp"}


# -- readers -----------------------------------------------------------------------------------------------


def _assay(row: Mapping[str, Any], language: str) -> dict[str, Any]:
    return dict(row)


def _verl(row: Mapping[str, Any], language: str, prefix: str = "") -> dict[str, Any]:
    """`{"inputs", "outputs"}` with optional `fn_name` or `assert_case` (verl, PRIME, TACO, APPS)."""
    assert_cases = _as_list(row.get("assert_case"))
    if assert_cases is not None and assert_cases != []:  # verl reads an empty list as no assert cases
        return _assert_cases(assert_cases, f"{prefix}assert_case")
    inputs = _list(row, "inputs", prefix)
    outputs = _list(row, "outputs", prefix)
    if len(inputs) != len(outputs):
        raise TestFormatError(f"{prefix}outputs", f"{len(inputs)} inputs but {len(outputs)} outputs")
    if not inputs:
        raise TestFormatError(f"{prefix}inputs", "no test cases")
    if row.get("fn_name"):
        function = _function_name(row["fn_name"], f"{prefix}fn_name")
        calls = [
            (_arguments(value, f"{prefix}inputs[{i}]"), _apps_accepted(value_out))
            for i, (value, value_out) in enumerate(zip(inputs, outputs, strict=True))
        ]
        return _call_reference(function, calls)
    cases = [
        {"input": _text(value, f"{prefix}inputs[{i}]"), "output": _text(out, f"{prefix}outputs[{i}]")}
        for i, (value, out) in enumerate(zip(inputs, outputs, strict=True))
    ]
    return _io(cases, language)


def _apps(row: Mapping[str, Any], language: str) -> dict[str, Any]:
    tests = _json_object(row["input_output"], "input_output")
    if "fn_name" not in tests and row.get("fn_name"):
        tests = {**tests, "fn_name": row["fn_name"]}
    return _verl(tests, language, prefix="input_output.")


def _code_contests(row: Mapping[str, Any], language: str) -> dict[str, Any]:
    cases: list[dict[str, str]] = []
    for name in CODE_CONTESTS_SETS:
        tests = row.get(name)
        if tests is None:
            continue
        if isinstance(tests, str):
            tests = _json_object(tests, name)
        if not isinstance(tests, Mapping):
            raise TestFormatError(name, f'expected {{"input": [...], "output": [...]}}, got {type(tests).__name__}')
        inputs = _list(tests, "input", f"{name}.")
        outputs = _list(tests, "output", f"{name}.")
        if len(inputs) != len(outputs):
            raise TestFormatError(f"{name}.output", f"{len(inputs)} inputs but {len(outputs)} outputs")
        cases += [
            {"input": _text(value, f"{name}.input[{i}]"), "output": _text(out, f"{name}.output[{i}]")}
            for i, (value, out) in enumerate(zip(inputs, outputs, strict=True))
        ]
    if not cases:
        raise TestFormatError("public_tests", "no test cases in any of " + ", ".join(CODE_CONTESTS_SETS))
    return _io(cases, language)


def _live_code_bench(row: Mapping[str, Any], language: str) -> dict[str, Any]:
    tests: list[Any] = []
    for name in ("public_test_cases", "private_test_cases"):
        value = row.get(name)
        if value is None or value == "":
            continue
        cases = _packed_json(value, name)
        if not isinstance(cases, list):
            raise TestFormatError(name, f"expected a list of test cases, got {type(cases).__name__}")
        tests += [(f"{name}[{i}]", case) for i, case in enumerate(cases)]
    if not tests:
        raise TestFormatError("public_test_cases", "no test cases")
    kinds = set()
    for field, case in tests:
        if not isinstance(case, Mapping) or "input" not in case or "output" not in case:
            raise TestFormatError(field, 'expected {"input": ..., "output": ..., "testtype": ...}')
        kinds.add(str(case.get("testtype", "stdin")))
    if kinds == {"stdin"}:
        return _io(
            [{"input": _text(c["input"], f + ".input"), "output": _text(c["output"], f + ".output")} for f, c in tests],
            language,
        )
    if kinds != {"functional"}:
        raise TestFormatError("public_test_cases", f"mixed or unknown test types {sorted(kinds)}")
    metadata = row.get("metadata") or {}
    if isinstance(metadata, str):
        metadata = _json_object(metadata, "metadata")
    function = metadata.get("func_name") if isinstance(metadata, Mapping) else None
    if not function:
        raise TestFormatError("metadata.func_name", "functional tests need the function's name")
    calls = [(_arguments(c["input"], f + ".input"), [_json_value(c["output"], f + ".output")]) for f, c in tests]
    return _call_reference(_function_name(function, "metadata.func_name"), calls)


def _sandbox_fusion(row: Mapping[str, Any], language: str) -> dict[str, Any]:
    test = row["test"]
    if isinstance(test, str) and _is_python_test(test):
        raise TestFormatError("entry_point", "missing: Python tests (HumanEval's `test`) need the function's name")
    if isinstance(test, str) and not test.lstrip().startswith(("[", "{")):
        unpacked = _packed_json(test, "test")  # its LiveCodeBench rows: the APPS object, compressed
        if isinstance(unpacked, Mapping) and "input_output" in unpacked:
            return _apps(unpacked, language)
        test = unpacked
    if isinstance(test, str):
        test = _json_value(test, "test")
    if isinstance(test, Mapping) and "code" in test and row.get("entry_point"):  # its HumanEval rows
        return _humaneval({**row, "test": test["code"]}, language)
    if not isinstance(test, list):
        shape = '[{"input": {"stdin": ...}, "output": {"stdout": ...}}]'
        raise TestFormatError("test", f"expected {shape}, got {type(test).__name__}")
    cases = []
    for i, case in enumerate(test):
        given = case.get("input") if isinstance(case, Mapping) else None
        wanted = case.get("output") if isinstance(case, Mapping) else None
        if not isinstance(given, Mapping) or not isinstance(wanted, Mapping) or "stdout" not in wanted:
            raise TestFormatError(f"test[{i}]", 'expected {"input": {"stdin": ...}, "output": {"stdout": ...}}')
        cases.append(
            {
                "input": _text(given.get("stdin", ""), f"test[{i}].input.stdin"),
                "output": _text(wanted["stdout"], f"test[{i}].output.stdout"),
            }
        )
    if not cases:
        raise TestFormatError("test", "no test cases")
    return _io(cases, language)


def _humaneval(row: Mapping[str, Any], language: str) -> dict[str, Any]:
    test = row["test"]
    if not isinstance(test, str) or not test.strip():
        raise TestFormatError("test", "expected the Python source of the tests")
    error = _python_error(test)
    if error:
        raise TestFormatError("test", error)
    reference = {"style": "function", "entry_point": _function_name(row["entry_point"], "entry_point"), "tests": test}
    solution = row.get("canonical_solution")
    if isinstance(solution, str) and solution.strip():  # calibrates a learned time limit
        reference["solution"] = solution
    return reference


def _mbpp(row: Mapping[str, Any], language: str) -> dict[str, Any]:
    labels = row.get("labels") or {}
    if isinstance(labels, str):
        labels = _json_object(labels, "labels")
    asserts = row["test_list"]
    if isinstance(asserts, str):
        asserts = _json_value(asserts, "test_list")
    if not isinstance(asserts, list) or not asserts or not all(isinstance(a, str) for a in asserts):
        raise TestFormatError("test_list", "expected a non-empty list of assert statements")
    challenge = row.get("challenge_test_list", labels.get("challenge_test_list")) or []
    if isinstance(challenge, str):
        challenge = _json_value(challenge, "challenge_test_list")
    setup = row.get("test_setup_code", labels.get("test_setup_code")) or ""
    lines = [str(setup)] if str(setup).strip() else []
    lines += [*asserts, *(str(line) for line in challenge)]
    tests = "\n".join(lines) + "\n"
    error = _python_error(tests)
    if error:
        raise TestFormatError("test_list", error)
    return {"style": "function", "entry_point": _called_name(asserts[0]), "tests": tests}


_READERS = {
    "assay": _assay,
    "verl": _verl,
    "apps": _apps,
    "code_contests": _code_contests,
    "live_code_bench": _live_code_bench,
    "sandbox_fusion": _sandbox_fusion,
    "humaneval": _humaneval,
    "mbpp": _mbpp,
}


# -- the references they become --------------------------------------------------------------------------


def _io(cases: list[dict[str, str]], language: str) -> dict[str, Any]:
    if language not in ("python", "cpp"):
        raise TestFormatError("language", f"stdin/stdout programs in {language!r}: python or cpp")
    return {"style": "io", "language": language, "cases": cases}


#: The tests of a call-based problem: each case calls the function with its arguments and accepts any of
#: its expected values. The program may define the function at top level or as a method of `Solution`
#: (LeetCode's shape). Results are compared as JSON would see them (tuples as lists), as the data sets'
#: own graders do.
_CALL_TESTS = """\
import json

import pytest

import solution

CASES = json.loads({cases!r})
FUNCTION = {function!r}


def _function():
    try:
        return getattr(solution, FUNCTION)
    except AttributeError:
        return getattr(solution.Solution(), FUNCTION)


def _as_json(value):
    if isinstance(value, (list, tuple)):
        return [_as_json(item) for item in value]
    if isinstance(value, dict):
        return {{key: _as_json(item) for key, item in value.items()}}
    return value


@pytest.mark.parametrize("case", range(len(CASES)))
def test_case(case):
    arguments, accepted = CASES[case]
    result = _as_json(_function()(*arguments))
    assert result in accepted, f"{{FUNCTION}}(*{{arguments!r}}) returned {{result!r}}"
"""

#: verl's `assert_case`: each snippet runs after the program, with the program's names in scope, except
#: the builtins' names: the snippet's own `sorted` or `len` is never one the program redefined.
_ASSERT_TESTS = """\
import builtins
import json

import pytest

import solution

CASES = json.loads({cases!r})


def _names(code):
    names = set(code.co_names) | set(code.co_varnames)
    for constant in code.co_consts:
        if hasattr(constant, "co_names"):
            names |= _names(constant)
    return names


@pytest.mark.parametrize("case", range(len(CASES)))
def test_case(case):
    code = compile(CASES[case], "<assert_case %d>" % case, "exec")
    scope = {{}}
    for name in _names(code) - set(dir(builtins)):
        try:
            scope[name] = getattr(solution, name)
        except AttributeError:
            pass
    exec(code, scope)
"""


#: What APPS', TACO's, LiveCodeBench's and verl's graders put before a call-based program, on one line (so
#: that the program's own line numbers move by one): LeetCode-style samples use `List`, `defaultdict`,
#: `heappush`, `inf` without importing them.
CALL_BASED_PRELUDE = (
    "from string import *; from re import *; from datetime import *; from collections import *; "
    "from heapq import *; from bisect import *; from copy import *; from math import *; from random import *; "
    "from statistics import *; from itertools import *; from functools import *; from operator import *; "
    "from io import *; from sys import *; from json import *; from builtins import *; from typing import *; "
    "import string, re, datetime, collections, heapq, bisect, copy, math, random, statistics, itertools, "
    "functools, operator, io, sys, json; sys.setrecursionlimit(10**6)\n"
)


def _call_reference(function: str, calls: list[tuple[list[Any], list[Any]]]) -> dict[str, Any]:
    try:
        cases = json.dumps([[arguments, accepted] for arguments, accepted in calls], allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise TestFormatError("outputs", f"a value that is not plain JSON data ({exc})") from None
    return {
        "style": "pytest",
        "tests": _CALL_TESTS.format(cases=cases, function=function),
        "prelude": CALL_BASED_PRELUDE,
    }


def _assert_cases(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, list) or not all(isinstance(case, str) for case in value):
        raise TestFormatError(field, "expected a list of Python snippets")
    for i, case in enumerate(value):
        error = _python_error(case)
        if error:
            raise TestFormatError(f"{field}[{i}]", error)
    return {"style": "pytest", "tests": _ASSERT_TESTS.format(cases=json.dumps(value)), "prelude": CALL_BASED_PRELUDE}


# -- reading fields --------------------------------------------------------------------------------------


def _list(row: Mapping[str, Any], name: str, prefix: str) -> list[Any]:
    if name not in row:
        raise TestFormatError(f"{prefix}{name}", "missing")
    value = _as_list(row[name])
    if isinstance(value, str):
        value = _json_value(value, f"{prefix}{name}")
    if not isinstance(value, list | tuple):
        raise TestFormatError(f"{prefix}{name}", f"expected a list, got {type(value).__name__}")
    return list(value)


def _as_list(value: Any) -> Any:
    """A numpy array (what parquet readers and verl's batches hold) as a list; anything else as it is."""
    if not isinstance(value, str | bytes | list) and callable(getattr(value, "tolist", None)):
        return value.tolist()
    return value


def _python_error(source: str) -> str | None:
    """Why `source` is not Python, or None. (`ast.parse` raises more than SyntaxError: null bytes are a
    ValueError, nesting past the parser's depth a RecursionError or MemoryError.)"""
    try:
        ast.parse(source)
    except SyntaxError as exc:
        return f"not Python: {exc.msg} (line {exc.lineno})"
    except (ValueError, RecursionError, MemoryError) as exc:
        return f"not Python: {exc}"
    return None


def _text(value: Any, field: str) -> str:
    """A stdin or stdout text: a string, or a list of lines (APPS and TACO have both); None is empty
    (verl's SandboxFusion reader sends it as empty stdin)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(line, str) for line in value):
        return "\n".join(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise TestFormatError(field, f"expected text or a list of lines, got {type(value).__name__}")


def _arguments(value: Any, field: str) -> list[Any]:
    """A call's arguments: a list (APPS, TACO), or JSON values one per line (LiveCodeBench, verl)."""
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        lines = [line for line in value.strip("\n").split("\n") if line.strip()]
        return [_json_value(line, field) for line in lines]
    raise TestFormatError(field, f"expected a list of arguments or JSON lines, got {type(value).__name__}")


def _apps_accepted(expected: Any) -> list[Any]:
    """The values a call-based case accepts: its output, or the one element APPS and TACO wrap it in; an
    output string that holds JSON (verl's SandboxFusion convention) also as the value it holds."""
    accepted = [expected]
    if isinstance(expected, str):
        with contextlib.suppress(ValueError, RecursionError):  # else a plain string result
            accepted.append(json.loads(expected))
    for value in list(accepted):
        if isinstance(value, list) and len(value) == 1:
            accepted.append(value[0])
    return accepted


def _function_name(value: Any, field: str) -> str:
    name = str(value).strip() if isinstance(value, str) else ""
    if not name.isidentifier():
        raise TestFormatError(field, f"expected a function name, got {value!r}")
    return name


def _called_name(statement: str) -> str:
    """The function an MBPP assert calls (`assert remove_Occ("hello", "l") == "heo"` -> `remove_Occ`)."""
    if _python_error(statement):
        raise TestFormatError("test_list[0]", "not a Python statement on its own")
    for node in ast.walk(ast.parse(statement)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in _BUILTIN_CALLS:
            return node.func.id
    raise TestFormatError("test_list[0]", "names no function to test")


_BUILTIN_CALLS = frozenset({"set", "sorted", "list", "tuple", "abs", "round", "math", "len", "str", "int", "float"})


def _json_value(text: Any, field: str) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError as exc:
        raise TestFormatError(field, f"not valid JSON ({exc})") from None
    except RecursionError:
        raise TestFormatError(field, "JSON nested too deeply") from None


def _json_object(value: Any, field: str) -> Mapping[str, Any]:
    parsed = _json_value(value, field)
    if not isinstance(parsed, Mapping):
        raise TestFormatError(field, f"expected a JSON object, got {type(parsed).__name__}")
    return parsed


def _packed_json(value: Any, field: str) -> Any:
    """JSON, or JSON that LiveCodeBench and SandboxFusion compress: base64 of zlib of a pickled string or
    dict. The pickle is read with no classes allowed, so it can hold only plain values."""
    if not isinstance(value, str):
        return value
    stripped = value.strip()
    if stripped.startswith(("[", "{")):
        return _json_value(stripped, field)
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(base64.b64decode(stripped, validate=True), MAX_UNPACKED_BYTES)
    except (binascii.Error, zlib.error, ValueError):
        raise TestFormatError(field, "neither JSON nor base64 zlib-compressed data") from None
    if inflater.unconsumed_tail:
        raise TestFormatError(field, f"compressed tests larger than {MAX_UNPACKED_BYTES >> 20} MiB")
    try:
        unpacked = _PlainUnpickler(io.BytesIO(raw)).load()
    except Exception as exc:  # a malformed pickle raises almost anything; none of it is the caller's bug
        raise TestFormatError(field, f"compressed data that is not plain values ({exc})") from None
    if isinstance(unpacked, bytes):
        unpacked = unpacked.decode("utf-8", "replace")
    return _json_value(unpacked, field) if isinstance(unpacked, str) else unpacked


#: The most a compressed test set may unpack to (LiveCodeBench's largest are tens of MiB).
MAX_UNPACKED_BYTES = 512 << 20


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing {module}.{name}: only plain values are read")


def _is_python_test(text: str) -> bool:
    stripped = text.lstrip()
    return not stripped.startswith(("[", "{")) and ("def " in text or "assert" in text)
