"""The shared FIFO lot-matching module: exact arithmetic, partial fills, shorts, flips, fees."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trademesh.kernel.lots import Fill, Side, divide_half_even, replay, round_micros

UNIT = 1_000_000


def fill(trade_id: str, side: Side, quantity: float, price: float, fees: float = 0) -> Fill:
    return Fill(trade_id, side, int(quantity * UNIT), round(price * UNIT), round(fees * UNIT))


def test_partial_close_realizes_fifo_with_pro_rata_fees() -> None:
    book = replay(
        [
            fill("b1", Side.BUY, 10, 100, fees=10),
            fill("b2", Side.BUY, 10, 110, fees=10),
            fill("s1", Side.SELL, 15, 120, fees=15),
        ]
    )

    # 10 @100 → 120 (+200) and 5 @110 → 120 (+50); fees: 10 + 5 (half of b2) + 15 = 30.
    assert book.realized == Fraction(220 * UNIT)
    assert book.net_quantity == 5 * UNIT
    assert round_micros(book.average_open_price) == 110 * UNIT
    assert round_micros(book.open_value) == 550 * UNIT
    assert round_micros(book.open_fees) == 5 * UNIT


def test_short_then_cover() -> None:
    book = replay([fill("s", Side.SELL, 4, 250, fees=2), fill("b", Side.BUY, 4, 200, fees=2)])

    assert book.net_quantity == 0
    assert book.realized == Fraction(196 * UNIT)
    assert not book.lots


def test_flip_through_zero_splits_the_fill_and_its_fees() -> None:
    book = replay([fill("b", Side.BUY, 10, 100), fill("s", Side.SELL, 15, 90, fees=15)])

    # Closes 10 (-100, fees 10), opens a 5-unit short at 90 carrying fees 5.
    assert book.realized == Fraction(-110 * UNIT)
    assert book.net_quantity == -5 * UNIT
    assert len(book.lots) == 1
    assert not book.lots[0].long
    assert book.lots[0].fees == Fraction(5 * UNIT)
    assert round_micros(book.average_open_price) == 90 * UNIT


def test_fractional_quantities_stay_exact() -> None:
    book = replay(
        [
            Fill("b", Side.BUY, 123_456, 3 * UNIT, 1),
            Fill("s", Side.SELL, 100_000, 5 * UNIT, 1),
        ]
    )

    expected = Fraction(100_000 * 2 * UNIT, UNIT) - 1 * Fraction(100_000, 123_456) - 1
    assert book.realized == expected
    assert round_micros(Fraction(5, 2)) == 2
    assert round_micros(Fraction(7, 2)) == 4


def test_invalid_fill_is_rejected() -> None:
    with pytest.raises(ValueError, match="quantity"):
        Fill("x", Side.BUY, 0, 1)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 10**9), st.integers(1, 10**10)),
        min_size=1,
        max_size=30,
    )
)
def test_quantities_balance_and_zero_fee_round_trips_sum(fills: list[tuple[Side, int, int]]) -> None:
    book = replay(Fill(str(i), side, quantity, price) for i, (side, quantity, price) in enumerate(fills))

    open_quantity = sum(lot.quantity if lot.long else -lot.quantity for lot in book.lots)
    assert open_quantity == book.net_quantity
    assert all(lot.long == (book.net_quantity > 0) for lot in book.lots)
    # Without fees, realized + open value is cash flow: sells - buys + open entry value (signed).
    signed_open = sum((lot.quantity * lot.price_micros / UNIT) * (1 if lot.long else -1) for lot in book.lots)
    assert book.realized == book.sell_value - book.buy_value + signed_open


@given(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.integers(min_value=1, max_value=10**7),
    st.integers(min_value=-(10**6), max_value=10**6),
)
def test_divide_half_even_rounds_as_round_of_the_exact_fraction(numerator: int, denominator: int, near: int) -> None:
    """The integer division the trade list uses for a trade's value (quantity x price / 10^6) rounds
    exactly as `round(Fraction)`, ties included (a multiple of a half plus a small offset)."""
    tie = denominator * near + denominator // 2
    for n in (numerator, tie, -tie):
        assert divide_half_even(n, denominator) == round(Fraction(n, denominator))
