"""Zerodha Console tradebook CSV (equity and F&O): one fill per row.

Columns: symbol, isin, trade_date, exchange, segment, series, trade_type, auction, quantity, price,
trade_id, order_id, order_execution_time, expiry_date (F&O). A row without an execution time
trades at midnight IST of its trade date; F&O contracts come from the symbol (and the expiry column).
"""

from __future__ import annotations

from datetime import datetime

from trademesh.kernel.calendar import IST
from trademesh.kernel.instruments import Exchange
from trademesh.services.brokers.csvcells import (
    CsvRow,
    TradebookRow,
    broker_exchange,
    contract_from_symbol,
    fill_row,
    parse_date,
    parse_micros,
    parse_side,
    parse_time,
)

__all__ = ["REQUIRED_COLUMNS", "parse_row"]

#: Canonical column -> the headers it may have (lower-case).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "symbol": ("symbol",),
    "trade_date": ("trade_date",),
    "exchange": ("exchange",),
    "trade_type": ("trade_type",),
    "quantity": ("quantity",),
    "price": ("price",),
    "trade_id": ("trade_id",),
}


def parse_row(row: CsvRow) -> TradebookRow:
    """Parse one tradebook row into a fill, or collect its problems."""
    columns = row.columns(
        **{
            "instrument.symbol": ("symbol",),
            "instrument.exchange": ("exchange",),
            "segment": ("segment",),
            "side": ("trade_type",),
            "quantity_micros": ("quantity",),
            "price_micros": ("price",),
            "trade_time": ("order_execution_time", "trade_date"),
            "broker_trade_id": ("trade_id",),
            "broker_order_id": ("order_id",),
            "isin": ("isin",),
            "derivative": ("symbol",),
            "derivative.expiry_date": ("expiry_date",),
        },
    )
    if row.errors:
        return TradebookRow(row.number, None, row.errors, columns)
    symbol = row.get("symbol").strip().upper()
    exchange = row.take(("exchange",), lambda v: broker_exchange(v, row.get("segment")))
    side = row.take(("trade_type",), parse_side)
    quantity = row.take(("quantity",), parse_micros)
    price = row.take(("price",), parse_micros)
    executed = row.get("order_execution_time").strip()
    if executed:
        trade_time = row.take(("order_execution_time",), parse_time)
    else:
        trade_time = row.take(("trade_date",), lambda v: datetime.combine(parse_date(v), datetime.min.time(), IST))
    trade_id = row.get("trade_id").strip()
    if not trade_id:
        row.problem(row.column("trade_id"), "", "MISSING_VALUE", "trade_id is required")
    derivative = None
    if isinstance(exchange, Exchange) and exchange not in (Exchange.NSE, Exchange.BSE):
        derivative = row.take(
            ("symbol",), lambda v: contract_from_symbol(symbol, row.get("expiry_date"), exchange.value)
        )
    return fill_row(
        row,
        columns,
        symbol=symbol,
        exchange=exchange,
        derivative=derivative,
        isin=row.get("isin").strip(),
        side=side,
        quantity=quantity,
        price=price,
        trade_time=trade_time,
        trade_id=trade_id,
        order_id=row.get("order_id").strip(),
    )
