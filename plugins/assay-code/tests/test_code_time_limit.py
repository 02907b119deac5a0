"""Time limits: a task's limit learned from its reference solution (`learned_time_limit`), and verdicts
that do not change with the machine's load. Every sample runs in the real sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from assay import Sample, Task, Verdict, Verifier
from assay_code.verifier import CodeVerifier
from assay_sandboxes.testing import cpu_hog

FIXED_S = 3.0
FLOOR_S = 0.3

ADD_PROMPT = 'def add(a: int, b: int) -> int:\n    """Return a + b."""\n'
ADD_TESTS = "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-5, 5) == 0\n"
ADD_SOLUTION = "    return a + b\n"

#: A body that spends `seconds` of CPU time, then adds (the tests call it twice).
BURN = """    import time
    started = time.process_time()
    while time.process_time() - started < {seconds}:
        pass
    return a + b
"""
LOOP = "    while True:\n        pass\n"


def add_task(solution: str | None = ADD_SOLUTION, task_id: str = "add") -> Task:
    reference: dict[str, Any] = {"style": "function", "entry_point": "add", "tests": ADD_TESTS}
    if solution is not None:
        reference["solution"] = solution
    return Task(id=task_id, prompt=ADD_PROMPT, reference=reference)


def judge(verifier: Verifier, task: Task, text: str, index: int = 0) -> Verdict:
    return verifier.verify(task, Sample(task_id=task.id, index=index, text=text))


@pytest.fixture(scope="module")
def learned() -> Iterator[CodeVerifier]:
    verifier = CodeVerifier({"time_limit_s": FIXED_S, "learned_time_limit": True, "learned_limit_floor_s": FLOOR_S})
    try:
        yield verifier
    finally:
        verifier.close()


def test_a_fast_reference_sets_the_floor_and_a_looping_sample_times_out_there(learned: CodeVerifier) -> None:
    task = add_task()
    looping = judge(learned, task, LOOP)
    assert (looping.status, looping.reason) == ("timeout", "time_limit")
    assert looping.details["time_limit_s"] == FLOOR_S
    how = looping.details["time_limit_learned"]
    assert how["from"] == "reference solution"
    assert 0 < how["reference_cpu_s"] < FLOOR_S / how["factor"]
    assert (how["floor_s"], how["ceiling_s"]) == (FLOOR_S, FIXED_S)
    # What ends it is the learned limit, not the fixed one: a sample that needs twice the floor times out.
    twice_the_floor = judge(learned, task, BURN.format(seconds=2 * FLOOR_S), index=2)
    assert (twice_the_floor.status, twice_the_floor.reason) == ("timeout", "time_limit")
    right = judge(learned, task, ADD_SOLUTION, index=1)
    assert right.status == "pass"
    assert right.details["time_limit_s"] == FLOOR_S


def test_a_slow_reference_raises_the_limit_so_that_a_sample_as_slow_passes(learned: CodeVerifier) -> None:
    task = add_task(BURN.format(seconds=0.1), task_id="slow-add")
    as_slow = judge(learned, task, BURN.format(seconds=0.15))
    assert as_slow.status == "pass", as_slow.details
    how = as_slow.details["time_limit_learned"]
    assert how["reference_cpu_s"] >= 0.2
    assert as_slow.details["time_limit_s"] == pytest.approx(min(FIXED_S, 10 * how["reference_cpu_s"]), abs=0.001)
    assert as_slow.details["time_limit_s"] > 1.9
    far_slower = judge(learned, task, BURN.format(seconds=2.5), index=1)
    assert (far_slower.status, far_slower.reason) == ("timeout", "time_limit")


def test_a_task_without_a_working_reference_keeps_the_fixed_limit(learned: CodeVerifier) -> None:
    for task, why in (
        (add_task(None, task_id="no-reference"), "no reference solution"),
        (add_task("    return a - b\n", task_id="wrong-reference"), "did not pass"),
    ):
        verdict = judge(learned, task, ADD_SOLUTION)
        assert verdict.status == "pass"
        assert verdict.details["time_limit_s"] == FIXED_S
        assert verdict.details["time_limit_learned"]["from"] is None
        assert why in verdict.details["time_limit_learned"]["why"]


def test_the_limit_is_off_by_default_and_verdicts_say_nothing_of_it() -> None:
    with CodeVerifier({"time_limit_s": 1.0}) as verifier:
        verdict = judge(verifier, add_task(), LOOP)
    assert (verdict.status, verdict.reason) == ("timeout", "time_limit")
    assert "time_limit_s" not in verdict.details


SAMPLES = {
    "right": ADD_SOLUTION,
    "wrong": "    return a - b\n",
    "looping": LOOP,
    # 0.4 s of CPU in all: within the limit, but a plain wall clock would end it beside a CPU hog.
    "slow but right": BURN.format(seconds=0.2),
}


def statuses(verifier: Verifier, task: Task) -> tuple[dict[str, tuple[str, str | None, Any]], dict[str, float]]:
    """Each sample's (status, reason, time limit), and the real time each took."""
    samples = [Sample(task_id=task.id, index=i, text=text) for i, text in enumerate(SAMPLES.values())]
    verdicts = verifier.verify_batch(task, samples)
    outcomes: dict[str, tuple[str, str | None, Any]] = {
        name: (v.status, v.reason, v.details.get("time_limit_s")) for name, v in zip(SAMPLES, verdicts, strict=True)
    }
    return outcomes, {name: v.elapsed_s or 0.0 for name, v in zip(SAMPLES, verdicts, strict=True)}


