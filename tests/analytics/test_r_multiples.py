"""Planned risk and R-multiples in the analytics report (decision 0230), hand-computed, against in-memory fakes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.analytics.fakes import (
    InMemoryTradeSource,
)
from tests.analytics.wiring import wired
from trademesh.common.v1 import instrument_pb2
from trademesh.kernel import trade_documents
from trademesh.services.analytics.calendar_mapping import day_trips_to_proto
from trademesh.services.analytics.mapping import fill_from_trade, report_to_proto
from trademesh.services.analytics.model import (
    Category,
    ChangeKind,
    Journal,
    JournalChange,
    JournalFill,
    Period,
    build_query,
    day_date,
    ist_day,
    r_multiple_stats,
    to_micros,
)
from trademesh.services.analytics.server import Analytics
from trademesh.trade.v1 import trade_pb2

MICROS = 1_000_000
NOW = to_micros(datetime(2026, 11, 26, 6, 0, tzinfo=UTC))
MINUTE = 60 * MICROS
ALICE = "alice"


def fill(
    trade_id: str,
    symbol: str,
    buy: bool,
    units: int,
    rupees: int,
    minute: int,
    *,
    stop: int = 0,
    risk: int = 0,
    version: int = 1,
) -> JournalFill:
    quantity, price = units * MICROS, rupees * MICROS
    return JournalFill(
        trade_id=trade_id,
        symbol=symbol,
        exchange="NSE",
        buy=buy,
        quantity_micros=quantity,
        price_micros=price,
        fees_micros=0,
        time_us=NOW - 600 * MINUTE + minute * MINUTE,
        create_time_us=NOW - 600 * MINUTE + minute * MINUTE,
        category=Category.INTRADAY,
        trade_version=version,
        planned_risk_micros=trade_documents.planned_risk(quantity, price, stop * MICROS, risk * MICROS),
    )


# Each round trip, with its hand-computed planned risk (₹), net P&L (₹) and R:
JOURNAL = [
    # A: long 10 @100, stop 95 → risk 5 x 10 = 50; out @110 → +100 = 2R (bucket R >= 2)
    fill("a1", "AAA", True, 10, 100, 1, stop=95),
    fill("a2", "AAA", False, 10, 110, 2),
    # B: long 10 @100, planned risk 40 wins over the stop; out @98 → -20 = -0.5R (-1 < R <= 0)
    fill("b1", "BBB", True, 10, 100, 3, stop=90, risk=40),
    fill("b2", "BBB", False, 10, 98, 4),
    # C: short 5 @200, stop 210 → risk 50; covered @260 → -300 = -6R (R <= -1)
    fill("c1", "CCC", False, 5, 200, 5, stop=210),
    fill("c2", "CCC", True, 5, 260, 6),
    # D: no plan → excluded from R, counted
    fill("d1", "DDD", True, 3, 100, 7),
    fill("d2", "DDD", False, 3, 101, 8),
    # E: long 1 @1000, planned risk 300; out @1100 → +100 = 0.333R (0 < R < 1)
    fill("e1", "EEE", True, 1, 1000, 9, risk=300),
    fill("e2", "EEE", False, 1, 1100, 10),
    # F: long 2 @50, stop 45 → risk 10; out @55 → +10 = exactly 1R (1 <= R < 2)
    fill("f1", "FFF", True, 2, 50, 11, stop=45),
    fill("f2", "FFF", False, 2, 55, 12),
    # G: long 4 @100, stop 95 → risk 20; stopped out @95 → -20 = exactly -1R (R <= -1)
    fill("g1", "GGG", True, 4, 100, 13, stop=95),
    fill("g2", "GGG", False, 4, 95, 14),
]


@pytest.fixture
def trades() -> InMemoryTradeSource:
    source = InMemoryTradeSource()
    for f in JOURNAL:
        source.put(ALICE, f)
    return source


@pytest.fixture
def analytics(trades: InMemoryTradeSource) -> Analytics:
    return wired(NOW, trades=trades)


async def _report(analytics: Analytics) -> object:
    service = analytics.service
    report, _ = await service.compute(await service.lookup(ALICE, build_query(Period.ALL_TIME, now_us=NOW)), "Bearer a")
    return report


async def test_the_report_carries_hand_computed_r_figures(analytics: Analytics) -> None:
    report = await _report(analytics)
    stats = report.r_multiples  # type: ignore[attr-defined]
    assert (stats.planned_round_trip_count, stats.unplanned_round_trip_count) == (6, 1)
    assert stats.planned_risk_micros == (50 + 40 + 50 + 300 + 10 + 20) * MICROS
    assert stats.net_pnl_micros == (100 - 20 - 300 + 100 + 10 - 20) * MICROS
    # In close order A, B, C, E, F, G (D has no plan).
    assert stats.r_milli == (2000, -500, -6000, 333, 1000, -1000)
    # Mean of the R-multiples: -4167 / 6 = -694.5 → -695 (half away from zero).
    assert stats.average_r_milli == -695
    # Expectancy in R: -130 / 470 = -0.2766 → -277 milli-R.
    assert stats.expectancy_r_milli == -277
    assert stats.win_rate_percent == pytest.approx(50.0)
    assert [(b.min_r_milli, b.max_r_milli, b.round_trip_count, b.win_count) for b in stats.buckets] == [
        (None, -1000, 2, 0),  # C, G
        (-1000, 0, 1, 0),  # B
        (0, 1000, 1, 1),  # E
        (1000, 2000, 1, 1),  # F
        (2000, None, 1, 1),  # A
    ]
    assert stats.buckets[0].share_percent == pytest.approx(100 / 3)
    assert stats.buckets[2].win_rate_percent == pytest.approx(100.0)
    assert stats.buckets[0].win_rate_percent == pytest.approx(0.0)


async def test_the_r_figures_reach_the_report_message(analytics: Analytics) -> None:
    message = report_to_proto(await _report(analytics))  # type: ignore[arg-type]
    r = message.r_multiples
    assert (r.planned_round_trip_count, r.unplanned_round_trip_count) == (6, 1)
    assert (r.average_r_milli, r.expectancy_r_milli) == (-695, -277)
    assert [bucket.round_trip_count for bucket in r.buckets] == [2, 1, 1, 1, 1]
    assert not r.buckets[0].HasField("min_r_milli")
    assert not r.buckets[4].HasField("max_r_milli")


async def test_setting_a_plan_later_changes_the_r_figures(analytics: Analytics) -> None:
    # D gets a stop of 99 after the fact: risk 1 x 3 = 3, net +3 = 1R.
    await _report(analytics)
    planned = fill("d1", "DDD", True, 3, 100, 7, stop=99, version=2)
    await analytics.service.apply_change(JournalChange(ALICE, 1, ChangeKind.UPSERT, "d1", 2, planned))
    stats = (await _report(analytics)).r_multiples  # type: ignore[attr-defined]
    assert (stats.planned_round_trip_count, stats.unplanned_round_trip_count) == (7, 0)
    assert stats.buckets[3].round_trip_count == 2


def test_without_planned_round_trips_the_r_figures_are_unset_and_every_trip_is_counted() -> None:
    stats = r_multiple_stats([100, -50], [0, 0])
    assert (stats.planned_round_trip_count, stats.unplanned_round_trip_count) == (0, 2)
    assert (stats.average_r_milli, stats.expectancy_r_milli, stats.win_rate_percent) == (None, None, None)
    assert [bucket.round_trip_count for bucket in stats.buckets] == [0] * 5
    assert all(bucket.share_percent is None for bucket in stats.buckets)


def test_the_live_event_of_a_trade_carries_its_planned_risk() -> None:
    message = trade_pb2.Trade(
        id="t1",
        instrument=instrument_pb2.Instrument(symbol="INFY", exchange=instrument_pb2.EXCHANGE_NSE),
        side=trade_pb2.SIDE_SELL,
        quantity_micros=3_500_000,  # 3.5 units
        price_micros=1_500_000_000,
        stop_loss_price_micros=1_500_000_003,
        version=1,
    )
    # |1500.000000 - 1500.000003| x 3.5 = 10.5 micros → 10 (half-even)
    assert fill_from_trade(message).planned_risk_micros == 10
    message.planned_risk_micros = 7_000_000
    assert fill_from_trade(message).planned_risk_micros == 7_000_000


def test_a_stored_document_without_plan_fields_decodes_without_a_plan() -> None:
    document = {
        "_id": "t1",
        "symbol": "INFY",
        "exchange": "NSE",
        "side": "BUY",
        "quantity_micros": 10 * MICROS,
        "price_micros": 100 * MICROS,
        "fees_micros": 0,
        "trade_time": datetime(2026, 3, 2, tzinfo=UTC),
        "create_time": datetime(2026, 3, 2, tzinfo=UTC),
        "category": None,
        "version": 1,
    }
    assert trade_documents.decode_fill(document).planned_risk_micros == 0
    planned = document | {"stop_loss_price_micros": 95 * MICROS, "planned_risk_micros": 0}
    assert trade_documents.decode_fill(planned).planned_risk_micros == 50 * MICROS


def test_every_journal_path_gives_each_round_trip_its_openers_planned_risk() -> None:
    expected = [50, 40, 50, 0, 300, 10, 20]
    vectorized = Journal(JOURNAL)
    python = Journal(JOURNAL, vectorized=False)
    appended = Journal()
    for f in JOURNAL:
        appended.upsert(f)  # each comes last in journal order: the O(1) path
    for journal in (vectorized, python, appended):
        assert [int(risk) // MICROS for risk in journal.trip_columns()["risk"]] == expected


async def test_each_round_trip_of_a_day_carries_its_planned_risk_and_r(analytics: Analytics) -> None:
    day = ist_day(NOW - 600 * MINUTE)
    response = day_trips_to_proto(await analytics.service.day_trips(ALICE, day_date(day).isoformat()))
    by_symbol = {trip.instrument.symbol: trip for trip in response.trips}
    assert by_symbol["AAA"].planned_risk_micros == 50 * MICROS
    assert by_symbol["AAA"].r_multiple_milli == 2000
    assert by_symbol["EEE"].r_multiple_milli == 333
    assert by_symbol["GGG"].r_multiple_milli == -1000
    assert by_symbol["DDD"].planned_risk_micros == 0
    assert not by_symbol["DDD"].HasField("r_multiple_milli")
