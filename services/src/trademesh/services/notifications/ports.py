"""The ports the notification use cases need; adapters: store.py and webhook_store.py (MongoDB), backplane.py
and budget.py (Redis), mail.py (SMTP), webhook_http.py (aiohttp), core.sealing (AES-GCM).
Pure: no gRPC, database or Redis imports.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from trademesh.services.core.sealing import SealedSecret
from trademesh.services.notifications.model import (
    Alert,
    AlertState,
    Delivery,
    MailMessage,
    Notification,
    Preferences,
    Tick,
    Webhook,
    WebhookDelivery,
    WebhookDeliveryState,
)
from trademesh.services.notifications.model.guardrails import DayPnl
from trademesh.services.notifications.model.webhooks import Address


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

    async def get_many(self, alert_ids: Collection[str]) -> dict[str, Alert]:
        """Return the alerts with these ids whoever owns them, by id (one read; the firing batch's)."""

    async def replace(self, alert: Alert, expected_generation: int) -> bool:
        """Store `alert` if the stored one still has `expected_generation`; return whether it did."""

    async def replace_many(self, changes: Sequence[tuple[Alert, int]]) -> set[str]:
        """Store each (alert, expected generation) whose stored alert still has that generation (one write);
        return the ids stored (the others lost to another writer)."""

    async def delete(self, user_id: str, alert_id: str) -> bool:
        """Delete the user's alert; return whether it existed."""

    async def active(self) -> list[Alert]:
        """Return every ARMED or COOLING_DOWN alert (the evaluator's start-up load)."""


class NotificationStore(Protocol):
    """Persist inbox items with a per-user sequence; deletes what is older than the retention."""

    async def add_many(self, notifications: Sequence[Notification]) -> list[Notification]:
        """Insert each with its user's next sequence (a user's several in the given order, contiguous); return
        those stored, with their sequence. One whose id exists (a redelivery) is left out and uses no sequence."""

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

    async def get_many(self, user_ids: Collection[str]) -> dict[str, Preferences]:
        """Return the preferences of these users by user (one read; those who never set any are absent)."""

    async def put(self, user_id: str, preferences: Preferences) -> None:
        """Replace the user's preferences."""

    async def with_daily_digest(self) -> list[str]:
        """Return the ids of the users who asked for the daily digest, in id order."""


class DeliveryStore(Protocol):
    """Deliveries beyond the inbox, one per (notification, channel): the dedupe and the hold queue."""

    async def add_many(self, deliveries: Sequence[Delivery]) -> set[str]:
        """Insert each unless a delivery with its id exists (one write); return the ids that were new."""

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[Delivery]:
        """Take up to `limit` PENDING deliveries whose send_after has passed, holding each until
        `lease_until` (so no other replica sends it meanwhile); oldest first."""

    async def finish(self, delivery_id: str, status: str, now: datetime) -> None:
        """Record the outcome of a delivery (SENT or DROPPED)."""

    async def retry_later(self, delivery_id: str, send_after: datetime) -> None:
        """Count a failed attempt and hold the delivery until `send_after`."""

    async def delete_created_before(self, moment: datetime) -> int:
        """Delete deliveries created before `moment`; return how many."""


@dataclass(frozen=True, slots=True)
class DayFigures:
    """One user's IST trading day as analytics reports it (money in INR micros, net of charges)."""

    net_pnl_micros: int
    round_trips: int
    #: The highest net P&L of the day's winning round trips (None without a win).
    biggest_win_micros: int | None
    #: The lowest net P&L of the day's losing round trips (None without a loss).
    biggest_loss_micros: int | None
    open_positions: int


class DayFiguresSource(Protocol):
    """A user's figures of one IST day (the analytics service, read under a service identity)."""

    async def figures(self, user_id: str, day: date) -> DayFigures | None:
        """Return the day's figures; None when no round trip closed that day (no digest is sent)."""


class MailSender(Protocol):
    """Send an email."""

    async def send(self, message: MailMessage) -> None:
        """Send `message`; raise on failure (the delivery is retried)."""


class InboxSignal(Protocol):
    """Tell every replica's watchers that a user's inbox changed."""

    async def publish(self, user_id: str) -> None:
        """Announce a change in the user's inbox."""

    async def publish_many(self, user_ids: Collection[str]) -> None:
        """Announce a change in each of these users' inboxes (one round trip)."""

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

    async def publish_many(self, alert_ids: Collection[str]) -> None:
        """Announce a change of each of these alerts (one round trip)."""


class TickSource(Protocol):
    """The live tick stream of the market-data backplane, for the instruments asked for."""

    async def watch(self, instruments: Iterable[str]) -> None:
        """Receive ticks of these instruments (too)."""

    async def unwatch(self, instruments: Iterable[str]) -> None:
        """Stop receiving ticks of these instruments."""


TickHandler = Callable[[Tick], Awaitable[None]]


class PnlFeed(Protocol):
    """A user's live P&L of the IST day, as analytics' WatchPnl computes it (decision 0300)."""

    def watch(self, user_id: str) -> AsyncIterator[DayPnl]:
        """Yield the user's day P&L on every change until the stream ends (then raises or returns)."""


class Clock(Protocol):
    """Tell the current time (timezone-aware UTC)."""

    def __call__(self) -> datetime:
        """Return the current time."""


class WebhookStore(Protocol):
    """Persist webhooks; reads and deletes are scoped to the owner except the dispatcher's."""

    async def add(self, webhook: Webhook) -> Webhook:
        """Insert; if the user already created one with its request_id, return that one instead."""

    async def get(self, user_id: str, webhook_id: str) -> Webhook | None:
        """Return the user's webhook with this id."""

    async def get_any(self, webhook_id: str) -> Webhook | None:
        """Return the webhook with this id whoever owns it (the dispatcher's read)."""

    async def for_user(self, user_id: str) -> list[Webhook]:
        """Return the user's webhooks, newest first."""

    async def for_users(self, user_ids: Collection[str]) -> dict[str, list[Webhook]]:
        """Return these users' webhooks by user, each newest first (one read; users without any are absent)."""

    async def delete(self, user_id: str, webhook_id: str) -> bool:
        """Delete the user's webhook; return whether it existed."""

    async def sealed_with_other_key(self, key_id: str, limit: int) -> list[Webhook]:
        """Return up to `limit` webhooks whose secret is sealed under a key other than `key_id` (rotation)."""

    async def replace_secret(self, webhook: Webhook, previous_key_id: str) -> bool:
        """Store the webhook's re-sealed secret if it is still sealed under `previous_key_id`."""


class WebhookDeliveryStore(Protocol):
    """Webhook deliveries, one per (notification, webhook): written PENDING before any post, claimed with a
    lease (the claim's token must match to record an outcome, so an expired lease's late result is ignored)."""

    async def add_many(self, deliveries: Sequence[WebhookDelivery]) -> set[str]:
        """Insert each unless a delivery with its id exists (one write); return the ids that were new."""

    async def claim_due(self, now: datetime, lease_until: datetime, token: str, limit: int) -> list[WebhookDelivery]:
        """Take up to `limit` PENDING deliveries whose next attempt is due, holding each until `lease_until`
        under `token` (no other replica takes them meanwhile); oldest first."""

    async def finish(
        self, delivery_id: str, token: str, state: WebhookDeliveryState, status_code: int, error: str, now: datetime
    ) -> bool:
        """Record a final outcome (counting the attempt) if the lease is still `token`'s; return whether it was."""

    async def retry_later(
        self, delivery_id: str, token: str, next_attempt_at: datetime, status_code: int, error: str
    ) -> bool:
        """Count a failed attempt and hold the delivery until `next_attempt_at` (if the lease is still ours)."""

    async def postpone(self, delivery_id: str, token: str, next_attempt_at: datetime) -> bool:
        """Hold the delivery until `next_attempt_at` without counting an attempt (over budget)."""

    async def page(
        self,
        user_id: str,
        webhook_id: str | None,
        state: WebhookDeliveryState | None,
        before_cursor: str | None,
        limit: int,
    ) -> list[WebhookDelivery]:
        """Return up to `limit` of the user's deliveries with cursor below `before_cursor`, newest first."""

    async def drop_pending(self, webhook_id: str, now: datetime) -> int:
        """Mark the webhook's PENDING deliveries DROPPED (it was deleted); return how many."""

    async def delete_created_before(self, moment: datetime) -> int:
        """Delete deliveries created before `moment`; return how many."""


class SecretSealer(Protocol):
    """Seal secrets at rest (core.sealing.Sealer)."""

    def seal(self, plaintext: bytes, context: bytes) -> SealedSecret:
        """Encrypt under the active key with `context` as associated data."""

    def open(self, secret: SealedSecret, context: bytes) -> bytes:
        """Decrypt; raise ValueError when it cannot be opened."""

    @property
    def active_key_id(self) -> str:
        """Return the id of the key that seals."""

    def reseal(self, secret: SealedSecret, context: bytes) -> SealedSecret | None:
        """Return the secret sealed under the active key, or None if it already is."""


class AddressResolver(Protocol):
    """Resolve a host name to the addresses a connection would use."""

    async def resolve(self, host: str, port: int) -> list[Address]:
        """Return the host's addresses; raise OSError when it does not resolve."""


@dataclass(frozen=True, slots=True)
class PostResult:
    """What a webhook post got: the HTTP status (0 if none), or the error that prevented one."""

    status_code: int
    error: str = ""

    @property
    def ok(self) -> bool:
        """Tell whether the receiver took it (a 2xx status)."""
        return 200 <= self.status_code < 300


class WebhookSender(Protocol):
    """Post a signed JSON body to a webhook, connecting only to addresses the policy allows."""

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> PostResult:
        """Post once (no redirects followed); never raise for a network failure (it is the result)."""


class SendBudget(Protocol):
    """A per-user, per-channel send budget (a rate limit shared by every replica)."""

    async def take(self, user_id: str, channel: str) -> datetime | None:
        """Spend one send; return None if allowed, else when to try again."""
