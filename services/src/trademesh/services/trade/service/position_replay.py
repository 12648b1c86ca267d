"""The FIFO replay of one instrument's lean fills, in integers: the totals a Position shows (decision 0370).

`kernel.lots.PositionBook` keeps every open lot's fees and every match as exact fractions, which costs
~40 µs a fill: seconds for a trader's 10^5 fills. A position's summary needs far less, and all of it
exactly in integers until the end:

* quantities stay whole micro-units through FIFO (a match takes the smaller of two integers);
* a lot opens with whole-micro fees (the fill's fees, or the opening part of a fill crossing zero,
  `split_crossing_fee`) and keeps `fees x remaining / opened` of them as it is consumed, so the open
  lots' fees are summed once, at the end;
* every fee of a fill goes to its matches or to the lot it opens, so the fees realized are the total
  fees less the open lots' fees, and the realized P&L is `Σ matched x (exit - entry) / 10^6` less them.

Each total is then the same exact rational `PositionBook` computes (tests/trade/use_cases/
test_positions_lean_read.py holds the two equal on random journals), rounded the same way.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from trademesh.kernel.instruments import Exchange, Side
from trademesh.kernel.lots import split_crossing_fee
from trademesh.services.trade.model.position_fills import PositionFill

MICROS = 1_000_000


@dataclass(frozen=True, slots=True)
class FifoTotals:
    """One instrument's replayed fills, with the names and exact values of `PositionBook`'s totals."""

    buy_quantity: int
    buy_value: Fraction
    sell_quantity: int
    sell_value: Fraction
    total_fees: int
    fill_count: int
    first_time: datetime | None
    last_time: datetime | None
    realized: Fraction
    open_value: Fraction
    open_fees: Fraction
    average_open_price: Fraction

    @property
    def net_quantity(self) -> int:
        """Return buy - sell quantity in micro-units (negative when short)."""
        return self.buy_quantity - self.sell_quantity


def group_fills(fills: Iterable[PositionFill]) -> dict[tuple[Exchange, str], list[PositionFill]]:
    """Group fills by instrument (exchange, symbol)."""
    groups: dict[tuple[Exchange, str], list[PositionFill]] = defaultdict(list)
    for fill in fills:
        groups[(fill.exchange, fill.symbol)].append(fill)
    return groups


def replay_fills(ordered: Sequence[PositionFill]) -> FifoTotals:
    """Replay one instrument's fills, in journal order, first in first out."""
    # An open lot: [remaining quantity, price, fees when opened, quantity when opened]; all on one side.
    lots: deque[list[int]] = deque()
    long = True
    held = 0
    gross = 0  # Σ matched quantity x (exit - entry) price, micro-units x INR micros
    buy_quantity = sell_quantity = buy_value = sell_value = total_fees = 0
    first_time: datetime | None = None
    last_time: datetime | None = None
    for fill in ordered:
        quantity, price, fees = fill.quantity_micros, fill.price_micros, fill.fees_micros
        buying = fill.side is Side.BUY
        if buying:
            buy_quantity += quantity
            buy_value += quantity * price
        else:
            sell_quantity += quantity
            sell_value += quantity * price
        total_fees += fees
        moment = fill.trade_time
        if first_time is None or moment < first_time:
            first_time = moment
        if last_time is None or moment > last_time:
            last_time = moment
        if not lots or long == buying:
            lots.append([quantity, price, fees, quantity])
            long = buying
            held += quantity
            continue
        opening_fees = split_crossing_fee(fees, held, quantity)[1] if held < quantity else 0
        remaining = quantity
        while remaining and lots:
            lot = lots[0]
            matched = min(lot[0], remaining)
            gross += matched * (price - lot[1] if long else lot[1] - price)
            lot[0] -= matched
            remaining -= matched
            held -= matched
            if not lot[0]:
                lots.popleft()
        if remaining:
            lots.append([remaining, price, opening_fees, remaining])
            long = buying
            held = remaining
    open_fees = sum((Fraction(lot[2] * lot[0], lot[3]) for lot in lots), Fraction(0))
    open_quantity = sum(lot[0] for lot in lots)
    open_cost = sum(lot[0] * lot[1] for lot in lots)
    return FifoTotals(
        buy_quantity=buy_quantity,
        buy_value=Fraction(buy_value, MICROS),
        sell_quantity=sell_quantity,
        sell_value=Fraction(sell_value, MICROS),
        total_fees=total_fees,
        fill_count=len(ordered),
        first_time=first_time,
        last_time=last_time,
        realized=Fraction(gross, MICROS) - total_fees + open_fees,
        open_value=Fraction(open_cost, MICROS),
        open_fees=open_fees,
        average_open_price=Fraction(open_cost, open_quantity) if open_quantity else Fraction(0),
    )
