"""FIFO lot matching per the rules documented in trademesh.trade.v1.Position, on the one integer engine.

`PositionBook` is `roundtrips.InstrumentCycle` (the engine analytics' round trips run on, decision 0380) plus
the totals and matches ListPositions and tax lots report; the lean ListPositions replay is a `PositionBook`
that records no matches (`PositionBook(record_matches=False)`, then `totals()`).

* Fills are applied in the order given (callers sort by (trade_time, create_time, exec_seq, id)).
* A fill in the direction of the position (or any fill when flat) opens a lot. A fill against it
  closes the oldest open lots first; the part exceeding the open quantity flips the position and
  opens a new lot in its own direction. A fill crossing zero splits its fee into whole micros by the
  largest-remainder rule (`fees.py`, decision 0111): the closing part's share is then spread over the
  lots it closes pro rata (exact), the opening part's share goes to the new lot.
* Each matched quantity q realizes q x (exit - entry) for a long lot, q x (entry - exit) for a
  short one, minus entry fees x q / entry quantity and exit fees x q / exit quantity.

The engine keeps everything in integers (quantities in micro-units, a lot's whole-micro fees and opening
quantity, P&L scaled by 10^6); a `Fraction` is made only where a figure is read (a lot's remaining fees,
a match's fee shares, the realized total), so every figure is the exact rational, rounded once,
half-to-even, by `round_micros` when reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Protocol

from trademesh.kernel.instruments import Side
from trademesh.kernel.lots.fees import split_crossing_fee
from trademesh.kernel.lots.roundtrips import InstrumentCycle

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


class FillRecord(Protocol):
    """What the book reads of a fill: `Fill`, or any record with these attributes (the trade service's
    `PositionFill`, read lean from the store)."""

    @property
    def trade_id(self) -> str:
        """Return the trade's id."""
        ...

    @property
    def side(self) -> Side:
        """Return BUY or SELL."""
        ...

    @property
    def quantity_micros(self) -> int:
        """Return the quantity in micro-units (> 0)."""
        ...

    @property
    def price_micros(self) -> int:
        """Return the price in INR micros."""
        ...

    @property
    def fees_micros(self) -> int:
        """Return the fees in INR micros."""
        ...

    @property
    def trade_time(self) -> datetime | None:
        """Return the execution time."""
        ...


@dataclass(frozen=True, slots=True)
class FifoTotals:
    """An instrument's replayed book as ListPositions shows it (exact values; `PositionBook.totals`)."""

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


