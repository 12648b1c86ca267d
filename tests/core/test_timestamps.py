"""The shared datetime -> Timestamp mapping agrees with protobuf's own FromDatetime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given
from hypothesis import strategies as st

from trademesh.services.core.timestamps import timestamp, timestamp_init

IST = timezone(timedelta(hours=5, minutes=30))


def _from_datetime(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)), st.sampled_from([UTC, IST, None]))
def test_timestamp_is_from_datetime(moment: datetime, zone: timezone | None) -> None:
    value = moment.replace(tzinfo=zone)
    assert timestamp(value) == _from_datetime(value)
    assert Timestamp(**timestamp_init(value)) == _from_datetime(value)


def test_an_ist_instant_and_its_utc_instant_give_one_timestamp() -> None:
    utc = datetime(2026, 12, 4, 4, 0, 0, 123456, tzinfo=UTC)
    assert timestamp(utc.astimezone(IST)) == timestamp(utc) == Timestamp(seconds=1796356800, nanos=123456000)
