"""Sync service bootstrap: settings → dependencies → gRPC server, workers and scheduler → serve."""

from __future__ import annotations

import asyncio
import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from trademesh.services.core.access import public_methods
from trademesh.services.core.connections import build_mongo, build_redis, required_dependencies
from trademesh.services.core.page_tokens import Codec
from trademesh.services.core.revocations import RevocationList
from trademesh.services.core.server import (
    ServiceHost,
    ServiceRegistration,
    build_remote_verifier,
    run_service,
    start_server,
)
from trademesh.services.core.settings import SettingsError
from trademesh.services.core.tracing import configure_tracing
from trademesh.services.sync.api import SyncServicer
from trademesh.services.sync.brokers import BrokerClients, RequestPacer, RetryPolicy
from trademesh.services.sync.credentials import CredentialCipher, KeyConfigError
from trademesh.services.sync.domain import SyncService, now_millis
from trademesh.services.sync.jobs import RedisCoordination, RedisJobQueue, Scheduler, Worker
from trademesh.services.sync.kite import KiteAdapter
from trademesh.services.sync.model import Broker
from trademesh.services.sync.settings import SyncSettings
from trademesh.services.sync.store import MongoAccountStore, MongoSyncLogStore, ensure_indexes
from trademesh.services.sync.trades import GrpcTradeReconciler, ServiceToken
from trademesh.services.sync.upstox import UpstoxAdapter
from trademesh.sync.v1 import sync_service_pb2, sync_service_pb2_grpc

logger = logging.getLogger(__name__)

SERVICE_NAME = sync_service_pb2.DESCRIPTOR.services_by_name["SyncService"].full_name
PURGE_INTERVAL_SECONDS = 3600.0


@dataclass
class SyncRuntime:
    """A running sync service: its server and the pieces tests and tools reach into."""

    host: ServiceHost
    service: SyncService
    worker: Worker
    scheduler: Scheduler | None
    queue: RedisJobQueue
    kite: KiteAdapter
    reconciler: GrpcTradeReconciler


def build_cipher(settings: SyncSettings) -> CredentialCipher:
    """Return the credentials cipher, or raise SettingsError naming the variable (never the key)."""
    value = settings.broker_credentials_key.get_secret_value()
    if not value:
        raise SettingsError(
            "TRADEMESH_BROKER_CREDENTIALS_KEY is required "
            "(make one with `python -m trademesh.services.sync.admin generate-key`)"
        )
    try:
        return CredentialCipher.from_setting(value)
    except KeyConfigError as error:
        raise SettingsError(f"TRADEMESH_BROKER_CREDENTIALS_KEY: {error}") from None


def build_service_token(settings: SyncSettings) -> ServiceToken:
    """Return the service-token source, or raise SettingsError."""
    try:
        return ServiceToken(settings.service_token.get_secret_value(), settings.service_token_file)
    except ValueError as error:
        raise SettingsError(str(error)) from None


async def _purge_loop(logs: MongoSyncLogStore) -> None:
    while True:
        try:
            purged = await logs.purge_expired(now_millis())
            if purged:
                logger.info("deleted %d sync logs past their 180-day retention", purged)
        except Exception:
            logger.warning("purging old sync logs failed", exc_info=True)
        await asyncio.sleep(PURGE_INTERVAL_SECONDS)


async def _reseal(accounts: MongoAccountStore, cipher: CredentialCipher) -> None:
    try:
        count = await accounts.reseal_all(cipher)
        if count:
            logger.info("re-encrypted %d broker sessions under key %s", count, cipher.active_key_id)
    except Exception:
        logger.warning("re-encrypting broker sessions under the active key failed", exc_info=True)


