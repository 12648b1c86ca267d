"""Break-even exit prices: the exact price (to the micro) where the open quantity's round trip nets zero."""

from __future__ import annotations

import pytest

from trademesh.kernel.charges import Segment, Side, break_even_price, charge_fills, exit_charges, load_schedule

from .factory import RUPEE, fill

SCHEDULE = load_schedule()
POLICY = SCHEDULE.policy("contract_note")


def net(entry_side: Side, quantity: int, entry_price: int, entry_charges: int, exit_fill: object, price: int) -> int:
    assert hasattr(exit_fill, "side")
    gross = quantity * (price - entry_price) if entry_side is Side.BUY else quantity * (entry_price - price)
    return gross - entry_charges - exit_charges(SCHEDULE, POLICY, exit_fill, price)  # type: ignore[arg-type]


@pytest.mark.parametrize("segment", [Segment.DELIVERY, Segment.INTRADAY, Segment.FUTURES, Segment.OPTIONS])
@pytest.mark.parametrize("entry_side", [Side.BUY, Side.SELL])
def test_the_break_even_is_the_first_price_that_nets_zero_after_entry_and_exit_charges(
    segment: Segment, entry_side: Side
) -> None:
    quantity, price = 50, "1500"
    entry = fill(segment, entry_side, quantity, price)
    (entry_charged,) = charge_fills(SCHEDULE, POLICY, [entry])
    charges = entry_charged.charges.total()
    exit_side = Side.SELL if entry_side is Side.BUY else Side.BUY
    exit_fill = fill(segment, exit_side, quantity, price)
    cost = quantity * entry.price_micros

    found = break_even_price(SCHEDULE, POLICY, exit_fill, cost, charges)

    assert found is not None
    assert net(entry_side, quantity, entry.price_micros, charges, exit_fill, found) >= 0
    if entry_side is Side.BUY:
        # One micro lower loses money; charges push the break-even above the entry price.
        assert net(entry_side, quantity, entry.price_micros, charges, exit_fill, found - 1) < 0
        assert found > entry.price_micros + charges // quantity
    else:
        assert net(entry_side, quantity, entry.price_micros, charges, exit_fill, found + 1) < 0
        assert found < entry.price_micros - charges // quantity


def test_a_delivery_long_pays_its_round_trip_charges_back_before_breaking_even() -> None:
    # 10 shares bought at ₹1,500: STT 0.1 % on each side (₹15 + ~₹15), stamp duty, exchange, SEBI, GST
    # and the DP charge of the sell: the break-even lies between ₹1,503 and ₹1,506 a share.
    exit_fill = fill(Segment.DELIVERY, Side.SELL, 10, "1500")
    (entry,) = charge_fills(SCHEDULE, POLICY, [fill(Segment.DELIVERY, Side.BUY, 10, "1500")])
    found = break_even_price(SCHEDULE, POLICY, exit_fill, 15_000 * RUPEE, entry.charges.total())
    assert found is not None
    assert 1_503 * RUPEE < found < 1_506 * RUPEE
