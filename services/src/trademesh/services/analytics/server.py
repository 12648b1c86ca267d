"""Analytics wiring: `bootstrap` (settings → adapters → use cases), the gRPC server + event consumer, `serve`."""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from typing import Any

from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from trademesh.analytics.v1 import analytics_service_pb2, analytics_service_pb2_grpc
from trademesh.services.analytics.api import AnalyticsServicer
from trademesh.services.analytics.bars import GrpcBarSource
from trademesh.services.analytics.cache import RedisAnalyticsCache
from trademesh.services.analytics.events import TradeEventConsumer
from trademesh.services.analytics.excursion_ports import BarSource, ExcursionStore
from trademesh.services.analytics.excursion_store import COLLECTION as EXCURSIONS
from trademesh.services.analytics.excursion_store import COVERAGE, MongoExcursionStore, ensure_excursion_indexes
from trademesh.services.analytics.excursions import ExcursionMeter, ExcursionRecorder
from trademesh.services.analytics.ports import AnalyticsCache, Clock, Quotes, SettingsStore, TradeSource
from trademesh.services.analytics.quotes import GrpcQuoteSource
from trademesh.services.analytics.service import AnalyticsService, now_micros
from trademesh.services.analytics.settings import AnalyticsSettings
from trademesh.services.analytics.store import MongoSettingsStore, MongoTradeSource
from trademesh.services.analytics.tick_feed import RedisTickFeed
from trademesh.services.analytics.watch import PnlWatcher
from trademesh.services.core.access import public_methods
from trademesh.services.core.connections import LazyConnections, ensure_collections, required_dependencies
from trademesh.services.core.revocations import RevocationList
from trademesh.services.core.server import (
    ServiceHost,
    ServiceRegistration,
    build_remote_verifier,
    run_service,
    serve_host,
    start_server,
)

logger = logging.getLogger(__name__)

Document = dict[str, Any]

SERVICE_NAME = analytics_service_pb2.DESCRIPTOR.services_by_name["AnalyticsService"].full_name


@dataclass(slots=True)
class Analytics:
    """The wired analytics use cases and the adapters bootstrap built (to close them)."""

    service: AnalyticsService
    watcher: PnlWatcher
    servicer: AnalyticsServicer
    cache: AnalyticsCache
    quotes: Quotes
    excursion_store: ExcursionStore | None
    bars: BarSource
    #: The connections bootstrap opened for the adapters it built (None when every such adapter was given).
    mongo: AsyncMongoClient[Document] | None = None
    redis: Redis | None = None


def bootstrap(
    settings: AnalyticsSettings,
    *,
    trades: TradeSource | None = None,
    settings_store: SettingsStore | None = None,
    cache: AnalyticsCache | None = None,
    quotes: Quotes | None = None,
    excursion_store: ExcursionStore | None = None,
    bars: BarSource | None = None,
    clock: Clock = now_micros,
) -> Analytics:
    """Wire the use cases and the servicer; build the real adapter of every port not given (tests pass fakes)."""
    connections = LazyConnections(settings)
    # MAE/MFE read the database the trades come from: with a fake trade source and no excursion store
    # given, round trips stay unmeasured (no database is opened for them).
    if excursion_store is None and trades is None:
        excursion_store = MongoExcursionStore(connections.database())
    if trades is None or settings_store is None:
        database = connections.database()
        trades = trades or MongoTradeSource(database, timeout_seconds=settings.query_timeout_seconds)
        settings_store = settings_store or MongoSettingsStore(database)
    if cache is None:
        cache = RedisAnalyticsCache(connections.redis_client(), report_ttl_seconds=settings.report_cache_ttl_seconds)
    if quotes is None:
        quotes = GrpcQuoteSource(settings.marketdata_target, timeout_seconds=settings.dependency_timeout_seconds)
    if bars is None:
        bars = GrpcBarSource(settings.marketdata_target, timeout_seconds=settings.dependency_timeout_seconds)
    assert trades is not None
    assert settings_store is not None
    service = AnalyticsService(
        trades=trades,
        settings=settings_store,
        cache=cache,
        quotes=quotes,
        max_cached_fills=settings.max_cached_fills,
        clock=clock,
        excursions=(
            ExcursionMeter(excursion_store, bars, allowance_seconds=settings.excursion_gap_seconds)
            if excursion_store is not None
            else None
        ),
    )
    watcher = PnlWatcher(
        service,
        quotes,
        default_rate=settings.watch_default_updates_per_second,
        max_rate=settings.watch_max_updates_per_second,
        max_per_user=settings.max_watches_per_user,
        heartbeat_seconds=settings.watch_heartbeat_seconds,
    )
    return Analytics(
        service,
        watcher,
        AnalyticsServicer(service, watcher),
        cache,
        quotes,
        excursion_store,
        bars,
        connections.mongo,
        connections.redis,
    )


