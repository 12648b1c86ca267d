"""Round trips: FIFO lot matching grouped into position cycles (flat → flat), in exact integers.

The rules are those of `trademesh.analytics.v1.AnalyticsReport` and of `fifo.py` (docs/decisions/0013
and 0060): lots are matched FIFO per instrument; a fill in the direction of the position (or any fill
while flat) appends a lot; a fill against it consumes the oldest lots first. A round trip opens with the
fill that moves the position away from zero and closes with the fill that brings it back to zero. A fill
crossing zero closes the cycle with the part that flattens it and opens a new cycle with the remainder at
the same price and time; its fee is split by the largest-remainder rule of `fees.py` (decision 0111).

This module is the hot path of analytics (a million fills must be matched in well under a second), so it
works on plain ints: quantities in micro-units, prices and fees in INR micros, and P&L kept *scaled*
(price micros x quantity micro-units, i.e. 10^6 x INR micros) so no division happens until a figure is
reported. Times and sequence numbers are opaque ints chosen by the caller (analytics uses epoch
microseconds and the journal order).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Generic, NamedTuple, TypeVar

from trademesh.kernel.lots.fees import split_crossing_fee

QUANTITY_SCALE = 1_000_000

KeyT = TypeVar("KeyT")


def divide_half_away(numerator: int, denominator: int) -> int:
    """Divide exactly and round half away from zero (denominator > 0)."""
    quotient, remainder = divmod(abs(numerator), denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return quotient if numerator >= 0 else -quotient


def divide_half_even(numerator: int, denominator: int) -> int:
    """Divide exactly and round half to even (denominator > 0): `round(Fraction(n, d))` without a Fraction."""
    quotient, remainder = divmod(numerator, denominator)  # floor: 0 <= remainder < denominator
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2):
        quotient += 1
    return quotient


class RoundTrip(NamedTuple, Generic[KeyT]):
    """One closed position cycle of an instrument (a named tuple: millions are built per recompute)."""

    instrument: KeyT
    long: bool
    opening_trade_id: str
    category: str
    open_time: int
    close_time: int
    close_sequence: int
    #: FIFO realized P&L of the closing fills, scaled by QUANTITY_SCALE (exact).
    gross_scaled: int
    fees_micros: int
    fill_count: int

    @property
    def gross_pnl_micros(self) -> int:
        """Return the realized P&L before fees in INR micros (half away from zero)."""
        return divide_half_away(self.gross_scaled, QUANTITY_SCALE)

    @property
    def net_pnl_micros(self) -> int:
        """Return the realized P&L after the fees of all the round trip's fills."""
        return self.gross_pnl_micros - self.fees_micros


class OpenLot(NamedTuple):
    """A still-open FIFO lot as reported: remaining quantity (micro-units), entry price, entry time."""

    quantity: int
    price_micros: int
    time: int


