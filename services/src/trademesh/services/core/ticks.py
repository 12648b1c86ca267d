"""The last trade a market-data backplane tick carries, for the services that follow ticks (analytics' MAE/MFE
recorder, notifications' alert evaluator). The byte layout is the kernel's codec (`trademesh.kernel.ticks`)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from trademesh.kernel.ticks import tick_ltp
from trademesh.marketdata.v1 import quote_pb2

__all__ = ["LastTrade", "last_trade"]


@dataclass(frozen=True, slots=True)
class LastTrade:
    """A tick's last traded price and day change (INR micros) and when market data received it (ns)."""

    price_micros: int
    change_micros: int
    received_ns: int


def last_trade(payload: bytes) -> LastTrade | None:
    """Return the last trade of a backplane payload; None when malformed or when there was no trade yet (price 0)."""
    try:
        received_ns, body = tick_ltp(payload)
        quote = quote_pb2.Quote.FromString(body)
    except (struct.error, ValueError, DecodeError):  # DecodeError is not a ValueError
        return None
    if quote.last_price_micros == 0:
        return None
    return LastTrade(quote.last_price_micros, quote.change_micros, received_ns)
