"""Analytics by slice end to end (decision 0250): trades with strategies and tags written through the real trade
service, GetAnalytics / CompareAnalytics / GetPnlCalendar from the real analytics service (Redis, FerretDB):
slices, cross-user isolation, bad input, empty slices, and a cached slice refreshed by a tag edit (UpdateTrade)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf.field_mask_pb2 import FieldMask

from tests.analytics.conftest import Mesh, create_trade, equity_trade
from tests.conftest import MeshUser
from tests.eventually import eventually
from tests.rpc import expect_failure
from trademesh.analytics.v1 import analytics_service_pb2, period_pb2, slice_pb2
from trademesh.trade.v1 import trade_pb2, trade_service_pb2

BUY, SELL = trade_pb2.SIDE_BUY, trade_pb2.SIDE_SELL
MANUAL = trade_pb2.CHARGES_SOURCE_MANUAL
MICROS = 1_000_000


def query(**fields: object) -> analytics_service_pb2.GetAnalyticsRequest:
    return analytics_service_pb2.GetAnalyticsRequest(
        period=period_pb2.PERIOD_ALL_TIME,
        slice=slice_pb2.AnalyticsSlice(**fields),  # type: ignore[arg-type]
    )


async def round_trips(mesh: Mesh, user: MeshUser, request: analytics_service_pb2.GetAnalyticsRequest) -> int:
    return (await mesh.analytics.GetAnalytics(request, metadata=user.metadata)).report.performance.round_trip_count


async def test_slices_of_a_real_journal_stay_the_callers_and_follow_tag_edits(
    start_mesh: Callable[..., Awaitable[Mesh]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    mesh = await start_mesh(marketdata=False)
    alice, bob = await new_user(), await new_user()
    opened = datetime.now(UTC).replace(hour=4, minute=0, second=0, microsecond=0) - timedelta(days=1)  # 09:30 IST
    infy_close_day = opened.date().isoformat()

    def trade(symbol: str, side: int, rupees: int, minutes: int, strategy: str = "", *tags: str) -> trade_pb2.Trade:
        message = equity_trade(symbol, side, 10, rupees, opened + timedelta(minutes=minutes), charges_source=MANUAL)
        message.strategy = strategy
        message.tags.extend(tags)
        return message

    # Alice: INFY long "Breakout" [fomo] +400, TCS short "Reversal" -100, SBIN long without labels +50.
    infy = await create_trade(mesh.trade, alice.metadata, trade("INFY", BUY, 1500, 0, "Breakout", "fomo"))
    await create_trade(mesh.trade, alice.metadata, trade("INFY", SELL, 1540, 10))
    await create_trade(mesh.trade, alice.metadata, trade("TCS", SELL, 3500, 20, "Reversal"))
    await create_trade(mesh.trade, alice.metadata, trade("TCS", BUY, 3510, 30))
    sbin = await create_trade(mesh.trade, alice.metadata, trade("SBIN", BUY, 800, 40))
    await create_trade(mesh.trade, alice.metadata, trade("SBIN", SELL, 805, 50))
    # Bob: one round trip with the same strategy and tag.
    await create_trade(mesh.trade, bob.metadata, trade("INFY", BUY, 1500, 0, "breakout", "FOMO"))
    await create_trade(mesh.trade, bob.metadata, trade("INFY", SELL, 1490, 10))

    async def applied() -> bool:
        everything = analytics_service_pb2.GetAnalyticsRequest(period=period_pb2.PERIOD_ALL_TIME)
        return await round_trips(mesh, alice, everything) == 3 and await round_trips(mesh, bob, everything) == 1

    await eventually(applied)

    fomo = query(tags=["fomo"])
    report = (await mesh.analytics.GetAnalytics(fomo, metadata=alice.metadata)).report
    assert (report.performance.round_trip_count, report.performance.net_pnl_micros) == (1, 400 * MICROS)
    bobs = (await mesh.analytics.GetAnalytics(fomo, metadata=bob.metadata)).report
    assert (bobs.performance.round_trip_count, bobs.performance.net_pnl_micros) == (1, -100 * MICROS)
    assert await round_trips(mesh, alice, query(side=slice_pb2.OPENING_SIDE_SELL)) == 1
    assert await round_trips(mesh, alice, query(strategies=["BREAKOUT", "reversal"])) == 2
    assert await round_trips(mesh, alice, query(segments=[slice_pb2.SLICE_SEGMENT_EQUITY], symbols=["sbin"])) == 1
    # An unknown tag is not an error: an empty report.
    assert await round_trips(mesh, alice, query(tags=["never-used"])) == 0

    compared = await mesh.analytics.CompareAnalytics(
        analytics_service_pb2.CompareAnalyticsRequest(query=fomo, rest=True), metadata=alice.metadata
    )
    assert (compared.first.performance.round_trip_count, compared.second.performance.round_trip_count) == (1, 2)
    assert compared.second.performance.net_pnl_micros == -50 * MICROS

    calendar = await mesh.analytics.GetPnlCalendar(
        analytics_service_pb2.GetPnlCalendarRequest(
            start_date=(opened - timedelta(days=1)).date().isoformat(),
            end_date=(datetime.now(UTC) + timedelta(days=1)).date().isoformat(),
            slice=slice_pb2.AnalyticsSlice(tags=["fomo"]),
        ),
        metadata=alice.metadata,
    )
    assert calendar.calendar.net_pnl_micros == 400 * MICROS
    day = await mesh.analytics.GetDayTrips(
        analytics_service_pb2.GetDayTripsRequest(
            date=infy_close_day, slice=slice_pb2.AnalyticsSlice(side=slice_pb2.OPENING_SIDE_BUY)
        ),
        metadata=alice.metadata,
    )
    assert sorted(trip.instrument.symbol for trip in day.trips) == ["INFY", "SBIN"]
    bobs_compare = await mesh.analytics.CompareAnalytics(
        analytics_service_pb2.CompareAnalyticsRequest(query=fomo, rest=True), metadata=bob.metadata
    )
    assert (bobs_compare.first.performance.round_trip_count, bobs_compare.second.performance.round_trip_count) == (1, 0)

    # Tag SBIN's opening trade "fomo" (UpdateTrade): the cached fomo slice refreshes.
    current = (await mesh.trade.GetTrade(trade_service_pb2.GetTradeRequest(id=sbin.id), metadata=alice.metadata)).trade
    await mesh.trade.UpdateTrade(
        trade_service_pb2.UpdateTradeRequest(
            trade=trade_pb2.Trade(id=sbin.id, tags=["fomo", "a+"]),
            update_mask=FieldMask(paths=["tags"]),
            etag=current.etag,
        ),
        metadata=alice.metadata,
    )

    async def retagged() -> bool:
        return await round_trips(mesh, alice, fomo) == 2

    await eventually(retagged)
    assert await round_trips(mesh, alice, query(tags=["fomo", "a+"], tag_match=slice_pb2.TAG_MATCH_ALL)) == 1
    assert await round_trips(mesh, bob, fomo) == 1
    assert infy.id  # the INFY entry keeps its tag


async def test_a_malformed_slice_is_invalid_argument_naming_each_field(
    start_mesh: Callable[..., Awaitable[Mesh]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    mesh = await start_mesh(marketdata=False)
    user = await new_user()
    bad = query(segments=[42], tags=["x" * 40], weekdays=[0], hours=slice_pb2.HourRange(start_hour=12, end_hour=9))
    failure = await expect_failure(mesh.analytics.GetAnalytics(bad, metadata=user.metadata))
    assert failure.code is grpc.StatusCode.INVALID_ARGUMENT
    assert failure.reason == "INVALID_SLICE"
    assert set(failure.violations) == {
        "slice.segments[0]",
        "slice.tags[0]",
        "slice.weekdays[0]",
        "slice.hours.end_hour",
    }

    compare = analytics_service_pb2.CompareAnalyticsRequest(query=query(), other=slice_pb2.AnalyticsSlice(side=9))  # type: ignore[arg-type]
    failure = await expect_failure(mesh.analytics.CompareAnalytics(compare, metadata=user.metadata))
    assert (failure.code, failure.reason, set(failure.violations)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_SLICE",
        {"other.side"},
    )
    neither = analytics_service_pb2.CompareAnalyticsRequest(query=query())
    failure = await expect_failure(mesh.analytics.CompareAnalytics(neither, metadata=user.metadata))
    assert (failure.code, failure.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_COMPARISON")

    # A user without trades: a slice is an empty report, not an error.
    empty = (await mesh.analytics.GetAnalytics(query(strategies=["any"]), metadata=user.metadata)).report
    assert empty.performance.round_trip_count == 0
