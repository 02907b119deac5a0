"""How the Ray executor packs units into actor calls, checked on `VerifierActor` itself (a plain class: the
same code Ray runs in an actor), with no cluster."""

from __future__ import annotations

from collections import OrderedDict

from hypothesis import given, settings
from hypothesis import strategies as st

from assay.executors.base import VerifierSpec, WorkUnit
from assay.executors.ray import VerifierActor, plan_call
from assay.models import Sample, Task
from assay.testing.echo import EchoVerifier


def _unit(seq: int, task_number: int) -> WorkUnit:
    task = Task(id=f"t{task_number}", reference={"answer": str(task_number)})
    sample = Sample(task_id=task.id, index=seq, text=str(task_number if seq % 2 else -1))
    return WorkUnit(seq, f"hash{task_number}".encode(), task, [(seq, sample)])


@settings(max_examples=60, deadline=None)
@given(
    calls=st.lists(st.lists(st.integers(0, 12), min_size=1, max_size=9), min_size=1, max_size=25),
    keep=st.integers(1, 6),
)
def test_an_actor_always_holds_the_tasks_its_calls_need_and_no_more_than_it_is_told(
    calls: list[list[int]], keep: int
) -> None:
    actor = VerifierActor(VerifierSpec(EchoVerifier, {}))
    known: OrderedDict[tuple[bytes, str], None] = OrderedDict()
    seq = 0
    for number, task_numbers in enumerate(calls):
        units = []
        for task_number in task_numbers:
            units.append(_unit(seq, task_number))
            seq += 1
        new_tasks, forget, payload = plan_call(known, units, keep)
        assert len(new_tasks) <= len(set(task_numbers))  # a task travels at most once per call
        blocks = list(actor.run_batch(number == 0, new_tasks, forget, payload))
        assert sum(finished for finished, _ in blocks) == len(units)
        verdicts = dict(item for _, block in blocks for item in block)
        assert [verdicts[unit.items[0][0]]["passed"] for unit in units] == [u.items[0][0] % 2 == 1 for u in units]
        assert set(actor.tasks) == set(known)
        assert len(known) <= max(keep, len(units))


def test_a_task_is_sent_to_an_actor_once_while_it_holds_it() -> None:
    known: OrderedDict[tuple[bytes, str], None] = OrderedDict()
    first, _, _ = plan_call(known, [_unit(0, 1), _unit(1, 1)], keep=8)
    again, forget, payload = plan_call(known, [_unit(2, 1)], keep=8)
    assert list(first) == [(b"hash1", "t1")] and again == {} and forget == [] and len(payload) == 1


def test_a_kept_warm_actors_first_call_drops_the_tasks_of_an_earlier_run() -> None:
    actor = VerifierActor(VerifierSpec(EchoVerifier, {}))
    list(actor.run_batch(True, *plan_call(OrderedDict(), [_unit(0, 1), _unit(1, 2)], keep=8)))
    # A new executor knows nothing of what the actor holds: its first call starts the actor afresh.
    known: OrderedDict[tuple[bytes, str], None] = OrderedDict()
    blocks = list(actor.run_batch(True, *plan_call(known, [_unit(3, 3)], keep=8)))
    assert blocks[0][1][0][1]["passed"] is True
    assert set(actor.tasks) == set(known) == {(b"hash3", "t3")}
