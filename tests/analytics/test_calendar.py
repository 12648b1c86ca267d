"""The P&L calendar use cases against in-memory fakes: IST days of closing fills, net of charges, totals, bad input."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.analytics.fakes import (
    InMemoryTradeSource,
)
from tests.analytics.wiring import wired
from trademesh.kernel.errors import InvalidArgument
from trademesh.services.analytics.model import Category, JournalFill, to_micros
from trademesh.services.analytics.service import AnalyticsService

MICROS = 1_000_000
ALICE, BOB = "alice", "bob"


def at(text: str) -> int:
    """Return an instant written in UTC ("2026-11-02 04:00")."""
    return to_micros(datetime.fromisoformat(text).replace(tzinfo=UTC))


def fill(trade_id: str, buy: bool, units: int, rupees: int, when: str, *, fees: int = 0) -> JournalFill:
    time_us = at(when)
    return JournalFill(
        trade_id=trade_id,
        symbol="INFY",
        exchange="NSE",
        buy=buy,
        quantity_micros=units * MICROS,
        price_micros=rupees * MICROS,
        fees_micros=fees * MICROS,
        time_us=time_us,
        create_time_us=time_us,
        category=Category.INTRADAY,
        trade_version=1,
    )


@pytest.fixture
def trades() -> InMemoryTradeSource:
    source = InMemoryTradeSource()
    for item in (
        # Opened Friday 30 Oct, closed Monday 2 Nov 10:00 IST: counts on its closing day, +100 - 20 charges.
        fill("a1", True, 10, 100, "2026-10-30 05:00", fees=10),
        fill("a2", False, 10, 110, "2026-11-02 04:30", fees=10),
        # Closed Tuesday 3 Nov at 00:30 IST (Monday 19:00 UTC): an IST day, not a UTC day. -50.
        fill("b1", True, 10, 100, "2026-11-02 10:00"),
        fill("b2", False, 10, 95, "2026-11-02 19:00"),
        # Two round trips on Monday 9 Nov: +30 and -10.
        fill("c1", True, 1, 100, "2026-11-09 04:00"),
        fill("c2", False, 1, 130, "2026-11-09 05:00"),
        fill("d1", True, 1, 100, "2026-11-09 06:00"),
        fill("d2", False, 1, 90, "2026-11-09 07:00"),
        # December: +5.
        fill("e1", True, 1, 100, "2026-12-01 04:00"),
        fill("e2", False, 1, 105, "2026-12-01 05:00"),
    ):
        source.put(ALICE, item)
    source.put(BOB, fill("z1", True, 1, 100, "2026-11-09 04:00"))
    source.put(BOB, fill("z2", False, 1, 999, "2026-11-09 05:00"))
    return source


@pytest.fixture
def service(trades: InMemoryTradeSource) -> AnalyticsService:
    return wired(at("2026-12-05 06:00"), trades=trades).service


async def test_days_are_ist_days_of_the_closing_fill_net_of_charges(service: AnalyticsService) -> None:
    calendar = await service.pnl_calendar(ALICE, "2026-11-01", "2026-11-30")
    days = {day.date.isoformat(): day for day in calendar.days}
    assert list(days) == ["2026-11-02", "2026-11-03", "2026-11-09"]
    assert days["2026-11-02"].net_pnl_micros == 80 * MICROS
    assert days["2026-11-02"].gross_pnl_micros == 100 * MICROS
    assert days["2026-11-02"].fees_micros == 20 * MICROS
    assert days["2026-11-03"].net_pnl_micros == -50 * MICROS
    nine = days["2026-11-09"]
    assert (nine.net_pnl_micros, nine.round_trip_count, nine.win_count, nine.loss_count) == (20 * MICROS, 2, 1, 1)
    assert calendar.net_pnl_micros == 50 * MICROS
    weeks = {week.start.isoformat(): week for week in calendar.weeks}
    assert weeks["2026-11-02"].net_pnl_micros == 30 * MICROS
    assert weeks["2026-11-02"].trading_day_count == 2
    assert weeks["2026-11-09"].round_trip_count == 2
    (november,) = calendar.months
    assert (november.trading_day_count, november.green_day_count, november.red_day_count) == (3, 2, 1)
    assert november.net_pnl_micros == calendar.net_pnl_micros


async def test_a_range_spans_months_and_stops_at_its_bounds(service: AnalyticsService) -> None:
    calendar = await service.pnl_calendar(ALICE, "2026-11-03", "2026-12-31")
    assert [day.date.isoformat() for day in calendar.days] == ["2026-11-03", "2026-11-09", "2026-12-01"]
    assert [month.start.isoformat() for month in calendar.months] == ["2026-11-01", "2026-12-01"]
    assert [month.net_pnl_micros for month in calendar.months] == [-30 * MICROS, 5 * MICROS]
    empty = await service.pnl_calendar(ALICE, "2025-01-01", "2025-12-31")
    assert empty.days == ()
    assert empty.months == ()
    assert empty.net_pnl_micros == 0


async def test_day_trips_list_that_days_round_trips_only_of_the_caller(service: AnalyticsService) -> None:
    day = await service.day_trips(ALICE, "2026-11-09")
    assert [trip.opening_trade_id for trip in day.trips] == ["c1", "d1"]
    assert [trip.net_pnl_micros for trip in day.trips] == [30 * MICROS, -10 * MICROS]
    assert day.day.round_trip_count == 2
    theirs = await service.day_trips(BOB, "2026-11-09")
    assert [trip.opening_trade_id for trip in theirs.trips] == ["z1"]
    quiet = await service.day_trips(ALICE, "2026-11-10")
    assert quiet.trips == ()
    assert quiet.day.net_pnl_micros == 0


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("", "2026-11-30", "start_date"),
        ("2026-11-01", "30/11/2026", "end_date"),
        ("2026-11-31", "2026-12-01", "start_date"),
        ("2026-12-01", "2026-11-01", "end_date"),
        ("2026-01-01", "2027-01-02", "end_date"),
    ],
)
async def test_bad_ranges_are_invalid_arguments(service: AnalyticsService, start: str, end: str, field: str) -> None:
    with pytest.raises(InvalidArgument) as bad:
        await service.pnl_calendar(ALICE, start, end)
    assert bad.value.reason == "INVALID_DATE_RANGE"
    assert [violation.field for violation in bad.value.violations] == [field]


async def test_a_full_leap_year_is_allowed_and_a_bad_day_is_refused(service: AnalyticsService) -> None:
    assert (await service.pnl_calendar(ALICE, "2028-01-01", "2028-12-31")).days == ()
    with pytest.raises(InvalidArgument) as bad:
        await service.day_trips(ALICE, "2026-1-9")
    assert bad.value.reason == "INVALID_DATE"
