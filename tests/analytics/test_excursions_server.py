"""MAE/MFE end to end (decision 0270): trades written through the real trade service, ticks published on the
real Redis tick backplane, extremes recorded in FerretDB by the real analytics service — exact in GetDayTrips,
kept across a restart of analytics, never touching another user's position."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from tests.analytics.conftest import Mesh, create_trade, equity_trade
from tests.conftest import MeshUser
from tests.eventually import eventually
from trademesh.analytics.v1 import analytics_service_pb2, excursion_pb2, period_pb2
from trademesh.kernel.calendar import IST
from trademesh.kernel.ticks import TICK_CHANNEL_PREFIX, encode_tick_payload
from trademesh.marketdata.v1 import quote_pb2
from trademesh.services.analytics.excursion_store import COLLECTION
from trademesh.services.analytics.server import AnalyticsRuntime, build_analytics_runtime
from trademesh.trade.v1 import trade_pb2

BUY, SELL = trade_pb2.SIDE_BUY, trade_pb2.SIDE_SELL
MICROS = 1_000_000
Document = dict[str, Any]


async def publish(redis: Redis, symbol: str, rupees: int) -> None:
    """Publish one tick the way market data does (kernel payload: header, then the LTP/QUOTE/FULL views)."""
    body = quote_pb2.Quote(last_price_micros=rupees * MICROS).SerializeToString()
    payload = encode_tick_payload(1, 1, time.time_ns(), (body, body, body))
    await redis.publish(f"{TICK_CHANNEL_PREFIX}NSE:{symbol}", payload)


async def recorded(mesh: Mesh, user_id: str, symbol: str) -> Document | None:
    client: AsyncMongoClient[Document] = AsyncMongoClient(mesh.settings.mongo_url)
    try:
        return await client[mesh.settings.mongo_database][COLLECTION].find_one(
            {"user_id": user_id, "instrument": f"NSE:{symbol}"}
        )
    finally:
        await client.close()


async def watching(runtime: AnalyticsRuntime, symbol: str) -> None:
    """Wait until the analytics replica records the instrument's ticks."""

    async def watched() -> bool:
        return (symbol, "NSE") in runtime.recorder.watched

    await eventually(watched, within=10, what=f"{symbol} watched")


async def ticks_until(
    mesh: Mesh, redis: Redis, user_id: str, symbol: str, prices: tuple[int, ...], expect: tuple[int, int] | None = None
) -> Document:
    """Publish the prices (again) until the user's position records the expected low and high (rupees)."""
    low, high = (min(prices), max(prices)) if expect is None else expect
    low, high = low * MICROS, high * MICROS

    async def seen() -> Document | None:
        for rupees in prices:
            await publish(redis, symbol, rupees)
        found = await recorded(mesh, user_id, symbol)
        if found is not None and found.get("low_micros") == low and found.get("high_micros") == high:
            return found
        return None

    return await eventually(seen, within=20, what=f"{symbol} records {low}..{high}")


async def test_live_ticks_make_an_exact_excursion_and_leave_other_users_alone(
    start_mesh: Callable[..., Awaitable[Mesh]], new_user: Callable[[], Awaitable[MeshUser]], redis: Redis
) -> None:
    mesh = await start_mesh(marketdata=False)
    alice, bob = await new_user(), await new_user()
    plan = equity_trade("MAEXA", BUY, 10, 1500, datetime.now(UTC))
    plan.planned_risk_micros = 200 * MICROS
    await create_trade(mesh.trade, alice.metadata, plan)
    await create_trade(mesh.trade, bob.metadata, equity_trade("MAEXB", SELL, 3, 700, datetime.now(UTC)))
    await watching(mesh.runtime, "MAEXA")

    await ticks_until(mesh, redis, alice.user_id, "MAEXA", (1490, 1530, 1495))
    theirs = await recorded(mesh, bob.user_id, "MAEXB")
    assert theirs is not None
    assert "low_micros" not in theirs  # MAEXA's ticks never reach bob's MAEXB

    await create_trade(mesh.trade, alice.metadata, equity_trade("MAEXA", SELL, 10, 1510, datetime.now(UTC)))
    today = datetime.now(IST).date().isoformat()
    request = analytics_service_pb2.GetDayTripsRequest(date=today)

    async def exact() -> analytics_service_pb2.GetDayTripsResponse | None:
        response = await mesh.analytics.GetDayTrips(request, metadata=alice.metadata)
        ok = len(response.trips) == 1 and response.trips[0].excursion.quality == excursion_pb2.EXCURSION_QUALITY_EXACT
        return response if ok else None

    response = await eventually(exact, within=20, what="the round trip measured EXACT")
    found = response.trips[0].excursion
    # Long 10 @1500, ticks 1490..1530: MAE (1490 - 1500) x 10 = -₹100, MFE (1530 - 1500) x 10 = ₹300; 1R = ₹200.
    assert (found.mae_micros, found.mfe_micros) == (-100 * MICROS, 300 * MICROS)
    assert (found.mae_price_micros, found.mfe_price_micros) == (-10 * MICROS, 30 * MICROS)
    assert (found.mae_r_milli, found.mfe_r_milli) == (-500, 1500)
    assert (found.low_micros, found.high_micros) == (1490 * MICROS, 1530 * MICROS)
    # Ticks after the close no longer move it.
    await publish(redis, "MAEXA", 1000)
    closed = await recorded(mesh, alice.user_id, "MAEXA")
    assert closed is not None
    assert closed["closed_us"] is not None
    # Bob sees only his own day: his position is still open, so none of alice's round trips.
    assert not (await mesh.analytics.GetDayTrips(request, metadata=bob.metadata)).trips
    # And GetAnalytics summarises it.
    report = (
        await mesh.analytics.GetAnalytics(
            analytics_service_pb2.GetAnalyticsRequest(period=period_pb2.PERIOD_DAILY), metadata=alice.metadata
        )
    ).report
    assert (report.excursions.measured_round_trip_count, report.excursions.exact_round_trip_count) == (1, 1)
    assert report.excursions.average_mfe_micros == 300 * MICROS


async def test_a_restarted_analytics_keeps_the_extremes_and_records_on(
    start_mesh: Callable[..., Awaitable[Mesh]], new_user: Callable[[], Awaitable[MeshUser]], redis: Redis
) -> None:
    mesh = await start_mesh(marketdata=False)
    user = await new_user()
    await create_trade(mesh.trade, user.metadata, equity_trade("MAEXC", BUY, 2, 100, datetime.now(UTC)))
    await watching(mesh.runtime, "MAEXC")
    await ticks_until(mesh, redis, user.user_id, "MAEXC", (97, 104))

    await mesh.runtime.host.stop(0)
    restarted = await build_analytics_runtime(mesh.settings)
    try:
        await watching(restarted, "MAEXC")
        # The new replica knows the open position from the database alone, keeps 97..104, and widens it.
        found = await ticks_until(mesh, redis, user.user_id, "MAEXC", (95, 99), expect=(95, 104))
        assert (found["low_micros"], found["high_micros"]) == (95 * MICROS, 104 * MICROS)
    finally:
        await restarted.host.stop(0)
