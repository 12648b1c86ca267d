"""Send the daily digest once, then exit: `python -m trademesh.services.notifications.digest [--day YYYY-MM-DD]
[--user ID]` (the Kubernetes CronJob `notifications-digest`, 16:15 IST Monday to Friday; decision 0220).

Without `--day` the digest is of today in IST; without `--user`, of every user with the digest on. A notice's id
is `digest.<user>.<day>`, so running it twice (or a retried Job next to a manual run) sends nothing twice. The
email deliveries it queues are sent before it exits (the service's dispatcher sends any left over).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from datetime import date

from trademesh.services.core.connections import ensure_collections
from trademesh.services.core.logging import configure_logging
from trademesh.services.core.service_token import ServiceToken
from trademesh.services.core.settings import SettingsError, load_settings
from trademesh.services.notifications.analytics_client import GrpcDayFigures
from trademesh.services.notifications.server import bootstrap
from trademesh.services.notifications.service import utc_now
from trademesh.services.notifications.service.digest import DailyDigest, DigestRun, ist_today
from trademesh.services.notifications.settings import NotificationsSettings
from trademesh.services.notifications.store import COLLECTIONS, ensure_indexes

logger = logging.getLogger("trademesh.services.notifications.digest")


def build_service_token(settings: NotificationsSettings) -> ServiceToken:
    """Return the service-token source, or raise SettingsError."""
    try:
        return ServiceToken(settings.service_token.get_secret_value(), settings.service_token_file)
    except ValueError as error:
        raise SettingsError(str(error)) from None


async def send_digest(
    settings: NotificationsSettings, day: date | None = None, user_ids: list[str] | None = None
) -> DigestRun:
    """Send the digest of `day` (default: today in IST) to `user_ids` (default: all with it on); send its mail."""
    token = build_service_token(settings)
    app = bootstrap(settings)
    assert app.mongo is not None
    assert app.redis is not None
    assert app.preferences_store is not None
    figures = GrpcDayFigures(settings.analytics_target, token, settings.dependency_timeout_seconds)
    try:
        database = app.mongo[settings.mongo_database]
        await ensure_collections(database, COLLECTIONS)
        await ensure_indexes(database)
        digest = DailyDigest(preferences=app.preferences_store, figures=figures, notifier=app.notifier, clock=utc_now)
        run = await digest.run(day or ist_today(utc_now()), user_ids)
        if settings.smtp_host:
            await app.dispatcher.dispatch_due()
        return run
    finally:
        await figures.close()
        await app.mongo.close()
        await app.redis.aclose()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(prog="trademesh-notifications-digest", description=__doc__.splitlines()[0])
    parser.add_argument("--day", type=date.fromisoformat, help="IST day, YYYY-MM-DD (default: today in IST)")
    parser.add_argument("--user", action="append", dest="users", help="only this user id (repeatable)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the CronJob and of `trademesh-notifications-digest`."""
    args = parse_args(argv)
    try:
        settings = load_settings(NotificationsSettings)
        configure_logging(settings.log_level, settings.log_format, f"{settings.service_name}-digest")
        run = asyncio.run(send_digest(settings, args.day, args.users))
    except SettingsError as error:
        print(f"NotificationsSettings: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    logger.info("daily digest: %d users, %d sent, %d skipped, %d failed", run.users, run.sent, run.skipped, run.failed)
    if run.failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
