"""Expiry settlement of equity derivatives (NFO/BFO): the fill that closes a contract left open at expiry.

A contract expires at the close of its expiry day (15:30 IST). A position still open then is closed by one
fill on the opposite side for the whole net quantity, at:
- a future: its final settlement price (the contract's own row in the prices, else its underlying's: a
  cash-settled future settles at the underlying's settlement price);
- an option: its intrinsic value against the underlying's settlement price, CE max(0, S - K) and
  PE max(0, K - S); zero when out of the money (the option lapses).
A contract with no known price yields no fill: it is never guessed. Integer micros throughout; every
function is deterministic. Pure: no I/O.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum

from trademesh.kernel.calendar import IST, SESSION_CLOSE
from trademesh.kernel.instrument_master import rupees_to_micros
from trademesh.kernel.instruments import ContractType, Derivative, Side

__all__ = [
    "SETTLEMENT_PRICE_COLUMNS",
    "SettlementBasis",
    "SettlementFill",
    "SettlementPrices",
    "SettlementPricesError",
    "expired",
    "expiry_of",
    "intrinsic_value",
    "parse_settlement_prices",
    "settlement_fill",
    "settlement_time",
]

SETTLEMENT_PRICE_COLUMNS = ("symbol", "date", "price")


class SettlementPricesError(ValueError):
    """The settlement prices file is malformed (the message names the row)."""


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


def settlement_time(expiry: date) -> datetime:
    """Return the instant a contract expiring on `expiry` settles: the close of that day, 15:30 IST (UTC)."""
    return datetime.combine(expiry, SESSION_CLOSE, IST).astimezone(UTC)


def expired(derivative: Derivative, now: datetime) -> bool:
    """Tell whether the contract has expired at `now` (the close of its expiry day has passed)."""
    return now >= settlement_time(expiry_of(derivative))


def intrinsic_value(contract_type: ContractType, strike_micros: int, underlying_micros: int) -> int:
    """Return an option's intrinsic value: CE max(0, S - K), PE max(0, K - S)."""
    if contract_type is ContractType.CALL:
        return max(0, underlying_micros - strike_micros)
    if contract_type is ContractType.PUT:
        return max(0, strike_micros - underlying_micros)
    raise ValueError("intrinsic value is defined for options only")


def settlement_fill(
    symbol: str, derivative: Derivative, net_quantity_micros: int, prices: SettlementPrices
) -> SettlementFill | None:
    """Return the fill that closes `net_quantity_micros` (long > 0, short < 0) of an expired contract.

    None when the position is flat or no settlement price is known (the position stays open).
    """
    if net_quantity_micros == 0 or derivative.contract_type is None:
        return None
    expiry = expiry_of(derivative)
    underlying = prices.price(derivative.underlying, expiry) if derivative.underlying else None
    if derivative.contract_type is ContractType.FUTURE:
        reference = prices.price(symbol, expiry) or underlying
        if reference is None:
            return None
        price, basis = reference, SettlementBasis.FINAL_SETTLEMENT_PRICE
    else:
        if underlying is None:
            return None
        reference = underlying
        price = intrinsic_value(derivative.contract_type, derivative.strike_price_micros, underlying)
        basis = SettlementBasis.INTRINSIC_VALUE
    side = Side.SELL if net_quantity_micros > 0 else Side.BUY
    return SettlementFill(side, abs(net_quantity_micros), price, settlement_time(expiry), basis, reference)
