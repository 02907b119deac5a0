"""The public test formats (`assay_code.formats`): each is read from a row in its data set's exact shape,
judged by the real `code` verifier (a right program passes, a wrong one fails), and a row that cannot be
read is an error that names its field, never a failing sample."""

from __future__ import annotations

import base64
import json
import os
import pickle
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay import Sample, Task
from assay.cli import main
from assay_code import formats
from assay_code.formats import FORMATS, TestFormatError, converted_reference, detect_format, to_reference
from assay_code.references import CodeReference
from assay_code.verifier import CodeVerifier

ROWS_PATH = Path(__file__).parent / "data" / "formats" / "rows.jsonl"
ROWS = [json.loads(line) for line in ROWS_PATH.read_text().splitlines() if line.strip()]


def _tests_of(row: dict[str, Any] | str) -> dict[str, Any]:
    return json.loads(row) if isinstance(row, str) else row


def _task(case: dict[str, Any]) -> Task:
    row = _tests_of(case["row"])
    prompt = row.get("prompt", "") if case["format"] == "humaneval" and "def " in str(row.get("prompt")) else ""
    return Task(id="t", prompt=prompt, reference=row)


def test_every_format_has_a_fixture() -> None:
    assert {case["format"] for case in ROWS} == set(FORMATS) - {"assay"}


@pytest.mark.parametrize("case", ROWS, ids=[case["shape"][:60] for case in ROWS])
def test_each_public_format_is_detected_and_converted(case: dict[str, Any]) -> None:
    tests = _tests_of(case["row"])
    assert detect_format(tests) == case["format"]
    reference = to_reference(case["row"])  # a JSON string is read as the object it holds
    assert reference["style"] == case["style"]
    assert CodeReference.model_validate(reference).root.style == case["style"]
    assert to_reference(reference) == reference  # assay's own shape is kept as it is


@pytest.mark.parametrize("case", ROWS, ids=[case["shape"][:60] for case in ROWS])
def test_each_public_format_passes_the_right_program_and_fails_the_wrong(
    code_verifier: CodeVerifier, case: dict[str, Any]
) -> None:
    task = _task(case)
    right = code_verifier.verify(task, Sample(task_id="t", index=0, text=case["right"]))
    assert (right.status, right.score) == ("pass", 1.0), right.details
    wrong = code_verifier.verify(task, Sample(task_id="t", index=1, text=case["wrong"]))
    assert wrong.status == "fail" and wrong.score is not None and wrong.score < 1.0, wrong.details


def test_call_based_cases_follow_the_data_sets_own_comparison(code_verifier: CodeVerifier) -> None:
    """APPS/TACO wrap an output in a list and compare tuples as lists; a method of `Solution` and a
    top-level function both count; the graders' import header is there, also after `__future__`."""
    reference = to_reference({"fn_name": "pair", "inputs": [[1], [2]], "outputs": [[[1, 1]], [[2, 2]]]})
    task = Task(id="t", reference=reference)
    programs = [
        "def pair(x):\n    return (x, x)\n",
        "def pair(x):\n    return [x, x]\n",
        "class Solution:\n    def pair(self, x):\n        return [x, x]\n",
        "from __future__ import annotations\nimport typing\ndef pair(x: int) -> typing.List[int]:\n    return [x, x]\n",
        "def pair(x: int) -> List[int]:\n    return list(repeat(x, 2))\n",  # `List`, `repeat` from the header
    ]
    for index, text in enumerate(programs):
        verdict = code_verifier.verify(task, Sample(task_id="t", index=index, text=text))
        assert verdict.status == "pass", (text, verdict.details)
    wrong = code_verifier.verify(task, Sample(task_id="t", index=9, text="def pair(x):\n    return [x]\n"))
    assert wrong.status == "fail"
    missing = code_verifier.verify(task, Sample(task_id="t", index=10, text="def other(x):\n    return x\n"))
    assert (missing.status, missing.score) == ("fail", 0.0)


