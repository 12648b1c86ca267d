"""Sync service bootstrap: settings → dependencies → gRPC server, workers and scheduler → serve."""

from __future__ import annotations

import asyncio
import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from trademesh.services.brokers.retry import RequestPacer, RetryPolicy
from trademesh.services.brokers.upstox.client import UpstoxAdapter
from trademesh.services.brokers.zerodha.client import KiteAdapter
from trademesh.services.core.access import public_methods
from trademesh.services.core.connections import LazyConnections, build_redis, required_dependencies
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
from trademesh.services.core.settings import SettingsError
from trademesh.services.sync.api import SyncServicer
from trademesh.services.sync.brokers import BrokerClients
from trademesh.services.sync.credentials import CredentialCipher, KeyConfigError
from trademesh.services.sync.jobs import RedisCoordination, RedisJobQueue, Scheduler, Worker
from trademesh.services.sync.model import Broker, now_millis
from trademesh.services.sync.ports import (
    AccountStore,
    BrokerGateway,
    Clock,
    Coordination,
    JobQueue,
    SyncLogStore,
    TradeReconciler,
)
from trademesh.services.sync.service import SyncService
from trademesh.services.sync.settings import SyncSettings
from trademesh.services.sync.store import MongoAccountStore, MongoSyncLogStore, ensure_indexes
from trademesh.services.sync.trades import GrpcTradeReconciler, ServiceToken
from trademesh.sync.v1 import sync_service_pb2, sync_service_pb2_grpc

logger = logging.getLogger(__name__)

SERVICE_NAME = sync_service_pb2.DESCRIPTOR.services_by_name["SyncService"].full_name
PURGE_INTERVAL_SECONDS = 3600.0


@dataclass
class SyncApplication:
    """A wired sync service: its use cases, its servicer and the real adapters bootstrap made (None when given)."""

    service: SyncService
    servicer: SyncServicer
    cipher: CredentialCipher
    mongo: AsyncMongoClient[dict[str, Any]] | None = None
    redis: Redis | None = None
    account_store: MongoAccountStore | None = None
    log_store: MongoSyncLogStore | None = None
    queue: RedisJobQueue | None = None
    kite: KiteAdapter | None = None
    upstox: UpstoxAdapter | None = None
    reconciler: GrpcTradeReconciler | None = None
    executor: ThreadPoolExecutor | None = None


@dataclass
class SyncRuntime:
    """A running sync service: its server and the pieces tests and tools reach into."""

    host: ServiceHost
    service: SyncService
    worker: Worker
    scheduler: Scheduler | None
    queue: RedisJobQueue
    kite: KiteAdapter | None
    #: The trade sink the service calls (tests swap `service.reconciler` and put this one back).
    reconciler: TradeReconciler


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


def build_brokers(settings: SyncSettings) -> tuple[BrokerClients, KiteAdapter, UpstoxAdapter, ThreadPoolExecutor]:
    """Return the broker gateway over the Kite and Upstox clients (and the thread pool kiteconnect runs in)."""
    executor = ThreadPoolExecutor(max_workers=settings.broker_threads, thread_name_prefix="kite")
    pacer = RequestPacer(settings.broker_requests_per_second)
    retry = RetryPolicy(settings.broker_attempts, settings.broker_backoff_seconds, settings.broker_backoff_max_seconds)
    kite = KiteAdapter(settings.kite_base_url, executor, pacer, retry, settings.broker_timeout_seconds)
    upstox = UpstoxAdapter(settings.upstox_base_url, pacer, retry, settings.broker_timeout_seconds)
    return BrokerClients({Broker.ZERODHA: kite, Broker.UPSTOX: upstox}), kite, upstox, executor


