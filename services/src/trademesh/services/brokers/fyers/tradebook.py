"""Fyers "Tradebook report" CSV: one fill per row, under a few lines of report details.

Layout (decision 0280, from a public description of a real export, not from Fyers' documentation): lines
such as ``Report Title,Tradebook report`` and ``Client ID,…`` above the header ``Symbol name, Symbol code,
Date & time, Side, Product type, Qty, Traded price, Total value, Segment, Exchange order ID, OMS order ID``.
Times are ``25 Aug 2026, 03:20:21 PM`` (IST); sides BUY/SELL; numbers may carry thousands separators
("2,500.00", "1,52,250.00"); segments are "Capital Market" and "Derivatives". The file has no exchange and
no trade id: cash rows are NSE, derivative rows NFO except SENSEX/BANKEX contracts (BFO); order ids printed
in scientific notation ("2.2E+15") are dropped. A carry-forward mirror row (product "-", an exchange order
id that is not a number, time 12:00:00 AM — all three) repeats an earlier fill with the opposite side and
is not a trade: `is_mirror` tells the caller to leave it out. A symbol written in Fyers' API style
(``NSE:HDFCBANK-EQ``, as one third-party description shows) is read as its exchange and plain symbol.
"""

from __future__ import annotations

import re
from datetime import datetime

from trademesh.kernel.calendar import IST
from trademesh.kernel.instruments import Exchange
from trademesh.services.brokers.csvcells import (
    CsvRow,
    RowProblem,
    TradebookRow,
    contract_from_symbol,
    fill_row,
    parse_micros,
    parse_side,
    parse_time,
)

__all__ = ["ALIASES", "REQUIRED_COLUMNS", "is_mirror", "parse_row"]

#: Canonical column -> the headers it may have (lower-case).
ALIASES: dict[str, tuple[str, ...]] = {
    "symbol": ("symbol name",),
    "time": ("date & time",),
    "side": ("side",),
    "product": ("product type",),
    "quantity": ("qty",),
    "price": ("traded price",),
    "segment": ("segment",),
    "exchange_order_id": ("exchange order id",),
    "oms_order_id": ("oms order id",),
}
REQUIRED_COLUMNS = {name: ALIASES[name] for name in ("symbol", "time", "side", "quantity", "price", "segment")}
#: Underlyings whose contracts trade on BSE's derivatives segment (BFO); every other contract is NFO.
BSE_UNDERLYINGS = frozenset({"SENSEX", "BANKEX", "SENSEX50"})
_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_NUMERIC_ID = re.compile(r"^\d+$")


def is_mirror(row: CsvRow) -> bool:
    """Tell whether a row is a carry-forward mirror of an earlier fill (not a trade)."""
    a = ALIASES
    order_id = row.get(*a["exchange_order_id"]).strip()
    return (
        row.get(*a["product"]).strip() == "-"
        and bool(order_id)
        and not _NUMERIC_ID.fullmatch(order_id)
        and "12:00:00 AM" in row.get(*a["time"]).upper()
    )


def parse_fyers_time(text: str) -> datetime:
    """Parse "25 Aug 2026, 03:20:21 PM" (IST), or any time `parse_time` reads."""
    cleaned = " ".join(text.split())
    for pattern in ("%d %b %Y, %I:%M:%S %p", "%d %b %Y, %I:%M %p", "%d %b %Y, %H:%M:%S"):
        try:
            return datetime.strptime(cleaned, pattern).replace(tzinfo=IST)
        except ValueError:
            continue
    return parse_time(cleaned)


_API_STYLE = re.compile(r"^(?P<exchange>NSE|BSE):(?P<symbol>[^:]+?)(?:-(?:EQ|BE))?$")


def _plain_symbol(text: str) -> tuple[str, Exchange | None]:
    """Return the symbol without an API-style exchange prefix and cash series suffix, and that exchange."""
    symbol = text.strip().upper()
    styled = _API_STYLE.fullmatch(symbol)
    if styled is None:
        return symbol, None
    return styled.group("symbol"), Exchange(styled.group("exchange"))


def _exchange(segment: str, symbol: str, named: Exchange | None = None) -> Exchange:
    kind = " ".join(segment.split()).upper()
    if kind == "CAPITAL MARKET":
        return named or Exchange.NSE
    if kind == "DERIVATIVES":
        underlying = re.match(r"^[A-Z&-]+?(?=\d)", symbol)
        if named is Exchange.BSE or (underlying and underlying.group(0) in BSE_UNDERLYINGS):
            return Exchange.BFO
        return Exchange.NFO
    if not kind:
        raise RowProblem("MISSING_VALUE", "segment is required")
    raise RowProblem("SEGMENT_MISMATCH", f"segment {segment.strip()[:40]!r} is not read (Capital Market, Derivatives)")


def _order_id(row: CsvRow) -> str:
    """The exchange order id, else the OMS order id, when written out in full (not "2.2E+15")."""
    for names in (ALIASES["exchange_order_id"], ALIASES["oms_order_id"]):
        value = row.get(*names).strip()
        if _ID.fullmatch(value):
            return value
    return ""


def parse_row(row: CsvRow) -> TradebookRow:
    """Parse one tradebook row into a fill, or collect its problems."""
    a = ALIASES
    columns = row.columns(
        **{
            "instrument.symbol": a["symbol"],
            "instrument.exchange": a["segment"],
            "segment": a["segment"],
            "side": a["side"],
            "quantity_micros": a["quantity"],
            "price_micros": a["price"],
            "trade_time": a["time"],
            "broker_order_id": a["exchange_order_id"],
            "derivative": a["symbol"],
        },
    )
    if row.errors:
        return TradebookRow(row.number, None, row.errors, columns)
    symbol, named = _plain_symbol(row.get(*a["symbol"]))
    if not symbol:
        row.problem(row.column(*a["symbol"]), "", "MISSING_VALUE", "symbol name is required")
    exchange = row.take(a["segment"], lambda v: _exchange(v, symbol, named))
    side = row.take(a["side"], parse_side)
    quantity = row.take(a["quantity"], parse_micros)
    price = row.take(a["price"], parse_micros)
    trade_time = row.take(a["time"], parse_fyers_time)
    derivative: object = None
    if symbol and exchange in (Exchange.NFO, Exchange.BFO):
        derivative = row.take(a["symbol"], lambda v: contract_from_symbol(symbol, "", str(exchange)))
    return fill_row(
        row,
        columns,
        symbol=symbol,
        exchange=exchange,
        derivative=derivative,
        side=side,
        quantity=quantity,
        price=price,
        trade_time=trade_time,
        trade_id="",
        order_id=_order_id(row),
    )