@dataclass(slots=True)
class InstrumentCycle(Generic[KeyT]):
    """The FIFO state of one instrument: its open round trip (if any) and its open lots.

    `apply` is O(1) amortized per fill, so a journal can be kept up to date one fill at a time.
    """

    instrument: KeyT
    position: int = 0
    #: Open lots, oldest first, as mutable [quantity, price micros, time, fees micros, opening quantity]
    #: lists (see `open_lots`): a lot keeps its fee per unit (fees / opening quantity) while it is consumed.
    lots: deque[list[int]] = field(default_factory=deque)
    opening_trade_id: str = ""
    category: str = ""
    open_time: int = 0
    realized_scaled: int = 0
    fees_micros: int = 0
    fill_count: int = 0
    #: When a list, `apply` appends what each closing fill matched, one (quantity, entry price, entry time,
    #: lot fees, lot opening quantity) per lot consumed, oldest first (`fifo.PositionBook` builds its matches
    #: from them); None (analytics' hot path) records nothing.
    pieces: list[tuple[int, int, int, int, int]] | None = None

    def apply(
        self,
        buy: bool,
        quantity: int,
        price_micros: int,
        fees_micros: int,
        time: int,
        sequence: int,
        trade_id: str,
        category: str,
    ) -> RoundTrip[KeyT] | None:
        """Apply one fill (in journal order); return the round trip it closed, if any."""
        position = self.position
        if position == 0 or (position > 0) == buy:
            self.lots.append([quantity, price_micros, time, fees_micros, quantity])
            self.position = position + quantity if buy else position - quantity
            if position == 0:  # opens a round trip
                self.opening_trade_id = trade_id
                self.category = category
                self.open_time = time
                self.realized_scaled = 0
                self.fees_micros = fees_micros
                self.fill_count = 1
            else:
                self.fees_micros += fees_micros
                self.fill_count += 1
            return None
        held = position if position > 0 else -position
        closing = quantity if quantity < held else held
        # Consume `closing` from the oldest lots (inlined: this is the hot path of every engine).
        lots = self.lots
        pieces = self.pieces
        remaining = closing
        scaled = 0
        while remaining:
            lot = lots[0]
            if lot[0] <= remaining:
                if pieces is not None:
                    pieces.append((lot[0], lot[1], lot[2], lot[3], lot[4]))
                scaled += (price_micros - lot[1]) * lot[0]
                remaining -= lot[0]
                lots.popleft()
            else:
                if pieces is not None:
                    pieces.append((remaining, lot[1], lot[2], lot[3], lot[4]))
                scaled += (price_micros - lot[1]) * remaining
                lot[0] -= remaining
                remaining = 0
        self.realized_scaled += scaled if position > 0 else -scaled
        self.fill_count += 1
        if quantity < held:
            self.position = position - quantity if position > 0 else position + quantity
            self.fees_micros += fees_micros
            return None
        closing_fees = fees_micros if quantity == held else split_crossing_fee(fees_micros, closing, quantity)[0]
        # Built as a plain tuple of the fields in order (instrument, long, opening trade, category, open time,
        # close time, close sequence, gross scaled, fees, fill count): the named tuple's Python-level
        # constructor costs more than the rest of a crossing fill on this hot path.
        closed: RoundTrip[KeyT] = tuple.__new__(
            RoundTrip,
            (
                self.instrument,
                position > 0,
                self.opening_trade_id,
                self.category,
                self.open_time,
                time,
                sequence,
                self.realized_scaled,
                self.fees_micros + closing_fees,
                self.fill_count,
            ),
        )
        self.position = 0
        remainder = quantity - held
        if remainder:
            # The crossing fill opens the next cycle with what is left, at the same price and time.
            self.opening_trade_id = trade_id
            self.category = category
            self.open_time = time
            self.realized_scaled = 0
            self.fees_micros = fees_micros - closing_fees
            self.lots.append([remainder, price_micros, time, self.fees_micros, remainder])
            self.position = remainder if buy else -remainder
            self.fill_count = 1
        else:
            # Flat: nothing of the closed cycle stays on the instrument.
            self.opening_trade_id = ""
            self.category = ""
            self.open_time = 0
            self.realized_scaled = 0
            self.fees_micros = 0
            self.fill_count = 0
        return closed

    @property
    def is_open(self) -> bool:
        """Tell whether a round trip is open (the position is not flat)."""
        return self.position != 0

    def open_lots(self) -> list[OpenLot]:
        """Return the open lots, oldest first."""
        return [OpenLot(lot[0], lot[1], lot[2]) for lot in self.lots]

    @property
    def open_fees(self) -> Fraction:
        """Return the fees still allocated to the open lots (exact): each lot's fees x remaining / opening quantity.

        The rule of `fifo.PositionBook` (ListPositions): a lot's fees are consumed pro rata by quantity.
        """
        # Summed per opening quantity first (few distinct ones): one Fraction per denominator, not per lot.
        by_opening: dict[int, int] = {}
        for lot in self.lots:
            by_opening[lot[4]] = by_opening.get(lot[4], 0) + lot[3] * lot[0]
        return sum((Fraction(numerator, opening) for opening, numerator in by_opening.items()), Fraction(0))

    @property
    def realized_net(self) -> Fraction:
        """Return the P&L realized so far by this open round trip's partial exits, net of the closed part's fees.

        The closing fills' fees and the closed share of the open lots' fees (exact; `fifo.PositionBook`'s rule,
        so it equals what ListPositions counts for the same fills).
        """
        return Fraction(self.realized_scaled, QUANTITY_SCALE) - (self.fees_micros - self.open_fees)

    @property
    def open_value_scaled(self) -> int:
        """Return Σ lot quantity x lot price of the open lots (scaled, >= 0)."""
        return sum(lot[0] * lot[1] for lot in self.lots)

    @property
    def average_open_price_micros(self) -> int:
        """Return the quantity-weighted entry price of the open lots (0 when flat), half away from zero."""
        quantity = sum(lot[0] for lot in self.lots)
        return divide_half_away(self.open_value_scaled, quantity) if quantity else 0
