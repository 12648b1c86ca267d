"""GetBars on a real server for 1-minute, 5-minute and day bars: from the feed, from stored bars, and bad input."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from pymongo import AsyncMongoClient

from tests.conftest import MeshUser
from tests.eventually import eventually
from tests.marketdata.helpers import nse
from tests.rpc import expect_failure
from trademesh.marketdata.v1 import bar_pb2, marketdata_service_pb2
from trademesh.services.marketdata.model import (
    DAY_NANOS,
    FIVE_MINUTE_NANOS,
    MINUTE_NANOS,
    Bar,
    BarInterval,
    InstrumentKey,
    interval_floor,
)
from trademesh.services.marketdata.settings import MarketDataSettings
from trademesh.services.marketdata.store import MongoBarStore

INTERVALS = (bar_pb2.BAR_INTERVAL_ONE_MINUTE, bar_pb2.BAR_INTERVAL_FIVE_MINUTES, bar_pb2.BAR_INTERVAL_ONE_DAY)


def _timestamp(ns: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(ns)
    return stamp


def _request(symbol: str, interval: int, start_ns: int, **fields: Any) -> marketdata_service_pb2.GetBarsRequest:
    return marketdata_service_pb2.GetBarsRequest(
        instrument=nse(symbol)[0],
        interval=bar_pb2.BarInterval.ValueType(interval),
        start_time=_timestamp(start_ns),
        **fields,
    )


async def test_ticks_of_the_feed_become_bars_of_every_interval(
    start_marketdata: Callable[..., Any], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    _, stub = await start_marketdata(simulator_ticks_per_second=400.0)
    user = await new_user()
    start = time.time_ns() - 2 * DAY_NANOS

    async def every_interval_has_bars() -> bool:
        for interval in INTERVALS:
            response = await stub.GetBars(_request("INFY", interval, start), metadata=user.metadata)
            if not response.bars:
                return False
        return True

    await eventually(every_interval_has_bars)
    fives = (await stub.GetBars(_request("INFY", INTERVALS[1], start), metadata=user.metadata)).bars
    assert all(bar.start_time.seconds % 300 == 0 and bar.low_micros <= bar.high_micros for bar in fives)

    async def the_day_bar_covers_its_minutes() -> bool:
        days = (await stub.GetBars(_request("INFY", INTERVALS[2], start), metadata=user.metadata)).bars
        day = days[-1]
        minutes = await stub.GetBars(
            _request("INFY", INTERVALS[0], day.start_time.ToNanoseconds()), metadata=user.metadata
        )
        assert (day.start_time.seconds + 19800) % 86400 == 0  # IST midnight
        assert not day.complete
        high = max(bar.high_micros for bar in minutes.bars)
        low = min(bar.low_micros for bar in minutes.bars)
        return bool(day.high_micros == high and day.low_micros == low)

    await eventually(the_day_bar_covers_its_minutes)


async def test_stored_bars_are_served_per_interval_and_outlive_the_minutes(
    start_marketdata: Callable[..., Any],
    new_user: Callable[[], Awaitable[MeshUser]],
    make_marketdata_settings: Callable[..., MarketDataSettings],
) -> None:
    settings = make_marketdata_settings()
    _, stub = await start_marketdata(ingest_enabled=False, mongo_database=settings.mongo_database)
    user = await new_user()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongo_url)
    store = MongoBarStore(client[settings.mongo_database])
    key = InstrumentKey.parse("NSE:TCS")
    now = time.time_ns()
    recent = interval_floor(now, BarInterval.FIVE_MINUTES) - 3 * FIVE_MINUTE_NANOS
    old = interval_floor(now - 90 * DAY_NANOS, BarInterval.ONE_DAY) + 5 * 3600 * 1_000_000_000  # 05:00 IST
    await store.save(
        [Bar(key, recent + i * MINUTE_NANOS, 100 + i, 200, 50, 150 + i, 1, 0, True) for i in range(10)]
        + [Bar(key, old + i * MINUTE_NANOS, 10, 20, 5, 15, 4, 0, True) for i in range(3)]
    )
    await store.delete_before(datetime.now(UTC) - timedelta(days=30))  # the 90-day-old minutes go
    far = now - 120 * DAY_NANOS

    minutes = await stub.GetBars(_request("TCS", INTERVALS[0], far), metadata=user.metadata)
    assert [bar.open_micros for bar in minutes.bars] == [100 + i for i in range(10)]
    fives = await stub.GetBars(_request("TCS", INTERVALS[1], far), metadata=user.metadata)
    assert [(bar.start_time.ToNanoseconds(), bar.open_micros, bar.close_micros, bar.volume) for bar in fives.bars] == [
        (old, 10, 15, 12),
        (recent, 100, 154, 5),
        (recent + FIVE_MINUTE_NANOS, 105, 159, 5),
    ]
    assert fives.earliest_available_time.ToNanoseconds() == old
    days = await stub.GetBars(_request("TCS", INTERVALS[2], far, page_size=1), metadata=user.metadata)
    assert [bar.start_time.ToNanoseconds() for bar in days.bars] == [interval_floor(old, BarInterval.ONE_DAY)]
    assert days.bars[0].complete
    following = await stub.GetBars(
        _request("TCS", INTERVALS[2], far, page_size=1, page_token=days.next_page_token), metadata=user.metadata
    )
    assert following.bars[0].start_time.ToNanoseconds() == interval_floor(recent, BarInterval.ONE_DAY)
    same_day = [
        i
        for i in range(10)
        if interval_floor(recent + i * MINUTE_NANOS, BarInterval.ONE_DAY) == interval_floor(recent, BarInterval.ONE_DAY)
    ]
    assert following.bars[0].volume == len(same_day)

    # A token of one interval does not page another.
    reused = _request("TCS", INTERVALS[1], far, page_size=1, page_token=days.next_page_token)
    assert (await expect_failure(stub.GetBars(reused, metadata=user.metadata))).reason == "PAGE_TOKEN_INVALID"
    await client.close()


async def test_bad_get_bars_requests_are_invalid_for_every_interval(
    start_marketdata: Callable[..., Any], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    _, stub = await start_marketdata(ingest_enabled=False)
    user = await new_user()
    now = time.time_ns()
    for unknown in (0, 4, 99):
        failure = await expect_failure(stub.GetBars(_request("INFY", unknown, now - DAY_NANOS), metadata=user.metadata))
        assert (failure.code, failure.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_INTERVAL")
    for interval in INTERVALS:
        backwards = _request("INFY", interval, now - DAY_NANOS, end_time=_timestamp(now - 2 * DAY_NANOS))
        failure = await expect_failure(stub.GetBars(backwards, metadata=user.metadata))
        assert (failure.code, failure.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_TIME_RANGE")
        no_start = marketdata_service_pb2.GetBarsRequest(instrument=nse("INFY")[0], interval=interval)
        failure = await expect_failure(stub.GetBars(no_start, metadata=user.metadata))
        assert failure.reason == "INVALID_TIME_RANGE"
        empty = await stub.GetBars(_request("INFY", interval, now - DAY_NANOS), metadata=user.metadata)
        assert not empty.bars
        assert not empty.HasField("earliest_available_time")
        failure = await expect_failure(
            stub.GetBars(_request("NOPE", interval, now - DAY_NANOS), metadata=user.metadata)
        )
        assert failure.code == grpc.StatusCode.NOT_FOUND
        failure = await expect_failure(stub.GetBars(_request("INFY", interval, now - DAY_NANOS)))
        assert failure.code == grpc.StatusCode.UNAUTHENTICATED
