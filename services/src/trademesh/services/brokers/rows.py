"""Broker trade rows in the journal's terms: the normalised trade and the rules every broker's row mapper shares.

Pure (kernel only): a broker's `rows` module maps its API's rows with these helpers; a row that cannot be
mapped raises RowProblem, which the caller records as that row's failure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from trademesh.kernel.calendar import IST
from trademesh.kernel.derivatives import ContractSymbolError, parse_contract_symbol
from trademesh.kernel.instruments import SYMBOL_PATTERN, ContractType, Derivative, Exchange, Segment, Side

__all__ = [
    "PRINTABLE_ASCII",
    "CategoryHint",
    "NormalisedTrade",
    "RowProblem",
    "broker_id",
    "instrument_of",
    "ist_timestamp",
    "parse_exchange",
    "parse_side",
    "required_text",
    "row_ref",
    "row_symbol",
    "to_micros",
]

PRINTABLE_ASCII = re.compile(r"^[\x20-\x7e]+$")


class CategoryHint(StrEnum):
    """The trade category a broker's product type implies: only intraday products (Kite MIS, Upstox I/CO)
    say anything; delivery (CNC/D) may be a swing or a long-term trade, so it gives no hint."""

    INTRADAY = "INTRADAY"


@dataclass(frozen=True, slots=True)
class NormalisedTrade:
    """One broker fill mapped to the journal's terms, ready for ReconcileTrades."""

    broker_trade_id: str
    broker_order_id: str
    symbol: str
    exchange: Exchange
    segment: Segment
    derivative: Derivative | None
    side: Side
    quantity_micros: int
    price_micros: int
    trade_time: datetime
    category: CategoryHint | None = None
    #: The broker's own charges of this fill, by trademesh.trade.v1.FeeBreakdown field (micros); None when
    #: the broker reported none (the journal computes them).
    fee_breakdown: dict[str, int] | None = None


class RowProblem(Exception):
    """Raise from a row mapper: one broker row cannot become a trade (the run goes on)."""

    def __init__(self, message: str, reason: str = "UNMAPPABLE") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def to_micros(value: Any, name: str) -> int:
    """Convert a broker number (int, float or string, rupees or units) to exact micros."""
    if isinstance(value, bool) or value is None or value == "":
        raise RowProblem(f"{name} is missing")
    try:
        # str() first: a float like 420.65 must become exactly 420650000, not its binary neighbour.
        amount = Decimal(str(value))
    except InvalidOperation:
        raise RowProblem(f"{name} is not a number: {str(value)[:40]!r}") from None
    if not amount.is_finite():
        raise RowProblem(f"{name} is not a finite number")
    micros = amount * 1_000_000
    if micros != micros.to_integral_value():
        raise RowProblem(f"{name} has more than 6 decimal places")
    if micros <= 0:
        raise RowProblem(f"{name} must be positive")
    return int(micros)


def required_text(row: dict[str, Any], name: str) -> str:
    """Return a non-empty string field of a broker row."""
    value = row.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RowProblem(f"{name} is missing")
    return str(value).strip()


def parse_exchange(text: str) -> Exchange:
    """Return the exchange named by a broker (upper-case code)."""
    try:
        return Exchange(text.strip().upper())
    except ValueError:
        raise RowProblem(f"unknown exchange {text[:20]!r}") from None


def parse_side(text: str) -> Side:
    """Return BUY/SELL from a broker's transaction type."""
    value = text.strip().upper()
    if value in ("BUY", "B"):
        return Side.BUY
    if value in ("SELL", "S"):
        return Side.SELL
    raise RowProblem(f"unknown transaction type {text[:20]!r}")


def ist_timestamp(value: Any, formats: tuple[str, ...]) -> datetime:
    """Parse a broker timestamp given in IST (a datetime, or text in one of `formats`)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        for pattern in formats:
            try:
                moment = datetime.strptime(value.strip(), pattern)  # naive: IST is attached below
                break
            except ValueError:
                continue
        else:
            raise RowProblem(f"unparsable timestamp {value[:40]!r}")
    else:
        raise RowProblem("timestamp is missing")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=IST)
    return moment.astimezone(UTC)


_DERIVATIVE_SEGMENT = {
    Exchange.NFO: None,
    Exchange.BFO: None,
    Exchange.MCX: Segment.COMMODITY,
    Exchange.CDS: Segment.CURRENCY,
    Exchange.BCD: Segment.CURRENCY,
}


def instrument_of(symbol: str, exchange: Exchange) -> tuple[str, Segment, Derivative | None]:
    """Return (symbol, segment, contract) of a broker symbol on an exchange."""
    symbol = symbol.strip().upper()
    if not SYMBOL_PATTERN.fullmatch(symbol):
        raise RowProblem(f"invalid trading symbol {symbol[:40]!r}")
    if exchange in (Exchange.NSE, Exchange.BSE):
        return symbol, Segment.EQUITY, None
    try:
        contract = parse_contract_symbol(symbol, exchange=exchange.value)
    except ContractSymbolError as error:
        raise RowProblem(str(error)) from None
    segment = _DERIVATIVE_SEGMENT[exchange] or (
        Segment.FUTURES if contract.contract_type is ContractType.FUTURE else Segment.OPTIONS
    )
    return symbol, segment, contract


def broker_id(row: dict[str, Any], name: str) -> str:
    """Return a broker id field of a row: 1-64 printable ASCII characters."""
    value = required_text(row, name)
    if len(value) > 64 or not PRINTABLE_ASCII.fullmatch(value):
        raise RowProblem(f"{name} is not 1-64 printable ASCII characters")
    return value


def row_ref(row: Any, index: int) -> str:
    """Return how a failure names a row: its trade id if it has one, else `#<index>`."""
    if isinstance(row, dict):
        value = row.get("trade_id")
        if isinstance(value, str | int) and str(value).strip() and len(str(value)) <= 64:
            return str(value).strip()
    return f"#{index}"


def row_symbol(row: Any) -> str:
    """Return a row's symbol as reported (for failure reports)."""
    if isinstance(row, dict):
        value = row.get("tradingsymbol") or row.get("trading_symbol") or ""
        return str(value)[:40]
    return ""
