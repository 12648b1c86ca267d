"""Zerodha's KiteTicker: the real `kiteconnect.KiteTicker` on Twisted, handed to asyncio as batches of ticks.

KiteTicker runs Twisted's reactor in a daemon thread (`connect(threaded=True)`); the reactor can
run only once per process, so a second feed in the same process (after the ingest lease was lost
and re-acquired) reuses the running reactor and connects from inside it. Callbacks run in the
reactor thread: subscriptions are sent from `on_connect` (so they are re-sent after every
reconnect, besides KiteTicker's own resubscribe), and ticks are converted there and passed to the
event loop with `call_soon_threadsafe` into a bounded queue (overflow is counted and dropped).
Malformed frames and packets, which would otherwise raise inside the client's parser, are counted
and dropped. Ticks leave as the kernel's `Tick` (integer micros and nanoseconds); what a service makes of them
is its own business (market data's feed adapter turns them into its raw ticks).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from kiteconnect import KiteTicker

from trademesh.kernel.ticks import DepthLevel, Tick

logger = logging.getLogger(__name__)

_PACKET_SIZES = frozenset({8, 28, 32, 44, 184})
_QUEUE_BATCHES = 10_000


def _ns(value: object) -> int:
    # The client builds naive local datetimes with fromtimestamp(); timestamp() inverts that exactly.
    return int(value.timestamp()) * 1_000_000_000 if isinstance(value, datetime) else 0


def _micros(price: object) -> int:
    return round(float(price) * 1_000_000)  # type: ignore[arg-type]


def tick_from_kite(data: dict[str, Any]) -> Tick:
    """Convert one parsed KiteTicker tick (kiteconnect 4+ field names)."""
    ohlc = data.get("ohlc") or {}
    depth = data.get("depth") or {}
    return Tick(
        token=int(data["instrument_token"]),
        last_price_micros=_micros(data["last_price"]),
        exchange_time_ns=_ns(data.get("exchange_timestamp")),
        last_quantity=int(data.get("last_traded_quantity", 0)),
        last_trade_time_ns=_ns(data.get("last_trade_time")),
        average_price_micros=_micros(data.get("average_traded_price", 0)),
        volume=int(data.get("volume_traded", 0)),
        total_buy_quantity=int(data.get("total_buy_quantity", 0)),
        total_sell_quantity=int(data.get("total_sell_quantity", 0)),
        open_micros=_micros(ohlc.get("open", 0)),
        high_micros=_micros(ohlc.get("high", 0)),
        low_micros=_micros(ohlc.get("low", 0)),
        close_micros=_micros(ohlc.get("close", 0)),
        open_interest=int(data.get("oi", 0)),
        oi_day_high=int(data.get("oi_day_high", 0)),
        oi_day_low=int(data.get("oi_day_low", 0)),
        bids=tuple(DepthLevel(_micros(x["price"]), int(x["quantity"]), int(x["orders"])) for x in depth.get("buy", ())),
        asks=tuple(
            DepthLevel(_micros(x["price"]), int(x["quantity"]), int(x["orders"])) for x in depth.get("sell", ())
        ),
    )


class _CountingTicker(KiteTicker):  # type: ignore[misc]
    """KiteTicker whose parser counts and drops malformed frames instead of raising."""

    bad_frames = 0

    def _parse_binary(self, payload: bytes) -> list[dict[str, Any]]:
        try:
            count = struct.unpack(">H", payload[:2])[0]
            offset, sizes = 2, []
            for _ in range(count):
                (length,) = struct.unpack(">H", payload[offset : offset + 2])
                if offset + 2 + length > len(payload):
                    raise ValueError("truncated packet")
                sizes.append(length)
                offset += 2 + length
            self.bad_frames += sum(1 for size in sizes if size not in _PACKET_SIZES)
            result: list[dict[str, Any]] = super()._parse_binary(payload)
            return result
        except (struct.error, ValueError, IndexError):
            self.bad_frames += 1
            return []


class KiteTickerClient:
    """FULL-mode ticks of the given instrument tokens, as asyncio batches."""

    def __init__(
        self,
        tokens: Sequence[int],
        api_key: str,
        access_token: str,
        root: str,
        *,
        reconnect_max_delay: int = 5,
    ) -> None:
        self._tokens = list(tokens)
        self._ticker = _CountingTicker(api_key, access_token, root=root, reconnect_max_delay=reconnect_max_delay)
        self._queue: asyncio.Queue[list[Tick] | None] = asyncio.Queue(_QUEUE_BATCHES)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conversion_errors = 0
        self._overflow = 0
        self._started = False
        self.connects = 0

    @property
    def bad_frames(self) -> int:
        """Return malformed frames/packets, unconvertible ticks and queue overflows so far."""
        return int(self._ticker.bad_frames) + self._conversion_errors + self._overflow

    def _on_connect(self, ws: Any, response: Any) -> None:
        self.connects += 1
        ws.subscribe(self._tokens)
        ws.set_mode(ws.MODE_FULL, self._tokens)

    def _on_ticks(self, ws: Any, ticks: list[dict[str, Any]]) -> None:
        batch = []
        for data in ticks:
            try:
                batch.append(tick_from_kite(data))
            except (KeyError, TypeError, ValueError):
                self._conversion_errors += 1
        if batch and self._loop is not None:
            self._loop.call_soon_threadsafe(self._put, batch)

    def _put(self, batch: list[Tick] | None) -> None:
        try:
            self._queue.put_nowait(batch)
        except asyncio.QueueFull:
            self._overflow += len(batch or ())

    def _start(self) -> None:
        from twisted.internet import reactor

        self._ticker.on_connect = self._on_connect
        self._ticker.on_ticks = self._on_ticks
        self._ticker.on_error = lambda ws, code, reason: logger.warning("kite ticker error %s: %s", code, reason)
        self._ticker.on_close = lambda ws, code, reason: logger.info("kite ticker closed %s: %s", code, reason)
        # Out of reconnect attempts: end the batches so the ingest releases its lease and starts over.
        self._ticker.on_noreconnect = lambda ws: self._loop and self._loop.call_soon_threadsafe(self._put, None)
        if reactor.running:
            reactor.callFromThread(self._ticker.connect, threaded=True)
        else:
            self._ticker.connect(threaded=True)

    def close(self) -> None:
        """Stop reconnecting and close the connection (the reactor thread stays for reuse)."""
        from twisted.internet import reactor

        if self._started:
            reactor.callFromThread(self._ticker.close)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._put, None)

    async def batches(self) -> AsyncIterator[list[Tick]]:
        """Yield tick batches as the ticker delivers them, until closed."""
        self._loop = asyncio.get_running_loop()
        self._started = True
        self._start()
        while True:
            batch = await self._queue.get()
            if batch is None:
                return
            yield batch
