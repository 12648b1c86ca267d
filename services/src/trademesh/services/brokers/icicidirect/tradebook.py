"""ICICI Direct trade book CSV (equity): one fill per row.

Layout (decision 0280, inferred from open-source parsers of real exports, not from ICICI Direct's
documentation): ``Date, Stock, Action, Qty, Price, Trade Value, Order Ref., Settlement, Segment, DP Id -
Client DP Id, Exchange, STT, Transaction and SEBI Turnover charges, Stamp Duty, Brokerage + Service Tax,
Brokerage incl. taxes``. Dates are ``28-Jul-26`` (no time: the fill is dated 00:00 IST); actions Buy/Sell;
``Stock`` is ICICI Direct's own stock code (e.g. ``RELIND``), kept as written — for many companies it is not
the exchange symbol. The file has no trade id. Only cash rows (NSE/BSE) are read: how derivative rows are
written is not public, so a derivative row is a row error, never a guess. The charge columns are not read
(the charges engine computes every import's charges).
"""

from __future__ import annotations

import re
from datetime import date, datetime

from trademesh.kernel.calendar import IST
from trademesh.kernel.instruments import Exchange
from trademesh.services.brokers.csvcells import (
    CsvRow,
    RowProblem,
    TradebookRow,
    broker_exchange,
    fill_row,
    parse_date,
    parse_micros,
    parse_side,
)

__all__ = ["ALIASES", "REQUIRED_COLUMNS", "parse_row"]

#: Canonical column -> the headers it may have (lower-case).
ALIASES: dict[str, tuple[str, ...]] = {
    "date": ("date",),
    "symbol": ("stock",),
    "side": ("action",),
    "quantity": ("qty",),
    "price": ("price",),
    "order_id": ("order ref.", "order ref"),
    "settlement": ("settlement",),
    "segment": ("segment",),
    "exchange": ("exchange",),
}
REQUIRED_COLUMNS = {
    name: ALIASES[name] for name in ("date", "symbol", "side", "quantity", "price", "order_id", "exchange")
}
_DERIVATIVE_SEGMENT = re.compile(r"FUT|OPT|F&O|FNO|DERIV", re.IGNORECASE)
_SYMBOL = re.compile(r"^[A-Z0-9&-]{1,40}$")


def parse_icici_date(text: str) -> date:
    """Parse "28-Jul-26" or "28-Jul-2026" (or any date `parse_date` reads)."""
    cleaned = text.strip()
    for pattern in ("%d-%b-%y", "%d-%b-%Y"):
        try:
            return datetime.strptime(cleaned, pattern).date()
        except ValueError:
            continue
    return parse_date(cleaned)


def _exchange(value: str, segment: str) -> Exchange:
    if _DERIVATIVE_SEGMENT.search(segment):
        raise RowProblem(
            "SEGMENT_MISMATCH", f"segment {segment.strip()[:40]!r}: only cash (equity) rows of this trade book are read"
        )
    exchange = broker_exchange(value, "")
    if exchange not in (Exchange.NSE, Exchange.BSE):
        raise RowProblem("SEGMENT_MISMATCH", f"exchange {value.strip()[:20]!r}: only NSE and BSE cash rows are read")
    return exchange


def _symbol(value: str) -> str:
    symbol = value.strip().upper()
    if not symbol:
        raise RowProblem("MISSING_VALUE", "stock is required")
    if not _SYMBOL.fullmatch(symbol):
        raise RowProblem("INVALID_SYMBOL", f"{value.strip()[:40]!r} is not a stock code")
    return symbol


def parse_row(row: CsvRow) -> TradebookRow:
    """Parse one trade book row into a fill, or collect its problems."""
    a = ALIASES
    columns = row.columns(
        **{
            "instrument.symbol": a["symbol"],
            "instrument.exchange": a["exchange"],
            "segment": a["segment"],
            "side": a["side"],
            "quantity_micros": a["quantity"],
            "price_micros": a["price"],
            "trade_time": a["date"],
            "broker_order_id": a["order_id"],
        },
    )
    if row.errors:
        return TradebookRow(row.number, None, row.errors, columns)
    symbol = row.take(a["symbol"], _symbol)
    exchange = row.take(a["exchange"], lambda v: _exchange(v, row.get(*a["segment"])))
    side = row.take(a["side"], parse_side)
    quantity = row.take(a["quantity"], parse_micros)
    price = row.take(a["price"], parse_micros)
    day = row.take(a["date"], parse_icici_date)
    return fill_row(
        row,
        columns,
        symbol=symbol,
        exchange=exchange,
        side=side,
        quantity=quantity,
        price=price,
        trade_time=datetime.combine(day, datetime.min.time(), IST) if isinstance(day, date) else None,
        trade_id="",
        order_id=row.get(*a["order_id"]).strip()[:64],
    )
