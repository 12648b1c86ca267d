"""Delivery: a notification goes to the inbox and, per the user's preferences, to email and to the user's
webhooks (held in quiet hours; webhook posting is `service/webhooks.py`).

Each (notification, channel) is one delivery with a deterministic id, so a redelivered trade event or an
alert fired by two replicas is stored and sent once. Email is sent by `MailDispatcher` from the
delivery queue: claimed with a lease (one replica sends it), marked SENT after the SMTP server accepted
it, retried with backoff on failure. A crash between sending and marking resends it once the lease ends;
the Message-ID is the same, so a mail client shows one message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast

from trademesh.services.notifications.model import (
    Channel,
    Delivery,
    DeliveryStatus,
    MailMessage,
    Notification,
    NotificationKind,
    Preferences,
    Webhook,
    WebhookDelivery,
    WebhookDeliveryState,
)
from trademesh.services.notifications.ports import (
    Clock,
    DeliveryStore,
    InboxSignal,
    MailSender,
    NotificationStore,
    PreferencesStore,
    WebhookDeliveryStore,
    WebhookStore,
)

if TYPE_CHECKING:
    from trademesh.services.notifications.service.push import ChannelQueue

logger = logging.getLogger(__name__)

#: How long a claimed email is held from other replicas while it is being sent.
SEND_LEASE = timedelta(minutes=2)
MAX_BACKOFF = timedelta(minutes=30)


class Notifier:
    """Store a notification in the inbox and queue its other channels, by the user's preferences."""

    def __init__(
        self,
        *,
        notifications: NotificationStore,
        preferences: PreferencesStore,
        deliveries: DeliveryStore,
        signal: InboxSignal,
        clock: Clock,
        mail_domain: str = "trademesh.local",
        webhooks: WebhookStore | None = None,
        webhook_deliveries: WebhookDeliveryStore | None = None,
        channels: ChannelQueue | None = None,
    ) -> None:
        self._notifications = notifications
        self._preferences = preferences
        self._deliveries = deliveries
        self._signal = signal
        self._clock = clock
        self._mail_domain = mail_domain
        #: Set when an email became due now (the dispatcher wakes up).
        self.mail_due = asyncio.Event()
        self._webhooks = webhooks
        self._webhook_deliveries = webhook_deliveries
        #: Set when a webhook post became due now (the webhook dispatcher wakes up).
        self.webhook_due = asyncio.Event()
        #: Push and SMS (service/push.py); None: neither is sent.
        self.channels = channels

    async def notify(
        self, notification: Notification, *, also: frozenset[Channel] = frozenset()
    ) -> Notification | None:
        """Deliver `notification` (to its kind's channels and those in `also`); return it as stored in the
        inbox (None if not stored or a repeat). The batch path with one item."""
        return (await self.notify_many([(notification, also)]))[0]

    async def notify_many(self, batch: Sequence[tuple[Notification, frozenset[Channel]]]) -> list[Notification | None]:
        """Deliver each notification (to its kind's channels and the extra ones given with it) in a handful of
        round trips: preferences, webhooks and push subscriptions read once for the batch, the inbox items, the
        emails and the posts each written in one go, the inbox signals in one pipeline. Return, in order, each
        as stored in the inbox (None if not stored or a repeat)."""
        if not batch:
            return []
        users = {notification.user_id for notification, _ in batch}
        # Read together: the preferences, and the users' webhooks (on by default for every kind).
        found, hooks_of = await asyncio.gather(self._preferences.get_many(users), self._webhooks_of(users))
        plans = []
        for notification, also in batch:
            preferences = found.get(notification.user_id) or Preferences()
            plans.append((notification, preferences, preferences.channels_for(notification.kind) | also))
        in_app = [notification for notification, _, channels in plans if Channel.IN_APP in channels]
        emails = [(n, p) for n, p, channels in plans if Channel.EMAIL in channels and p.email]
        hooked = [(n, p) for n, p, channels in plans if Channel.WEBHOOK in channels]
        pushed = [plan for plan in plans if plan[2] & {Channel.PUSH, Channel.SMS}]
        # Written together: each channel's writes are keyed by the notification, so a crash part way through
        # leaves what a repeat completes without doubling.
        results = await _together(
            self._store_in_app(in_app),
            self._queue_emails(emails),
            self._queue_webhooks(hooked, hooks_of),
            self.channels.queue_many(pushed) if self.channels is not None and pushed else _nothing(),
        )
        stored = cast(dict[str, Notification], results[0])
        return [stored.get(notification.id) for notification, _ in batch]

    async def _webhooks_of(self, users: set[str]) -> dict[str, list[Webhook]]:
        if self._webhooks is None or self._webhook_deliveries is None:
            return {}
        return await self._webhooks.for_users(users)

    async def _store_in_app(self, items: list[Notification]) -> dict[str, Notification]:
        """Store the inbox items and signal their users' inboxes (one pipeline)."""
        if not items:
            return {}
        stored = {item.id: item for item in await self._notifications.add_many(items)}
        if stored:
            await self._signal.publish_many({item.user_id for item in stored.values()})
        return stored

    def _hold(self, notification: Notification, preferences: Preferences) -> tuple[bool, datetime]:
        """Return (dropped, send after) for a channel that respects quiet hours."""
        now = self._clock()
        if preferences.quiet_hours.holds(now):
            # A price alert's moment has passed by morning: dropped on this channel (the inbox keeps it).
            if notification.kind is NotificationKind.PRICE_ALERT:
                return True, now
            return False, preferences.quiet_hours.ends_after(now)
        return False, now

    async def _queue_webhooks(
        self, batch: Sequence[tuple[Notification, Preferences]], hooks_of: dict[str, list[Webhook]]
    ) -> None:
        if self._webhook_deliveries is None or not hooks_of or not batch:
            return
        now = self._clock()
        deliveries: list[WebhookDelivery] = []
        due: set[str] = set()
        for notification, preferences in batch:
            hooks = [hook for hook in hooks_of.get(notification.user_id, ()) if hook.wants(notification.kind)]
            if not hooks:
                continue
            dropped, send_after = self._hold(notification, preferences)
            for hook in hooks:
                delivery = WebhookDelivery(
                    id=WebhookDelivery.id_for(notification.id, hook.id),
                    user_id=notification.user_id,
                    webhook_id=hook.id,
                    notification=notification,
                    state=WebhookDeliveryState.DROPPED if dropped else WebhookDeliveryState.PENDING,
                    next_attempt_at=send_after,
                    created_at=now,
                    last_error="quiet hours: a price alert is not posted late" if dropped else "",
                    finished_at=now if dropped else None,
                )
                deliveries.append(delivery)
                if not dropped and send_after <= now:
                    due.add(delivery.id)
        if deliveries and due & await self._webhook_deliveries.add_many(deliveries):
            self.webhook_due.set()

    async def _queue_emails(self, batch: Sequence[tuple[Notification, Preferences]]) -> None:
        if not batch:
            return
        now = self._clock()
        deliveries: list[Delivery] = []
        due: set[str] = set()
        for notification, preferences in batch:
            dropped, send_after = self._hold(notification, preferences)
            status = DeliveryStatus.DROPPED if dropped else DeliveryStatus.PENDING
            delivery = Delivery(
                id=f"{notification.id}:{Channel.EMAIL.value}",
                user_id=notification.user_id,
                notification_id=notification.id,
                channel=Channel.EMAIL,
                status=status,
                send_after=send_after,
                mail=MailMessage(
                    message_id=f"<{notification.id}@{self._mail_domain}>",
                    to=preferences.email,
                    subject=notification.title,
                    body=notification.body,
                ),
                created_at=now,
            )
            deliveries.append(delivery)
            if status is DeliveryStatus.PENDING and send_after <= now:
                due.add(delivery.id)
        if due & await self._deliveries.add_many(deliveries):
            self.mail_due.set()