def test_assert_cases_use_the_real_builtins(code_verifier: CodeVerifier) -> None:
    """A program that redefines `sorted` to return what the snippet expects does not pass with it."""
    task = Task(id="t", reference={"assert_case": ["assert sorted(evens([3, 2, 4])) == [2, 4]"]})
    right = code_verifier.verify(task, Sample(task_id="t", index=0, text="def evens(xs):\n    return [4, 2]\n"))
    assert right.status == "pass", right.details
    rigged = "def evens(xs):\n    return []\n\ndef sorted(xs):\n    return [2, 4]\n"
    assert code_verifier.verify(task, Sample(task_id="t", index=1, text=rigged)).status == "fail"


BAD_ROWS: list[tuple[dict[str, Any] | str, str]] = [
    ({"inputs": ["1"], "outputs": []}, "outputs"),
    ({"inputs": ["1"]}, "outputs"),
    ({"inputs": [], "outputs": []}, "inputs"),
    ({"inputs": "not json", "outputs": []}, "inputs"),
    ({"inputs": [{"a": 1}], "outputs": ["2"]}, "inputs[0]"),
    ({"inputs": ["1 2"], "outputs": ["3"], "fn_name": "not a name"}, "fn_name"),
    ({"inputs": ["{bad"], "outputs": ["3"], "fn_name": "f"}, "inputs[0]"),
    ({"assert_case": ["assert f(1) ==", "assert f(2) == 2"]}, "assert_case[0]"),
    ({"input_output": "[1, 2]"}, "input_output"),
    ({"input_output": json.dumps({"inputs": ["1"], "outputs": [2, 3]})}, "input_output.outputs"),
    ({"public_tests": {"input": ["1"], "output": []}}, "public_tests.output"),
    ({"public_tests": {"input": [], "output": []}, "private_tests": None}, "public_tests"),
    ({"public_test_cases": '[{"input": "1"}]'}, "public_test_cases[0]"),
    ({"public_test_cases": "!!not base64!!"}, "public_test_cases"),
    (
        {"public_test_cases": json.dumps([{"input": "[1]", "output": "1", "testtype": "functional"}])},
        "metadata.func_name",
    ),
    ({"test": "def check(candidate): pass", "entry_point": "1x"}, "entry_point"),
    ({"test_list": []}, "test_list"),
    ({"test_list": ["assert (1 +"]}, "test_list"),
    ({"test": [{"input": "1", "output": "2"}]}, "test[0]"),
    ({"test": "[]"}, "test"),
    ({"test": "def check(candidate):\n    assert candidate(1) == 2\n"}, "entry_point"),
    ({"inputs": ["1"], "outputs": ["1"], "language": "rust"}, "language"),
    ({"inputs": [[1]], "outputs": [float("nan")], "fn_name": "f"}, "outputs"),
    ({"public_test_cases": base64.b64encode(zlib.compress(b"\x80\x04garbage")).decode()}, "public_test_cases"),
    ({"assert_case": ["assert f(1) == 1\x00"]}, "assert_case[0]"),
    ({"test_list": ["assert f(1) == 1", "x = (" * 300 + ")" * 300]}, "test_list"),
    ({"test": "def check(candidate):\n    assert candidate(\n", "entry_point": "f"}, "test"),
    ({"task": "anything"}, ""),
    ("{not json", ""),
]


@pytest.mark.parametrize(("row", "field"), BAD_ROWS, ids=[str(row)[:50] for row, _ in BAD_ROWS])
def test_a_row_that_cannot_be_read_names_its_field(row: dict[str, Any] | str, field: str) -> None:
    with pytest.raises(TestFormatError) as caught:
        to_reference(row)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: " if field else "")


