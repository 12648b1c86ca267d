"""Round trips and reports computed by hand: partial fills, shorts, flips, fees, cycles, IST days."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime

import pytest

from trademesh.kernel.errors import InvalidArgument
from trademesh.services.analytics.model import (
    Category,
    Journal,
    JournalFill,
    Mark,
    Period,
    Report,
    UserSettings,
    build_query,
    build_report,
    period_range,
    pnl_state,
    to_micros,
)

MICROS = 1_000_000

NOW = to_micros(datetime(2026, 11, 26, 6, 0, tzinfo=UTC))


def at(text: str) -> int:
    """Return an ISO time (with offset) as epoch micros."""
    return to_micros(datetime.fromisoformat(text))


def fill(
    trade_id: str,
    side: str,
    units: int,
    rupees: float,
    when: str,
    fees: float = 0,
    symbol: str = "INFY",
    category: Category = Category.INTRADAY,
) -> JournalFill:
    time_us = at(when)
    return JournalFill(
        trade_id=trade_id,
        symbol=symbol,
        exchange="NSE",
        buy=side == "B",
        quantity_micros=units * MICROS,
        price_micros=round(rupees * MICROS),
        fees_micros=round(fees * MICROS),
        time_us=time_us,
        create_time_us=time_us,
        category=category,
    )


def report(
    fills: list[JournalFill], *, capital_base_micros: int | None = None, break_even_tolerance_micros: int = 0
) -> Report:
    query = build_query(Period.ALL_TIME, now_us=NOW, include_equity_curve=True, include_daily_pnl=True)
    settings = UserSettings(
        capital_base_micros=capital_base_micros, break_even_tolerance_micros=break_even_tolerance_micros
    )
    return build_report(Journal(fills), query, settings, NOW, {})


def test_partial_exits_close_one_round_trip_with_all_its_fees() -> None:
    journal = Journal(
        [
            fill("b1", "B", 10, 100, "2026-11-02T10:00+05:30", fees=10),
            fill("b2", "B", 10, 110, "2026-11-02T10:05+05:30", fees=10),
            fill("s1", "S", 15, 120, "2026-11-02T11:00+05:30", fees=15),
            fill("s2", "S", 5, 90, "2026-11-02T12:00+05:30", fees=5),
        ]
    )

    # FIFO: 10 @100→120 (+200), 5 @110→120 (+50), 5 @110→90 (-100) = +150 gross; fees 40.
    [trip] = journal.round_trips
    assert trip.gross_pnl_micros == 150 * MICROS
    assert trip.fees_micros == 40 * MICROS
    assert trip.net_pnl_micros == 110 * MICROS
    assert trip.fill_count == 4
    assert trip.close_time - trip.open_time == 2 * 3600 * MICROS


def test_partial_exit_of_an_open_round_trip_is_not_realized_yet() -> None:
    journal = Journal(
        [
            fill("b", "B", 10, 100, "2026-11-02T10:00+05:30", fees=2),
            fill("s", "S", 4, 130, "2026-11-02T11:00+05:30", fees=1),
        ]
    )
    mark = Mark(last_price_micros=140 * MICROS, previous_close_micros=95 * MICROS, time_us=NOW, stale=False)

    state = pnl_state(journal, {("INFY", "NSE"): mark}, at("2026-11-02T12:00+05:30"))

    assert journal.round_trips == []
    position = state.positions[("INFY", "NSE")]
    assert position.net_quantity == 6
    assert position.realized_pnl_micros == 120 * MICROS  # 4 x (130 - 100), before fees
    assert position.fees_micros == 3 * MICROS
    assert position.unrealized_pnl_micros == 240 * MICROS  # 6 x (140 - 100)
    assert position.day_change_micros == 240 * MICROS  # lot opened today: reference = lot price
    assert state.totals.partially_realized_pnl_micros == 120 * MICROS
    assert state.totals.realized_pnl_all_time_micros == 0


def test_short_then_cover_is_a_win_when_the_price_falls() -> None:
    result = report(
        [
            fill("s", "S", 4, 250, "2026-11-03T10:00+05:30", fees=2),
            fill("b", "B", 4, 200, "2026-11-03T14:00+05:30", fees=2),
        ]
    )

    assert result.performance.round_trip_count == 1
    assert result.performance.net_pnl_micros == 196 * MICROS
    assert result.performance.win_rate_percent == 100
    assert result.performance.profit_factor_unbounded
    assert result.risk.recovery_factor_unbounded


def test_a_fill_crossing_zero_closes_one_round_trip_and_opens_the_next_with_split_fees() -> None:
    journal = Journal(
        [
            fill("b", "B", 10, 100, "2026-11-04T10:00+05:30", fees=4),
            fill("x", "S", 15, 90, "2026-11-04T11:00+05:30", fees=3),
            fill("c", "B", 5, 80, "2026-11-04T12:00+05:30", fees=1),
        ]
    )

    first, second = journal.round_trips
    # Closing part 10 of 15: fee round(3 x 10 / 15) = 2; the 5-unit short carries the other 1.
    assert (first.long, first.gross_pnl_micros, first.fees_micros) == (True, -100 * MICROS, 6 * MICROS)
    assert (second.long, second.gross_pnl_micros, second.fees_micros) == (False, 50 * MICROS, 2 * MICROS)
    assert second.open_time == first.close_time
    assert second.opening_trade_id == "x"


def test_fee_split_rounds_half_away_from_zero() -> None:
    journal = Journal(
        [fill("b", "B", 1, 100, "2026-11-04T10:00+05:30"), fill("x", "S", 2, 100, "2026-11-04T11:00+05:30")]
    )
    journal_fee = Journal(
        [
            fill("b", "B", 1, 100, "2026-11-04T10:00+05:30"),
            JournalFill(
                "x", "INFY", "NSE", False, 2 * MICROS, 100 * MICROS, 3, at("2026-11-04T11:00+05:30"), 0, Category.SWING
            ),
        ]
    )

    assert journal.round_trips[0].fees_micros == 0
    # 3 micros x 1 / 2 = 1.5 → 2 for the closing part, 1 left on the new short.
    assert journal_fee.round_trips[0].fees_micros == 2
    assert journal_fee.cycles[("INFY", "NSE")].fees_micros == 1


def test_multiple_cycles_give_streaks_drawdown_and_category_from_the_opening_fill() -> None:
    fills = [
        fill("1", "B", 1, 100, "2026-11-02T10:00+05:30", category=Category.SWING),
        fill("2", "S", 1, 150, "2026-11-02T10:10+05:30", category=Category.INTRADAY),  # +50
        fill("3", "B", 1, 100, "2026-11-02T10:20+05:30"),
        fill("4", "S", 1, 130, "2026-11-02T10:30+05:30"),  # +30
        fill("5", "B", 1, 100, "2026-11-02T10:40+05:30"),
        fill("6", "S", 1, 40, "2026-11-02T10:50+05:30"),  # -60
        fill("7", "B", 1, 100, "2026-11-02T11:00+05:30"),
        fill("8", "S", 1, 100, "2026-11-02T11:10+05:30"),  # 0: break-even ends streaks
        fill("9", "B", 1, 100, "2026-11-02T11:20+05:30"),
        fill("10", "S", 1, 90, "2026-11-02T11:30+05:30"),  # -10
    ]

    result = report(fills)

    stats = result.performance
    assert (stats.win_count, stats.loss_count, stats.break_even_count) == (2, 2, 1)
    assert stats.win_rate_percent == 50
    assert stats.gross_profit_micros == 80 * MICROS
    assert stats.gross_loss_micros == -70 * MICROS
    assert stats.profit_factor == pytest.approx(80 / 70)
    assert stats.expectancy_micros == 2 * MICROS  # 10 / 5
    assert (stats.average_win_micros, stats.average_loss_micros) == (40 * MICROS, -35 * MICROS)
    assert (stats.largest_win_micros, stats.largest_loss_micros) == (50 * MICROS, -60 * MICROS)
    assert (stats.max_consecutive_wins, stats.max_consecutive_losses) == (2, 1)
    assert stats.average_hold_us == 600 * MICROS
    # Equity 50, 80, 20, 20, 10: peak 80, trough 10 → drawdown 70 from the 2nd to the 5th close.
    assert result.risk.max_drawdown_micros == 70 * MICROS
    assert result.risk.max_drawdown_peak_time_us == at("2026-11-02T10:30+05:30")
    assert result.risk.max_drawdown_trough_time_us == at("2026-11-02T11:30+05:30")
    assert result.risk.recovery_factor == pytest.approx(10 / 70)
    categories = dict(result.by_category)
    assert categories[Category.SWING].round_trip_count == 1
    assert categories[Category.INTRADAY].round_trip_count == 4
    assert result.by_hour_of_day[10].round_trip_count == 3
    assert result.by_hour_of_day[11].round_trip_count == 2
    assert result.by_weekday[0].round_trip_count == 5  # 2026-11-02 is a Monday
    assert result.by_month[10].round_trip_count == 5
    assert result.equity_curve is not None
    assert [p.cumulative_net_pnl_micros for p in result.equity_curve.points] == [
        50 * MICROS,
        80 * MICROS,
        20 * MICROS,
        20 * MICROS,
        10 * MICROS,
    ]


def test_ist_day_boundary_around_midnight_utc() -> None:
    # 18:29 UTC is 23:59 IST on the 2nd; 18:31 UTC is 00:01 IST on the 3rd.
    fills = [
        fill("1", "B", 1, 100, "2026-11-02T18:00+00:00"),
        fill("2", "S", 1, 110, "2026-11-02T18:29+00:00"),
        fill("3", "B", 1, 100, "2026-11-02T18:30+00:00"),
        fill("4", "S", 1, 120, "2026-11-02T18:31+00:00"),
    ]
    reference = at("2026-11-03T00:30+05:30")

    query = build_query(Period.DAILY, now_us=NOW, reference_us=reference, include_daily_pnl=True)
    daily = build_report(Journal(fills), query, UserSettings(), NOW, {})

    assert daily.query.start_us == at("2026-11-03T00:00+05:30")
    assert daily.performance.round_trip_count == 1
    assert daily.performance.net_pnl_micros == 20 * MICROS
    assert [day.date for day in daily.daily_pnl] == ["2026-11-03"]
    assert daily.daily_pnl[0].fill_count == 2
    assert daily.by_hour_of_day[0].round_trip_count == 1
    everything = report(fills)
    assert [day.date for day in everything.daily_pnl] == ["2026-11-02", "2026-11-03"]


def test_sharpe_needs_two_trading_days_and_a_capital_base() -> None:
    fills = [
        fill("1", "B", 10, 100, "2026-11-02T10:00+05:30"),
        fill("2", "S", 10, 110, "2026-11-02T11:00+05:30"),  # +100 on day 1
        fill("3", "B", 10, 100, "2026-11-03T10:00+05:30"),
        fill("4", "S", 10, 130, "2026-11-03T11:00+05:30"),  # +300 on day 2
    ]

    without_capital = report(fills)
    with_capital = report(fills, capital_base_micros=10_000 * MICROS)

    assert without_capital.risk.sharpe_ratio is None
    assert without_capital.risk.return_percent is None
    # Returns 1 % and 3 %: mean 0.02, sample stdev √0.0002.
    assert with_capital.risk.sharpe_ratio == pytest.approx(0.02 / 0.0002**0.5 * 252**0.5)
    assert with_capital.risk.return_percent == pytest.approx(4.0)
    assert with_capital.risk.max_drawdown_percent == 0
    assert with_capital.risk.calmar_ratio_unbounded


def test_empty_history_has_every_bucket_and_no_optional_metrics() -> None:
    result = report([], capital_base_micros=MICROS)

    assert result.performance.round_trip_count == 0
    assert result.performance.win_rate_percent is None
    assert result.performance.expectancy_micros is None
    assert not result.performance.profit_factor_unbounded
    assert len(result.by_category) == 4
    assert len(result.by_hour_of_day) == 24
    assert len(result.by_weekday) == 7
    assert len(result.by_month) == 12
    assert result.risk.max_drawdown_percent == 0
    assert result.risk.return_percent == 0
    assert result.risk.annualized_return_percent is None  # ALL_TIME without any fill
    assert result.activity.most_traded_instrument is None
    assert result.equity_curve is not None
    assert result.equity_curve.points == ()


def test_all_open_positions_report_activity_but_no_round_trips() -> None:
    result = report(
        [
            fill("1", "B", 3, 100, "2026-11-02T10:00+05:30", fees=1),
            fill("2", "S", 2, 50, "2026-11-02T10:00+05:30", symbol="TCS"),
        ]
    )

    assert result.performance.round_trip_count == 0
    assert result.activity.fill_count == 2
    assert result.activity.total_fees_micros == MICROS
    assert result.activity.turnover_micros == 400 * MICROS
    assert [p.net_quantity for p in result.open_positions] == [3, -2]
    assert result.unmarked_position_count == 2
    assert result.unrealized_pnl_micros == 0


def test_only_losses() -> None:
    result = report(
        [
            fill("1", "B", 1, 100, "2026-11-02T10:00+05:30"),
            fill("2", "S", 1, 90, "2026-11-02T10:10+05:30"),
            fill("3", "B", 1, 100, "2026-11-02T10:20+05:30"),
            fill("4", "S", 1, 70, "2026-11-02T10:30+05:30"),
        ]
    )

    assert result.performance.win_rate_percent == 0
    assert result.performance.profit_factor == 0
    assert result.performance.average_win_micros is None
    assert result.risk.max_drawdown_micros == 40 * MICROS
    assert result.risk.recovery_factor == -1
    assert result.risk.max_drawdown_peak_time_us is None  # the peak is the starting level 0
    assert [i.instrument for i in result.worst_instruments] == [("INFY", "NSE")]
    assert result.top_instruments == ()


def test_break_even_tolerance_classifies_small_results() -> None:
    fills = [fill("1", "B", 1, 100, "2026-11-02T10:00+05:30"), fill("2", "S", 1, 100.5, "2026-11-02T10:10+05:30")]

    assert report(fills).performance.win_count == 1
    tolerant = report(fills, break_even_tolerance_micros=MICROS)
    assert tolerant.performance.break_even_count == 1
    assert tolerant.performance.win_rate_percent is None
    assert tolerant.performance.profit_factor is None


def test_huge_quantities_stay_exact_and_saturate_only_at_the_boundary() -> None:
    big = 10**15  # the trade service's maximum quantity (10^9 units)
    fills = [
        JournalFill("1", "MRF", "NSE", True, big, 10**14, 0, at("2026-11-02T10:00+05:30"), 0, Category.LONG_TERM),
        JournalFill("2", "MRF", "NSE", False, big, 10**14 + 1, 0, at("2026-11-02T11:00+05:30"), 0, Category.LONG_TERM),
    ]

    result = report(fills)

    assert result.performance.net_pnl_micros == 10**9  # 10^9 units x 1 micro, exact
    assert result.activity.turnover_micros == 2**63 - 1  # 2 x 10^23 micros saturates the int64 field


def test_periods_resolve_in_ist() -> None:
    reference = at("2026-04-01T01:00+05:30")  # 31 March 19:30 UTC

    assert period_range(Period.FINANCIAL_YEAR, reference) == (
        at("2026-04-01T00:00+05:30"),
        at("2027-04-01T00:00+05:30"),
    )
    assert period_range(Period.WEEKLY, reference) == (at("2026-03-30T00:00+05:30"), at("2026-04-06T00:00+05:30"))
    assert period_range(Period.MONTHLY, at("2026-12-31T23:00+05:30")) == (
        at("2026-12-01T00:00+05:30"),
        at("2027-01-01T00:00+05:30"),
    )
    assert period_range(Period.ALL_TIME, reference) == (None, None)


@pytest.mark.parametrize(
    ("arguments", "reason", "field"),
    [
        ({"period": None}, "INVALID_PERIOD", "period"),
        ({"period": Period.CUSTOM}, "INVALID_TIME_RANGE", "custom_range"),
        ({"period": Period.CUSTOM, "custom_range": (10, 5)}, "INVALID_TIME_RANGE", "custom_range.end_time"),
        ({"period": Period.DAILY, "custom_range": (1, 5)}, "INVALID_TIME_RANGE", "custom_range"),
        ({"period": Period.DAILY, "instrument_limit": -1}, "INVALID_LIMIT", "instrument_limit"),
        ({"period": Period.DAILY, "min_journal_version": -1}, "INVALID_JOURNAL_VERSION", "min_journal_version"),
    ],
)
def test_invalid_queries_name_the_field(arguments: dict[str, object], reason: str, field: str) -> None:
    period = arguments.pop("period")
    with pytest.raises(InvalidArgument) as caught:
        build_query(period, now_us=NOW, **arguments)  # type: ignore[arg-type]

    assert caught.value.reason == reason
    assert [v.field for v in caught.value.violations] == [field]


def test_limits_are_defaulted_and_clamped() -> None:
    query = build_query(Period.ALL_TIME, now_us=NOW, equity_curve_max_points=1, instrument_limit=500)

    assert (query.equity_curve_max_points, query.instrument_limit) == (4, 50)
    assert build_query(Period.ALL_TIME, now_us=NOW).instrument_limit == 5


def test_equity_curve_downsampling_keeps_first_last_peak_and_trough() -> None:
    fills = []
    for index in range(40):
        price = 150 if index == 10 else (40 if index == 30 else 101)
        fills += [
            fill(f"b{index}", "B", 1, 100, f"2026-11-02T10:{index:02d}+05:30"),
            fill(f"s{index}", "S", 1, price, f"2026-11-02T10:{index:02d}:30+05:30"),
        ]
    query = build_query(Period.ALL_TIME, now_us=NOW, include_equity_curve=True, equity_curve_max_points=6)

    curve = build_report(Journal(fills), query, UserSettings(), NOW, {}).equity_curve

    assert curve is not None
    assert curve.downsampled
    assert curve.total_point_count == 40
    indices = [p.round_trip_index for p in curve.points]
    assert len(indices) == 6
    assert {1, 40, 31}.issubset(indices)  # first, last, trough (the -60 loss is the 31st round trip)


def test_incremental_upsert_equals_a_full_rebuild() -> None:
    base = [fill("1", "B", 2, 100, "2026-11-02T10:00+05:30"), fill("2", "S", 1, 120, "2026-11-02T10:10+05:30")]
    late = fill("3", "S", 3, 90, "2026-11-02T10:20+05:30", fees=3)
    early = fill("0", "B", 1, 80, "2026-11-02T09:20+05:30")
    journal = Journal(base)

    journal.upsert(late)
    journal.upsert(early)  # out of order: rebuilt

    rebuilt = Journal([*base, late, early])
    assert journal.round_trips == rebuilt.round_trips
    assert list(journal.trip_columns()["net"]) == list(rebuilt.trip_columns()["net"])
    journal.remove("0", 1)
    assert journal.round_trips == Journal([*base, late]).round_trips


def test_sharpe_counts_every_ist_day_with_a_fill_and_only_those() -> None:
    # Decision 0112. 2 Nov: an entry only (counts, net 0). 3 Nov: no fill (a position is open; does not count).
    # 4 Nov: the exit, +100. 5 Nov IST (the entry at 00:15 IST is still 4 Nov in UTC): entry and exit, -50.
    # 6 Nov: an entry at 00:10 IST counts for 6 Nov, not 5 Nov.
    fills = [
        fill("1", "B", 10, 100, "2026-11-02T10:00+05:30"),
        fill("2", "S", 10, 110, "2026-11-04T10:00+05:30"),
        fill("3", "B", 10, 100, "2026-11-05T00:15+05:30"),
        fill("4", "S", 10, 95, "2026-11-05T15:00+05:30"),
        fill("5", "B", 1, 100, "2026-11-06T00:10+05:30"),
    ]
    capital = 10_000 * MICROS
    settings = UserSettings(capital_base_micros=capital, risk_free_rate_bps=630)
    query = build_query(Period.ALL_TIME, now_us=NOW, include_daily_pnl=True)
    result = build_report(Journal(fills), query, settings, NOW, {})

    rf = 630 / 10_000 / 252
    returns = [0 - rf, 100 / 10_000 - rf, -50 / 10_000 - rf, 0 - rf]
    expected = statistics.fmean(returns) / statistics.stdev(returns) * 252**0.5
    assert [d.date for d in result.daily_pnl] == ["2026-11-02", "2026-11-04", "2026-11-05", "2026-11-06"]
    assert result.activity.trading_day_count == 4
    assert result.risk.sharpe_ratio == pytest.approx(expected, rel=1e-12)
    # Counting only days with a close (the other reading) would give a different figure.
    closes_only = [100 / 10_000 - rf, -50 / 10_000 - rf]
    other = statistics.fmean(closes_only) / statistics.stdev(closes_only) * 252**0.5
    assert result.risk.sharpe_ratio != pytest.approx(other)
