"""Upstox trade rows (GET /v2/order/trades/get-trades-for-day) in the journal's terms. Pure."""

from __future__ import annotations

from typing import Any

from trademesh.services.brokers.rows import (
    CategoryHint,
    NormalisedTrade,
    broker_id,
    instrument_of,
    ist_timestamp,
    parse_exchange,
    parse_side,
    required_text,
    to_micros,
)

__all__ = ["normalise_upstox_trade"]

_UPSTOX_TIME_FORMATS = ("%d-%b-%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")
_UPSTOX_PRODUCTS = {"I": CategoryHint.INTRADAY, "CO": CategoryHint.INTRADAY, "OCO": CategoryHint.INTRADAY}


def normalise_upstox_trade(row: dict[str, Any]) -> NormalisedTrade:
    """Map one row of Upstox's GET /v2/order/trades/get-trades-for-day to a trade."""
    exchange = parse_exchange(required_text(row, "exchange"))
    raw_symbol = row.get("tradingsymbol") or row.get("trading_symbol") or ""
    symbol, segment, contract = instrument_of(required_text({"tradingsymbol": raw_symbol}, "tradingsymbol"), exchange)
    return NormalisedTrade(
        broker_trade_id=broker_id(row, "trade_id"),
        broker_order_id=str(row.get("order_id") or ""),
        symbol=symbol,
        exchange=exchange,
        segment=segment,
        derivative=contract,
        side=parse_side(required_text(row, "transaction_type")),
        quantity_micros=to_micros(row.get("quantity"), "quantity"),
        price_micros=to_micros(row.get("average_price"), "average_price"),
        trade_time=ist_timestamp(row.get("exchange_timestamp"), _UPSTOX_TIME_FORMATS),
        category=_UPSTOX_PRODUCTS.get(str(row.get("product") or "").upper()),
    )
