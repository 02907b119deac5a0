"""Plain data across a process boundary: the only thing a candidate program can hand the tests.

The candidate runs in one sandboxed process, the tests in another; a call's arguments and its result
cross between them as JSON text with a few one-key tags, and the receiving side rebuilds them from builtin
types alone. Whatever the candidate returns (an object whose `__eq__` always says yes, a subclass of `int`
with a rigged `__hash__`, a proxy that patches the caller), the tests only ever compare fresh `int`,
`str`, `list`, ... objects made by this module.

What crosses, and how it comes back:

- `None`, `bool`, `int` (any size), `float` (NaN and infinities too), `complex`, `str`, `bytes`
  (`bytearray` arrives as `bytes`), `list`, `tuple`, `dict` (any hashable keys), `set`, `frozenset`,
  `range`, `fractions.Fraction`, `decimal.Decimal`.
- Subclasses of those (an `IntEnum` member, a namedtuple, an `OrderedDict`, a `str` subclass) arrive as the
  base type's value, which is what the test compares against anyway.
- Iterators and generators are drained (up to `MAX_ITEMS`) and arrive as an iterator over a list, so
  `list(candidate(x))` works and `candidate(x) == [...]` is False, as it would be in one process; dict views
  arrive as views of a fresh dict.
- numpy scalars arrive as their Python value.
- Anything else arrives as an `Opaque` placeholder that equals only itself: the test sees that the
  candidate returned something that is not plain data, never the object.

This file is also run inside the sandbox (it is sent as source), so it imports nothing outside the
standard library and nothing from assay.
"""

from __future__ import annotations

import json
from typing import Any

#: Deepest nesting of containers either side accepts.
MAX_DEPTH = 200
#: Most items drained from one iterator, and most nodes in one message.
MAX_ITEMS = 1_000_000
#: Characters of `repr` kept for an opaque value (for the verdict's details only).
REPR_CHARS = 200

_DICT_VIEWS: tuple[type, ...] = (type({}.keys()), type({}.values()), type({}.items()))
_EXAMPLE_ITERATORS: tuple[object, ...] = (
    iter([]),
    iter(()),
    iter(""),
    iter(b""),
    iter(set()),
    iter({}),
    iter({}.values()),
    iter({}.items()),
    iter(range(0)),
    iter(range(1 << 70, 1 << 70)),
    reversed([]),
    reversed(range(0)),
    (item for item in ""),
    map(abs, ()),
    filter(None, ()),
    zip(),
    enumerate(()),
)
_ITERATOR_TYPES = frozenset(type(it) for it in _EXAMPLE_ITERATORS)


class WireError(ValueError):
    """A message that is not plain data, or a value that cannot be sent."""


class Opaque:
    """Stands in for a value that was not plain data. Equal only to itself, hashable, inert."""

    __slots__ = ("text", "type_name")

    def __init__(self, type_name: str, text: str) -> None:
        self.type_name = type_name
        self.text = text

    def __repr__(self) -> str:
        return f"<not plain data: {self.type_name} {self.text}>"


# -- encoding ---------------------------------------------------------------------------------------------


