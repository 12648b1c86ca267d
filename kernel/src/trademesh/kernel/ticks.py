"""Market-data ticks: the feed-neutral tick in integer units, and the tick payload market data publishes on Redis.

A feed (Zerodha's KiteTicker, the simulator) hands market data `Tick`s: prices in INR micros, times in
epoch nanoseconds (0 = absent). Market data publishes every accepted tick on `md:tick:<EXCHANGE:SYMBOL>`
as one payload: a header (change flags, sequence, receive time, then the lengths of the LTP, QUOTE and
FULL encodings), followed by the three serialised `trademesh.marketdata.v1.Quote` messages in that
order. This module owns that layout for the writer (market data) and every reader (market data's
replicas, notifications). Pure: no I/O.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "TICK_CHANNEL_PREFIX",
    "DepthLevel",
    "Tick",
    "encode_tick_payload",
    "tick_body",
    "tick_header",
    "tick_ltp",
]

#: Redis pub/sub channel of one instrument's ticks: the prefix, then `EXCHANGE:SYMBOL`.
TICK_CHANNEL_PREFIX = "md:tick:"

# flags, sequence, receive_time_ns, then the LTP, QUOTE and FULL encodings' lengths.
_HEADER = struct.Struct(">BQqIII")


@dataclass(frozen=True, slots=True)
class DepthLevel:
    """One order-book level."""

    price_micros: int
    quantity: int
    orders: int


@dataclass(slots=True)
class Tick:
    """One tick as a feed delivers it, before market data sequences it (prices in micros, times in ns)."""

    token: int
    last_price_micros: int
    exchange_time_ns: int = 0
    last_quantity: int = 0
    last_trade_time_ns: int = 0
    average_price_micros: int = 0
    volume: int = 0
    total_buy_quantity: int = 0
    total_sell_quantity: int = 0
    open_micros: int = 0
    high_micros: int = 0
    low_micros: int = 0
    close_micros: int = 0
    open_interest: int = 0
    oi_day_high: int = 0
    oi_day_low: int = 0
    bids: tuple[DepthLevel, ...] = ()
    asks: tuple[DepthLevel, ...] = ()


def encode_tick_payload(flags: int, sequence: int, receive_time_ns: int, bodies: tuple[bytes, bytes, bytes]) -> bytes:
    """Return the payload of one tick: the header, then the LTP, QUOTE and FULL bodies.

    `flags` has bit (mode - 1) set for every mode (LTP = 1, QUOTE = 2, FULL = 3) whose view the tick changed.
    """
    header = _HEADER.pack(flags, sequence, receive_time_ns, *(len(body) for body in bodies))
    return header + b"".join(bodies)


def tick_header(payload: bytes) -> tuple[int, int, int]:
    """Return a payload's flags, sequence and receive time (ns); raise struct.error when it is too short."""
    flags, sequence, receive_time_ns, *_ = _HEADER.unpack_from(payload)
    return flags, sequence, receive_time_ns


def tick_body(payload: bytes, index: int) -> bytes:
    """Return the serialised Quote at `index` (0: LTP, 1: QUOTE, 2: FULL); raise struct.error when too short."""
    lengths = _HEADER.unpack_from(payload)[3:]
    start = _HEADER.size + sum(lengths[:index])
    return payload[start : start + lengths[index]]


_HEADER_SIZE = _HEADER.size


def tick_ltp(payload: bytes) -> tuple[int, bytes]:
    """Return a payload's receive time (ns) and its serialised LTP Quote, reading the header once (the hot path of
    readers that follow only the last trade); raise struct.error when the header is too short."""
    _, _, receive_time_ns, ltp_length, _, _ = _HEADER.unpack_from(payload)
    return receive_time_ns, payload[_HEADER_SIZE : _HEADER_SIZE + ltp_length]