@dataclass(frozen=True, slots=True)
class AnalyticsRuntime:
    """A running analytics server and the parts tests and benchmarks look into."""

    host: ServiceHost
    service: AnalyticsService
    consumer: TradeEventConsumer
    cache: RedisAnalyticsCache
    recorder: ExcursionRecorder


async def build_analytics_runtime(settings: AnalyticsSettings) -> AnalyticsRuntime:
    """Wire the analytics service on real adapters, start its gRPC server and its trade-event consumer."""
    analytics = bootstrap(settings)
    mongo, redis, quotes = analytics.mongo, analytics.redis, analytics.quotes
    assert mongo is not None
    assert redis is not None
    assert isinstance(quotes, GrpcQuoteSource)
    assert isinstance(analytics.cache, RedisAnalyticsCache)
    revocations = RevocationList(redis)
    consumer = TradeEventConsumer(
        redis,
        analytics.service,
        consumer=settings.consumer_name or f"{socket.gethostname()}-{os.getpid()}",
        block_seconds=min(settings.event_block_seconds, settings.dependency_timeout_seconds / 2),
        claim_idle_seconds=settings.event_claim_idle_seconds,
    )
    registration = ServiceRegistration(
        name=SERVICE_NAME,
        add_to_server=lambda server: analytics_service_pb2_grpc.add_AnalyticsServiceServicer_to_server(
            analytics.servicer, server
        ),
        public_methods=public_methods(SERVICE_NAME),
    )
    verifier = build_remote_verifier(settings, revocations)
    host = await start_server(settings, [registration], verifier, dependencies=required_dependencies(mongo, redis))
    store, bars = analytics.excursion_store, analytics.bars
    assert isinstance(store, MongoExcursionStore)
    assert isinstance(bars, GrpcBarSource)
    database = mongo[settings.mongo_database]
    await ensure_collections(database, [EXCURSIONS, COVERAGE])
    await ensure_excursion_indexes(database)
    recorder = ExcursionRecorder(
        analytics.service.journal,
        store,
        RedisTickFeed(redis),
        analytics.service.now,
        flush_seconds=settings.excursion_flush_seconds,
        allowance_seconds=settings.excursion_gap_seconds,
    )
    analytics.service.listeners.append(recorder.journal_changed)
    analytics.watcher.stopping = host.stopping
    host.spawn(revocations.run(), "revocations", revocations.close)
    host.spawn(consumer.run(), "trade-event-consumer", consumer.close)
    host.spawn(recorder.run(), "excursion-recorder", recorder.close)
    host.on_stop(bars.close)
    host.on_stop(quotes.close)
    host.on_stop(mongo.close)
    host.on_stop(redis.aclose)
    return AnalyticsRuntime(host, analytics.service, consumer, analytics.cache, recorder)


async def build_analytics_server(settings: AnalyticsSettings) -> ServiceHost:
    """Wire the analytics service and start its gRPC server."""
    return (await build_analytics_runtime(settings)).host


async def serve(settings: AnalyticsSettings) -> None:
    """Run the analytics service until SIGTERM/SIGINT."""
    await serve_host(settings, build_analytics_server)


def main() -> None:
    """Entry point of `python -m trademesh.services.analytics`."""
    run_service(AnalyticsSettings, serve)
