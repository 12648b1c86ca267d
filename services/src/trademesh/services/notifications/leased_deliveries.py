"""The leased-delivery collection shared by the webhook, push and SMS channels (decisions 0170, 0290).

A delivery is inserted PENDING with `_id` = its dedupe key (a repeat insert fails on `_id`), claimed by a
conditional `find_one_and_update` that moves `next_attempt_at` to the lease's end and sets `lease_token`, and
every outcome is written only where the token still matches, so a replica whose lease ran out cannot
overwrite what the next claimer recorded. The states are the channels' own enums, whose values agree
("pending", "dropped", …).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from trademesh.services.core.mongo_bulk import insert_new
from trademesh.services.notifications.model import Notification, NotificationKind

Document = dict[str, Any]
PENDING = "pending"
DROPPED = "dropped"


def notification_of(item: Document, user_id: str) -> Notification:
    """Return the notification a delivery document carries (its `notification` sub-document)."""
    return Notification(
        id=item["id"],
        user_id=user_id,
        kind=NotificationKind(item["kind"]),
        title=item["title"],
        body=item["body"],
        created_at=item["created_at"],
        alert_id=item.get("alert_id", ""),
    )


DeliveryT = TypeVar("DeliveryT")


def notification_document(item: Notification) -> Document:
    """Return the `notification` sub-document a delivery carries (what is sent, kept across retries)."""
    return {
        "id": item.id,
        "kind": item.kind.value,
        "title": item.title,
        "body": item.body,
        "alert_id": item.alert_id,
        "created_at": item.created_at,
    }


class LeasedDeliveries(Generic[DeliveryT]):
    """Insert, claim under a lease, and record outcomes of deliveries in one collection."""

    def __init__(
        self,
        deliveries: AsyncCollection[Document],
        encode: Callable[[DeliveryT], Document],
        decode: Callable[[Document], DeliveryT],
    ) -> None:
        self._deliveries = deliveries
        self._encode = encode
        self._decode = decode

    async def add_many(self, deliveries: Sequence[DeliveryT]) -> set[str]:
        return await insert_new(self._deliveries, [self._encode(delivery) for delivery in deliveries])

    async def claim_due(self, now: datetime, lease_until: datetime, token: str, limit: int) -> list[DeliveryT]:
        claimed = []
        for _ in range(limit):
            document = await self._deliveries.find_one_and_update(
                {"state": PENDING, "next_attempt_at": {"$lte": now}},
                {"$set": {"next_attempt_at": lease_until, "lease_token": token}},
                sort=[("next_attempt_at", ASCENDING)],
            )
            if document is None:
                break
            claimed.append(self._decode(document))
        return claimed

    async def finish(
        self, delivery_id: str, token: str, state: StrEnum, status_code: int, error: str, now: datetime
    ) -> bool:
        update: Document = {
            "$set": {
                "state": state.value,
                "last_status_code": status_code,
                "last_error": error,
                "finished_at": now,
                "lease_token": "",
            }
        }
        if state.value != DROPPED:
            update["$inc"] = {"attempts": 1}
        result = await self._deliveries.update_one({"_id": delivery_id, "state": PENDING, "lease_token": token}, update)
        return result.modified_count == 1

    async def retry_later(
        self, delivery_id: str, token: str, next_attempt_at: datetime, status_code: int, error: str
    ) -> bool:
        result = await self._deliveries.update_one(
            {"_id": delivery_id, "state": PENDING, "lease_token": token},
            {
                "$set": {
                    "next_attempt_at": next_attempt_at,
                    "last_status_code": status_code,
                    "last_error": error,
                    "lease_token": "",
                },
                "$inc": {"attempts": 1},
            },
        )
        return result.modified_count == 1

    async def postpone(self, delivery_id: str, token: str, next_attempt_at: datetime) -> bool:
        result = await self._deliveries.update_one(
            {"_id": delivery_id, "state": PENDING, "lease_token": token},
            {"$set": {"next_attempt_at": next_attempt_at, "lease_token": ""}},
        )
        return result.modified_count == 1

    async def drop_pending_where(self, query: Document, reason: str, now: datetime) -> int:
        """Drop every PENDING delivery matching `query` (its target is gone); return how many."""
        result = await self._deliveries.update_many(
            {**query, "state": PENDING},
            {"$set": {"state": DROPPED, "last_error": reason, "finished_at": now, "lease_token": ""}},
        )
        return result.modified_count

    async def delete_created_before(self, moment: datetime) -> int:
        """Delete deliveries created before `moment` (the 90-day sweep); return how many."""
        result = await self._deliveries.delete_many({"created_at": {"$lt": moment}})
        return result.deleted_count
