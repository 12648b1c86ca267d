"""Fills with the same execution time keep execution order (trademesh.trade.v1.Trade.exec_seq, decision 0110):
one import's rows share a create time, so exec_seq — not the trade id, a hash — decides."""

from __future__ import annotations

import hashlib
import random as random_module
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from trademesh.services.analytics.model import Category, FillColumns, Journal, JournalFill

MICROS = 1_000_000
TEN = 1_772_425_800 * MICROS  # 2026-03-02 10:00 IST
IMPORTED = TEN + 86_400 * MICROS  # the import's create time, shared by every row


def row(number: int, buy: bool, units: int, rupees: int, time_us: int, trade_id: str | None = None) -> JournalFill:
    return JournalFill(
        # Like an import's trade ids: a hash of (import id, row number), unrelated to the file order.
        trade_id=trade_id or hashlib.sha256(f"import-1:{number}".encode()).hexdigest()[:32],
        symbol="SBIN",
        exchange="NSE",
        buy=buy,
        quantity_micros=units * MICROS,
        price_micros=rupees * MICROS,
        fees_micros=0,
        time_us=time_us,
        create_time_us=IMPORTED,
        category=Category.INTRADAY,
        exec_seq=number,
    )


THE_CASE = [
    row(1, True, 5, 800, TEN),
    row(2, True, 5, 810, TEN + 1_800 * MICROS),
    row(3, False, 10, 820, TEN + 1_800 * MICROS),
]


def test_two_buys_and_a_sell_at_the_same_minute_are_one_round_trip_in_both_engines() -> None:
    # The trade ids order the 10:30 SELL before the 10:30 BUY; file order must win.
    ids = [f.trade_id for f in THE_CASE]
    assert ids[2] < ids[1], "the case must be one where trade-id order would reorder the fills"
    for vectorized in (True, False):
        journal = Journal(THE_CASE, vectorized=vectorized)
        [trip] = journal.round_trips
        assert (trip.long, trip.fill_count, trip.gross_pnl_micros) == (True, 3, (5 * 20 + 5 * 10) * MICROS)
        assert not any(cycle.position for cycle in journal.cycles.values())


def test_the_one_by_one_path_keeps_execution_order_too() -> None:
    journal = Journal([])
    for f in THE_CASE:
        journal.upsert(f)
    assert [t.fill_count for t in journal.round_trips] == [3]
    backwards = Journal([])
    for f in reversed(THE_CASE):
        backwards.upsert(f)
    assert backwards.round_trips == journal.round_trips


def test_fill_columns_order_by_time_then_create_time_then_exec_seq() -> None:
    columns = FillColumns.of(list(reversed(THE_CASE))).ordered()
    assert list(columns.exec_seq) == [1, 2, 3]


batches = st.lists(
    st.tuples(
        st.booleans(),  # buy
        st.integers(1, 50),  # units
        st.integers(1, 10_000),  # rupees
        st.integers(0, 2),  # minutes after the previous row (0: the same timestamp)
        st.integers(0, 1),  # instrument
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=80, deadline=None)
@given(batches, st.integers(0, 2**32))
def test_shuffling_create_order_and_trade_ids_never_changes_round_trips_when_exec_order_is_given(
    rows: list[tuple[bool, int, int, int, int]], seed: int
) -> None:
    rng = random_module.Random(seed)
    time_us = TEN
    fills = []
    for number, (buy, units, rupees, step, instrument) in enumerate(rows, start=1):
        time_us += step * 60 * MICROS
        fills.append(
            JournalFill(
                trade_id=f"{number:04d}",
                symbol=f"S{instrument}",
                exchange="NSE",
                buy=buy,
                quantity_micros=units * MICROS,
                price_micros=rupees * MICROS,
                fees_micros=0,
                time_us=time_us,
                create_time_us=IMPORTED,
                category=Category.SWING,
                exec_seq=number,
            )
        )
    expected = [(t.instrument, t.long, t.close_time, t.gross_scaled, t.fill_count) for t in Journal(fills).round_trips]
    # Another request id: other trade ids (hashes); another load order; the same rows and exec order.
    renamed = [replace(f, trade_id=f"{rng.getrandbits(64):016x}") for f in fills]
    rng.shuffle(renamed)
    for vectorized in (True, False):
        got = [
            (t.instrument, t.long, t.close_time, t.gross_scaled, t.fill_count)
            for t in Journal(renamed, vectorized=vectorized).round_trips
        ]
        assert got == expected
