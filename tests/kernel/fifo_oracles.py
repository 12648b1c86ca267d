"""The three FIFO engines as they were before decision 0380, verbatim, kept only as test oracles.

* `OldPositionBook`: `trademesh.kernel.lots.fifo.PositionBook` (Fraction lots and matches; ListPositions'
  whole-trade path, tax lots).
* `OldInstrumentCycle`: `trademesh.kernel.lots.roundtrips.InstrumentCycle` (analytics' round trips).
* `old_replay_fills`: `trademesh.services.trade.service.position_replay.replay_fills` (ListPositions' lean
  integer replay, decision 0370), with its `FifoTotals` as `OldFifoTotals`.

Only renamed (and `PositionFill` loosened to any object with its attributes); the rules are untouched.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import Generic, NamedTuple, TypeVar

from trademesh.kernel.instruments import Side
from trademesh.kernel.lots.fees import split_crossing_fee

QUANTITY_SCALE = 1_000_000


MICROS = 1_000_000


def round_micros(value: Fraction) -> int:
    """Round an exact value to whole micros, half-to-even."""
    return round(value)


@dataclass(frozen=True, slots=True)
class OldFill:
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
class OldLot:
    """An open lot: remaining quantity (micro-units), entry price and the fees still allocated to it."""

    trade_id: str
    long: bool
    quantity: Fraction
    price_micros: int
    fees: Fraction
    opened_at: datetime | None


@dataclass(frozen=True, slots=True)
class OldMatch:
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
class OldPositionBook:
    """The FIFO state of one instrument: open lots, matches and running totals (all exact)."""

    lots: deque[OldLot] = field(default_factory=deque)
    matches: list[OldMatch] = field(default_factory=list)
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

    def apply(self, fill: OldFill) -> list[OldMatch]:
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
        closed: list[OldMatch] = []
        while remaining > 0 and self.lots and self.lots[0].long != buying:
            lot = self.lots[0]
            matched = min(lot.quantity, remaining)
            entry_fees = lot.fees * matched / lot.quantity
            exit_fees = fee_per_unit * matched
            difference = fill.price_micros - lot.price_micros if lot.long else lot.price_micros - fill.price_micros
            match = OldMatch(
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
                OldLot(
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


def old_replay(fills: Iterable[OldFill]) -> OldPositionBook:
    """Apply fills in the given order to a fresh book and return it."""
    book = OldPositionBook()
    for fill in fills:
        book.apply(fill)
    return book


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


class OldRoundTrip(NamedTuple, Generic[KeyT]):
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


class OldOpenLot(NamedTuple):
    """A still-open FIFO lot as reported: remaining quantity (micro-units), entry price, entry time."""

    quantity: int
    price_micros: int
    time: int


@dataclass(slots=True)
class OldInstrumentCycle(Generic[KeyT]):
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
    ) -> OldRoundTrip[KeyT] | None:
        """Apply one fill (in journal order); return the round trip it closed, if any."""
        position = self.position
        if position == 0 or (position > 0) == buy:
            if position == 0:
                self._open(trade_id, category, time)
            self.lots.append([quantity, price_micros, time, fees_micros, quantity])
            self.position = position + quantity if buy else position - quantity
            self.fees_micros += fees_micros
            self.fill_count += 1
            return None
        held = position if position > 0 else -position
        closing = quantity if quantity < held else held
        self.realized_scaled += self._consume(closing, price_micros, long=position > 0)
        self.fill_count += 1
        if quantity < held:
            self.position = position - quantity if position > 0 else position + quantity
            self.fees_micros += fees_micros
            return None
        closing_fees = fees_micros if quantity == held else split_crossing_fee(fees_micros, closing, quantity)[0]
        closed = OldRoundTrip(
            instrument=self.instrument,
            long=position > 0,
            opening_trade_id=self.opening_trade_id,
            category=self.category,
            open_time=self.open_time,
            close_time=time,
            close_sequence=sequence,
            gross_scaled=self.realized_scaled,
            fees_micros=self.fees_micros + closing_fees,
            fill_count=self.fill_count,
        )
        self.position = 0
        remainder = quantity - held
        if remainder:
            # The crossing fill opens the next cycle with what is left, at the same price and time.
            self._open(trade_id, category, time)
            self.fees_micros = fees_micros - closing_fees
            self.lots.append([remainder, price_micros, time, self.fees_micros, remainder])
            self.position = remainder if buy else -remainder
            self.fill_count = 1
        else:
            # Flat: nothing of the closed cycle stays on the instrument.
            self._open("", "", 0)
        return closed

    def _open(self, trade_id: str, category: str, time: int) -> None:
        self.opening_trade_id = trade_id
        self.category = category
        self.open_time = time
        self.realized_scaled = 0
        self.fees_micros = 0
        self.fill_count = 0

    def _consume(self, quantity: int, price_micros: int, *, long: bool) -> int:
        # Realized P&L of closing `quantity` against the oldest lots, scaled (price x quantity).
        lots = self.lots
        remaining = quantity
        scaled = 0
        while remaining:
            lot = lots[0]
            if lot[0] <= remaining:
                scaled += (price_micros - lot[1]) * lot[0]
                remaining -= lot[0]
                lots.popleft()
            else:
                scaled += (price_micros - lot[1]) * remaining
                lot[0] -= remaining
                remaining = 0
        return scaled if long else -scaled

    @property
    def is_open(self) -> bool:
        """Tell whether a round trip is open (the position is not flat)."""
        return self.position != 0

    def open_lots(self) -> list[OldOpenLot]:
        """Return the open lots, oldest first."""
        return [OldOpenLot(lot[0], lot[1], lot[2]) for lot in self.lots]

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


@dataclass(frozen=True, slots=True)
class OldFifoTotals:
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


def old_replay_fills(ordered: Sequence[OldFill]) -> OldFifoTotals:
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
        assert moment is not None  # a PositionFill always has its time
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
    return OldFifoTotals(
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
