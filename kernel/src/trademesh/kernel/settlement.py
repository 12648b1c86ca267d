"""Expiry settlement of derivatives: the fill that closes a contract left open at expiry.

A contract expires at the close of its exchange's session on its expiry day (`SETTLEMENT_CLOSE`: NFO/BFO
15:30 IST, currency CDS/BCD 17:00, MCX 23:55). A position still open then is closed by one fill on the
opposite side for the whole net quantity, at:
- a future (NFO/BFO, CDS/BCD, MCX): its final settlement price (the contract's own row in the prices, else
  its underlying's: a cash-settled future settles at the underlying's settlement price — an index's, the
  RBI reference rate for currency, MCX's due date rate);
- an NFO/BFO or CDS/BCD option (European, cash-settled): its intrinsic value against the underlying's
  settlement price, CE max(0, S - K) and PE max(0, K - S); zero when out of the money (it lapses);
- an MCX option out of the money: zero (it lapses). One in the money devolves into a futures position
  (options on futures) or into delivery (options on goods); neither is modelled, so it gets no fill and is
  reported as `Unsettled.DEVOLVES` (left open, like a contract with no price).
A contract with no known price yields no fill: it is never guessed. Quantities are the journal's (units the
price is quoted per, lots x lot size x multiplier already applied), so no lot size is needed. Integer micros
throughout; every function is deterministic. Pure: no I/O.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum

from trademesh.kernel.calendar import IST, SESSION_CLOSE
from trademesh.kernel.instrument_master import rupees_to_micros
from trademesh.kernel.instruments import ContractType, Derivative, Exchange, Side

__all__ = [
    "SETTLED_EXCHANGES",
    "SETTLEMENT_CLOSE",
    "SETTLEMENT_PRICE_COLUMNS",
    "SettlementBasis",
    "SettlementFill",
    "SettlementPrices",
    "SettlementPricesError",
    "Unsettled",
    "expired",
    "expiry_of",
    "intrinsic_value",
    "parse_settlement_prices",
    "settle",
    "settlement_fill",
    "settlement_time",
]

SETTLEMENT_PRICE_COLUMNS = ("symbol", "date", "price")
#: When an expiring contract settles: the close of its exchange's session on the expiry day (IST). Every
#: trade in the contract comes before it (currency contracts stop trading at 12:30 on their last day; MCX's
#: evening session ends at 23:30 or 23:55 IST with US daylight saving).
SETTLEMENT_CLOSE: dict[Exchange, time] = {
    Exchange.NFO: SESSION_CLOSE,
    Exchange.BFO: SESSION_CLOSE,
    Exchange.CDS: time(17, 0),
    Exchange.BCD: time(17, 0),
    Exchange.MCX: time(23, 55),
}
#: The exchanges whose contracts the journal settles at expiry.
SETTLED_EXCHANGES = frozenset(SETTLEMENT_CLOSE)


class SettlementPricesError(ValueError):
    """The settlement prices file is malformed (the message names the row)."""


class Unsettled(StrEnum):
    """Why an open expired contract gets no settlement fill (it is left open and reported)."""

    #: No settlement price is known for it (or its underlying).
    NO_PRICE = "NO_PRICE"
    #: An MCX option in the money: it devolves into futures or delivery, which the journal does not model.
    DEVOLVES = "DEVOLVES"


class SettlementBasis(StrEnum):
    """What a settlement fill's price is."""

    #: A future's final settlement price.
    FINAL_SETTLEMENT_PRICE = "FINAL_SETTLEMENT_PRICE"
    #: An option's intrinsic value (zero when out of the money).
    INTRINSIC_VALUE = "INTRINSIC_VALUE"


@dataclass(frozen=True, slots=True)
class SettlementPrices:
    """Settlement prices in micros by (symbol, IST date), from the operator's CSV."""

    prices: dict[tuple[str, date], int]

    def price(self, symbol: str, day: date) -> int | None:
        """Return the settlement price of `symbol` on `day`, if known."""
        return self.prices.get((symbol.upper(), day))

    def __len__(self) -> int:
        return len(self.prices)


@dataclass(frozen=True, slots=True)
class SettlementFill:
    """The closing fill of an expired contract."""

    side: Side
    quantity_micros: int
    price_micros: int
    #: Expiry day 15:30 IST (the close), in UTC.
    trade_time: datetime
    basis: SettlementBasis
    #: The settlement price the fill was computed from (the underlying's for options).
    reference_price_micros: int


