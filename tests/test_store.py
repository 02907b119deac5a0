"""The verdict cache: a real SQLite file, shared by runs, read many keys at a time."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from assay import Task
from assay.store import VerdictStore, task_hash, text_hash


def _verdict(status: str, **fields: object) -> dict[str, object]:
    """A verdict body as the host caches it: the store reads back only rows that are verdicts."""
    passed = {"pass": True, "fail": False}.get(status)
    return {"verifier": "v@1", "status": status, "passed": passed, **fields}


_keys = st.lists(st.tuples(st.binary(min_size=16, max_size=16), st.binary(min_size=16, max_size=16)), max_size=900)


@settings(max_examples=25, deadline=None)
@given(stored=_keys, asked=_keys)
def test_get_many_finds_exactly_the_stored_keys(tmp_path_factory, stored, asked) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("store") / "v.sqlite"
    with VerdictStore(path) as store:
        for i, (task, sample) in enumerate(stored):
            store.put("v@1#abc", task, sample, _verdict("pass", task_id="t", sample_index=i, details={"n": i}))
            if i % 2:
                store.commit()  # half of them committed, half only pending: both must be found
        expected = {key: i for i, key in enumerate(stored)}  # a key put twice keeps its last verdict
        found = store.get_many("v@1#abc", set(asked) | set(stored))
        assert {key: body["details"]["n"] for key, body in found.items()} == expected
        assert all("task_id" not in body for body in found.values())
        assert store.get_many("other@1#abc", stored) == {}


def test_the_cache_is_shared_by_two_connections_and_keyed_by_content(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "v.sqlite"
    first, second = VerdictStore(path), VerdictStore(path)
    key = (task_hash(Task(id="a", reference={"answer": 1})), text_hash("one"))
    assert key[0] == task_hash(Task(id="b", reference={"answer": 1}))  # the id is not part of the content
    assert key[0] != task_hash(Task(id="a", reference={"answer": 2}))
    first.put("v@1#x", *key, _verdict("error", reason="worker_crashed"))
    first.put("v@2#x", *key, _verdict("pass"))
    first.commit()
    assert second.get("v@2#x", *key) == _verdict("pass")
    assert second.get("v@1#x", *key) is None  # a crash says something about the machine: never cached
    assert second.forget("v@2") == 1 and first.count() == 0
    first.close()
    second.close()
    assert os.path.getsize(path) > 0
