"""The ingest: feed → normalise → latest quote + publish (fenced) → 1-minute bars.

Exactly one ingest per feed is active at a time. Every process that runs `IngestRunner` (each
serving replica by default, or a dedicated `python -m trademesh.services.marketdata.ingest`)
competes for a Redis lease; the holder renews it every third of its TTL and every write checks
it atomically (the fence), so a paused or partitioned former holder cannot publish over its
successor. When the holder dies, another takes over within one TTL and continues every
instrument's sequence above the stored one (and above a millisecond clock, so a Redis that lost
its data cannot make sequences go backwards).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from redis.exceptions import RedisError

from trademesh.services.core.connections import build_mongo, build_redis
from trademesh.services.core.server import run_service
from trademesh.services.marketdata.backplane import IngestLease, RedisQuoteCache
from trademesh.services.marketdata.feeds import KiteTickerFeed, SimulatedFeed
from trademesh.services.marketdata.mapping import MODES, EncodedQuote
from trademesh.services.marketdata.model import (
    Bar,
    BarAggregator,
    InstrumentKey,
    Normaliser,
    Quote,
    SimulationParameters,
    SymbolUniverse,
)
from trademesh.services.marketdata.ports import BarStore, Feed
from trademesh.services.marketdata.settings import MarketDataSettings
from trademesh.services.marketdata.store import MongoBarStore

logger = logging.getLogger(__name__)


def build_feed(settings: MarketDataSettings, universe: SymbolUniverse) -> Feed:
    """Create the configured feed."""
    if settings.feed == "kite":
        return KiteTickerFeed(universe, settings.kite_api_key, settings.kite_access_token, settings.kite_ticker_url)
    return SimulatedFeed(
        universe,
        SimulationParameters(
            seed=settings.simulator_seed,
            ticks_per_second=settings.simulator_ticks_per_second,
            burstiness=settings.simulator_burstiness,
        ),
        settings.session_policy,
    )


class IngestRunner:
    """Compete for the ingest lease; while holding it, ingest the feed."""

    def __init__(
        self,
        redis: Redis,
        universe: SymbolUniverse,
        feed_factory: Callable[[], Feed],
        bars: BarStore | None,
        *,
        feed_name: str,
        lease_seconds: float,
        bar_flush_seconds: float,
    ) -> None:
        self._redis = redis
        self._universe = universe
        self._feed_factory = feed_factory
        self._bars = bars
        self._lease = IngestLease(redis, feed_name, lease_seconds)
        self._bar_flush_seconds = bar_flush_seconds
        self._closed = False
        self._feed: Feed | None = None
        self.active = False
        self.ticks_published = 0
        self.bad_ticks = 0

    def close(self) -> None:
        """Ask `run` to stop (the feed ends, the lease is released)."""
        self._closed = True
        if self._feed is not None:
            self._feed.close()

    async def run(self) -> None:
        """Run until closed or cancelled."""
        while not self._closed:
            try:
                if await self._lease.try_acquire():
                    logger.info("ingest lease acquired (%s)", self._lease.token)
                    await self._run_active()
                else:
                    await asyncio.sleep(self._lease.renew_interval)
            except asyncio.CancelledError:
                await self._release()
                raise
            except (RedisError, OSError) as error:
                logger.warning("ingest interrupted (%s); retrying", error)
                await asyncio.sleep(0.5)
        await self._release()

    async def _release(self) -> None:
        self.active = False
        try:
            await asyncio.shield(self._lease.release())
        except (RedisError, OSError):
            logger.info("could not release the ingest lease; it will expire")

    async def _run_active(self) -> None:
        feed = self._feed = self._feed_factory()
        normaliser = Normaliser(self._universe, feed.source)
        stored = await RedisQuoteCache(self._redis).get_many([str(item.key) for item in self._universe])
        floor = time.time_ns() // 1_000_000
        normaliser.seed_sequences(
            {
                item.key: max(floor, stored[str(item.key)].sequence if str(item.key) in stored else 0)
                for item in self._universe
            }
        )
        previous: dict[InstrumentKey, Quote] = {}
        aggregator = BarAggregator()
        self.active = True
        renewer = asyncio.create_task(self._renew(feed))
        flusher = asyncio.create_task(self._flush_bars(aggregator))
        try:
            async for batch in feed.batches():
                if renewer.done():
                    break
                now = time.time_ns()
                encoded: list[EncodedQuote] = []
                for tick in batch:
                    quote = normaliser.normalise(tick, now)
                    if quote is None:
                        continue
                    before = previous.get(quote.key)
                    changed = [m for m in MODES if before is None or before.mode_view(m) != quote.mode_view(m)]
                    previous[quote.key] = quote
                    encoded.append(EncodedQuote.encode(quote, changed))
                    aggregator.add(quote)
                self.bad_ticks = normaliser.bad_ticks + feed.bad_frames
                if encoded:
                    if not await self._lease.publish(encoded):
                        logger.warning("ingest lease lost (fenced); stopping this ingest")
                        break
                    self.ticks_published += len(encoded)
        finally:
            feed.close()
            self.active = False
            renewer.cancel()
            flusher.cancel()
            await asyncio.gather(renewer, flusher, return_exceptions=True)
            await self._save_bars(aggregator.flush_due(time.time_ns() + 60 * 1_000_000_000))

    async def _renew(self, feed: Feed) -> None:
        try:
            while True:
                await asyncio.sleep(self._lease.renew_interval)
                if not await self._lease.renew():
                    logger.warning("ingest lease lost; stopping this ingest")
                    return
        except (RedisError, OSError) as error:
            logger.warning("ingest lease renewal failed (%s)", error)
        finally:
            feed.close()

    async def _flush_bars(self, aggregator: BarAggregator) -> None:
        while True:
            await asyncio.sleep(self._bar_flush_seconds)
            await self._save_bars(aggregator.flush_due(time.time_ns()) + aggregator.open_bars())

    async def _save_bars(self, bars: list[Bar]) -> None:
        if self._bars is None or not bars:
            return
        try:
            await self._bars.save(bars)
        except Exception:
            logger.warning("saving %d bars failed", len(bars), exc_info=True)


async def sweep_bars(
    store: MongoBarStore, retention_days: int, interval: float, *, five_minute_retention_days: int = 365
) -> None:
    """Delete bars older than their retention, every `interval` seconds (no TTL indexes on FerretDB).

    1-minute documents are rolled up once more before they go; day bars are never swept.
    """
    while True:
        try:
            now = datetime.now(UTC)
            deleted = await store.delete_before(now - timedelta(days=retention_days))
            if deleted:
                logger.info("deleted %d day-documents of expired bars", deleted)
            deleted = await store.delete_five_minute_before(now - timedelta(days=five_minute_retention_days))
            if deleted:
                logger.info("deleted %d day-documents of expired 5-minute bars", deleted)
        except Exception:
            logger.warning("sweeping expired bars failed", exc_info=True)
        await asyncio.sleep(interval)


async def run_ingest(settings: MarketDataSettings) -> None:
    """Run a dedicated ingest process until SIGTERM/SIGINT."""
    import signal

    universe = SymbolUniverse.from_csv(settings.universe_file)
    redis = build_redis(settings)
    mongo = build_mongo(settings)
    runner = IngestRunner(
        redis,
        universe,
        lambda: build_feed(settings, universe),
        MongoBarStore(mongo[settings.mongo_database]),
        feed_name=settings.feed,
        lease_seconds=settings.ingest_lock_ttl_seconds,
        bar_flush_seconds=settings.bar_flush_seconds,
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, runner.close)
    try:
        await runner.run()
    finally:
        await redis.aclose()
        await mongo.close()


def main() -> None:
    """Entry point of `python -m trademesh.services.marketdata.ingest` (a dedicated ingest process)."""
    run_service(MarketDataSettings, run_ingest, component="ingest")


if __name__ == "__main__":
    main()
