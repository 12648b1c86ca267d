"""One scheduler tick, then exit: `python -m trademesh.services.sync.schedule` (the Kubernetes CronJob).

Starts a run (queued on the Redis job stream for the sync workers) for every account whose next
scheduled or retry run is due, re-queues runs a lost worker left behind, and exits. It takes the same
scheduler lease as the in-service scheduler, so a CronJob run and a replica never schedule at once;
when the lease is held elsewhere it exits 0 without doing anything. Set
TRADEMESH_SCHEDULER_ENABLED=false on the service when the CronJob schedules.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from trademesh.services.brokers.sessions import BrokerSession, Login, StoredSession
from trademesh.services.core.logging import configure_logging
from trademesh.services.core.settings import SettingsError, load_settings
from trademesh.services.sync.jobs import Scheduler
from trademesh.services.sync.model import Broker, NormalisedTrade
from trademesh.services.sync.ports import ReconcileResult
from trademesh.services.sync.server import bootstrap
from trademesh.services.sync.settings import SyncSettings
from trademesh.services.sync.store import ensure_indexes

logger = logging.getLogger("trademesh.services.sync.schedule")


def _not_here() -> NoReturn:
    raise RuntimeError("the scheduler only queues runs; the sync workers execute them")


class _NoBrokers:
    async def create_session(self, login: Login) -> BrokerSession:
        _not_here()

    async def fetch_trades(self, broker: Broker, session: StoredSession) -> list[Any]:
        _not_here()

    async def revoke(self, broker: Broker, session: StoredSession) -> None:
        _not_here()


class _NoTrades:
    async def reconcile(
        self, user_id: str, broker: Broker, account_id: str, log_id: str, trades: Sequence[NormalisedTrade]
    ) -> list[ReconcileResult]:
        _not_here()


async def tick(settings: SyncSettings) -> int | None:
    """Run one scheduler tick; return how many runs started, or None if another scheduler holds the lease."""
    app = bootstrap(settings, brokers=_NoBrokers(), trades=_NoTrades())
    # The stores and the queue are the real ones, so both clients exist.
    assert app.mongo is not None
    assert app.redis is not None
    mongo, redis = app.mongo, app.redis
    try:
        await ensure_indexes(mongo[settings.mongo_database])
        scheduler = Scheduler(
            app.service,
            redis,
            lock_seconds=settings.scheduler_lock_seconds,
            tick_seconds=settings.scheduler_tick_seconds,
            stale_run_seconds=settings.stale_run_seconds,
        )
        try:
            return await scheduler.tick_once()
        finally:
            await scheduler.lease.release()
    finally:
        await mongo.close()
        await redis.aclose()


def main() -> None:
    """Entry point of the CronJob."""
    try:
        settings = load_settings(SyncSettings)
        configure_logging(settings.log_level, settings.log_format, settings.service_name)
        started = asyncio.run(tick(settings))
    except SettingsError as error:
        print(f"SyncSettings: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    if started is None:
        logger.info("another scheduler holds the lease; nothing to do")
    else:
        logger.info("started %d sync runs", started)


if __name__ == "__main__":
    main()
