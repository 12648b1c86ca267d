"""In-memory fakes of the notification ports (services/notifications/ports.py), with the real adapters' semantics.

Each keeps what it stores in plain attributes so tests can assert on what was stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from trademesh.services.notifications.model import (
    Alert,
    AlertState,
    Delivery,
    DeliveryStatus,
    MailMessage,
    Notification,
    Preferences,
)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2024, 7, 1, 5, 0, tzinfo=UTC)  # 10:30 IST

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward by `delta`."""
        self.now += delta


class InMemoryAlertStore:
    """Alerts by id; `replace` checks the generation like the real store's conditional update."""

    def __init__(self) -> None:
        self.alerts: dict[str, Alert] = {}

    async def add(self, alert: Alert) -> Alert:
        existing = await self.get_by_request(alert.user_id, alert.request_id)
        if existing is not None:
            return existing
        self.alerts[alert.id] = alert
        return alert

    async def get(self, user_id: str, alert_id: str) -> Alert | None:
        alert = self.alerts.get(alert_id)
        return alert if alert is not None and alert.user_id == user_id else None

    async def get_by_request(self, user_id: str, request_id: str) -> Alert | None:
        return next(
            (a for a in self.alerts.values() if a.user_id == user_id and a.request_id == request_id and request_id),
            None,
        )

    async def get_any(self, alert_id: str) -> Alert | None:
        return self.alerts.get(alert_id)

    async def page(self, user_id: str, state: AlertState | None, after_id: str | None, limit: int) -> list[Alert]:
        mine = sorted(
            (a for a in self.alerts.values() if a.user_id == user_id and (state is None or a.state is state)),
            key=lambda a: a.id,
            reverse=True,
        )
        return [a for a in mine if after_id is None or a.id < after_id][:limit]

    async def count_active(self, user_id: str) -> int:
        return sum(1 for a in self.alerts.values() if a.user_id == user_id and a.state.is_active)

    async def get_many(self, alert_ids: Collection[str]) -> dict[str, Alert]:
        return {alert_id: self.alerts[alert_id] for alert_id in alert_ids if alert_id in self.alerts}

    async def replace(self, alert: Alert, expected_generation: int) -> bool:
        current = self.alerts.get(alert.id)
        if current is None or current.generation != expected_generation:
            return False
        self.alerts[alert.id] = alert
        return True

    async def replace_many(self, changes: Sequence[tuple[Alert, int]]) -> set[str]:
        return {alert.id for alert, expected in changes if await self.replace(alert, expected)}

    async def delete(self, user_id: str, alert_id: str) -> bool:
        if await self.get(user_id, alert_id) is None:
            return False
        del self.alerts[alert_id]
        return True

    async def active(self) -> list[Alert]:
        return [a for a in self.alerts.values() if a.state.is_active]


class InMemoryNotificationStore:
    """Notifications with a per-user sequence counter; a repeated id is ignored."""

    def __init__(self) -> None:
        self.items: dict[str, Notification] = {}
        self.sequences: dict[str, int] = {}

    async def add_many(self, notifications: Sequence[Notification]) -> list[Notification]:
        stored = []
        for notification in notifications:
            if notification.id in self.items:
                continue
            sequence = self.sequences[notification.user_id] = self.sequences.get(notification.user_id, 0) + 1
            item = self.items[notification.id] = replace(notification, sequence=sequence)
            stored.append(item)
        return stored

    def _mine(self, user_id: str) -> list[Notification]:
        return sorted((n for n in self.items.values() if n.user_id == user_id), key=lambda n: n.sequence)

    async def get(self, user_id: str, notification_id: str) -> Notification | None:
        item = self.items.get(notification_id)
        return item if item is not None and item.user_id == user_id else None

    async def page(
        self, user_id: str, unread_only: bool, before_sequence: int | None, limit: int
    ) -> list[Notification]:
        items = [
            n
            for n in reversed(self._mine(user_id))
            if (before_sequence is None or n.sequence < before_sequence) and not (unread_only and n.read)
        ]
        return items[:limit]

    async def after(self, user_id: str, sequence: int, limit: int) -> list[Notification]:
        return [n for n in self._mine(user_id) if n.sequence > sequence][:limit]

    async def unread_count(self, user_id: str) -> int:
        return sum(1 for n in self._mine(user_id) if not n.read)

    async def last_sequence(self, user_id: str) -> int:
        return self.sequences.get(user_id, 0)

    async def mark_read(self, user_id: str, notification_ids: Sequence[str]) -> int:
        changed = 0
        for notification_id in notification_ids:
            item = await self.get(user_id, notification_id)
            if item is not None and not item.read:
                self.items[item.id] = replace(item, read=True)
                changed += 1
        return changed

    async def mark_all_read(self, user_id: str) -> int:
        return await self.mark_read(user_id, [n.id for n in self._mine(user_id)])

    async def delete(self, user_id: str, notification_id: str) -> bool:
        if await self.get(user_id, notification_id) is None:
            return False
        del self.items[notification_id]
        return True

    async def delete_created_before(self, moment: datetime) -> int:
        old = [key for key, n in self.items.items() if n.created_at < moment]
        for key in old:
            del self.items[key]
        return len(old)