def test_a_bad_row_is_a_bad_reference_verdict_never_a_failing_sample(code_verifier: CodeVerifier) -> None:
    task = Task(id="t", reference={"inputs": ["1 2\n"], "outputs": ["3\n", "4\n"]})
    verdict = code_verifier.verify(task, Sample(task_id="t", index=0, text="print(3)"))
    assert (verdict.status, verdict.reason, verdict.passed) == ("error", "bad_reference", None)
    assert "1 inputs but 2 outputs" in verdict.details["message"]
    unknown = code_verifier.verify(Task(id="u", reference={"answer": "3"}), Sample(task_id="u", index=0, text="x"))
    assert unknown.reason == "bad_reference" and "no known test format" in unknown.details["message"]


class _Planted:
    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch {_Planted.marker}",))

    marker = ""


def test_deep_nesting_and_a_decompression_bomb_are_format_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    deep: Any = 1
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(TestFormatError):
        to_reference({"inputs": [[deep]], "outputs": [1], "fn_name": "f"})
    with pytest.raises(TestFormatError):
        to_reference({"inputs": "[" * 100_000, "outputs": []})
    monkeypatch.setattr(formats, "MAX_UNPACKED_BYTES", 1 << 20)
    bomb = base64.b64encode(zlib.compress(b"\0" * (3 << 20), 9)).decode()
    with pytest.raises(TestFormatError, match="larger than"):
        to_reference({"public_test_cases": bomb})


def test_language_names_of_the_data_sets_are_understood() -> None:
    for name, language in [("Python3", "python"), ("C++", "cpp"), ("cpp", "cpp")]:
        reference = to_reference({"inputs": ["1"], "outputs": ["1"], "language": name})
        assert reference["language"] == language
    assert to_reference({"inputs": ["1"], "outputs": ["1"]}, language="cpp")["language"] == "cpp"


def test_the_cache_converts_equal_rows_alike_and_changed_rows_anew() -> None:
    row = {"inputs": ["1\n"], "outputs": ["1\n"]}
    first = converted_reference(row)
    assert converted_reference(json.loads(json.dumps(row))) == first == to_reference(row)
    row["outputs"] = ["2\n"]  # the same object, changed: converted again
    assert converted_reference(row)["cases"] == [{"input": "1\n", "output": "2\n"}]
    # 1, 1.0 and True are equal in Python but not as tests: a number is a stdin text, a boolean is not.
    assert converted_reference({"inputs": [1], "outputs": [1]})["cases"] == [{"input": "1", "output": "1"}]
    for _ in range(2):  # an error is remembered too, and raised afresh each time
        with pytest.raises(TestFormatError) as caught:
            converted_reference({"inputs": [True], "outputs": [1]})
        assert caught.value.field == "inputs[0]"
    for index in range(formats.CACHED_ROWS * 3):  # bounded
        converted_reference({"inputs": [str(index)], "outputs": ["x"]})
    assert len(formats._cache) == formats.CACHED_ROWS


def test_numpy_arrays_read_as_lists() -> None:
    np = pytest.importorskip("numpy")
    row = {"inputs": np.array(["1\n", "2\n"]), "outputs": np.array(["1\n", "2\n"]), "assert_case": np.array([])}
    assert to_reference(row)["cases"] == [{"input": "1\n", "output": "1\n"}, {"input": "2\n", "output": "2\n"}]
    asserts = to_reference({"assert_case": np.array(["assert f() == 1", "assert f() != 2"])})
    assert asserts["style"] == "pytest"


def test_compressed_tests_are_read_without_running_anything(tmp_path: Path) -> None:
    _Planted.marker = str(tmp_path / "ran")
    packed = base64.b64encode(zlib.compress(pickle.dumps([_Planted()]))).decode()
    with pytest.raises(TestFormatError) as caught:
        to_reference({"public_test_cases": packed})
    assert caught.value.field == "public_test_cases" and "plain values" in caught.value.message
    assert not (tmp_path / "ran").exists()


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_KEYS = st.sampled_from(
    [
        "inputs", "outputs", "fn_name", "assert_case", "input_output", "public_tests", "private_tests",
        "generated_tests", "public_test_cases", "private_test_cases", "metadata", "test", "entry_point",
        "test_list", "labels", "language", "style",
    ]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(_KEYS, _JSONISH, min_size=1, max_size=4))