def bootstrap(
    settings: SyncSettings,
    *,
    store: AccountStore | None = None,
    logs: SyncLogStore | None = None,
    brokers: BrokerGateway | None = None,
    trades: TradeReconciler | None = None,
    queue: JobQueue | None = None,
    coordination: Coordination | None = None,
    cipher: CredentialCipher | None = None,
    clock: Clock | None = None,
) -> SyncApplication:
    """Wire the sync use cases and servicer; every port left None gets its real adapter.

    MongoDB and Redis clients are created (connecting lazily) only for the ports that need them.
    """
    cipher = cipher if cipher is not None else build_cipher(settings)
    connections = LazyConnections(settings)
    app_parts: dict[str, Any] = {}
    if store is None:
        store = app_parts["account_store"] = MongoAccountStore(connections.database())
    if logs is None:
        logs = app_parts["log_store"] = MongoSyncLogStore(connections.database())
    if brokers is None:
        brokers, app_parts["kite"], app_parts["upstox"], app_parts["executor"] = build_brokers(settings)
    if trades is None:
        token = build_service_token(settings)
        trades = app_parts["reconciler"] = GrpcTradeReconciler(
            settings.trade_target, token, settings.reconcile_timeout_seconds
        )
    if queue is None:
        queue = app_parts["queue"] = RedisJobQueue(connections.redis_client())
    if coordination is None:
        coordination = RedisCoordination(connections.redis_client())
    service = SyncService(
        accounts=store,
        logs=logs,
        brokers=brokers,
        reconciler=trades,
        cipher=cipher,
        queue=queue,
        coordination=coordination,
        codec=Codec(cipher.token_secret),
        sync_interval=timedelta(minutes=settings.sync_interval_minutes),
        batch_size=settings.reconcile_batch_size,
        clock=clock if clock is not None else now_millis,
    )
    return SyncApplication(
        service, SyncServicer(service), cipher, mongo=connections.mongo, redis=connections.redis, **app_parts
    )


async def build_sync_server(settings: SyncSettings, application: SyncApplication | None = None) -> SyncRuntime:
    """Start the gRPC server, the worker and (if enabled) the scheduler of a wired sync service
    (`bootstrap(settings)` by default; the worker and scheduler need Redis)."""
    app = application if application is not None else bootstrap(settings)
    redis = app.redis if app.redis is not None else build_redis(settings)
    queue = app.queue if app.queue is not None else RedisJobQueue(redis)
    if app.mongo is not None:
        await ensure_indexes(app.mongo[settings.mongo_database])
    service, servicer = app.service, app.servicer
    revocations = RevocationList(redis)
    registration = ServiceRegistration(
        name=SERVICE_NAME,
        add_to_server=lambda server: sync_service_pb2_grpc.add_SyncServiceServicer_to_server(servicer, server),
        public_methods=public_methods(SERVICE_NAME),
    )
    dependencies = required_dependencies(app.mongo, redis) if app.mongo is not None else []
    host = await start_server(
        settings, [registration], build_remote_verifier(settings, revocations), dependencies=dependencies
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
    if app.log_store is not None:
        host.spawn(_purge_loop(app.log_store), "sync-log-purger")
    if app.account_store is not None:
        host.spawn(_reseal(app.account_store, app.cipher), "sync-reseal")
    if app.mongo is not None:
        host.on_stop(app.mongo.close)
    host.on_stop(redis.aclose)
    if app.reconciler is not None:
        host.on_stop(app.reconciler.close)
    if app.upstox is not None:
        host.on_stop(app.upstox.close)
    executor = app.executor
    if executor is not None:

        async def stop_executor() -> None:
            executor.shutdown(wait=False, cancel_futures=True)

        host.on_stop(stop_executor)
    return SyncRuntime(host, service, worker, scheduler, queue, app.kite, service.reconciler)


async def _start_host(settings: SyncSettings) -> ServiceHost:
    try:
        return (await build_sync_server(settings)).host
    except SettingsError as error:
        print(f"SyncSettings: {error}", file=sys.stderr)
        raise SystemExit(2) from None


async def serve(settings: SyncSettings) -> None:
    """Run the sync service until SIGTERM/SIGINT."""
    await serve_host(settings, _start_host)


def main() -> None:
    """Entry point of `python -m trademesh.services.sync`."""
    run_service(SyncSettings, serve)
