"""The plain-data wire format: what crosses between the candidate and the tests, and what cannot."""

from __future__ import annotations

import collections
import contextlib
import decimal
import enum
import fractions
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay_code import wire
from assay_code.harness.channel import MAX_FRAME, Channel, ChannelClosed, ChannelError

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary()
    | st.complex_numbers(allow_nan=False)
)
hashables = st.recursive(
    scalars, lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=4), max_leaves=8
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.lists(inner, max_size=5).map(tuple)
        | st.dictionaries(hashables, inner, max_size=4)
        | st.sets(hashables, max_size=4)
        | st.frozensets(hashables, max_size=4)
    ),
    max_leaves=25,
)


def same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (1 == 1.0 == True would hide a lossy encoding)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


@given(values)
@settings(max_examples=300, deadline=None)
def test_plain_data_round_trips_exactly(value: Any) -> None:
    assert same(wire.loads(wire.dumps(value, strict=True)), value)


def test_special_floats_and_big_ints() -> None:
    for value in (float("inf"), -float("inf"), -0.0, 5e-324, 1.7976931348623157e308, 2**4000, -(3**5000)):
        assert same(wire.loads(wire.dumps(value)), value)
    assert math.isnan(wire.loads(wire.dumps(float("nan"))))
    assert str(wire.loads(wire.dumps(-0.0))) == "-0.0"


def test_lone_surrogates_survive() -> None:
    assert wire.loads(wire.dumps("a\udc80b")) == "a\udc80b"


def test_subclasses_arrive_as_their_base_value() -> None:
    class Color(enum.IntEnum):
        RED = 3

    point = collections.namedtuple("point", "x y")

    class Lying(int):
        def __eq__(self, other: object) -> bool:
            return True

        def __int__(self) -> int:
            return 99

        __hash__ = int.__hash__

    class Text(str):
        def __str__(self) -> str:
            return "lie"

    sent = [Color.RED, point(1, 2), collections.OrderedDict(a=1), collections.Counter("aab"), Lying(5), Text("t")]
    got = wire.loads(wire.dumps(sent))
    assert same(got, [3, (1, 2), {"a": 1}, {"a": 2, "b": 1}, 5, "t"])


def test_what_is_not_plain_data_arrives_inert() -> None:
    class Anything:
        def __eq__(self, other: object) -> bool:
            return True

        def __hash__(self) -> int:
            return 0

    got = wire.loads(wire.dumps([Anything(), Anything]))
    assert all(isinstance(x, wire.Opaque) for x in got)
    assert got[0] != 3 and got[0] != got[1] and got[0] == got[0]
    assert "Anything" in repr(got[0])
    with pytest.raises(wire.WireError):
        wire.dumps(Anything(), strict=True)


def test_iterators_views_numbers_of_the_standard_library() -> None:
    got = wire.loads(wire.dumps([iter([1, 2]), (i for i in range(3)), {"a": 1}.keys(), range(2, 9, 3)]))
    assert list(got[0]) == [1, 2] and list(got[1]) == [0, 1, 2]
    assert got[2] == {"a"} and got[3] == range(2, 9, 3)
    exact = wire.loads(wire.dumps([fractions.Fraction(1, 3), decimal.Decimal("0.1")]))
    assert exact == [fractions.Fraction(1, 3), decimal.Decimal("0.1")]


@pytest.mark.parametrize(
    "message",
    [
        b"",
        b"{",
        b'{"x": 1}',
        b'{"t": 1}',
        b'{"o": [1, 2]}',
        b'{"d": [[[1], 2]]}',
        b'{"b": "zz"}',
        b'{"I": 5}',
        b'{"q": [1, 0]}',
        b'{"r": [1, 2]}',
        b'{"D": "not a number"}',
        b"[" * 100_000 + b"]" * 100_000,
        b"1" + b"0" * 5000,
        b'{"t": [], "s": []}',
    ],
)
def test_malformed_messages_raise_wire_error(message: bytes) -> None:
    with pytest.raises(wire.WireError):
        wire.loads(message)


def test_nesting_and_cycles_are_refused_by_the_sender() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(wire.WireError):
        wire.dumps(cycle)
    deep: list[Any] = []
    for _ in range(wire.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(wire.WireError):
        wire.dumps(deep)


@given(st.binary(max_size=200))
@settings(max_examples=200, deadline=None)
def test_random_bytes_never_crash_the_decoder(data: bytes) -> None:
    with contextlib.suppress(wire.WireError):
        wire.loads(data)


def test_channel_frames_and_rejects(tmp_path: Any) -> None:
    import socket

    left, right = socket.socketpair()
    a, b = Channel(left.detach()), Channel(right.detach())
    a.send(["call", ["name", "f"], [1, 2], {"d": []}])
    a.send(["x" * 200_000])
    assert b.recv() == ["call", ["name", "f"], [1, 2], {"d": []}]
    assert b.recv() == ["x" * 200_000]
    import os

    os.write(a.fd, (MAX_FRAME + 1).to_bytes(4, "big"))
    with pytest.raises(ChannelError):
        b.recv()
    a.close()
    with pytest.raises(ChannelClosed):
        b.recv()
    b.close()
