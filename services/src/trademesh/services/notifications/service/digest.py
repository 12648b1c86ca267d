"""The daily digest: after market close, one notice per user who asked for it — the IST day's net P&L (net of
charges), round trips, biggest win and loss, open positions — in the inbox and by email (decision 0220).

The figures come from the analytics service (`DayFiguresSource`). The notice's id is `digest.<user>.<day>`, so a
second run, a retried CronJob or two replicas store and mail it once (the inbox and the delivery queue ignore a
repeated id). A day on which no round trip closed gets no digest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from trademesh.kernel.calendar import IST
from trademesh.services.notifications.model import Channel, Notification, NotificationKind, Preferences
from trademesh.services.notifications.model.notices import format_micros
from trademesh.services.notifications.ports import Clock, DayFigures, DayFiguresSource, PreferencesStore
from trademesh.services.notifications.service.delivery import Notifier

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DigestRun:
    """What one run did: users looked at, digests written now, and users skipped (no trades or failed)."""

    users: int = 0
    sent: int = 0
    #: Digest off, no round trip closed that day, or already sent.
    skipped: int = 0
    failed: int = 0


def digest_id(user_id: str, day: date) -> str:
    """Return the deterministic notification id of a user's digest of `day`."""
    return f"digest.{user_id}.{day.isoformat()}"


def ist_today(now: datetime) -> date:
    """Return the IST date of `now`."""
    return now.astimezone(IST).date()


def digest_notification(user_id: str, day: date, figures: DayFigures, now: datetime) -> Notification:
    """Build the digest notice of a user's day (pure)."""
    trips = figures.round_trips
    lines = [
        f"Net P&L (after charges): INR {format_micros(figures.net_pnl_micros)}",
        f"Round trips closed: {trips}",
        "Biggest win: "
        + ("none" if figures.biggest_win_micros is None else f"INR {format_micros(figures.biggest_win_micros)}"),
        "Biggest loss: "
        + ("none" if figures.biggest_loss_micros is None else f"INR {format_micros(figures.biggest_loss_micros)}"),
        f"Open positions: {figures.open_positions}",
    ]
    return Notification(
        id=digest_id(user_id, day),
        user_id=user_id,
        kind=NotificationKind.SYSTEM,
        title=f"Daily digest {day.isoformat()}: net INR {format_micros(figures.net_pnl_micros)}, "
        f"{trips} round trip{'s' * (trips != 1)}",
        body="\n".join(lines),
        created_at=now,
    )


class DailyDigest:
    """Send the digest of one IST day to the users who asked for it."""

    def __init__(
        self, *, preferences: PreferencesStore, figures: DayFiguresSource, notifier: Notifier, clock: Clock
    ) -> None:
        self._preferences = preferences
        self._figures = figures
        self._notifier = notifier
        self._clock = clock

    async def send_one(self, user_id: str, day: date) -> Notification | None:
        """Send one user's digest of `day` if they asked for it and traded; return the stored notice (None when
        digest is off, no round trip closed, or it was already sent)."""
        preferences = await self._preferences.get(user_id) or Preferences()
        if not preferences.daily_digest:
            return None
        figures = await self._figures.figures(user_id, day)
        if figures is None:
            return None
        notice = digest_notification(user_id, day, figures, self._clock())
        # The digest was asked for as a mail: email is added to the SYSTEM kind's channels (sent when the
        # preferences hold an address).
        return await self._notifier.notify(notice, also=frozenset({Channel.EMAIL}))

    async def run(self, day: date, user_ids: list[str] | None = None) -> DigestRun:
        """Send `day`'s digest to `user_ids` (default: every user with the digest on); one failing user does not
        stop the others."""
        users = user_ids if user_ids is not None else await self._preferences.with_daily_digest()
        sent = skipped = failed = 0
        for user_id in users:
            try:
                stored = await self.send_one(user_id, day)
            except Exception:
                logger.warning("the digest of %s for %s failed", user_id, day, exc_info=True)
                failed += 1
                continue
            if stored is not None:
                sent += 1
            else:
                skipped += 1
        return DigestRun(len(users), sent, skipped, failed)
