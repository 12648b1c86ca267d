"""One FIFO engine (decision 0380): on random fill sequences the unified engine gives exactly what each of the
three engines it replaced gave. The old engines are kept verbatim in `fifo_oracles.py` as oracles:

* `PositionBook` (ListPositions' whole-trade path, tax lots) against the old Fraction book: every match, every
  open lot, every total, after every fill;
* the trade service's lean replay (`replay_fills`, decision 0370) against the old integer replay;
* `InstrumentCycle` (analytics' round trips) against the old one: every round trip, open lot and running figure,
  with and without match recording; and the columnar engine's closed trips against it on whole units.

Histories mix buys and sells, shorts, partial closes, fills crossing zero, fills at the same time (ordered by
journal order, as callers do), fractional quantities and fees whose split is not a whole micro.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.kernel.fifo_oracles import OldFill, OldInstrumentCycle, OldPositionBook, old_replay_fills
from trademesh.kernel.instruments import Exchange, Side
from trademesh.kernel.lots import Fill, InstrumentCycle, PositionBook
from trademesh.kernel.lots.columnar import match_round_trips
from trademesh.services.trade.model.position_fills import PositionFill
from trademesh.services.trade.service.position_replay import replay_fills

MICROS = 1_000_000
EPOCH = datetime(2026, 1, 5, 3, 45, tzinfo=UTC)

# (buy, quantity micros, price micros, fees micros, minute, exec_seq): few minutes, so many fills share a time.
RawFill = tuple[bool, int, int, int, int, int]


def _quantity(whole: bool) -> st.SearchStrategy[int]:
    units = st.integers(1, 40).map(lambda n: n * MICROS)
    return units if whole else st.one_of(units, st.integers(1, 40 * MICROS))


def _histories(whole: bool = False) -> st.SearchStrategy[list[RawFill]]:
    fill = st.tuples(
        st.booleans(),
        _quantity(whole),
        st.integers(0, 5_000 * MICROS),
        st.one_of(st.just(0), st.integers(0, 50), st.integers(0, 100 * MICROS)),
        st.integers(0, 5),
        st.integers(0, 3),
    )
    return st.lists(fill, min_size=1, max_size=40)


def _journal(raw: list[RawFill]) -> list[tuple[int, RawFill]]:
    """The fills in journal order (time, exec_seq, id): same-time fills in execution order, as callers sort."""
    return sorted(enumerate(raw), key=lambda item: (item[1][4], item[1][5], f"t{item[0]:03}"))


def _time(minute: int) -> datetime:
    return EPOCH + timedelta(minutes=minute)


def _fills(raw: list[RawFill]) -> list[tuple[Fill, OldFill]]:
    pairs = []
    for index, (buy, quantity, price, fees, minute, _) in _journal(raw):
        side = Side.BUY if buy else Side.SELL
        args = (f"t{index:03}", side, quantity, price, fees, _time(minute))
        pairs.append((Fill(*args), OldFill(*args)))
    return pairs


@settings(max_examples=300, deadline=None)
@given(_histories())
def test_position_book_equals_the_old_fraction_book_after_every_fill(raw: list[RawFill]) -> None:
    book, old = PositionBook(), OldPositionBook()
    for fill, old_fill in _fills(raw):
        closed, old_closed = book.apply(fill), old.apply(old_fill)
        assert [dataclasses.astuple(m) for m in closed] == [dataclasses.astuple(m) for m in old_closed]
        assert [dataclasses.astuple(lot) for lot in book.lots] == [dataclasses.astuple(lot) for lot in old.lots]
        assert (book.realized, book.open_value, book.open_fees, book.average_open_price) == (
            old.realized,
            old.open_value,
            old.open_fees,
            old.average_open_price,
        )
        assert (book.buy_quantity, book.buy_value, book.sell_quantity, book.sell_value, book.net_quantity) == (
            old.buy_quantity,
            old.buy_value,
            old.sell_quantity,
            old.sell_value,
            old.net_quantity,
        )
        assert (book.total_fees, book.fill_count, book.first_time, book.last_time) == (
            old.total_fees,
            old.fill_count,
            old.first_time,
            old.last_time,
        )
    assert [dataclasses.astuple(m) for m in book.matches] == [dataclasses.astuple(m) for m in old.matches]
    totals = book.totals()
    assert (totals.realized, totals.open_fees, totals.open_value, totals.average_open_price) == (
        old.realized,
        old.open_fees,
        old.open_value,
        old.average_open_price,
    )


@settings(max_examples=300, deadline=None)
@given(_histories())
def test_the_lean_replay_equals_the_old_integer_replay(raw: list[RawFill]) -> None:
    lean = [
        PositionFill(
            _time(minute),
            EPOCH,
            seq,
            f"t{index:03}",
            Exchange.NSE,
            "INFY",
            None,
            Side.BUY if buy else Side.SELL,
            quantity,
            price,
            fees,
            1,
        )
        for index, (buy, quantity, price, fees, minute, seq) in _journal(raw)
    ]
    old = [OldFill(f.trade_id, f.side, f.quantity_micros, f.price_micros, f.fees_micros, f.trade_time) for f in lean]
    assert dataclasses.astuple(replay_fills(lean)) == dataclasses.astuple(old_replay_fills(old))


def _cycle_state(cycle: InstrumentCycle[str] | OldInstrumentCycle[str]) -> tuple[object, ...]:
    return (
        cycle.position,
        [tuple(lot) for lot in cycle.open_lots()],
        cycle.opening_trade_id,
        cycle.category,
        cycle.open_time,
        cycle.realized_scaled,
        cycle.fees_micros,
        cycle.fill_count,
        cycle.open_fees,
        cycle.realized_net,
        cycle.open_value_scaled,
        cycle.average_open_price_micros,
    )


@settings(max_examples=300, deadline=None)
@given(_histories(), st.booleans())
def test_instrument_cycle_equals_the_old_round_trip_engine(raw: list[RawFill], recording: bool) -> None:
    cycle: InstrumentCycle[str] = InstrumentCycle("X")
    if recording:  # what `PositionBook` turns on must not change a figure
        cycle.pieces = []
    old: OldInstrumentCycle[str] = OldInstrumentCycle("X")
    for sequence, (index, (buy, quantity, price, fees, minute, _)) in enumerate(_journal(raw)):
        args = (buy, quantity, price, fees, minute * 60_000_000, sequence, f"t{index:03}", "INTRADAY")
        trip, old_trip = cycle.apply(*args), old.apply(*args)
        assert (None if trip is None else tuple(trip)) == (None if old_trip is None else tuple(old_trip))
        assert _cycle_state(cycle) == _cycle_state(old)


@settings(max_examples=200, deadline=None)
@given(_histories(whole=True))
def test_the_columnar_engine_closes_the_same_round_trips(raw: list[RawFill]) -> None:
    journal = _journal(raw)
    cycle: InstrumentCycle[str] = InstrumentCycle("X")
    expected = []
    for sequence, (index, (buy, quantity, price, fees, minute, _)) in enumerate(journal):
        trip = cycle.apply(buy, quantity, price, fees, minute, sequence, f"t{index:03}", "")
        if trip is not None:
            expected.append((trip.close_sequence, trip.long, trip.gross_pnl_micros, trip.fees_micros, trip.fill_count))
    ordered = [fill for _, fill in journal]
    matched = match_round_trips(
        np.zeros(len(ordered), dtype=np.int64),
        np.array([f[0] for f in ordered], dtype=np.bool_),
        np.array([f[1] for f in ordered], dtype=np.int64),
        np.array([f[2] for f in ordered], dtype=np.int64),
        np.array([f[3] for f in ordered], dtype=np.int64),
        np.array([f[4] for f in ordered], dtype=np.int64),
    )
    assert matched is not None
    trips, _ = matched
    closed = sorted(
        (
            int(trips.close_fill[t]),
            bool(trips.long[t]),
            int(trips.gross_micros[t]),
            int(trips.fees_micros[t]),
            int(trips.fill_count[t]),
        )
        for t in np.flatnonzero(trips.closed).tolist()
    )
    assert closed == expected
