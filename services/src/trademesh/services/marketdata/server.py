"""Market-data wiring: `bootstrap` (use cases from adapters), `build_marketdata_server` (real adapters, server,
background tasks), `serve`/`main`."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from trademesh.kernel.errors import Unavailable
from trademesh.services.core.access import public_methods
from trademesh.services.core.connections import build_mongo, build_redis, required_dependencies
from trademesh.services.core.page_tokens import Codec
from trademesh.services.core.revocations import RevocationList
from trademesh.services.core.server import (
    ServiceHost,
    ServiceRegistration,
    build_remote_verifier,
    run_service,
    serve_host,
    start_server,
)
from trademesh.services.marketdata.api import SERVICE_NAME, MarketDataServicer, add_to_server
from trademesh.services.marketdata.backplane import RedisQuoteCache, RedisStreamCounter, RedisTickHub
from trademesh.services.marketdata.ingest import IngestRunner, build_feed, sweep_bars
from trademesh.services.marketdata.model import Mode, Source, StreamPolicy, SymbolUniverse
from trademesh.services.marketdata.ports import BarStore, Clock, Feed, QuoteCache, StreamCounter, TickHub
from trademesh.services.marketdata.service import MarketDataLimits, MarketDataService
from trademesh.services.marketdata.settings import MarketDataSettings
from trademesh.services.marketdata.store import MongoBarStore, MongoWatchlistStore
from trademesh.services.marketdata.streams import QuoteStream
from trademesh.services.marketdata.watchlists import WatchlistService

logger = logging.getLogger(__name__)


class SystemClock:
    """The wall clock."""

    def now_ns(self) -> int:
        """Return nanoseconds since the Unix epoch."""
        return time.time_ns()


def build_stream_policy(settings: MarketDataSettings, universe: SymbolUniverse) -> StreamPolicy:
    """Return what every stream of the replica shares, from the settings."""
    return StreamPolicy(
        universe,
        batch_interval=settings.batch_interval_seconds,
        heartbeat=settings.heartbeat_seconds,
        slow_consumer_after=settings.slow_consumer_seconds,
        session_policy=settings.session_policy,
        stale_after=settings.stale_after_seconds,
        source=Source.KITE_TICKER if settings.feed == "kite" else Source.SIMULATED,
    )


def bootstrap(
    settings: MarketDataSettings,
    *,
    cache: QuoteCache,
    hub: TickHub,
    counter: StreamCounter,
    bar_store: BarStore,
    universe: SymbolUniverse | None = None,
    clock: Clock | None = None,
) -> MarketDataService:
    """Wire the use cases from settings and adapters (real ones from `build_marketdata_server`, or fakes)."""
    policy = build_stream_policy(settings, universe or SymbolUniverse.from_csv(settings.universe_file))

    def open_stream(instruments: Sequence[str], mode: Mode, rate: int, *, expires_at: float | None) -> QuoteStream:
        return QuoteStream(instruments, mode, rate, policy, expires_at=expires_at)

    return MarketDataService(
        policy,
        cache=cache,
        hub=hub,
        counter=counter,
        bars=bar_store,
        streams=open_stream,
        tokens=Codec(settings.token_secret.get_secret_value().encode()),
        clock=clock or SystemClock(),
        limits=MarketDataLimits(
            max_instruments_per_stream=settings.max_instruments_per_stream,
            max_instruments_per_request=settings.max_instruments_per_request,
            max_streams_per_user=settings.max_streams_per_user,
            max_streams_per_premium_user=settings.max_streams_per_premium_user,
            default_updates_per_second=settings.default_updates_per_second,
            max_updates_per_second=settings.max_updates_per_second,
            bar_retention_days=settings.bar_retention_days,
            bar_five_minute_retention_days=settings.bar_five_minute_retention_days,
        ),
    )


async def build_marketdata_server(
    settings: MarketDataSettings, *, bar_store: MongoBarStore | None = None, feed: Feed | None = None
) -> ServiceHost:
    """Connect the real adapters, start the gRPC server and the background tasks (and, if enabled, the ingest).

    `bar_store` and `feed` replace the MongoDB bar store and the configured feed (tests).
    """
    universe = SymbolUniverse.from_csv(settings.universe_file)
    mongo = build_mongo(settings)
    database = mongo[settings.mongo_database]
    redis = build_redis(settings)
    # Pub/sub reads block for long stretches: give the hub its own client without a read timeout.
    hub_redis = build_redis(settings.model_copy(update={"dependency_timeout_seconds": 3600.0}))
    revocations = RevocationList(redis)
    bars = bar_store or MongoBarStore(database)
    hub = RedisTickHub(hub_redis, retry_seconds=settings.backplane_retry_seconds)
    counter = RedisStreamCounter(redis)
    service = bootstrap(
        settings, cache=RedisQuoteCache(redis), hub=hub, counter=counter, bar_store=bars, universe=universe
    )
    watchlists = WatchlistService(MongoWatchlistStore(database), universe, clock=SystemClock())
    servicer = MarketDataServicer(service, watchlists)
    registration = ServiceRegistration(
        name=SERVICE_NAME,
        add_to_server=lambda server: add_to_server(servicer, server),
        public_methods=public_methods(SERVICE_NAME),
    )
    host = await start_server(
        settings,
        [registration],
        build_remote_verifier(settings, revocations),
        dependencies=required_dependencies(mongo, redis),
    )

    async def drain_on_stop() -> None:
        await host.stopping.wait()
        hub.fail_all(Unavailable("the server is shutting down; reconnect", reason="SERVER_DRAINING"))

    host.spawn(drain_on_stop(), "stream-drain")
    host.spawn(revocations.run(), "revocations", revocations.close)
    host.spawn(hub.run(), "tick-hub", hub.close)
    await hub.wait_connected(settings.dependency_timeout_seconds)
    host.spawn(counter.run(), "stream-leases")
    host.spawn(servicer.watch_slow_consumers(), "slow-consumers")
    if settings.ingest_enabled:
        runner = IngestRunner(
            redis,
            universe,
            (lambda: feed) if feed is not None else (lambda: build_feed(settings, universe)),
            bars,
            feed_name=settings.feed,
            lease_seconds=settings.ingest_lock_ttl_seconds,
            bar_flush_seconds=settings.bar_flush_seconds,
        )
        host.spawn(runner.run(), "ingest", runner.close)
        host.ingest = runner  # type: ignore[attr-defined]
    host.spawn(
        sweep_bars(
            bars,
            settings.bar_retention_days,
            settings.sweep_interval_seconds,
            five_minute_retention_days=settings.bar_five_minute_retention_days,
        ),
        "bar-sweeper",
    )
    host.marketdata = servicer  # type: ignore[attr-defined]
    host.hub = hub  # type: ignore[attr-defined]
    host.on_stop(mongo.close)
    host.on_stop(redis.aclose)
    host.on_stop(hub_redis.aclose)
    return host


async def serve(settings: MarketDataSettings) -> None:
    """Run the market-data service until SIGTERM/SIGINT."""
    await serve_host(settings, build_marketdata_server)


def main() -> None:
    """Entry point of `trademesh-marketdata` (and `python -m trademesh.services.marketdata`)."""
    run_service(MarketDataSettings, serve)
