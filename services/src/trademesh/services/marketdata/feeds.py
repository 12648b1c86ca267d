"""Feeds the ingest reads: the simulated NSE market (default) and, in `kite_ticker.py`, Kite's ticker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Protocol

from trademesh.services.marketdata.model import (
    RawTick,
    SessionPolicy,
    SimulatedMarket,
    SimulationParameters,
    Source,
    SymbolUniverse,
    session_open,
)


class Feed(Protocol):
    """A source of raw ticks, delivered in small batches."""

    source: Source

    def batches(self) -> AsyncIterator[list[RawTick]]:
        """Yield ticks as they arrive, a batch at a time, until closed."""
        ...

    @property
    def bad_frames(self) -> int:
        """Return how many malformed frames or ticks the feed itself dropped."""
        ...

    def close(self) -> None:
        """Stop the feed (its iterator ends)."""


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
