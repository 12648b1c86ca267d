"""Upstox trade report CSV: one fill per row, under any of the header spellings Upstox has used.

A row's time is its trade date plus the time column (or a full timestamp in it; midnight IST without
one). F&O contracts come from the instrument type, option type, strike and expiry columns when present,
else from the trading symbol.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from trademesh.kernel.calendar import IST
from trademesh.kernel.instruments import ContractType, Derivative, Exchange
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

__all__ = ["ALIASES", "REQUIRED_COLUMNS", "parse_row"]

#: Canonical column -> the headers it may have (lower-case).
ALIASES: dict[str, tuple[str, ...]] = {
    "date": ("date", "trade date", "trade_date"),
    "symbol": ("symbol", "scrip", "scrip name", "scrip code", "trading symbol", "tradingsymbol"),
    "exchange": ("exchange",),
    "segment": ("segment",),
    "instrument_type": ("instrument type", "instrument_type"),
    "strike": ("strike price", "strike_price", "strike"),
    "expiry": ("expiry", "expiry date", "expiry_date"),
    "option_type": ("option type", "option_type"),
    "trade_id": ("trade num", "trade number", "trade no", "trade no.", "trade id", "trade_id"),
    "order_id": ("order num", "order number", "order id", "order_id"),
    "time": ("trade time", "trade_time", "time"),
    "side": ("side", "buy/sell", "transaction type", "type"),
    "quantity": ("quantity", "qty"),
    "price": ("price", "rate", "trade price"),
}
REQUIRED_COLUMNS = {
    name: ALIASES[name] for name in ("date", "symbol", "exchange", "trade_id", "side", "quantity", "price")
}


def parse_row(row: CsvRow) -> TradebookRow:
    """Parse one trade report row into a fill, or collect its problems."""
    a = ALIASES
    columns = row.columns(
        **{
            "instrument.symbol": a["symbol"],
            "instrument.exchange": a["exchange"],
            "segment": a["segment"],
            "side": a["side"],
            "quantity_micros": a["quantity"],
            "price_micros": a["price"],
            "trade_time": a["time"],
            "broker_trade_id": a["trade_id"],
            "derivative": a["instrument_type"],
            "derivative.expiry_date": a["expiry"],
            "derivative.strike_price_micros": a["strike"],
        },
    )
    if row.errors:
        return TradebookRow(row.number, None, row.errors, columns)
    symbol = row.get(*a["symbol"]).strip().upper()
    exchange = row.take(a["exchange"], lambda v: broker_exchange(v, row.get(*a["segment"])))
    side = row.take(a["side"], parse_side)
    quantity = row.take(a["quantity"], parse_micros)
    price = row.take(a["price"], parse_micros)
    day = row.take(a["date"], parse_date)
    time_text = row.get(*a["time"]).strip()
    trade_time: object = None
    if isinstance(day, date):
        if time_text and ("-" in time_text or "T" in time_text):
            trade_time = row.take(a["time"], parse_time)
        elif time_text:
            trade_time = row.take(a["time"], lambda v: parse_time(f"{day.isoformat()} {v.strip()}"))
        else:
            trade_time = datetime.combine(day, datetime.min.time(), IST)
    trade_id = row.get(*a["trade_id"]).strip()
    if not trade_id:
        row.problem(row.column(*a["trade_id"]), "", "MISSING_VALUE", "trade number is required")
    derivative: object = None
    if isinstance(exchange, Exchange) and exchange not in (Exchange.NSE, Exchange.BSE):
        derivative = row.take(a["instrument_type"], lambda v: _contract(row, symbol))
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
        trade_id=trade_id,
        order_id=row.get(*a["order_id"]).strip(),
    )


def _contract(row: CsvRow, symbol: str) -> Derivative:
    a = ALIASES
    kind_text = row.get(*a["instrument_type"]).strip().upper()
    option = row.get(*a["option_type"]).strip().upper()
    expiry_text = row.get(*a["expiry"]).strip()
    if kind_text.startswith("FUT"):
        kind = ContractType.FUTURE
    elif kind_text.startswith("OPT") or option in ("CE", "PE"):
        kind = ContractType.PUT if option == "PE" or symbol.endswith("PE") else ContractType.CALL
    else:
        return contract_from_symbol(symbol, expiry_text)
    if not expiry_text:
        return contract_from_symbol(symbol, "")
    strike_text = row.get(*a["strike"]).strip()
    strike = parse_micros(strike_text) if strike_text and kind is not ContractType.FUTURE else 0
    underlying = re.match(r"^[A-Z&-]+", symbol)
    return Derivative(underlying.group(0) if underlying else "", parse_date(expiry_text).isoformat(), kind, strike)