class _Encoder:
    def __init__(self, strict: bool) -> None:
        # strict: refuse what is not plain data (the tests' own arguments) instead of sending a placeholder
        self.strict = strict
        self.nodes = 0

    def value(self, x: Any, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_ITEMS:
            raise WireError(f"more than {MAX_ITEMS} values in one message")
        if depth > MAX_DEPTH:
            raise WireError(f"nested deeper than {MAX_DEPTH}")
        t = type(x)
        # Exact builtin types first: this is the hot path.
        if t is str or t is bool or x is None:
            return x
        if t is int:
            return x if -(1 << 62) < x < (1 << 62) else {"I": hex(x)}
        if t is float:
            return x
        if t is list:
            return [self.value(item, depth + 1) for item in x]
        if t is tuple:
            return {"t": [self.value(item, depth + 1) for item in x]}
        if t is dict:
            return {"d": [[self.value(k, depth + 1), self.value(v, depth + 1)] for k, v in x.items()]}
        if t is set:
            return {"s": [self.value(item, depth + 1) for item in x]}
        if t is frozenset:
            return {"f": [self.value(item, depth + 1) for item in x]}
        if t is bytes or t is bytearray:
            return {"b": x.hex()}
        if t is complex:
            return {"c": [x.real, x.imag]}
        if t is range:
            return {
                "r": [
                    self.value(x.start, depth + 1),
                    self.value(x.stop, depth + 1),
                    self.value(x.step, depth + 1),
                ]
            }
        return self.other(x, t, depth)

    def other(self, x: Any, t: type, depth: int) -> Any:
        # Subclasses travel as their base type's value, read with the base type's own methods so that
        # an override cannot change what is read.
        if isinstance(x, int):
            return self.value(int.__int__(x), depth)
        if isinstance(x, str):
            return str.__str__(x)
        if isinstance(x, float):
            return float.__float__(x)
        if isinstance(x, list):
            return self.value(list.copy(x), depth)
        if isinstance(x, tuple):
            return self.value(tuple.__getitem__(x, slice(None)), depth)
        if isinstance(x, dict):
            return self.value(dict.copy(x), depth)
        if isinstance(x, set):
            return self.value(set.copy(x), depth)
        if isinstance(x, frozenset):
            return self.value(frozenset.copy(x), depth)
        if isinstance(x, bytes | bytearray):
            return self.value(bytes(memoryview(x)), depth)
        if isinstance(x, complex):
            return self.value(complex(complex.real.__get__(x), complex.imag.__get__(x)), depth)
        # fractions and decimal are looked up by name: importing them costs a sandboxed run more than the
        # whole harness does.
        if t.__module__ == "fractions" and t.__name__ == "Fraction":
            return {"q": [self.value(int(x.numerator), depth + 1), self.value(int(x.denominator), depth + 1)]}
        if t.__module__ in ("decimal", "_decimal", "_pydecimal") and t.__name__ == "Decimal":
            return {"D": str(x)}
        if t in _DICT_VIEWS:
            kind = "k" if t is _DICT_VIEWS[0] else "v" if t is _DICT_VIEWS[1] else "m"
            return {kind: [self.value(item, depth + 1) for item in x]}
        if t.__module__ == "numpy" and hasattr(x, "item") and getattr(x, "ndim", None) == 0:
            return self.value(x.item(), depth)
        if t in _ITERATOR_TYPES or _is_generator(x):
            items = []
            for item in x:
                items.append(self.value(item, depth + 1))
                if len(items) > MAX_ITEMS:
                    raise WireError(f"an iterator gave more than {MAX_ITEMS} items")
            return {"i": items}
        if self.strict:
            raise WireError(f"a {t.__module__}.{t.__qualname__} is not plain data")
        return {"o": [f"{t.__module__}.{t.__qualname__}", _safe_repr(x)]}


def _is_generator(x: Any) -> bool:
    return type(x).__name__ == "generator" and hasattr(x, "gi_frame")


def _safe_repr(x: Any) -> str:
    try:
        text = object.__repr__(x)
    except Exception:  # an object whose type was tampered with
        return "?"
    return text[:REPR_CHARS]


def to_json(value: Any, *, strict: bool = False) -> Any:
    """The JSON-ready form of `value` (see the module docs)."""
    return _Encoder(strict).value(value, 0)


def dumps(value: Any, *, strict: bool = False) -> bytes:
    """Encode `value` as UTF-8 JSON. `strict`: raise WireError for what is not plain data."""
    try:
        return json.dumps(to_json(value, strict=strict), ensure_ascii=True, separators=(",", ":")).encode("ascii")
    except RecursionError:
        raise WireError("nested too deeply") from None


# -- decoding -----------------------------------------------------------------------------------------------


def _bytes(text: Any) -> bytes:
    if type(text) is not str:
        raise WireError("bytes must travel as hex text")
    return bytes.fromhex(text)


def _int(text: Any) -> int:
    if type(text) is not str or len(text) > 1 << 20:
        raise WireError("a big int must travel as hex text")
    return int(text, 16)


def _complex(parts: Any) -> complex:
    if type(parts) is not list or len(parts) != 2 or not all(type(p) in (int, float) for p in parts):
        raise WireError("a complex must travel as [real, imag]")
    return complex(parts[0], parts[1])


def _fraction(parts: Any) -> Any:
    import fractions

    if type(parts) is not list or len(parts) != 2 or not all(type(p) is int for p in parts) or parts[1] == 0:
        raise WireError("a fraction must travel as [numerator, denominator]")
    return fractions.Fraction(parts[0], parts[1])


def _decimal(text: Any) -> Any:
    import decimal

    if type(text) is not str or len(text) > 10_000:
        raise WireError("a decimal must travel as text")
    try:
        return decimal.Decimal(text)
    except decimal.InvalidOperation:
        raise WireError("not a decimal") from None


def _range(parts: Any) -> range:
    if type(parts) is not list or len(parts) != 3 or not all(type(p) is int for p in parts):
        raise WireError("a range must travel as [start, stop, step]")
    return range(*parts)


def _opaque(parts: Any) -> Opaque:
    if type(parts) is not list or len(parts) != 2 or not all(type(p) is str for p in parts):
        raise WireError("an opaque value must travel as [type name, repr]")
    return Opaque(parts[0][:REPR_CHARS], parts[1][:REPR_CHARS])


class _Decoder:
    def value(self, x: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise WireError(f"nested deeper than {MAX_DEPTH}")
        t = type(x)
        if t is str or t is int or t is float or t is bool or x is None:
            return x
        if t is list:
            return [self.value(item, depth + 1) for item in x]
        if t is not dict or len(x) != 1:
            raise WireError(f"unexpected {t.__name__} in a message")
        ((tag, body),) = x.items()
        if tag in ("t", "s", "f", "i", "k", "v", "m", "d"):
            if type(body) is not list:
                raise WireError(f"tag {tag!r} needs a list")
            items = [self.value(item, depth + 1) for item in body]
            if tag == "t":
                return tuple(items)
            if tag == "s":
                return set(items)
            if tag == "f":
                return frozenset(items)
            if tag == "i":
                return iter(items)
            if tag == "v":
                return dict(enumerate(items)).values()
            pairs = self.pairs(items) if tag in ("d", "m") else [(k, None) for k in items]
            if tag == "k":
                return dict(pairs).keys()
            if tag == "m":
                return dict(pairs).items()
            return dict(pairs)
        rebuild = _SCALARS.get(tag)
        if rebuild is None:
            raise WireError(f"unknown tag {tag!r}")
        return rebuild(body)

    @staticmethod
    def pairs(items: list[Any]) -> list[tuple[Any, Any]]:
        pairs = []
        for pair in items:
            if type(pair) is not list or len(pair) != 2:
                raise WireError("a dict must travel as [[key, value], ...]")
            pairs.append((pair[0], pair[1]))
        return pairs


_SCALARS: dict[str, Any] = {
    "b": _bytes,
    "I": _int,
    "c": _complex,
    "q": _fraction,
    "D": _decimal,
    "r": _range,
    "o": _opaque,
}


def from_json(obj: Any) -> Any:
    """Rebuild a value from its JSON-ready form, from builtin types alone; raises WireError."""
    try:
        return _Decoder().value(obj, 0)
    except WireError:
        raise
    except (RecursionError, TypeError, ValueError, MemoryError) as exc:
        # unhashable keys, bad base64, digits over the int limit, ...
        raise WireError(f"not plain data: {type(exc).__name__}: {exc}") from None


def loads(data: bytes | str) -> Any:
    """Decode a message made by `dumps`; raises WireError for anything else."""
    try:
        obj = json.loads(data)
    except (RecursionError, ValueError, MemoryError) as exc:
        raise WireError(f"not a JSON message: {type(exc).__name__}: {str(exc)[:200]}") from None
    return from_json(obj)