async def _nothing() -> None:
    return None


async def _together(*steps: Awaitable[object]) -> list[object]:
    """Await the steps concurrently; once all ended, raise the first failure (none is left running)."""
    results = await asyncio.gather(*steps, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


class MailDispatcher:
    """Send the emails that are due."""

    def __init__(self, *, deliveries: DeliveryStore, sender: MailSender, clock: Clock, batch_size: int = 50) -> None:
        self._deliveries = deliveries
        self._sender = sender
        self._clock = clock
        self._batch = batch_size

    async def dispatch_due(self) -> int:
        """Send every due email (one batch at a time); return how many were sent."""
        sent = 0
        while True:
            now = self._clock()
            batch = await self._deliveries.claim_due(now, now + SEND_LEASE, self._batch)
            for delivery in batch:
                try:
                    await self._sender.send(delivery.mail)
                except Exception as error:
                    backoff = min(MAX_BACKOFF, timedelta(seconds=10 * 2 ** min(delivery.attempts, 8)))
                    logger.warning("sending mail %s failed (%s); retrying in %s", delivery.id, error, backoff)
                    await self._deliveries.retry_later(delivery.id, self._clock() + backoff)
                    continue
                await self._deliveries.finish(delivery.id, DeliveryStatus.SENT.value, self._clock())
                sent += 1
            if len(batch) < self._batch:
                return sent
