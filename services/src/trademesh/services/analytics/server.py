"""Analytics service bootstrap: settings → dependencies → gRPC server (+ trade-event consumer) → serve."""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass

from trademesh.analytics.v1 import analytics_service_pb2, analytics_service_pb2_grpc
from trademesh.services.analytics.api import AnalyticsServicer
from trademesh.services.analytics.cache import RedisAnalyticsCache
from trademesh.services.analytics.events import TradeEventConsumer
from trademesh.services.analytics.quotes import GrpcQuoteSource
from trademesh.services.analytics.service import AnalyticsService
from trademesh.services.analytics.settings import AnalyticsSettings
from trademesh.services.analytics.store import MongoSettingsStore, MongoTradeSource
from trademesh.services.analytics.watch import PnlWatcher
from trademesh.services.core.access import public_methods
from trademesh.services.core.connections import build_mongo, build_redis, required_dependencies
from trademesh.services.core.revocations import RevocationList
from trademesh.services.core.server import (
    ServiceHost,
    ServiceRegistration,
    build_remote_verifier,
    run_service,
    start_server,
)
from trademesh.services.core.tracing import configure_tracing

logger = logging.getLogger(__name__)

SERVICE_NAME = analytics_service_pb2.DESCRIPTOR.services_by_name["AnalyticsService"].full_name


@dataclass(frozen=True, slots=True)
class AnalyticsRuntime:
    """A running analytics server and the parts tests and benchmarks look into."""

    host: ServiceHost
    service: AnalyticsService
    consumer: TradeEventConsumer
    cache: RedisAnalyticsCache


async def build_analytics_runtime(settings: AnalyticsSettings) -> AnalyticsRuntime:
    """Wire the analytics service, start its gRPC server and its trade-event consumer."""
    mongo = build_mongo(settings)
    database = mongo[settings.mongo_database]
    redis = build_redis(settings)
    revocations = RevocationList(redis)
    quotes = GrpcQuoteSource(settings.marketdata_target, timeout_seconds=settings.dependency_timeout_seconds)
    cache = RedisAnalyticsCache(redis, report_ttl_seconds=settings.report_cache_ttl_seconds)
    service = AnalyticsService(
        trades=MongoTradeSource(database, timeout_seconds=settings.query_timeout_seconds),
        settings=MongoSettingsStore(database),
        cache=cache,
        quotes=quotes,
        max_cached_fills=settings.max_cached_fills,
    )
    watcher = PnlWatcher(
        service,
        quotes,
        default_rate=settings.watch_default_updates_per_second,
        max_rate=settings.watch_max_updates_per_second,
        max_per_user=settings.max_watches_per_user,
        heartbeat_seconds=settings.watch_heartbeat_seconds,
    )
    consumer = TradeEventConsumer(
        redis,
        service,
        consumer=settings.consumer_name or f"{socket.gethostname()}-{os.getpid()}",
        block_seconds=min(settings.event_block_seconds, settings.dependency_timeout_seconds / 2),
        claim_idle_seconds=settings.event_claim_idle_seconds,
    )
    servicer = AnalyticsServicer(service, watcher)
    registration = ServiceRegistration(
        name=SERVICE_NAME,
        add_to_server=lambda server: analytics_service_pb2_grpc.add_AnalyticsServiceServicer_to_server(
            servicer, server
        ),
        public_methods=public_methods(SERVICE_NAME),
    )
    verifier = build_remote_verifier(settings, revocations)
    host = await start_server(settings, [registration], verifier, dependencies=required_dependencies(mongo, redis))
    watcher.stopping = host.stopping
    host.spawn(revocations.run(), "revocations", revocations.close)
    host.spawn(consumer.run(), "trade-event-consumer", consumer.close)
    host.on_stop(quotes.close)
    host.on_stop(mongo.close)
    host.on_stop(redis.aclose)
    return AnalyticsRuntime(host, service, consumer, cache)


async def build_analytics_server(settings: AnalyticsSettings) -> ServiceHost:
    """Wire the analytics service and start its gRPC server."""
    return (await build_analytics_runtime(settings)).host


async def serve(settings: AnalyticsSettings) -> None:
    """Run the analytics service until SIGTERM/SIGINT."""
    provider = configure_tracing(settings)
    host = await build_analytics_server(settings)
    await host.serve_until_signal(settings.shutdown_grace_seconds)
    if provider is not None:
        provider.shutdown()


def main() -> None:
    """Entry point of `python -m trademesh.services.analytics`."""
    run_service(AnalyticsSettings, serve)
