"""The ports the notification use cases need; adapters: store.py (MongoDB), feed.py and ticks.py (Redis),
mail.py (SMTP). Pure: no gRPC, database or Redis imports.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Protocol

from trademesh.services.notifications.model import (
    Alert,
    AlertState,
    Delivery,
    MailMessage,
    Notification,
    Preferences,
    Tick,
)


class AlertStore(Protocol):
    """Persist alerts; every read and write is scoped to the owner except the evaluator's."""

    async def add(self, alert: Alert) -> Alert:
        """Insert `alert`; if the user already created one with its request_id, return that one instead."""

    async def get(self, user_id: str, alert_id: str) -> Alert | None:
        """Return the user's alert with this id."""

    async def get_by_request(self, user_id: str, request_id: str) -> Alert | None:
        """Return the alert the user created with this request_id."""

    async def get_any(self, alert_id: str) -> Alert | None:
        """Return the alert with this id whoever owns it (the evaluator's read)."""

    async def page(self, user_id: str, state: AlertState | None, after_id: str | None, limit: int) -> list[Alert]:
        """Return up to `limit` of the user's alerts with id below `after_id`, newest first."""

    async def count_active(self, user_id: str) -> int:
        """Return how many of the user's alerts are ARMED or COOLING_DOWN."""

    async def replace(self, alert: Alert, expected_generation: int) -> bool:
        """Store `alert` if the stored one still has `expected_generation`; return whether it did."""

    async def delete(self, user_id: str, alert_id: str) -> bool:
        """Delete the user's alert; return whether it existed."""

    async def active(self) -> list[Alert]:
        """Return every ARMED or COOLING_DOWN alert (the evaluator's start-up load)."""


class NotificationStore(Protocol):
    """Persist inbox items with a per-user sequence; deletes what is older than the retention."""

    async def add(self, notification: Notification) -> Notification | None:
        """Insert with the user's next sequence; None when a notification with this id exists (a redelivery)."""

    async def get(self, user_id: str, notification_id: str) -> Notification | None:
        """Return the user's notification with this id."""

    async def page(
        self, user_id: str, unread_only: bool, before_sequence: int | None, limit: int
    ) -> list[Notification]:
        """Return up to `limit` notifications with sequence below `before_sequence`, newest first."""

    async def after(self, user_id: str, sequence: int, limit: int) -> list[Notification]:
        """Return up to `limit` notifications with sequence above `sequence`, oldest first."""

    async def unread_count(self, user_id: str) -> int:
        """Return how many of the user's notifications are unread."""

    async def last_sequence(self, user_id: str) -> int:
        """Return the highest sequence the user was given (0 if none)."""

    async def mark_read(self, user_id: str, notification_ids: Sequence[str]) -> int:
        """Mark the user's notifications read; return how many changed."""

    async def mark_all_read(self, user_id: str) -> int:
        """Mark every notification of the user read; return how many changed."""

    async def delete(self, user_id: str, notification_id: str) -> bool:
        """Delete the user's notification; return whether it existed."""

    async def delete_created_before(self, moment: datetime) -> int:
        """Delete every notification created before `moment`; return how many."""


class PreferencesStore(Protocol):
    """Persist preferences per user."""

    async def get(self, user_id: str) -> Preferences | None:
        """Return the user's preferences, None if never set."""

    async def put(self, user_id: str, preferences: Preferences) -> None:
        """Replace the user's preferences."""


class DeliveryStore(Protocol):
    """Deliveries beyond the inbox, one per (notification, channel): the dedupe and the hold queue."""

    async def add(self, delivery: Delivery) -> bool:
        """Insert unless a delivery with its id exists; return whether it was new."""

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[Delivery]:
        """Take up to `limit` PENDING deliveries whose send_after has passed, holding each until
        `lease_until` (so no other replica sends it meanwhile); oldest first."""

    async def finish(self, delivery_id: str, status: str, now: datetime) -> None:
        """Record the outcome of a delivery (SENT or DROPPED)."""

    async def retry_later(self, delivery_id: str, send_after: datetime) -> None:
        """Count a failed attempt and hold the delivery until `send_after`."""

    async def delete_created_before(self, moment: datetime) -> int:
        """Delete deliveries created before `moment`; return how many."""


class MailSender(Protocol):
    """Send an email."""

    async def send(self, message: MailMessage) -> None:
        """Send `message`; raise on failure (the delivery is retried)."""


class InboxSignal(Protocol):
    """Tell every replica's watchers that a user's inbox changed."""

    async def publish(self, user_id: str) -> None:
        """Announce a change in the user's inbox."""

    def subscribe(self, user_id: str) -> InboxSubscription:
        """Return a subscription to the user's inbox changes."""


class InboxSubscription(Protocol):
    """A live subscription to one user's inbox changes."""

    async def __aenter__(self) -> InboxSubscription:
        """Start listening (changes from now on are seen)."""

    async def __aexit__(self, *exc: object) -> None:
        """Stop listening."""

    async def wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for a change; return False if none came."""


class AlertChanges(Protocol):
    """Tell every replica's evaluator that an alert changed (created, updated, fired, deleted)."""

    async def publish(self, alert_id: str) -> None:
        """Announce a change of the alert."""


class TickSource(Protocol):
    """The live tick stream of the market-data backplane, for the instruments asked for."""

    async def watch(self, instruments: Iterable[str]) -> None:
        """Receive ticks of these instruments (too)."""

    async def unwatch(self, instruments: Iterable[str]) -> None:
        """Stop receiving ticks of these instruments."""


TickHandler = Callable[[Tick], Awaitable[None]]


class Clock(Protocol):
    """Tell the current time (timezone-aware UTC)."""

    def __call__(self) -> datetime:
        """Return the current time."""
