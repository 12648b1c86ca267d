"""The market-data tick backplane as analytics' TickFeed: Redis pub/sub `md:tick:<EXCHANGE:SYMBOL>` (decision 0270).

Subscribed only for instruments with an open position. The payload layout is the kernel's
(`trademesh.kernel.ticks`); its LTP view is a `trademesh.marketdata.v1.Quote` (the published contract).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from trademesh.kernel.ticks import TICK_CHANNEL_PREFIX
from trademesh.services.analytics.excursion_store import instrument_key, instrument_of
from trademesh.services.analytics.model import Instrument
from trademesh.services.core.pubsub import pubsub_messages
from trademesh.services.core.ticks import last_trade

logger = logging.getLogger(__name__)


def decode_price(payload: bytes) -> tuple[int, int] | None:
    """Return a tick payload's last traded price (micros) and receipt time (µs); None when malformed or unpriced."""
    trade = last_trade(payload)
    if trade is None or trade.price_micros <= 0:
        return None
    return trade.price_micros, trade.received_ns // 1000


class RedisTickFeed:
    """Ticks of the watched instruments over one Redis pub/sub connection, resubscribed on every reconnect."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._pubsub: PubSub | None = None
        self._channels: set[str] = set()
        self._lock = asyncio.Lock()
        self._closed = False
        self.on_tick: Callable[[Instrument, int, int], None] | None = None

    def listening(self) -> bool:
        """Return whether the connection is up (its subscriptions are those of `watch`)."""
        return self._pubsub is not None

    async def watch(self, instruments: set[Instrument]) -> None:
        """Subscribe to exactly these instruments' channels."""
        wanted = {TICK_CHANNEL_PREFIX + instrument_key(instrument) for instrument in instruments}
        new, gone = wanted - self._channels, self._channels - wanted
        self._channels = wanted
        pubsub = self._pubsub
        if pubsub is None or not (new or gone):
            return
        try:
            async with self._lock:
                if new:
                    await pubsub.subscribe(*sorted(new))
                if gone:
                    await pubsub.unsubscribe(*sorted(gone))
        except (RedisError, OSError):
            logger.info("changing tick subscriptions failed; the reconnect subscribes again")

    def close(self) -> None:
        """Ask `run` to stop."""
        self._closed = True

    async def run(self) -> None:
        """Read ticks until closed, reconnecting (and resubscribing) on failure."""
        while not self._closed:
            try:
                pubsub = self._redis.pubsub()
                # A channel that never publishes keeps the connection subscribed (and its reader alive) even
                # while no position is open.
                await pubsub.subscribe("analytics:excursions:idle", *sorted(self._channels))
                self._pubsub = pubsub
                async for kind, name, data in pubsub_messages(pubsub, self._lock, lambda: self._closed):
                    if kind == "message" and name.startswith(TICK_CHANNEL_PREFIX) and self.on_tick is not None:
                        decoded = decode_price(data)
                        if decoded is not None:
                            self.on_tick(instrument_of(name[len(TICK_CHANNEL_PREFIX) :]), *decoded)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if isinstance(error, RedisError | OSError):
                    logger.warning("tick backplane lost (%s); reconnecting", error)
                else:
                    logger.error("tick backplane reader failed", exc_info=error)
                self._drop()
                await asyncio.sleep(0.5)
        self._drop()

    def _drop(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            task = asyncio.get_running_loop().create_task(pubsub.aclose())  # type: ignore[no-untyped-call]
            task.add_done_callback(lambda done: done.exception() if not done.cancelled() else None)