def test_any_row_converts_or_raises_a_format_error(row: dict[str, Any]) -> None:
    row.pop("style", None)
    try:
        reference = to_reference(row)
    except TestFormatError as exc:
        assert exc.field is not None and str(exc)
        return
    CodeReference.model_validate(reference)  # whatever converts is a valid reference


# -- assay code convert ------------------------------------------------------------------------------------


def test_convert_writes_one_task_per_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = tmp_path / "rows.jsonl"
    verl_row = {
        "data_source": "codecontests",
        "prompt": [{"role": "user", "content": "Print a + b."}],
        "ability": "code",
        "reward_model": {"style": "rule", "ground_truth": json.dumps({"inputs": ["1 2\n"], "outputs": ["3\n"]})},
        "extra_info": {"index": 7},
    }
    lines = [json.dumps(_tests_of(case["row"])) for case in ROWS] + [json.dumps(verl_row)]
    rows.write_text("\n".join(lines) + "\n")
    out = tmp_path / "tasks.jsonl"
    assert main(["code", "convert", str(rows), "-o", str(out)]) == 0
    tasks = [Task.model_validate_json(line) for line in out.read_text().splitlines()]
    assert len(tasks) == len(ROWS) + 1
    assert [task.reference["style"] for task in tasks[: len(ROWS)]] == [case["style"] for case in ROWS]
    assert tasks[-1].prompt == "Print a + b." and tasks[-1].reference["style"] == "io"
    assert tasks[9].id == "HumanEval/999" and tasks[9].prompt.startswith("def add")
    assert tasks[0].id == "line-1" and len({task.id for task in tasks}) == len(tasks)
    assert f"{len(ROWS) + 1} tasks written, 0 rows not converted" in capsys.readouterr().err


def test_convert_reports_each_bad_row_with_its_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = tmp_path / "rows.jsonl"
    good = {"inputs": ["1\n"], "outputs": ["1\n"]}
    bad_verl = {"reward_model": {"ground_truth": json.dumps({"inputs": ["1"], "outputs": []})}}
    rows.write_text("\n".join([json.dumps(good), json.dumps(bad_verl), "not json", json.dumps(good)]) + "\n")
    out = tmp_path / "tasks.jsonl"
    assert main(["code", "convert", str(rows), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{rows}:2: field 'reward_model.ground_truth.outputs': 1 inputs but 0 outputs" in err
    assert f"{rows}:3:" in err
    assert "2 tasks written, 2 rows not converted" in err
    assert len(out.read_text().splitlines()) == 2
    assert main(["code", "convert", str(tmp_path / "missing.jsonl")]) == 2


def test_convert_reads_a_verl_parquet_file(tmp_path: Path) -> None:
    """verl's data preprocessing writes Parquet: prompt messages, reward_model.ground_truth, extra_info."""
    pyarrow = pytest.importorskip("pyarrow")
    import pyarrow.parquet as parquet

    rows = [
        {
            "data_source": "codecontests",
            "prompt": [{"role": "user", "content": f"Print a + b + {i}."}],
            "ability": "code",
            "reward_model": {
                "style": "rule",
                "ground_truth": json.dumps({"inputs": ["1 2\n"], "outputs": [f"{3 + i}\n"]}),
            },
            "extra_info": {"index": i, "split": "train"},
        }
        for i in range(3)
    ]
    path = tmp_path / "train.parquet"
    parquet.write_table(pyarrow.Table.from_pylist(rows), path)
    out = tmp_path / "tasks.jsonl"
    assert main(["code", "convert", str(path), "-o", str(out)]) == 0
    tasks = [Task.model_validate_json(line) for line in out.read_text().splitlines()]
    assert [task.prompt for task in tasks] == [f"Print a + b + {i}." for i in range(3)]
    assert [task.reference["cases"][0]["output"] for task in tasks] == ["3\n", "4\n", "5\n"]
    (tmp_path / "junk.parquet").write_text("not parquet")
    assert main(["code", "convert", str(tmp_path / "junk.parquet")]) == 2
