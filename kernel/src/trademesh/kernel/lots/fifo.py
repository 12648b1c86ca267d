"""FIFO lot matching on exact rationals, per the rules documented in trademesh.trade.v1.Position.

* Fills are applied in the order given (callers sort by (trade_time, create_time, id)).
* A fill in the direction of the position (or any fill when flat) opens a lot. A fill against it
  closes the oldest open lots first; the part exceeding the open quantity flips the position and
  opens a new lot in its own direction. A fill crossing zero splits its fee into whole micros by the
  largest-remainder rule (`fees.py`, decision 0111): the closing part's share is then spread over the
  lots it closes pro rata (exact), the opening part's share goes to the new lot.
* Each matched quantity q realizes q x (exit - entry) for a long lot, q x (entry - exit) for a
  short one, minus entry fees x q / entry quantity and exit fees x q / exit quantity.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction

from trademesh.kernel.instruments import Side
from trademesh.kernel.lots.fees import split_crossing_fee

MICROS = 1_000_000


def round_micros(value: Fraction) -> int:
    """Round an exact value to whole micros, half-to-even."""
    return round(value)


@dataclass(frozen=True, slots=True)
class Fill:
    """One executed trade: quantity in micro-units, price and fees in INR micros."""

    trade_id: str
    side: Side
    quantity_micros: int
    price_micros: int
    fees_micros: int = 0
    trade_time: datetime | None = None

    def __post_init__(self) -> None:
        if self.quantity_micros <= 0:
            raise ValueError("quantity_micros must be > 0")
        if self.price_micros < 0 or self.fees_micros < 0:
            raise ValueError("price_micros and fees_micros must be >= 0")


@dataclass(slots=True)
class Lot:
    """An open lot: remaining quantity (micro-units), entry price and the fees still allocated to it."""

    trade_id: str
    long: bool
    quantity: Fraction
    price_micros: int
    fees: Fraction
    opened_at: datetime | None


@dataclass(frozen=True, slots=True)
class Match:
    """One closed quantity: entry and exit trades, quantity and its realized P&L (exact, INR micros)."""

    entry_trade_id: str
    exit_trade_id: str
    long: bool
    quantity: Fraction
    entry_price_micros: int
    exit_price_micros: int
    gross_pnl: Fraction
    fees: Fraction
    opened_at: datetime | None
    closed_at: datetime | None

    @property
    def net_pnl(self) -> Fraction:
        """Return the realized P&L net of the matched quantity's fees."""
        return self.gross_pnl - self.fees


@dataclass(slots=True)
class PositionBook:
    """The FIFO state of one instrument: open lots, matches and running totals (all exact)."""

    lots: deque[Lot] = field(default_factory=deque)
    matches: list[Match] = field(default_factory=list)
    realized: Fraction = Fraction(0)
    buy_quantity: int = 0
    buy_value: Fraction = Fraction(0)
    sell_quantity: int = 0
    sell_value: Fraction = Fraction(0)
    total_fees: int = 0
    fill_count: int = 0
    first_time: datetime | None = None
    last_time: datetime | None = None

    @property
    def net_quantity(self) -> int:
        """Return buy - sell quantity in micro-units (negative when short)."""
        return self.buy_quantity - self.sell_quantity

    @property
    def open_value(self) -> Fraction:
        """Return sum of open lot quantity x entry price in INR micros (fees excluded, >= 0)."""
        return sum((lot.quantity * lot.price_micros / MICROS for lot in self.lots), Fraction(0))

    @property
    def open_fees(self) -> Fraction:
        """Return the fees allocated to still-open lots."""
        return sum((lot.fees for lot in self.lots), Fraction(0))

    @property
    def average_open_price(self) -> Fraction:
        """Return the quantity-weighted entry price of the open lots (0 when flat)."""
        quantity = sum((lot.quantity for lot in self.lots), Fraction(0))
        if quantity == 0:
            return Fraction(0)
        return sum((lot.quantity * lot.price_micros for lot in self.lots), Fraction(0)) / quantity

    def apply(self, fill: Fill) -> list[Match]:
        """Apply one fill; return the matches it closed."""
        quantity = Fraction(fill.quantity_micros)
        value = quantity * fill.price_micros / MICROS
        if fill.side is Side.BUY:
            self.buy_quantity += fill.quantity_micros
            self.buy_value += value
        else:
            self.sell_quantity += fill.quantity_micros
            self.sell_value += value
        self.total_fees += fill.fees_micros
        self.fill_count += 1
        if fill.trade_time is not None:
            if self.first_time is None or fill.trade_time < self.first_time:
                self.first_time = fill.trade_time
            if self.last_time is None or fill.trade_time > self.last_time:
                self.last_time = fill.trade_time
        buying = fill.side is Side.BUY
        remaining = quantity
        fee_per_unit = Fraction(fill.fees_micros) / fill.quantity_micros
        new_lot_fees: Fraction | None = None
        if self.lots and self.lots[0].long != buying:
            held = sum((lot.quantity for lot in self.lots), Fraction(0))
            if held < quantity:
                # Crossing zero: whole-micro parts by largest remainder, the same split as round trips.
                closing_fees, opening_fees = split_crossing_fee(fill.fees_micros, int(held), fill.quantity_micros)
                fee_per_unit = Fraction(closing_fees) / held
                new_lot_fees = Fraction(opening_fees)
        closed: list[Match] = []
        while remaining > 0 and self.lots and self.lots[0].long != buying:
            lot = self.lots[0]
            matched = min(lot.quantity, remaining)
            entry_fees = lot.fees * matched / lot.quantity
            exit_fees = fee_per_unit * matched
            difference = fill.price_micros - lot.price_micros if lot.long else lot.price_micros - fill.price_micros
            match = Match(
                entry_trade_id=lot.trade_id,
                exit_trade_id=fill.trade_id,
                long=lot.long,
                quantity=matched,
                entry_price_micros=lot.price_micros,
                exit_price_micros=fill.price_micros,
                gross_pnl=matched * difference / MICROS,
                fees=entry_fees + exit_fees,
                opened_at=lot.opened_at,
                closed_at=fill.trade_time,
            )
            closed.append(match)
            self.realized += match.net_pnl
            lot.quantity -= matched
            lot.fees -= entry_fees
            remaining -= matched
            if lot.quantity == 0:
                self.lots.popleft()
        if remaining > 0:
            self.lots.append(
                Lot(
                    trade_id=fill.trade_id,
                    long=buying,
                    quantity=remaining,
                    price_micros=fill.price_micros,
                    fees=fee_per_unit * remaining if new_lot_fees is None else new_lot_fees,
                    opened_at=fill.trade_time,
                )
            )
        self.matches.extend(closed)
        return closed


def replay(fills: Iterable[Fill]) -> PositionBook:
    """Apply fills in the given order to a fresh book and return it."""
    book = PositionBook()
    for fill in fills:
        book.apply(fill)
    return book
