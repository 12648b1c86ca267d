"""Kite trade rows (GET /trades, as the kiteconnect client returns them) in the journal's terms. Pure."""

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
from trademesh.services.brokers.zerodha.contract_note import CHARGES_KEY

__all__ = ["normalise_kite_trade"]

_KITE_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S",)
_KITE_PRODUCTS = {"MIS": CategoryHint.INTRADAY, "CO": CategoryHint.INTRADAY, "BO": CategoryHint.INTRADAY}


def normalise_kite_trade(row: dict[str, Any]) -> NormalisedTrade:
    """Map one row of Kite's GET /trades (as the kiteconnect client returns it) to a trade."""
    exchange = parse_exchange(required_text(row, "exchange"))
    symbol, segment, contract = instrument_of(required_text(row, "tradingsymbol"), exchange)
    # fill_timestamp is when the exchange matched the fill; exchange_timestamp is the order's.
    stamp = row.get("fill_timestamp") or row.get("exchange_timestamp")
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
        trade_time=ist_timestamp(stamp, _KITE_TIME_FORMATS),
        category=_KITE_PRODUCTS.get(str(row.get("product") or "").upper()),
        fee_breakdown=row.get(CHARGES_KEY),
    )