class InMemoryPreferencesStore:
    """Preferences by user."""

    def __init__(self) -> None:
        self.preferences: dict[str, Preferences] = {}

    async def get(self, user_id: str) -> Preferences | None:
        return self.preferences.get(user_id)

    async def get_many(self, user_ids: Collection[str]) -> dict[str, Preferences]:
        return {user: self.preferences[user] for user in user_ids if user in self.preferences}

    async def put(self, user_id: str, preferences: Preferences) -> None:
        self.preferences[user_id] = preferences

    async def with_daily_digest(self) -> list[str]:
        return sorted(user for user, preferences in self.preferences.items() if preferences.daily_digest)


class InMemoryDeliveryStore:
    """Deliveries by id (the dedupe key); claiming moves send_after to the lease's end."""

    def __init__(self) -> None:
        self.deliveries: dict[str, Delivery] = {}

    async def add_many(self, deliveries: Sequence[Delivery]) -> set[str]:
        new = set()
        for delivery in deliveries:
            if delivery.id not in self.deliveries:
                self.deliveries[delivery.id] = delivery
                new.add(delivery.id)
        return new

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[Delivery]:
        due = sorted(
            (d for d in self.deliveries.values() if d.status is DeliveryStatus.PENDING and d.send_after <= now),
            key=lambda d: d.send_after,
        )[:limit]
        for delivery in due:
            self.deliveries[delivery.id] = replace(delivery, send_after=lease_until)
        return due

    async def finish(self, delivery_id: str, status: str, now: datetime) -> None:
        self.deliveries[delivery_id] = replace(self.deliveries[delivery_id], status=DeliveryStatus(status))

    async def retry_later(self, delivery_id: str, send_after: datetime) -> None:
        delivery = self.deliveries[delivery_id]
        self.deliveries[delivery_id] = replace(delivery, send_after=send_after, attempts=delivery.attempts + 1)

    async def delete_created_before(self, moment: datetime) -> int:
        old = [key for key, d in self.deliveries.items() if d.created_at < moment]
        for key in old:
            del self.deliveries[key]
        return len(old)


class RecordingMailSender:
    """Keep sent mail; fail the next `failures` sends."""

    def __init__(self) -> None:
        self.sent: list[MailMessage] = []
        self.failures = 0

    async def send(self, message: MailMessage) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("SMTP server unavailable")
        self.sent.append(message)


class _Subscription:
    def __init__(self, signal: InMemoryInboxSignal, user_id: str) -> None:
        self._signal = signal
        self._user_id = user_id
        self._event = asyncio.Event()

    async def __aenter__(self) -> _Subscription:
        self._signal.subscribers.setdefault(self._user_id, set()).add(self._event)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._signal.subscribers[self._user_id].discard(self._event)

    async def wait(self, seconds: float) -> bool:
        try:
            async with asyncio.timeout(seconds):
                await self._event.wait()
        except TimeoutError:
            return False
        self._event.clear()
        return True


class InMemoryInboxSignal:
    """Wake the user's subscriptions on publish."""

    def __init__(self) -> None:
        self.subscribers: dict[str, set[asyncio.Event]] = {}
        self.published: list[str] = []

    async def publish(self, user_id: str) -> None:
        self.published.append(user_id)
        for event in self.subscribers.get(user_id, ()):
            event.set()

    async def publish_many(self, user_ids: Collection[str]) -> None:
        for user_id in user_ids:
            await self.publish(user_id)

    def subscribe(self, user_id: str) -> _Subscription:
        return _Subscription(self, user_id)


class RecordingAlertChanges:
    """Keep the announced alert ids."""

    def __init__(self) -> None:
        self.changed: list[str] = []

    async def publish(self, alert_id: str) -> None:
        self.changed.append(alert_id)

    async def publish_many(self, alert_ids: Collection[str]) -> None:
        self.changed.extend(alert_ids)


class RecordingTickSource:
    """Keep the instruments asked for."""

    def __init__(self) -> None:
        self.watched: set[str] = set()

    async def watch(self, instruments: Iterable[str]) -> None:
        self.watched.update(instruments)

    async def unwatch(self, instruments: Iterable[str]) -> None:
        self.watched.difference_update(instruments)
