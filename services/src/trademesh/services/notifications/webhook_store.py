"""MongoDB adapters of the webhook ports: `notification_webhooks` (secrets sealed), `notification_webhook_deliveries`.

A delivery is claimed by a conditional `find_one_and_update` that moves `next_attempt_at` to the lease's
end and sets `lease_token`; every outcome is written only where the token still matches, so a replica
whose lease ran out cannot overwrite what the next claimer recorded.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from trademesh.services.core.sealing import SealedSecret
from trademesh.services.notifications.leased_deliveries import LeasedDeliveries, notification_document, notification_of
from trademesh.services.notifications.model import (
    NotificationKind,
    Webhook,
    WebhookDelivery,
    WebhookDeliveryState,
)

Document = dict[str, Any]
WEBHOOK_COLLECTIONS = ["notification_webhooks", "notification_webhook_deliveries"]


async def ensure_webhook_indexes(database: AsyncDatabase[Document]) -> None:
    """Create the webhook collections' indexes (idempotent; run at start-up)."""
    hooks = database.notification_webhooks
    await hooks.create_index([("user_id", ASCENDING), ("_id", DESCENDING)], name="webhooks_user")
    await hooks.create_index(
        [("user_id", ASCENDING), ("request_id", ASCENDING)], unique=True, name="webhooks_request_unique"
    )
    deliveries = database.notification_webhook_deliveries
    await deliveries.create_index([("state", ASCENDING), ("next_attempt_at", ASCENDING)], name="webhook_due")
    await deliveries.create_index([("user_id", ASCENDING), ("cursor", DESCENDING)], name="webhook_user_cursor")
    await deliveries.create_index([("webhook_id", ASCENDING), ("state", ASCENDING)], name="webhook_hook_state")
    await deliveries.create_index([("created_at", ASCENDING)], name="webhook_created")


def _webhook(document: Document) -> Webhook:
    secret = document["secret"]
    return Webhook(
        id=document["_id"],
        user_id=document["user_id"],
        url=document["url"],
        kinds=frozenset(NotificationKind(kind) for kind in document["kinds"]),
        secret=SealedSecret(secret["key_id"], bytes(secret["nonce"]), bytes(secret["ciphertext"])),
        secret_hint=document["secret_hint"],
        created_at=document["created_at"],
        request_id=document.get("request_id", ""),
    )


class MongoWebhookStore:
    """Webhooks in `notification_webhooks`; a user's are few (a limit applies), so they are read whole."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._hooks = database.notification_webhooks

    async def add(self, webhook: Webhook) -> Webhook:
        existing = await self._hooks.find_one({"user_id": webhook.user_id, "request_id": webhook.request_id})
        if existing is not None:
            return _webhook(existing)
        secret = webhook.secret
        document = {
            "_id": webhook.id,
            "user_id": webhook.user_id,
            "url": webhook.url,
            "kinds": sorted(kind.value for kind in webhook.kinds),
            "secret": {"key_id": secret.key_id, "nonce": secret.nonce, "ciphertext": secret.ciphertext},
            "secret_hint": webhook.secret_hint,
            "created_at": webhook.created_at,
            "request_id": webhook.request_id,
        }
        try:
            await self._hooks.insert_one(document)
        except DuplicateKeyError:  # a concurrent create with the same request_id won
            winner = await self._hooks.find_one({"user_id": webhook.user_id, "request_id": webhook.request_id})
            if winner is None:
                raise
            return _webhook(winner)
        return webhook

    async def get(self, user_id: str, webhook_id: str) -> Webhook | None:
        document = await self._hooks.find_one({"_id": webhook_id, "user_id": user_id})
        return None if document is None else _webhook(document)

    async def get_any(self, webhook_id: str) -> Webhook | None:
        document = await self._hooks.find_one({"_id": webhook_id})
        return None if document is None else _webhook(document)

    async def for_user(self, user_id: str) -> list[Webhook]:
        cursor = self._hooks.find({"user_id": user_id}).sort("_id", DESCENDING)
        return [_webhook(document) async for document in cursor]

    async def for_users(self, user_ids: Collection[str]) -> dict[str, list[Webhook]]:
        hooks: dict[str, list[Webhook]] = {}
        async for document in self._hooks.find({"user_id": {"$in": list(user_ids)}}).sort("_id", DESCENDING):
            hooks.setdefault(document["user_id"], []).append(_webhook(document))
        return hooks

    async def delete(self, user_id: str, webhook_id: str) -> bool:
        result = await self._hooks.delete_one({"_id": webhook_id, "user_id": user_id})
        return result.deleted_count == 1

    async def sealed_with_other_key(self, key_id: str, limit: int) -> list[Webhook]:
        cursor = self._hooks.find({"secret.key_id": {"$ne": key_id}}).limit(limit)
        return [_webhook(document) async for document in cursor]

    async def replace_secret(self, webhook: Webhook, previous_key_id: str) -> bool:
        secret = webhook.secret
        result = await self._hooks.update_one(
            {"_id": webhook.id, "secret.key_id": previous_key_id},
            {"$set": {"secret": {"key_id": secret.key_id, "nonce": secret.nonce, "ciphertext": secret.ciphertext}}},
        )
        return result.modified_count == 1


def _delivery_document(delivery: WebhookDelivery) -> Document:
    item = delivery.notification
    return {
        "_id": delivery.id,
        "user_id": delivery.user_id,
        "webhook_id": delivery.webhook_id,
        "notification": notification_document(item),
        "state": delivery.state.value,
        "next_attempt_at": delivery.next_attempt_at,
        "created_at": delivery.created_at,
        "cursor": delivery.cursor,
        "attempts": delivery.attempts,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "finished_at": delivery.finished_at,
        "lease_token": "",
    }


def _delivery(document: Document) -> WebhookDelivery:
    item = document["notification"]
    return WebhookDelivery(
        id=document["_id"],
        user_id=document["user_id"],
        webhook_id=document["webhook_id"],
        notification=notification_of(item, document["user_id"]),
        state=WebhookDeliveryState(document["state"]),
        next_attempt_at=document["next_attempt_at"],
        created_at=document["created_at"],
        attempts=document["attempts"],
        last_status_code=document["last_status_code"],
        last_error=document["last_error"],
        finished_at=document.get("finished_at"),
    )


class MongoWebhookDeliveryStore(LeasedDeliveries[WebhookDelivery]):
    """Webhook deliveries in `notification_webhook_deliveries`, keyed `<notification>:webhook:<webhook>`."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        super().__init__(database.notification_webhook_deliveries, _delivery_document, _delivery)

    async def page(
        self,
        user_id: str,
        webhook_id: str | None,
        state: WebhookDeliveryState | None,
        before_cursor: str | None,
        limit: int,
    ) -> list[WebhookDelivery]:
        query: Document = {"user_id": user_id}
        if webhook_id is not None:
            query["webhook_id"] = webhook_id
        if state is not None:
            query["state"] = state.value
        if before_cursor is not None:
            query["cursor"] = {"$lt": before_cursor}
        cursor = self._deliveries.find(query).sort("cursor", DESCENDING).limit(limit)
        return [_delivery(document) async for document in cursor]

    async def drop_pending(self, webhook_id: str, now: datetime) -> int:
        return await self.drop_pending_where({"webhook_id": webhook_id}, "the webhook was deleted", now)
