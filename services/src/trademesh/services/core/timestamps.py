"""Protobuf Timestamps: datetimes to Timestamps, and every request time checked one way.

Every RPC that takes a time reads it through `instant_of`, `micros_of` or `nanos_of`: a Timestamp
outside the supported range (or with nanos outside 0..999,999,999) is INVALID_ARGUMENT naming the
field, never an overflow deep in a calendar computation (INTERNAL).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from trademesh.kernel.errors import FieldViolation, InvalidArgument

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: Earliest instant a request may carry. Well inside what datetime and every IST day, week, month
#: and year boundary computed from it can represent, and earlier than any trade a journal holds.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
#: First instant past the latest a request may carry (the same reasoning at the far end).
END = datetime(3000, 1, 1, tzinfo=UTC)

_MIN_SECONDS = int((EARLIEST - _EPOCH).total_seconds())
_END_SECONDS = int((END - _EPOCH).total_seconds())
_NANOS_PER_SECOND = 1_000_000_000
REASON = "INVALID_TIMESTAMP"


def timestamp(value: datetime) -> Timestamp:
    """Return a protobuf Timestamp of a datetime (naive: taken as UTC, as Timestamp.FromDatetime does)."""
    return Timestamp(**timestamp_init(value))


def timestamp_init(value: datetime) -> Any:
    """Return the initializer of a Timestamp field for a message constructor (a dict of its fields).

    A message built with a dict for a sub-message costs ~1.6 us; with a Timestamp object, which the
    constructor then copies, ~8 us (three per listed trade). Typed Any: the generated stubs name only
    the message type, and the runtime accepts both. Arithmetic rather than FromDatetime (calendar.timegm
    and a UTC conversion).
    """
    delta = (value if value.tzinfo is not None else value.replace(tzinfo=UTC)) - _EPOCH
    return {"seconds": delta.days * 86_400 + delta.seconds, "nanos": delta.microseconds * 1_000}


def timestamp_violation(stamp: Timestamp, field: str) -> FieldViolation | None:
    """Return why `stamp` is not an acceptable request time, or None if it is."""
    if not 0 <= stamp.nanos < _NANOS_PER_SECOND:
        return FieldViolation(field, "nanos must be between 0 and 999,999,999")
    if not _MIN_SECONDS <= stamp.seconds < _END_SECONDS:
        return FieldViolation(field, "must be a time from 1900-01-01 up to (not including) 3000-01-01 UTC")
    return None


def check_timestamp(stamp: Timestamp, field: str) -> None:
    """Raise InvalidArgument naming `field` unless `stamp` is an acceptable request time."""
    violation = timestamp_violation(stamp, field)
    if violation is not None:
        raise InvalidArgument(f"{field} is not a valid time", [violation], reason=REASON)


def instant_of(stamp: Timestamp, field: str) -> datetime:
    """Return the UTC instant of a request Timestamp (microsecond precision); InvalidArgument if out of range."""
    check_timestamp(stamp, field)
    return stamp.ToDatetime(tzinfo=UTC)


def micros_of(stamp: Timestamp, field: str) -> int:
    """Return epoch microseconds of a request Timestamp; InvalidArgument if out of range."""
    check_timestamp(stamp, field)
    return int(stamp.seconds) * 1_000_000 + int(stamp.nanos) // 1_000


def nanos_of(stamp: Timestamp, field: str) -> int:
    """Return epoch nanoseconds of a request Timestamp; InvalidArgument if out of range."""
    check_timestamp(stamp, field)
    return int(stamp.seconds) * _NANOS_PER_SECOND + int(stamp.nanos)
