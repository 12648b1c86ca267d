"""Trade service bootstrap: settings → dependencies → gRPC server → serve."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

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
from trademesh.services.trade.api import TradeServicer
from trademesh.services.trade.events import (
    FaultInjectingSink,
    OutboxRelay,
    RedisEventPublisher,
    RedisRateLimiter,
    RedisTradeFeed,
)
from trademesh.services.trade.instruments import HttpInstrumentMaster
from trademesh.services.trade.model import EventType, new_event, now_millis
from trademesh.services.trade.ports import Clock, EventSink, InstrumentLookup, RateLimiter, TokenCodec, TradeStore
from trademesh.services.trade.service import TradeService
from trademesh.services.trade.service.csv_mappings import CsvMappingService
from trademesh.services.trade.service.day_notes import DayNoteService
from trademesh.services.trade.settings import TradeSettings
from trademesh.services.trade.store import MongoTradeStore, ensure_indexes
from trademesh.services.trade.store.csv_mappings import MongoCsvMappingStore, ensure_csv_mapping_indexes
from trademesh.services.trade.store.day_notes import MongoDayNoteStore, ensure_day_note_indexes
from trademesh.services.trade.watch import TradeWatcher
from trademesh.trade.v1 import trade_service_pb2, trade_service_pb2_grpc

logger = logging.getLogger(__name__)

SERVICE_NAME = trade_service_pb2.DESCRIPTOR.services_by_name["TradeService"].full_name


async def purge_expired(store: MongoTradeStore, relay: OutboxRelay) -> int:
    """Erase DELETED trades past their purge time, each after its PURGED event is recorded."""
    now = now_millis()
    purged = 0
    for trade in await store.expired_deleted(now, 1000):
        final = replace(trade, version=trade.version + 1, update_time=now)
        if await store.mark_purging(final, new_event(EventType.PURGED, final, now)):
            await relay.committed([final])
            await store.release_quota(trade.user_id, 1)
            purged += 1
    return purged


async def _purge_loop(store: MongoTradeStore, relay: OutboxRelay, interval: float) -> None:
    while True:
        try:
            purged = await purge_expired(store, relay)
            if purged:
                logger.info("purged %d deleted trades past their retention", purged)
        except Exception:
            logger.warning("purging deleted trades failed", exc_info=True)
        await asyncio.sleep(interval)


def build_codec(settings: TradeSettings) -> Codec:
    """Return the page and resume token codec keyed by the token secret."""
    return Codec(settings.token_secret.get_secret_value().encode())


def build_instruments(settings: TradeSettings) -> HttpInstrumentMaster | None:
    """Return the instrument master adapter, or None when TRADEMESH_INSTRUMENTS_URL is unset."""
    if not settings.instruments_url:
        return None
    return HttpInstrumentMaster(
        settings.instruments_url,
        timeout_seconds=settings.query_timeout_seconds,
        refresh_seconds=settings.instruments_refresh_seconds,
    )


def bootstrap(
    settings: TradeSettings,
    *,
    store: TradeStore,
    events: EventSink,
    limiter: RateLimiter,
    codec: TokenCodec | None = None,
    clock: Clock | None = None,
    instruments: InstrumentLookup | None = None,
) -> TradeService:
    """Wire the trade use cases to their ports (real adapters or in-memory fakes) and the settings."""
    return TradeService(
        store=store,
        events=events,
        limiter=limiter,
        codec=codec or build_codec(settings),
        import_limit_per_minute=settings.import_limit_per_minute,
        trade_quota=settings.trade_quota,
        clock=clock or now_millis,
        instruments=instruments,
    )


async def build_trade_server(settings: TradeSettings) -> ServiceHost:
    """Connect MongoDB and Redis, wire the trade service through `bootstrap` and start its gRPC server."""
    mongo = build_mongo(settings)
    database = mongo[settings.mongo_database]
    await ensure_indexes(database)
    await ensure_day_note_indexes(database)
    await ensure_csv_mapping_indexes(database)
    redis = build_redis(settings)
    revocations = RevocationList(redis)
    store = MongoTradeStore(database, bulk_timeout_seconds=settings.query_timeout_seconds)
    relay = OutboxRelay(store, RedisEventPublisher(redis), scan_interval=settings.relay_scan_interval_seconds)
    sink: EventSink = FaultInjectingSink(relay) if settings.fault_exit_after_write else relay
    if settings.fault_exit_after_write:
        logger.warning("TRADEMESH_FAULT_EXIT_AFTER_WRITE is set: this process exits after its first write (tests)")
    codec = build_codec(settings)
    instruments = build_instruments(settings)
    if instruments is not None:
        await instruments.refresh()
    service = bootstrap(
        settings, store=store, events=sink, limiter=RedisRateLimiter(redis), codec=codec, instruments=instruments
    )
    watcher = TradeWatcher(
        store,
        RedisTradeFeed(redis, block_seconds=min(1.0, settings.dependency_timeout_seconds / 2)),
        codec,
        max_per_user=settings.max_watches_per_user,
        max_lifetime=settings.watch_max_lifetime_seconds,
    )
    day_notes = DayNoteService(MongoDayNoteStore(database), store, codec)
    servicer = TradeServicer(service, watcher, day_notes, CsvMappingService(MongoCsvMappingStore(database), service))
    registration = ServiceRegistration(
        name=SERVICE_NAME,
        add_to_server=lambda server: trade_service_pb2_grpc.add_TradeServiceServicer_to_server(servicer, server),
        public_methods=public_methods(SERVICE_NAME),
    )
    verifier = build_remote_verifier(settings, revocations)
    host = await start_server(settings, [registration], verifier, dependencies=required_dependencies(mongo, redis))
    # Streams watch the host's shutdown signal to end cleanly.
    watcher.stopping = host.stopping
    host.spawn(revocations.run(), "revocations", revocations.close)
    host.spawn(relay.run(), "outbox-relay", relay.close)
    host.spawn(_purge_loop(store, relay, settings.purge_interval_seconds), "trade-purger")
    if instruments is not None:
        host.spawn(instruments.run(), "instrument-master")
    host.on_stop(mongo.close)
    host.on_stop(redis.aclose)
    return host


async def serve(settings: TradeSettings) -> None:
    """Run the trade service until SIGTERM/SIGINT."""
    await serve_host(settings, build_trade_server)


def main() -> None:
    """Entry point of `trademesh-trade` (and `python -m trademesh.services.trade`)."""
    run_service(TradeSettings, serve)
