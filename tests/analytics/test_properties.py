"""Property-based checks of round-trip matching and reports (hypothesis)."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from trademesh.kernel.lots import Fill, Side, replay
from trademesh.services.analytics.model import (
    Category,
    Journal,
    JournalFill,
    Period,
    UserSettings,
    build_query,
    build_report,
)

MICROS = 1_000_000

NOW = 1_800_000_000 * MICROS
START = 1_760_000_000 * MICROS

orders = st.lists(
    st.tuples(
        st.booleans(),  # buy
        st.integers(1, 1_000),  # units
        st.integers(1, 10**10),  # price micros
        st.integers(0, 10**7),  # fees micros
        st.integers(0, 3),  # instrument
        st.integers(0, 5),  # time step in minutes (0: same timestamp as the previous fill)
    ),
    max_size=60,
)


def fills_of(rows: list[tuple[bool, int, int, int, int, int]]) -> list[JournalFill]:
    time_us = START
    fills = []
    for index, (buy, units, price, fees, instrument, step) in enumerate(rows):
        time_us += step * 60 * MICROS
        fills.append(
            JournalFill(
                trade_id=f"{index:04d}",
                symbol=f"S{instrument}",
                exchange="NSE",
                buy=buy,
                quantity_micros=units * MICROS,
                price_micros=price,
                fees_micros=fees,
                time_us=time_us,
                create_time_us=START + index,
                category=Category.SWING,
            )
        )
    return fills


def flatten(fills: list[JournalFill]) -> list[JournalFill]:
    """Append, per instrument, the fill that brings it back to flat."""
    positions: dict[str, int] = {}
    for fill in fills:
        positions[fill.symbol] = positions.get(fill.symbol, 0) + (
            fill.quantity_micros if fill.buy else -fill.quantity_micros
        )
    last = fills[-1].time_us if fills else START
    closing = [
        JournalFill(
            f"z{symbol}",
            symbol,
            "NSE",
            position < 0,
            abs(position),
            1_000 * MICROS,
            7,
            last + MICROS,
            NOW,
            Category.SWING,
        )
        for symbol, position in sorted(positions.items())
        if position
    ]
    return fills + closing


@settings(max_examples=150, deadline=None)
@given(orders)
def test_when_flat_total_net_pnl_is_cash_flow_minus_fees(rows: list[tuple[bool, int, int, int, int, int]]) -> None:
    fills = flatten(fills_of(rows))
    journal = Journal(fills)

    sells = sum(f.quantity_micros * f.price_micros for f in fills if not f.buy) // MICROS
    buys = sum(f.quantity_micros * f.price_micros for f in fills if f.buy) // MICROS
    fees = sum(f.fees_micros for f in fills)
    assert not any(cycle.position for cycle in journal.cycles.values())
    assert sum(list(journal.trip_columns()["net"])) == sells - buys - fees
    assert sum(list(journal.trip_columns()["fees"])) == fees


@settings(max_examples=100, deadline=None)
@given(orders, st.data())
def test_splitting_a_fill_at_the_same_price_changes_nothing(
    rows: list[tuple[bool, int, int, int, int, int]], data: st.DataObject
) -> None:
    fills = flatten(fills_of(rows))
    if not fills:
        return
    index = data.draw(st.integers(0, len(fills) - 1))
    original = fills[index]
    units = original.quantity_micros // MICROS
    if units < 2:
        return
    first_units = data.draw(st.integers(1, units - 1))
    # Fees stay on the first part so the split is exact; the parts keep the fill's place in journal order.
    first = JournalFill(
        original.trade_id + "a",
        original.symbol,
        "NSE",
        original.buy,
        first_units * MICROS,
        original.price_micros,
        original.fees_micros,
        original.time_us,
        original.create_time_us,
        original.category,
    )
    second = JournalFill(
        original.trade_id + "b",
        original.symbol,
        "NSE",
        original.buy,
        (units - first_units) * MICROS,
        original.price_micros,
        0,
        original.time_us,
        original.create_time_us,
        original.category,
    )
    split = Journal([*fills[:index], first, second, *fills[index + 1 :]])
    whole = Journal(fills)

    assert sum(list(split.trip_columns()["gross"])) == sum(list(whole.trip_columns()["gross"]))
    assert len(split.round_trips) == len(whole.round_trips)
    assert [t.close_time for t in split.round_trips] == [t.close_time for t in whole.round_trips]


@settings(max_examples=100, deadline=None)
@given(orders)
def test_round_trip_gross_matches_the_trade_services_fifo_book(
    rows: list[tuple[bool, int, int, int, int, int]],
) -> None:
    fills = fills_of(rows)
    journal = Journal(fills)

    for symbol in {f.symbol for f in fills}:
        own = [f for f in journal.fills if f.symbol == symbol]
        book = replay(
            Fill(f.trade_id, Side.BUY if f.buy else Side.SELL, f.quantity_micros, f.price_micros) for f in own
        )
        gross = sum((m.gross_pnl for m in book.matches), Fraction(0))
        cycle = journal.cycles[(symbol, "NSE")]
        closed = sum(t.gross_scaled for t in journal.round_trips if t.instrument == (symbol, "NSE"))
        assert gross == Fraction(closed + cycle.realized_scaled, MICROS)
        assert book.net_quantity == cycle.position


@settings(max_examples=60, deadline=None)
@given(orders, st.randoms(use_true_random=False))
def test_input_order_does_not_matter_journal_order_decides(
    rows: list[tuple[bool, int, int, int, int, int]], random: object
) -> None:
    fills = fills_of(rows)
    shuffled = list(fills)
    random.shuffle(shuffled)  # type: ignore[attr-defined]

    assert Journal(shuffled).round_trips == Journal(fills).round_trips


@settings(max_examples=60, deadline=None)
@given(orders, st.integers(0, 10**6))
def test_report_invariants(rows: list[tuple[bool, int, int, int, int, int]], tolerance: int) -> None:
    journal = Journal(fills_of(rows))
    query = build_query(Period.ALL_TIME, now_us=NOW, include_daily_pnl=True, include_equity_curve=True)

    result = build_report(journal, query, UserSettings(break_even_tolerance_micros=tolerance), NOW, {})

    stats = result.performance
    assert stats.win_count + stats.loss_count + stats.break_even_count == stats.round_trip_count
    assert stats.net_pnl_micros == stats.realized_pnl_micros - stats.fees_micros
    assert sum(s.round_trip_count for _, s in result.by_category) == stats.round_trip_count
    assert sum(s.net_pnl_micros for s in result.by_hour_of_day) == stats.net_pnl_micros
    assert sum(s.round_trip_count for s in result.by_weekday) == stats.round_trip_count
    assert sum(s.round_trip_count for s in result.by_month) == stats.round_trip_count
    assert sum(d.net_pnl_micros for d in result.daily_pnl) == stats.net_pnl_micros
    assert result.risk.max_drawdown_micros >= 0
    assert stats.win_rate_percent is None or 0 <= stats.win_rate_percent <= 100
    assert not (stats.profit_factor is not None and stats.profit_factor_unbounded)


@settings(max_examples=150, deadline=None)
@given(orders, st.integers(0, 10**6), st.booleans())
def test_the_vectorized_engine_equals_the_fill_by_fill_engine(
    rows: list[tuple[bool, int, int, int, int, int]], tolerance: int, capital: bool
) -> None:
    fills = fills_of(rows)
    vectorized, python = Journal(fills), Journal(fills, vectorized=False)
    query = build_query(Period.ALL_TIME, now_us=NOW, include_daily_pnl=True, include_equity_curve=True)
    user = UserSettings(capital_base_micros=10**12 if capital else None, break_even_tolerance_micros=tolerance)

    assert vectorized.round_trips == python.round_trips
    for instrument, cycle in python.cycles.items():
        other = vectorized.cycles[instrument]
        assert (other.position, other.fees_micros, other.realized_scaled) == (
            cycle.position,
            cycle.fees_micros,
            cycle.realized_scaled,
        )
        assert other.open_lots() == cycle.open_lots()
    assert build_report(vectorized, query, user, NOW, {}) == build_report(python, query, user, NOW, {})


@settings(max_examples=60, deadline=None)
@given(orders, orders)
def test_appending_fills_one_by_one_equals_a_rebuild(
    first: list[tuple[bool, int, int, int, int, int]], second: list[tuple[bool, int, int, int, int, int]]
) -> None:
    fills = fills_of(first + second)
    journal = Journal(fills[: len(first)])
    for fill in fills[len(first) :]:
        journal.upsert(fill)
    query = build_query(Period.ALL_TIME, now_us=NOW, include_daily_pnl=True, include_equity_curve=True)

    rebuilt = Journal(fills)
    assert journal.round_trips == rebuilt.round_trips
    assert build_report(journal, query, UserSettings(), NOW, {}) == build_report(
        rebuilt, query, UserSettings(), NOW, {}
    )
