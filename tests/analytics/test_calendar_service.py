"""GetPnlCalendar and GetDayTrips over real gRPC: trades written through the trade service, charges computed,
IST days, another user's days never visible, bad ranges refused with field violations."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import grpc

from tests.analytics.conftest import Mesh, create_trade, equity_trade
from tests.conftest import MeshUser
from tests.eventually import eventually
from tests.rpc import expect_failure
from trademesh.analytics.v1 import analytics_service_pb2 as messages
from trademesh.trade.v1 import trade_pb2

BUY, SELL = trade_pb2.SIDE_BUY, trade_pb2.SIDE_SELL
MICROS = 1_000_000


async def test_calendar_and_day_trips_are_the_callers_net_of_charges(
    start_mesh: Callable[..., Awaitable[Mesh]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    mesh = await start_mesh(marketdata=False)
    alice, bob = await new_user(), await new_user()
    # Monday 2 Nov 2026: 09:45 and 10:45 IST, and a round trip closing at 00:30 IST on Tuesday 3 Nov.
    monday = datetime(2026, 11, 2, 4, 15, tzinfo=UTC)
    await create_trade(mesh.trade, alice.metadata, equity_trade("INFY", BUY, 10, 1500, monday))
    sell = await create_trade(
        mesh.trade, alice.metadata, equity_trade("INFY", SELL, 10, 1510, monday + timedelta(hours=1))
    )
    await create_trade(mesh.trade, alice.metadata, equity_trade("TCS", BUY, 1, 3000, monday + timedelta(hours=9)))
    await create_trade(
        mesh.trade, alice.metadata, equity_trade("TCS", SELL, 1, 2990, monday + timedelta(hours=14, minutes=45))
    )
    await create_trade(mesh.trade, bob.metadata, equity_trade("SBIN", BUY, 1, 800, monday))
    await create_trade(mesh.trade, bob.metadata, equity_trade("SBIN", SELL, 1, 900, monday + timedelta(hours=1)))
    request = messages.GetPnlCalendarRequest(start_date="2026-11-01", end_date="2026-11-30")

    async def both_days() -> bool:
        calendar = (await mesh.analytics.GetPnlCalendar(request, metadata=alice.metadata)).calendar
        return calendar.trading_day_count == 2

    await eventually(both_days)
    calendar = (await mesh.analytics.GetPnlCalendar(request, metadata=alice.metadata)).calendar
    assert [day.date for day in calendar.days] == ["2026-11-02", "2026-11-03"]
    first = calendar.days[0]
    assert first.gross_pnl_micros == 100 * MICROS
    assert first.fees_micros > sell.fees_micros > 0  # both fills' computed charges
    assert first.net_pnl_micros == first.gross_pnl_micros - first.fees_micros
    assert calendar.net_pnl_micros == sum(day.net_pnl_micros for day in calendar.days)
    assert [month.month for month in calendar.months] == ["2026-11"]
    assert calendar.months[0].net_pnl_micros == calendar.net_pnl_micros
    assert [week.week_start for week in calendar.weeks] == ["2026-11-02"]

    trips = await mesh.analytics.GetDayTrips(messages.GetDayTripsRequest(date="2026-11-03"), metadata=alice.metadata)
    assert [trip.instrument.symbol for trip in trips.trips] == ["TCS"]
    assert trips.trips[0].gross_pnl_micros == -10 * MICROS
    assert not trips.trips[0].net_pnl_micros > 0
    assert trips.day.round_trip_count == 1

    theirs = (await mesh.analytics.GetPnlCalendar(request, metadata=bob.metadata)).calendar
    assert [day.date for day in theirs.days] == ["2026-11-02"]
    assert theirs.days[0].gross_pnl_micros == 100 * MICROS
    bob_day = await mesh.analytics.GetDayTrips(messages.GetDayTripsRequest(date="2026-11-02"), metadata=bob.metadata)
    assert [trip.instrument.symbol for trip in bob_day.trips] == ["SBIN"]


async def test_bad_ranges_and_days_are_invalid_arguments(
    start_mesh: Callable[..., Awaitable[Mesh]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    mesh = await start_mesh(marketdata=False)
    user = await new_user()
    for start, end, field in (
        ("", "2026-11-30", "start_date"),
        ("2026-11-01", "2026-13-01", "end_date"),
        ("2026-11-30", "2026-11-01", "end_date"),
        ("2025-01-01", "2026-01-02", "end_date"),
    ):
        failure = await expect_failure(
            mesh.analytics.GetPnlCalendar(
                messages.GetPnlCalendarRequest(start_date=start, end_date=end), metadata=user.metadata
            )
        )
        assert (failure.code, failure.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_DATE_RANGE")
        assert field in failure.violations
    failure = await expect_failure(
        mesh.analytics.GetDayTrips(messages.GetDayTripsRequest(date="yesterday"), metadata=user.metadata)
    )
    assert (failure.code, failure.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_DATE")
    assert "date" in failure.violations
    empty = await mesh.analytics.GetDayTrips(messages.GetDayTripsRequest(date="2026-11-02"), metadata=user.metadata)
    assert not empty.trips
    assert empty.day.net_pnl_micros == 0
