"""One fee-split rule everywhere (decision 0111): a fill crossing zero divides its fee into whole micros by
largest remainder, and the trade service's FIFO book, analytics' fill-by-fill engine and its columnar engine
agree to the micro; net P&L of a flat crossing history is exactly Σ proceeds - Σ fees."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from trademesh.kernel.lots import Fill, InstrumentCycle, Side, allocate_fee, replay, split_crossing_fee
from trademesh.kernel.lots.columnar import match_round_trips

MICROS = 1_000_000


def test_largest_remainder_keeps_the_total_and_gives_ties_to_the_earlier_part() -> None:
    assert allocate_fee(10, [1, 1, 1]) == [4, 3, 3]
    assert allocate_fee(7, [1, 1]) == [4, 3]  # 3.5 / 3.5: the tie goes to the closing (first) part
    assert allocate_fee(10, [2, 1]) == [7, 3]  # 6.67 / 3.33
    assert allocate_fee(0, [5, 3]) == [0, 0]
    assert split_crossing_fee(7, 1, 2) == (4, 3)
    assert split_crossing_fee(10, 1, 3) == (3, 7)


@given(st.integers(0, 10**13), st.integers(1, 10**9), st.integers(1, 10**9))
def test_the_two_part_split_is_the_general_rule(fee: int, closed: int, opened: int) -> None:
    closing, opening = split_crossing_fee(fee, closed, closed + opened)
    assert [closing, opening] == allocate_fee(fee, [closed, opened])
    assert closing + opening == fee
    assert abs(Fraction(fee * closed, closed + opened) - closing) <= Fraction(1, 2)


# A crossing history of one instrument (units, price rupees, fee micros), ending flat. Every crossing fill has
# a fee whose pro-rata share is not a whole micro; 7 micros over 1 + 1 units is the half-way tie.
CROSSING = [
    (Side.BUY, 1, 100, 0),
    (Side.SELL, 2, 110, 7),  # closes 1, opens short 1: 3.5 / 3.5 → 4 / 3
    (Side.BUY, 3, 105, 10),  # closes 1, opens long 2: 3.33 / 6.67 → 3 / 7
    (Side.SELL, 5, 120, 11),  # closes 2, opens short 3: 4.4 / 6.6 → 4 / 7
    (Side.BUY, 3, 90, 5),  # flat
]


def _engines(history: list[tuple[Side, int, int, int]]) -> tuple[Fraction, list[int], list[int], list[int]]:
    book = replay(
        Fill(str(i), side, units * MICROS, rupees * MICROS, fee) for i, (side, units, rupees, fee) in enumerate(history)
    )
    cycle: InstrumentCycle[str] = InstrumentCycle("X")
    python_fees = []
    for i, (side, units, rupees, fee) in enumerate(history):
        trip = cycle.apply(side is Side.BUY, units * MICROS, rupees * MICROS, fee, i, i, str(i), "SWING")
        if trip is not None:
            python_fees.append(trip.fees_micros)
    matched = match_round_trips(
        np.zeros(len(history), dtype=np.int64),
        np.array([side is Side.BUY for side, *_ in history]),
        np.array([units * MICROS for _, units, _, _ in history], dtype=np.int64),
        np.array([rupees * MICROS for _, _, rupees, _ in history], dtype=np.int64),
        np.array([fee for *_, fee in history], dtype=np.int64),
        np.arange(len(history), dtype=np.int64),
    )
    assert matched is not None
    trips, _ = matched
    closed = np.flatnonzero(trips.closed)
    columnar_fees = trips.fees_micros[closed[np.argsort(trips.close_fill[closed])]].tolist()
    # The trade book's fees per cycle: the matches of each closing fill, grouped by cycle end.
    return book.realized, python_fees, columnar_fees, [int(book.open_fees)]


def test_a_crossing_history_nets_exactly_proceeds_minus_fees_in_every_engine() -> None:
    realized, python_fees, columnar_fees, open_fees = _engines(CROSSING)
    proceeds = sum((-1 if side is Side.BUY else 1) * units * rupees * MICROS for side, units, rupees, _ in CROSSING)
    fees = sum(fee for *_, fee in CROSSING)
    assert python_fees == columnar_fees == [4, 3 + 3, 7 + 4, 7 + 5]
    assert sum(python_fees) == fees
    assert realized == proceeds - fees  # the trade service's FIFO book, exactly
    assert open_fees == [0]


def test_the_trade_book_carries_the_same_whole_micro_opening_fee_as_round_trips() -> None:
    # Long 1, sell 2 with fee 7: the new short carries 3 micros in both services (pro rata would be 3.5).
    book = replay([Fill("b", Side.BUY, 1 * MICROS, 100 * MICROS, 0), Fill("s", Side.SELL, 2 * MICROS, 110 * MICROS, 7)])
    cycle: InstrumentCycle[str] = InstrumentCycle("X")
    cycle.apply(True, MICROS, 100 * MICROS, 0, 0, 0, "b", "SWING")
    trip = cycle.apply(False, 2 * MICROS, 110 * MICROS, 7, 1, 1, "s", "SWING")
    assert trip is not None
    assert trip.fees_micros == 4
    assert book.open_fees == cycle.fees_micros == 3
    assert book.realized == 10 * MICROS - 4


history = st.lists(
    st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 20), st.integers(1, 500), st.integers(0, 10**4)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=100, deadline=None)
@given(history)
def test_engines_agree_on_fees_and_a_flat_book_nets_cash_minus_fees(rows: list[tuple[Side, int, int, int]]) -> None:
    net = sum((1 if side is Side.BUY else -1) * units for side, units, _, _ in rows)
    if net:
        rows = [*rows, (Side.SELL if net > 0 else Side.BUY, abs(net), 100, 3)]
    realized, python_fees, columnar_fees, open_fees = _engines(rows)
    assert python_fees == columnar_fees
    assert sum(python_fees) == sum(fee for *_, fee in rows)
    proceeds = sum((-1 if side is Side.BUY else 1) * units * rupees * MICROS for side, units, rupees, _ in rows)
    assert realized == proceeds - sum(python_fees)
    assert open_fees == [0]
