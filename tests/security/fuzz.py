"""Hypothesis strategies for any protobuf message, built from its descriptor.

Every field may be set or not; scalars lean to their edges (0, -1, the type's limits), strings to the
shapes that broke services before (empty, huge, formula-like, path-like, NUL), enums to unknown numbers,
Timestamps and Durations to the ends of their ranges and past them. Nesting is bounded.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

MAX_DEPTH = 3
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
UINT32 = (0, 2**32 - 1)
UINT64 = (0, 2**64 - 1)
#: Seconds at and past the ends of a Timestamp's range, and some ordinary ones.
EDGE_SECONDS = [0, -1, 1, 1_700_000_000, -62135596800, -62135596801, 253402300799, 253402300800, *INT64]
EDGE_NANOS = [0, 1, 999_999_999, 1_000_000_000, 2_000_000_000, -1, *INT32]
STRINGS = [
    "", " ", "INFY", "NSE", "=1+1", "@SUM(A1)", "../../etc/passwd", "\x00", "a" * 300, "é✓", "1e400", "-1",
    "00000000-0000-0000-0000-000000000000", "*", "trade_time", "notes",
]  # fmt: skip


def _integers(bounds: tuple[int, int]) -> st.SearchStrategy[int]:
    low, high = bounds
    edges = [value for value in (0, 1, -1, low, high, low + 1, high - 1) if low <= value <= high]
    return st.one_of(st.sampled_from(edges), st.integers(low, high))


_SCALARS: dict[int, st.SearchStrategy[Any]] = {
    FieldDescriptor.TYPE_INT32: _integers(INT32),
    FieldDescriptor.TYPE_SINT32: _integers(INT32),
    FieldDescriptor.TYPE_SFIXED32: _integers(INT32),
    FieldDescriptor.TYPE_INT64: _integers(INT64),
    FieldDescriptor.TYPE_SINT64: _integers(INT64),
    FieldDescriptor.TYPE_SFIXED64: _integers(INT64),
    FieldDescriptor.TYPE_UINT32: _integers(UINT32),
    FieldDescriptor.TYPE_FIXED32: _integers(UINT32),
    FieldDescriptor.TYPE_UINT64: _integers(UINT64),
    FieldDescriptor.TYPE_FIXED64: _integers(UINT64),
    FieldDescriptor.TYPE_BOOL: st.booleans(),
    FieldDescriptor.TYPE_DOUBLE: st.floats(allow_nan=True, allow_infinity=True),
    FieldDescriptor.TYPE_FLOAT: st.floats(width=32, allow_nan=True, allow_infinity=True),
    FieldDescriptor.TYPE_STRING: st.one_of(st.sampled_from(STRINGS), st.text(max_size=40)),
    FieldDescriptor.TYPE_BYTES: st.binary(max_size=64),
}


def _enum(field: FieldDescriptor) -> st.SearchStrategy[int]:
    assert field.enum_type is not None
    known = [value.number for value in field.enum_type.values]
    return st.one_of(st.sampled_from(known), _integers(INT32))


def _value(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if field.type == FieldDescriptor.TYPE_ENUM:
        return _enum(field)
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        assert field.message_type is not None
        return messages(field.message_type, depth + 1)
    return _SCALARS[field.type]


def _special(descriptor: Descriptor) -> st.SearchStrategy[Message] | None:
    cls = message_factory.GetMessageClass(descriptor)
    if descriptor.full_name in ("google.protobuf.Timestamp", "google.protobuf.Duration"):
        seconds = st.one_of(st.sampled_from(EDGE_SECONDS), _integers(INT64))
        nanos = st.one_of(st.sampled_from(EDGE_NANOS), _integers(INT32))
        return st.builds(lambda s, n: cls(seconds=s, nanos=n), seconds, nanos)
    if descriptor.full_name == "google.protobuf.FieldMask":
        path = st.one_of(st.sampled_from(STRINGS), st.text(max_size=20))
        return st.builds(lambda paths: cls(paths=paths), st.lists(path, max_size=4))
    return None


def messages(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """Return a strategy for messages of `descriptor` (fields set at random, nesting bounded)."""
    special = _special(descriptor)
    if special is not None:
        return special
    cls = message_factory.GetMessageClass(descriptor)
    if depth > MAX_DEPTH:
        return st.just(cls())
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for field in descriptor.fields:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key = field.message_type.fields_by_name["key"]
            value = field.message_type.fields_by_name["value"]
            optional[field.name] = st.dictionaries(_value(key, depth), _value(value, depth), max_size=3)
        elif field.is_repeated:
            optional[field.name] = st.lists(_value(field, depth), max_size=3)
        else:
            optional[field.name] = _value(field, depth)
    return st.builds(_build, st.just(cls), st.fixed_dictionaries({}, optional=optional))


def _build(cls: type[Message], values: dict[str, Any]) -> Message:
    message = cls()
    for name, value in values.items():
        field = message.DESCRIPTOR.fields_by_name[name]
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            target = getattr(message, name)
            for key, item in value.items():
                if isinstance(item, Message):
                    target[key].CopyFrom(item)
                else:
                    target[key] = item
        elif field.is_repeated:
            getattr(message, name).extend(value)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            getattr(message, name).CopyFrom(value)
        else:
            setattr(message, name, value)
    return message
