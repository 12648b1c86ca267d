"""The expiry job: close NFO/BFO, CDS/BCD and MCX positions left open in expired contracts with settlement fills.

`python -m trademesh.services.trade.expiry [--user USER_ID]` (console script `trademesh-trade-expiry`; the
Helm chart's CronJob `trade-expiry` runs it at 18:30 IST with the trade service's environment). It reads
settlement prices from TRADEMESH_SETTLEMENT_PRICES_URL (`symbol,date,price`; unset: none), writes one
settlement fill per open expired contract straight to the trade store (no gRPC, no token needed) and publishes the usual
CREATED events, so analytics and watchers follow. Idempotent: fill ids are deterministic, a second run
writes nothing. Contracts without a known price, and MCX options in the money (they devolve into futures,
which is not modelled), are logged, counted and left open. Settlement fills carry COMPUTED charges (STT on
exercise for long options settled in the money; decision 0310).
Exit status: 0 done (also with unpriced contracts: they are reported), 1 failed, 2 bad configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from trademesh.kernel.settlement import SettlementPrices
from trademesh.services.core.connections import build_mongo, build_redis
from trademesh.services.core.logging import configure_logging
from trademesh.services.core.settings import SettingsError, load_settings
from trademesh.services.trade.events import OutboxRelay, RedisEventPublisher, RedisRateLimiter
from trademesh.services.trade.instruments import load_settlement_prices
from trademesh.services.trade.server import bootstrap
from trademesh.services.trade.service import ExpiryResult
from trademesh.services.trade.settings import TradeSettings
from trademesh.services.trade.store import MongoTradeStore, ensure_indexes

logger = logging.getLogger(__name__)


async def run_expiry(settings: TradeSettings, user_id: str = "") -> ExpiryResult:
    """Load the settlement prices, then settle every (or one user's) open expired contract."""
    if settings.settlement_prices_url:
        prices = await load_settlement_prices(settings.settlement_prices_url, settings.query_timeout_seconds)
        logger.info("settlement prices loaded: %d rows", len(prices))
    else:
        # Never guess: without prices every open expired contract is reported as unpriced and left open.
        prices = SettlementPrices({})
        logger.warning("TRADEMESH_SETTLEMENT_PRICES_URL is not set: no contract can be settled")
    mongo = build_mongo(settings)
    redis = build_redis(settings)
    try:
        database = mongo[settings.mongo_database]
        await ensure_indexes(database)
        store = MongoTradeStore(database, bulk_timeout_seconds=settings.query_timeout_seconds)
        relay = OutboxRelay(store, RedisEventPublisher(redis), scan_interval=settings.relay_scan_interval_seconds)
        service = bootstrap(settings, store=store, events=relay, limiter=RedisRateLimiter(redis))
        return await service.settle_expired(prices, user_id)
    finally:
        await redis.aclose()
        await mongo.close()


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the expiry settlement, log a summary; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m trademesh.services.trade.expiry", description=__doc__)
    parser.add_argument("--user", default="", help="settle only this user id (default: every user)")
    arguments = parser.parse_args(argv)
    try:
        settings = load_settings(TradeSettings)
    except SettingsError as error:
        print(f"TradeSettings: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format, settings.service_name)
    try:
        result = asyncio.run(run_expiry(settings, arguments.user))
    except Exception:
        logger.exception("expiry settlement failed")
        return 1
    for contract in result.unpriced:
        logger.warning(
            "unpriced: user %s %s %s expired %s (no price for %s)",
            contract.user_id,
            contract.exchange,
            contract.symbol,
            contract.expiry_date,
            contract.price_symbol,
        )
    for contract in result.devolving:
        logger.warning(
            "devolves (left open): user %s %s %s expired %s in the money",
            contract.user_id,
            contract.exchange,
            contract.symbol,
            contract.expiry_date,
        )
    logger.info(
        "expiry: %d users, %d open expired positions, %d settled, %d already settled, %d unpriced, "
        "%d devolving (left open)",
        result.users_count,
        result.open_expired_count,
        result.settled_count,
        result.already_settled_count,
        len(result.unpriced),
        len(result.devolving),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