class PositionBook:
    """The FIFO state of one instrument: the engine's open lots, the matches and running totals."""

    __slots__ = (
        "_buy_value",
        "_cycle",
        "_fills",
        "_gross_closed",
        "_sell_value",
        "buy_quantity",
        "fill_count",
        "first_time",
        "last_time",
        "matches",
        "sell_quantity",
        "total_fees",
    )

    def __init__(self, *, record_matches: bool = True) -> None:
        """Start flat; `record_matches=False` keeps only the totals (ListPositions' lean replay)."""
        self._cycle: InstrumentCycle[None] = InstrumentCycle(None)
        if record_matches:
            self._cycle.pieces = []
        #: The fills applied, in order: a lot's "time" in the engine is its opening fill's index here.
        self._fills: list[FillRecord] = []
        #: Σ matched quantity x (exit - entry) of the cycles already closed, scaled by 10^6 (exact).
        self._gross_closed = 0
        self.matches: list[Match] = []
        self.buy_quantity = 0
        self.sell_quantity = 0
        self._buy_value = 0  # Σ quantity x price, scaled by 10^6
        self._sell_value = 0
        self.total_fees = 0
        self.fill_count = 0
        self.first_time: datetime | None = None
        self.last_time: datetime | None = None

    # -- totals ----------------------------------------------------------------------------------

    @property
    def net_quantity(self) -> int:
        """Return buy - sell quantity in micro-units (negative when short)."""
        return self.buy_quantity - self.sell_quantity

    @property
    def buy_value(self) -> Fraction:
        """Return Σ bought quantity x price in INR micros (exact)."""
        return Fraction(self._buy_value, MICROS)

    @property
    def sell_value(self) -> Fraction:
        """Return Σ sold quantity x price in INR micros (exact)."""
        return Fraction(self._sell_value, MICROS)

    @property
    def lots(self) -> list[Lot]:
        """Return the open lots, oldest first, each with its remaining quantity and fees (exact)."""
        long = self._cycle.position > 0
        fills = self._fills
        return [
            Lot(
                trade_id=fills[time].trade_id,
                long=long,
                quantity=Fraction(quantity),
                price_micros=price,
                fees=Fraction(fees * quantity, opened),
                opened_at=fills[time].trade_time,
            )
            for quantity, price, time, fees, opened in self._cycle.lots
        ]

    @property
    def open_value(self) -> Fraction:
        """Return sum of open lot quantity x entry price in INR micros (fees excluded, >= 0)."""
        return Fraction(self._cycle.open_value_scaled, MICROS)

    @property
    def open_fees(self) -> Fraction:
        """Return the fees allocated to still-open lots."""
        return self._cycle.open_fees

    @property
    def average_open_price(self) -> Fraction:
        """Return the quantity-weighted entry price of the open lots (0 when flat)."""
        quantity = sum(lot[0] for lot in self._cycle.lots)
        return Fraction(self._cycle.open_value_scaled, quantity) if quantity else Fraction(0)

    @property
    def realized(self) -> Fraction:
        """Return the realized P&L net of fees (exact): Σ matched x (exit - entry) less every fee not still
        allocated to an open lot (each fee goes to the matches it closes or to the lot it opens)."""
        gross = self._gross_closed + self._cycle.realized_scaled
        return Fraction(gross, MICROS) - self.total_fees + self.open_fees

    def totals(self) -> FifoTotals:
        """Return the totals as an immutable record (what ListPositions caches)."""
        open_fees = self.open_fees
        gross = self._gross_closed + self._cycle.realized_scaled
        return FifoTotals(
            buy_quantity=self.buy_quantity,
            buy_value=self.buy_value,
            sell_quantity=self.sell_quantity,
            sell_value=self.sell_value,
            total_fees=self.total_fees,
            fill_count=self.fill_count,
            first_time=self.first_time,
            last_time=self.last_time,
            realized=Fraction(gross, MICROS) - self.total_fees + open_fees,
            open_value=self.open_value,
            open_fees=open_fees,
            average_open_price=self.average_open_price,
        )

    # -- applying fills ----------------------------------------------------------------------------

    def apply(self, fill: FillRecord) -> list[Match]:
        """Apply one fill; return the matches it closed (none when the book records no matches)."""
        quantity, price, fees = fill.quantity_micros, fill.price_micros, fill.fees_micros
        buying = fill.side is Side.BUY
        if buying:
            self.buy_quantity += quantity
            self._buy_value += quantity * price
        else:
            self.sell_quantity += quantity
            self._sell_value += quantity * price
        self.total_fees += fees
        self.fill_count += 1
        moment = fill.trade_time
        if moment is not None:
            if self.first_time is None or moment < self.first_time:
                self.first_time = moment
            if self.last_time is None or moment > self.last_time:
                self.last_time = moment
        cycle = self._cycle
        position = cycle.position
        index = len(self._fills)
        self._fills.append(fill)
        trip = cycle.apply(buying, quantity, price, fees, index, index, fill.trade_id, "")
        if trip is not None:
            self._gross_closed += trip.gross_scaled
        pieces = cycle.pieces
        if not pieces:
            return []
        held = position if position > 0 else -position
        closing = quantity if quantity < held else held
        closing_fees = fees if quantity <= held else split_crossing_fee(fees, held, quantity)[0]
        closed = [self._match(fill, position > 0, piece, Fraction(closing_fees, closing)) for piece in pieces]
        pieces.clear()
        self.matches.extend(closed)
        return closed

    def extend(self, fills: Sequence[FillRecord]) -> None:
        """Apply fills in order, keeping only the totals: `apply` without building matches, in a tight loop
        (ListPositions' lean replay of up to 10^5 fills); only for a book made with `record_matches=False`."""
        if self._cycle.pieces is not None:
            raise ValueError("extend is for a book that records no matches")
        apply = self._cycle.apply
        recorded = self._fills
        buy_quantity, buy_value, sell_quantity, sell_value = (
            self.buy_quantity,
            self._buy_value,
            self.sell_quantity,
            self._sell_value,
        )
        total_fees, gross_closed = self.total_fees, self._gross_closed
        first, last = self.first_time, self.last_time
        index = len(recorded)
        recorded.extend(fills)
        buy = Side.BUY
        for fill in fills:
            quantity, price, fees = fill.quantity_micros, fill.price_micros, fill.fees_micros
            buying = fill.side is buy
            if buying:
                buy_quantity += quantity
                buy_value += quantity * price
            else:
                sell_quantity += quantity
                sell_value += quantity * price
            total_fees += fees
            moment = fill.trade_time
            if moment is not None:
                if first is None or moment < first:
                    first = moment
                if last is None or moment > last:
                    last = moment
            trip = apply(buying, quantity, price, fees, index, index, "", "")
            index += 1
            if trip is not None:
                gross_closed += trip.gross_scaled
        self.buy_quantity, self._buy_value, self.sell_quantity, self._sell_value = (
            buy_quantity,
            buy_value,
            sell_quantity,
            sell_value,
        )
        self.total_fees, self._gross_closed, self.fill_count = total_fees, gross_closed, index
        self.first_time, self.last_time = first, last

    def _match(
        self, fill: FillRecord, long: bool, piece: tuple[int, int, int, int, int], exit_fee_per_unit: Fraction
    ) -> Match:
        matched, entry_price, entry, lot_fees, opened = piece
        opening = self._fills[entry]
        difference = fill.price_micros - entry_price if long else entry_price - fill.price_micros
        return Match(
            entry_trade_id=opening.trade_id,
            exit_trade_id=fill.trade_id,
            long=long,
            quantity=Fraction(matched),
            entry_price_micros=entry_price,
            exit_price_micros=fill.price_micros,
            gross_pnl=Fraction(matched * difference, MICROS),
            fees=Fraction(lot_fees * matched, opened) + exit_fee_per_unit * matched,
            opened_at=opening.trade_time,
            closed_at=fill.trade_time,
        )


def replay(fills: Iterable[FillRecord]) -> PositionBook:
    """Apply fills in the given order to a fresh book and return it."""
    book = PositionBook()
    for fill in fills:
        book.apply(fill)
    return book
