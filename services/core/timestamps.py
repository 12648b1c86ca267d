"""Protobuf Timestamps of datetimes, shared by every service's mapping."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timestamp(value: datetime) -> Timestamp:
    """Return a protobuf Timestamp of a datetime (naive: taken as UTC, as Timestamp.FromDatetime does)."""
    # Arithmetic rather than FromDatetime (calendar.timegm and a UTC conversion): a listed trade has three
    delta = (value if value.tzinfo is not None else value.replace(tzinfo=UTC)) - _EPOCH
    return Timestamp(seconds=delta.days * 86_400 + delta.seconds, nanos=delta.microseconds * 1_000)
