"""Single active ingest (lease + fence), sequences across failover, bars in the database."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from tests.conftest import MeshUser
from tests.eventually import eventually
from tests.marketdata.helpers import nse
from tests.rpc import expect_failure
from trademesh.marketdata.v1 import bar_pb2, marketdata_service_pb2
from trademesh.services.marketdata.backplane import IngestLease
from trademesh.services.marketdata.mapping import MODES, EncodedQuote
from trademesh.services.marketdata.model import MINUTE_NANOS, Bar, InstrumentKey, Quote, Source
from trademesh.services.marketdata.settings import MarketDataSettings
from trademesh.services.marketdata.store import MongoBarStore


async def _sequence(stub: Any, user: MeshUser, symbol: str = "INFY") -> int:
    response = await stub.GetQuote(
        marketdata_service_pb2.GetQuoteRequest(instrument=nse(symbol)[0]), metadata=user.metadata
    )
    return int(response.quote.sequence)


async def test_one_active_ingest_and_failover_keeps_sequences_increasing(
    start_marketdata: Callable[..., Any], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    first, stub = await start_marketdata()
    second, _ = await start_marketdata()
    user = await new_user()

    async def one_active() -> bool:
        return [first.ingest.active, second.ingest.active].count(True) == 1

    await eventually(one_active)
    await eventually(lambda: _positive(_sequence(stub, user)))
    active, standby = (first, second) if first.ingest.active else (second, first)
    before = await _sequence(stub, user)
    await active.stop(0)

    async def took_over() -> bool:
        return bool(standby.ingest.active)

    await eventually(took_over, within=5)
    standby_stub = stub if standby is first else _stub_for(standby)

    async def advanced() -> bool:
        return await _sequence(standby_stub, user) > before

    await eventually(advanced)


async def _positive(value: Awaitable[int]) -> bool:
    return await value > 0


def _stub_for(host: Any) -> Any:
    from grpc import aio

    from trademesh.marketdata.v1 import marketdata_service_pb2_grpc

    return marketdata_service_pb2_grpc.MarketDataServiceStub(aio.insecure_channel(f"127.0.0.1:{host.port}"))


async def test_a_fenced_off_ingest_cannot_publish(redis: Redis) -> None:
    old = IngestLease(redis, "simulated", ttl_seconds=1.0)
    assert await old.try_acquire()
    await redis.delete("md:ingest:lock:simulated")  # the lease lapsed (e.g. a long pause)
    new = IngestLease(redis, "simulated", ttl_seconds=1.0)
    assert await new.try_acquire()
    quote = EncodedQuote.encode(
        Quote(InstrumentKey.parse("NSE:INFY"), 408065, Source.SIMULATED, 5, 1_000_000, time.time_ns()), MODES
    )
    assert not await old.publish([quote])
    assert await redis.get("md:quote:NSE:INFY") is None
    assert not await old.renew()
    assert await new.publish([quote])
    assert await redis.get("md:quote:NSE:INFY") == quote.payload


async def test_bars_are_built_from_ticks_and_served(
    start_marketdata: Callable[..., Any], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    _, stub = await start_marketdata(simulator_ticks_per_second=400.0)
    user = await new_user()
    start = Timestamp()
    start.FromDatetime(datetime.now(UTC) - timedelta(minutes=5))

    async def has_bars() -> bool:
        response = await stub.GetBars(
            marketdata_service_pb2.GetBarsRequest(
                instrument=nse("INFY")[0], interval=bar_pb2.BAR_INTERVAL_ONE_MINUTE, start_time=start
            ),
            metadata=user.metadata,
        )
        return len(response.bars) > 0

    await eventually(has_bars)
    response = await stub.GetBars(
        marketdata_service_pb2.GetBarsRequest(
            instrument=nse("INFY")[0], interval=bar_pb2.BAR_INTERVAL_ONE_MINUTE, start_time=start
        ),
        metadata=user.metadata,
    )
    bar = response.bars[-1]
    assert bar.low_micros <= min(bar.open_micros, bar.close_micros) <= bar.high_micros
    assert bar.start_time.seconds % 60 == 0
    assert response.HasField("earliest_available_time")


async def test_get_bars_pages_validates_and_retention_sweeps(
    start_marketdata: Callable[..., Any],
    new_user: Callable[[], Awaitable[MeshUser]],
    make_marketdata_settings: Callable[..., MarketDataSettings],
) -> None:
    settings = make_marketdata_settings()
    _, stub = await start_marketdata(ingest_enabled=False, mongo_database=settings.mongo_database)
    user = await new_user()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongo_url)
    store = MongoBarStore(client[settings.mongo_database])
    now = time.time_ns()
    base = now - now % MINUTE_NANOS - 10 * MINUTE_NANOS
    key = InstrumentKey.parse("NSE:TCS")
    old = base - 40 * 86400 * 1_000_000_000
    await store.save(
        [Bar(key, base + i * MINUTE_NANOS, 100 + i, 110 + i, 90 + i, 105 + i, i, 0, True) for i in range(7)]
        + [Bar(key, old, 1, 1, 1, 1, 1, 0, True)]
    )
    start = Timestamp()
    start.FromNanoseconds(old - MINUTE_NANOS)
    request = marketdata_service_pb2.GetBarsRequest(
        instrument=nse("TCS")[0], interval=bar_pb2.BAR_INTERVAL_ONE_MINUTE, start_time=start, page_size=3
    )
    pages = []
    while True:
        response = await stub.GetBars(request, metadata=user.metadata)
        pages.append([b.open_micros for b in response.bars])
        if not response.next_page_token:
            break
        request.page_token = response.next_page_token
    # The 40-day-old bar is past the retention horizon; the rest arrive oldest first, 3 per page.
    assert pages == [[100, 101, 102], [103, 104, 105], [106]]
    assert response.earliest_available_time.ToNanoseconds() == base

    tampered = marketdata_service_pb2.GetBarsRequest()
    tampered.CopyFrom(request)
    tampered.page_size = 4
    assert (await expect_failure(stub.GetBars(tampered, metadata=user.metadata))).reason == "PAGE_TOKEN_INVALID"
    tampered.page_token = "garbage!"
    assert (await expect_failure(stub.GetBars(tampered, metadata=user.metadata))).reason == "PAGE_TOKEN_INVALID"
    no_interval = marketdata_service_pb2.GetBarsRequest(instrument=nse("TCS")[0], start_time=start)
    assert (await expect_failure(stub.GetBars(no_interval, metadata=user.metadata))).reason == "INVALID_INTERVAL"
    no_start = marketdata_service_pb2.GetBarsRequest(instrument=nse("TCS")[0], interval=bar_pb2.BAR_INTERVAL_ONE_MINUTE)
    assert (await expect_failure(stub.GetBars(no_start, metadata=user.metadata))).reason == "INVALID_TIME_RANGE"
    unknown = marketdata_service_pb2.GetBarsRequest(
        instrument=nse("NOPE")[0], interval=bar_pb2.BAR_INTERVAL_ONE_MINUTE, start_time=start
    )
    failure = await expect_failure(stub.GetBars(unknown, metadata=user.metadata))
    assert failure.code == grpc.StatusCode.NOT_FOUND

    deleted = await store.delete_before(datetime.now(UTC) - timedelta(days=30))
    assert deleted == 1
    assert await client[settings.mongo_database]["bars"].count_documents({}) >= 1
    await client.close()