def parse_settlement_prices(text: str) -> SettlementPrices:
    """Parse `symbol,date,price` CSV (header first; price in rupees); conflicting duplicates are an error."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    fieldnames = [name.strip().lower() for name in reader.fieldnames or ()]
    missing = [name for name in SETTLEMENT_PRICE_COLUMNS if name not in fieldnames]
    if missing:
        raise SettlementPricesError(f"missing columns: {', '.join(missing)}")
    reader.fieldnames = fieldnames
    prices: dict[tuple[str, date], int] = {}
    for number, row in enumerate(reader, start=2):
        symbol = (row["symbol"] or "").strip().upper()
        if not symbol:
            raise SettlementPricesError(f"row {number}: symbol is required")
        try:
            day = date.fromisoformat((row["date"] or "").strip())
        except ValueError:
            raise SettlementPricesError(f"row {number}: date must be YYYY-MM-DD") from None
        try:
            price = rupees_to_micros(row["price"] or "")
        except ValueError as error:
            raise SettlementPricesError(f"row {number}: price {error}") from None
        if price <= 0:
            raise SettlementPricesError(f"row {number}: price must be > 0")
        if prices.get((symbol, day), price) != price:
            raise SettlementPricesError(f"row {number}: a different price for {symbol} on {day} is listed earlier")
        prices[(symbol, day)] = price
    return SettlementPrices(prices)


def expiry_of(derivative: Derivative) -> date:
    """Return the contract's expiry date."""
    return date.fromisoformat(derivative.expiry_date)


def settlement_time(expiry: date, exchange: Exchange = Exchange.NFO) -> datetime:
    """Return the instant a contract of `exchange` expiring on `expiry` settles: its session close (UTC)."""
    return datetime.combine(expiry, SETTLEMENT_CLOSE[exchange], IST).astimezone(UTC)


def expired(derivative: Derivative, now: datetime, exchange: Exchange = Exchange.NFO) -> bool:
    """Tell whether the contract has expired at `now` (the close of its expiry day has passed)."""
    return now >= settlement_time(expiry_of(derivative), exchange)


def intrinsic_value(contract_type: ContractType, strike_micros: int, underlying_micros: int) -> int:
    """Return an option's intrinsic value: CE max(0, S - K), PE max(0, K - S)."""
    if contract_type is ContractType.CALL:
        return max(0, underlying_micros - strike_micros)
    if contract_type is ContractType.PUT:
        return max(0, strike_micros - underlying_micros)
    raise ValueError("intrinsic value is defined for options only")


def settle(
    symbol: str,
    derivative: Derivative,
    net_quantity_micros: int,
    prices: SettlementPrices,
    exchange: Exchange = Exchange.NFO,
) -> SettlementFill | Unsettled | None:
    """Return the fill that closes `net_quantity_micros` (long > 0, short < 0) of an expired contract.

    None when the position is flat; `Unsettled` when it cannot be settled exactly (no price, or an MCX option
    in the money) and stays open.
    """
    if net_quantity_micros == 0 or derivative.contract_type is None:
        return None
    if exchange not in SETTLEMENT_CLOSE:
        raise ValueError(f"{exchange} contracts are not settled at expiry")
    expiry = expiry_of(derivative)
    underlying = prices.price(derivative.underlying, expiry) if derivative.underlying else None
    if derivative.contract_type is ContractType.FUTURE:
        reference = prices.price(symbol, expiry) or underlying
        if reference is None:
            return Unsettled.NO_PRICE
        price, basis = reference, SettlementBasis.FINAL_SETTLEMENT_PRICE
    else:
        if underlying is None:
            return Unsettled.NO_PRICE
        reference = underlying
        price = intrinsic_value(derivative.contract_type, derivative.strike_price_micros, underlying)
        if price > 0 and exchange is Exchange.MCX:
            return Unsettled.DEVOLVES
        basis = SettlementBasis.INTRINSIC_VALUE
    side = Side.SELL if net_quantity_micros > 0 else Side.BUY
    return SettlementFill(side, abs(net_quantity_micros), price, settlement_time(expiry, exchange), basis, reference)


def settlement_fill(
    symbol: str,
    derivative: Derivative,
    net_quantity_micros: int,
    prices: SettlementPrices,
    exchange: Exchange = Exchange.NFO,
) -> SettlementFill | None:
    """Return the fill that closes an expired contract, or None (flat, or `settle` left it open)."""
    outcome = settle(symbol, derivative, net_quantity_micros, prices, exchange)
    return outcome if isinstance(outcome, SettlementFill) else None
