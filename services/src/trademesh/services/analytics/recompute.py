"""The nightly batch: rebuild every user's analytics from the trade journal.

`python -m trademesh.services.analytics.recompute [--user USER_ID]` (the Helm chart's CronJob runs it
with the service's environment). It reads the trades directly (no gRPC, no token needed), rebuilds each
user's journal and bumps the user's cache generation, so every replica serves freshly computed reports.
Exit status: 0 done, 1 failed, 2 bad configuration, 3 another recompute of the same users is running.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from trademesh.kernel.errors import Aborted
from trademesh.services.analytics.cache import RedisAnalyticsCache
from trademesh.services.analytics.quotes import GrpcQuoteSource
from trademesh.services.analytics.service import AnalyticsService, RecomputeResult
from trademesh.services.analytics.settings import AnalyticsSettings
from trademesh.services.analytics.store import MongoSettingsStore, MongoTradeSource
from trademesh.services.core.connections import build_mongo, build_redis
from trademesh.services.core.logging import configure_logging
from trademesh.services.core.settings import SettingsError, load_settings

logger = logging.getLogger(__name__)


async def recompute(settings: AnalyticsSettings, user_id: str | None) -> RecomputeResult:
    """Rebuild one user's (or every user's) analytics; journals are dropped after each user (bounded memory)."""
    mongo = build_mongo(settings)
    redis = build_redis(settings)
    quotes = GrpcQuoteSource(settings.marketdata_target, timeout_seconds=settings.dependency_timeout_seconds)
    try:
        service = AnalyticsService(
            trades=MongoTradeSource(mongo[settings.mongo_database], timeout_seconds=settings.query_timeout_seconds),
            settings=MongoSettingsStore(mongo[settings.mongo_database]),
            cache=RedisAnalyticsCache(redis, report_ttl_seconds=settings.report_cache_ttl_seconds),
            quotes=quotes,
            # One journal at a time: a batch over every user must not hold them all.
            max_cached_fills=1,
        )
        return await service.recompute(user_id, lock_ttl_seconds=settings.recompute_lock_seconds)
    finally:
        await quotes.close()
        await redis.aclose()
        await mongo.close()


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the recompute, log a summary; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m trademesh.services.analytics.recompute", description=__doc__)
    parser.add_argument("--user", default=None, help="rebuild only this user id (default: every user)")
    arguments = parser.parse_args(argv)
    try:
        settings = load_settings(AnalyticsSettings)
    except SettingsError as error:
        print(f"AnalyticsSettings: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format, settings.service_name)
    try:
        result = asyncio.run(recompute(settings, arguments.user))
    except Aborted as error:
        logger.error("recompute not started: %s", error.message)
        return 3
    except Exception:
        logger.exception("recompute failed")
        return 1
    logger.info(
        "recomputed %d users, %d fills, %d round trips in %.1f s",
        result.user_count,
        result.fill_count,
        result.round_trip_count,
        result.duration_us / 1e6,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