@pytest.mark.parametrize("learned_limit", [False, True], ids=["fixed", "learned"])
def test_verdicts_do_not_change_under_a_cpu_hog(learned_limit: bool) -> None:
    config = {"time_limit_s": 1.0, "learned_time_limit": learned_limit, "learned_limit_floor_s": 0.7, "concurrency": 4}
    task = add_task(BURN.format(seconds=0.01), task_id=f"hog-{learned_limit}")
    with CodeVerifier(config) as verifier:
        quiet, _ = statuses(verifier, task)
    with cpu_hog(), CodeVerifier(config) as verifier:  # the limit is learned under the load too
        loaded, took = statuses(verifier, task)
    assert loaded == quiet
    assert quiet["right"][0] == quiet["slow but right"][0] == "pass"
    assert quiet["wrong"][:2] == ("fail", "wrong_answer")
    assert quiet["looping"][:2] == ("timeout", "time_limit")
    # The hog was real: the slow sample took longer than its limit in real time, and still passed.
    assert took["slow but right"] > (0.7 if learned_limit else 1.0)
    if learned_limit:
        assert quiet["right"][2] == 0.7


def test_a_stdin_program_within_its_budget_passes_under_a_cpu_hog() -> None:
    # Three cases of 0.3 s of CPU each: 0.9 s of a 1.2 s budget, counted on the sandbox's clock.
    program = (
        "import time\nstarted = time.process_time()\nwhile time.process_time() - started < 0.3:\n    pass\n"
        "print(sum(map(int, input().split())))\n"
    )
    cases = [{"input": f"{i} {i}\n", "output": f"{2 * i}\n"} for i in range(3)]
    task = Task(id="io-add", prompt="", reference={"style": "io", "cases": cases})
    config = {"time_limit_s": 1.2, "case_time_limit_s": 1.0}
    with CodeVerifier(config) as verifier:
        quiet = judge(verifier, task, program)
    with cpu_hog(per_core=3), CodeVerifier(config) as verifier:
        loaded = judge(verifier, task, program)
    assert quiet.status == loaded.status == "pass", (quiet.details, loaded.details)
    assert loaded.elapsed_s is not None and loaded.elapsed_s > config["time_limit_s"]
