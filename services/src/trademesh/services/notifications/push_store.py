"""MongoDB adapters of the push and SMS ports: `notification_push_subscriptions`, `notification_channel_deliveries`.

Deliveries are claimed as webhook deliveries are (webhook_store.py): a conditional `find_one_and_update` moves
`next_attempt_at` to the lease's end and sets `lease_token`; outcomes are written only where the token matches.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from trademesh.services.notifications.leased_deliveries import LeasedDeliveries, notification_document, notification_of
from trademesh.services.notifications.model import Channel
from trademesh.services.notifications.model.push import ChannelDelivery, ChannelDeliveryState, PushSubscription
from trademesh.services.notifications.webhook_store import Document

PUSH_COLLECTIONS = ["notification_push_subscriptions", "notification_channel_deliveries"]


async def ensure_push_indexes(database: AsyncDatabase[Document]) -> None:
    """Create the push collections' indexes (idempotent; run at start-up)."""
    subscriptions = database.notification_push_subscriptions
    await subscriptions.create_index(
        [("user_id", ASCENDING), ("endpoint", ASCENDING)], unique=True, name="push_user_endpoint_unique"
    )
    await subscriptions.create_index([("user_id", ASCENDING), ("_id", DESCENDING)], name="push_user")
    deliveries = database.notification_channel_deliveries
    await deliveries.create_index([("state", ASCENDING), ("next_attempt_at", ASCENDING)], name="channel_due")
    await deliveries.create_index([("target", ASCENDING), ("state", ASCENDING)], name="channel_target_state")
    await deliveries.create_index([("created_at", ASCENDING)], name="channel_created")


def _subscription(document: Document) -> PushSubscription:
    return PushSubscription(
        id=document["_id"],
        user_id=document["user_id"],
        endpoint=document["endpoint"],
        p256dh=document["p256dh"],
        auth=document["auth"],
        user_agent=document.get("user_agent", ""),
        created_at=document["created_at"],
    )


class MongoPushSubscriptionStore:
    """Push subscriptions in `notification_push_subscriptions`, unique per (user, endpoint)."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._subscriptions = database.notification_push_subscriptions

    async def upsert(self, subscription: PushSubscription) -> PushSubscription:
        # One atomic upsert: a concurrent registration of the same endpoint updates the same row.
        document = await self._subscriptions.find_one_and_update(
            {"user_id": subscription.user_id, "endpoint": subscription.endpoint},
            {
                "$set": {
                    "p256dh": subscription.p256dh,
                    "auth": subscription.auth,
                    "user_agent": subscription.user_agent,
                },
                "$setOnInsert": {"_id": subscription.id, "created_at": subscription.created_at},
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert document is not None  # an upsert returning the document after always finds one
        return _subscription(document)

    async def get_any(self, subscription_id: str) -> PushSubscription | None:
        document = await self._subscriptions.find_one({"_id": subscription_id})
        return None if document is None else _subscription(document)

    async def for_user(self, user_id: str) -> list[PushSubscription]:
        cursor = self._subscriptions.find({"user_id": user_id}).sort("_id", DESCENDING)
        return [_subscription(document) async for document in cursor]

    async def for_users(self, user_ids: Collection[str]) -> dict[str, list[PushSubscription]]:
        found: dict[str, list[PushSubscription]] = {}
        cursor = self._subscriptions.find({"user_id": {"$in": list(user_ids)}}).sort("_id", DESCENDING)
        async for document in cursor:
            found.setdefault(document["user_id"], []).append(_subscription(document))
        return found

    async def delete(self, user_id: str, subscription_id: str) -> bool:
        result = await self._subscriptions.delete_one({"_id": subscription_id, "user_id": user_id})
        return result.deleted_count == 1


def _delivery_document(delivery: ChannelDelivery) -> Document:
    item = delivery.notification
    return {
        "_id": delivery.id,
        "user_id": delivery.user_id,
        "channel": delivery.channel.value,
        "target": delivery.target,
        "notification": notification_document(item),
        "state": delivery.state.value,
        "next_attempt_at": delivery.next_attempt_at,
        "created_at": delivery.created_at,
        "attempts": delivery.attempts,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "finished_at": delivery.finished_at,
        "lease_token": "",
    }


def _delivery(document: Document) -> ChannelDelivery:
    item = document["notification"]
    return ChannelDelivery(
        id=document["_id"],
        user_id=document["user_id"],
        channel=Channel(document["channel"]),
        target=document["target"],
        notification=notification_of(item, document["user_id"]),
        state=ChannelDeliveryState(document["state"]),
        next_attempt_at=document["next_attempt_at"],
        created_at=document["created_at"],
        attempts=document["attempts"],
        last_status_code=document["last_status_code"],
        last_error=document["last_error"],
        finished_at=document.get("finished_at"),
    )


class MongoChannelDeliveryStore(LeasedDeliveries[ChannelDelivery]):
    """Push and SMS deliveries in `notification_channel_deliveries`, keyed `<notification>:push:<subscription>` or
    `<notification>:sms` (the dedupe: the insert of a repeat fails on `_id`)."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        super().__init__(database.notification_channel_deliveries, _delivery_document, _delivery)

    async def drop_pending(self, target: str, reason: str, now: datetime) -> int:
        return await self.drop_pending_where({"target": target}, reason, now)