async def build_sync_server(settings: SyncSettings) -> SyncRuntime:
    """Wire the sync service, start its gRPC server, its worker and (if enabled) its scheduler."""
    cipher = build_cipher(settings)
    token = build_service_token(settings)
    mongo = build_mongo(settings)
    database = mongo[settings.mongo_database]
    await ensure_indexes(database)
    redis = build_redis(settings)
    revocations = RevocationList(redis)
    accounts = MongoAccountStore(database)
    logs = MongoSyncLogStore(database)
    executor = ThreadPoolExecutor(max_workers=settings.broker_threads, thread_name_prefix="kite")
    pacer = RequestPacer(settings.broker_requests_per_second)
    retry = RetryPolicy(settings.broker_attempts, settings.broker_backoff_seconds, settings.broker_backoff_max_seconds)
    kite = KiteAdapter(settings.kite_base_url, executor, pacer, retry, settings.broker_timeout_seconds)
    upstox = UpstoxAdapter(settings.upstox_base_url, pacer, retry, settings.broker_timeout_seconds)
    reconciler = GrpcTradeReconciler(settings.trade_target, token, settings.reconcile_timeout_seconds)
    queue = RedisJobQueue(redis)
    service = SyncService(
        accounts=accounts,
        logs=logs,
        brokers=BrokerClients({Broker.ZERODHA: kite, Broker.UPSTOX: upstox}),
        reconciler=reconciler,
        cipher=cipher,
        queue=queue,
        coordination=RedisCoordination(redis),
        codec=Codec(cipher.token_secret),
        sync_interval=timedelta(minutes=settings.sync_interval_minutes),
        batch_size=settings.reconcile_batch_size,
    )
    servicer = SyncServicer(service)
    registration = ServiceRegistration(
        name=SERVICE_NAME,
        add_to_server=lambda server: sync_service_pb2_grpc.add_SyncServiceServicer_to_server(servicer, server),
        public_methods=public_methods(SERVICE_NAME),
    )
    host = await start_server(
        settings,
        [registration],
        build_remote_verifier(settings, revocations),
        dependencies=required_dependencies(mongo, redis),
    )
    servicer.stopping = host.stopping
    worker = Worker(
        redis,
        service.execute,
        service.give_up,
        concurrency=settings.worker_concurrency,
        claim_idle_seconds=settings.job_claim_idle_seconds,
        max_deliveries=settings.job_max_deliveries,
        # A blocking read must end before the Redis socket timeout, or it reads as an outage.
        block_seconds=min(1.0, settings.dependency_timeout_seconds / 2),
    )
    await worker.ensure_group()
    host.spawn(revocations.run(), "revocations", revocations.close)
    if settings.worker_enabled:
        host.spawn(worker.run(), "sync-worker", worker.close)
    scheduler = None
    if settings.scheduler_enabled:
        scheduler = Scheduler(
            service,
            redis,
            lock_seconds=settings.scheduler_lock_seconds,
            tick_seconds=settings.scheduler_tick_seconds,
            stale_run_seconds=settings.stale_run_seconds,
        )
        host.spawn(scheduler.run(), "sync-scheduler", scheduler.close)
    host.spawn(_purge_loop(logs), "sync-log-purger")
    host.spawn(_reseal(accounts, cipher), "sync-reseal")
    host.on_stop(mongo.close)
    host.on_stop(redis.aclose)
    host.on_stop(reconciler.close)
    host.on_stop(upstox.close)

    async def stop_executor() -> None:
        executor.shutdown(wait=False, cancel_futures=True)

    host.on_stop(stop_executor)
    return SyncRuntime(host, service, worker, scheduler, queue, kite, reconciler)


async def serve(settings: SyncSettings) -> None:
    """Run the sync service until SIGTERM/SIGINT."""
    provider = configure_tracing(settings)
    try:
        runtime = await build_sync_server(settings)
    except SettingsError as error:
        print(f"SyncSettings: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    await runtime.host.serve_until_signal(settings.shutdown_grace_seconds)
    if provider is not None:
        provider.shutdown()


def main() -> None:
    """Entry point of `python -m trademesh.services.sync`."""
    run_service(SyncSettings, serve)
