"""Feeds the ingest reads: the simulated NSE market (default) and Zerodha's KiteTicker (broker code in
`trademesh.services.brokers.zerodha.ticker`, adapted here to raw ticks)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import fields

from trademesh.kernel.ticks import Tick
from trademesh.services.marketdata.model import (
    RawTick,
    SessionPolicy,
    SimulatedMarket,
    SimulationParameters,
    Source,
    SymbolUniverse,
    session_open,
)


class SimulatedFeed:
    """Emit the simulated market's ticks in real time: Poisson arrivals, bursty, only in session."""

    source = Source.SIMULATED

    def __init__(
        self,
        universe: SymbolUniverse,
        parameters: SimulationParameters,
        policy: SessionPolicy,
        *,
        interval_seconds: float = 0.01,
    ) -> None:
        self._market = SimulatedMarket(universe, parameters)
        self._policy = policy
        self._interval = interval_seconds
        self._closed = False
        self.ticks_emitted = 0

    @property
    def bad_frames(self) -> int:
        """Return 0: the simulator makes no malformed frames."""
        return 0

    def close(self) -> None:
        """Stop emitting."""
        self._closed = True

    async def batches(self) -> AsyncIterator[list[RawTick]]:
        """Yield one batch per interval (possibly empty intervals are skipped)."""
        last = time.monotonic()
        while not self._closed:
            await asyncio.sleep(self._interval)
            now = time.monotonic()
            elapsed, last = now - last, now
            wall = time.time_ns()
            if not session_open(wall, self._policy):
                continue
            count = self._market.ticks_due(min(elapsed, 1.0))
            if count:
                self.ticks_emitted += count
                yield [self._market.next_tick(wall) for _ in range(count)]


def raw_tick_from_kite(tick: Tick) -> RawTick:
    """Return a KiteTicker tick as a feed-neutral raw tick."""
    return RawTick(**{field.name: getattr(tick, field.name) for field in fields(Tick)})


class KiteTickerFeed:
    """Ticks of every instrument of the universe that has a Kite token, in FULL mode, from Zerodha's KiteTicker."""

    source = Source.KITE_TICKER

    def __init__(
        self,
        universe: SymbolUniverse,
        api_key: str,
        access_token: str,
        root: str,
        *,
        reconnect_max_delay: int = 5,
    ) -> None:
        # Imported here: kiteconnect brings Twisted and autobahn, which only the kite feed needs.
        from trademesh.services.brokers.zerodha.ticker import KiteTickerClient

        self._client = KiteTickerClient(
            universe.tokens, api_key, access_token, root, reconnect_max_delay=reconnect_max_delay
        )

    @property
    def connects(self) -> int:
        """Return how many times the ticker connected (reconnects included)."""
        return self._client.connects

    @property
    def bad_frames(self) -> int:
        """Return malformed frames/packets, unconvertible ticks and queue overflows so far."""
        return self._client.bad_frames

    def close(self) -> None:
        """Stop the ticker (the batches end)."""
        self._client.close()

    async def batches(self) -> AsyncIterator[list[RawTick]]:
        """Yield tick batches as the ticker delivers them, until closed."""
        async for batch in self._client.batches():
            yield [raw_tick_from_kite(tick) for tick in batch]
