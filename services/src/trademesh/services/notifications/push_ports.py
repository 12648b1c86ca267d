"""The ports of the Web Push and SMS channels (apart from ports.py); adapters: push_store.py (MongoDB), push_http.py
(pywebpush over aiohttp), sms_twilio.py (Twilio's Messages API). Pure: no gRPC, database, Redis or HTTP imports.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Protocol

from trademesh.services.notifications.model.push import (
    ChannelDelivery,
    ChannelDeliveryState,
    PushSubscription,
    SendOutcome,
)


class PushSubscriptionStore(Protocol):
    """Persist push subscriptions, one per (user, endpoint); reads and deletes are scoped to the owner except the
    dispatcher's."""

    async def upsert(self, subscription: PushSubscription) -> PushSubscription:
        """Store it; if the user already registered its endpoint, replace that one's keys and return it (its id)."""

    async def get_any(self, subscription_id: str) -> PushSubscription | None:
        """Return the subscription with this id whoever owns it (the dispatcher's read)."""

    async def for_user(self, user_id: str) -> list[PushSubscription]:
        """Return the user's subscriptions, newest first."""

    async def for_users(self, user_ids: Collection[str]) -> dict[str, list[PushSubscription]]:
        """Return these users' subscriptions by user, each newest first (one read; users without any are absent)."""

    async def delete(self, user_id: str, subscription_id: str) -> bool:
        """Delete the user's subscription; return whether it existed."""


class ChannelDeliveryStore(Protocol):
    """Push and SMS deliveries, one per (notification, channel target): written PENDING before any send, claimed
    with a lease under a token (an outcome is recorded only while the token still holds the lease)."""

    async def add_many(self, deliveries: Sequence[ChannelDelivery]) -> set[str]:
        """Insert each unless a delivery with its id exists (one write); return the ids that were new."""

    async def claim_due(self, now: datetime, lease_until: datetime, token: str, limit: int) -> list[ChannelDelivery]:
        """Take up to `limit` PENDING deliveries whose next attempt is due, holding each until `lease_until` under
        `token`; oldest first."""

    async def finish(
        self, delivery_id: str, token: str, state: ChannelDeliveryState, status_code: int, error: str, now: datetime
    ) -> bool:
        """Record a final outcome (counting the attempt unless DROPPED) if the lease is still `token`'s."""

    async def retry_later(
        self, delivery_id: str, token: str, next_attempt_at: datetime, status_code: int, error: str
    ) -> bool:
        """Count a failed attempt and hold the delivery until `next_attempt_at` (if the lease is still ours)."""

    async def postpone(self, delivery_id: str, token: str, next_attempt_at: datetime) -> bool:
        """Hold the delivery until `next_attempt_at` without counting an attempt (over budget, or handed back)."""

    async def drop_pending(self, target: str, reason: str, now: datetime) -> int:
        """Mark the PENDING deliveries to `target` DROPPED with `reason`; return how many."""

    async def delete_created_before(self, moment: datetime) -> int:
        """Delete deliveries created before `moment`; return how many."""


class PushSender(Protocol):
    """Encrypt a payload for a subscription (RFC 8291, aes128gcm) and post it with VAPID to its push service."""

    async def push(self, subscription: PushSubscription, payload: bytes, topic: str, ttl_seconds: int) -> SendOutcome:
        """Post once; never raise for a network failure or a refusal (it is the outcome; 404/410 → gone)."""


class SmsSender(Protocol):
    """Send a text message through an SMS provider."""

    async def send(self, to: str, body: str) -> SendOutcome:
        """Send once; never raise for a provider or network failure (it is the outcome)."""
