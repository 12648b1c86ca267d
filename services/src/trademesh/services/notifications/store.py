"""MongoDB adapters of the notification ports: alerts, notifications (per-user sequence), preferences, deliveries.

Collections: `notification_alerts`, `notifications`, `notification_counters` (the per-user sequence),
`notification_preferences`, `notification_deliveries`. Expiry (90 days) is a sweeper's delete on
`created_at`, not a TTL index (FerretDB has none).
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReplaceOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from trademesh.services.core.mongo_bulk import insert_new
from trademesh.services.notifications.model import (
    Alert,
    AlertCondition,
    AlertState,
    Channel,
    Delivery,
    DeliveryStatus,
    InstrumentRef,
    MailMessage,
    Notification,
    NotificationKind,
    Preferences,
    QuietHours,
)

Document = dict[str, Any]
COLLECTIONS = [
    "notification_alerts",
    "notifications",
    "notification_counters",
    "notification_preferences",
    "notification_deliveries",
]
_ACTIVE = [AlertState.ARMED.value, AlertState.COOLING_DOWN.value]
#: How many ids a user's counter remembers having numbered (the window in which a repeat reuses its number).
_GRANTS_KEPT = 64
_NUMBERING_TRIES = 3
#: How many users this replica knows to have a counter (forgotten all at once past it: created again, harmless).
_COUNTERS_REMEMBERED = 100_000


async def ensure_indexes(database: AsyncDatabase[Document]) -> None:
    """Create the notification collections' indexes (idempotent; run at start-up)."""
    alerts = database.notification_alerts
    await alerts.create_index([("user_id", ASCENDING), ("_id", DESCENDING)], name="alerts_user")
    await alerts.create_index(
        [("user_id", ASCENDING), ("request_id", ASCENDING)],
        unique=True,
        name="alerts_request_unique",
    )
    await alerts.create_index([("state", ASCENDING)], name="alerts_state")
    items = database.notifications
    await items.create_index([("user_id", ASCENDING), ("sequence", DESCENDING)], name="notifications_user_sequence")
    await items.create_index([("created_at", ASCENDING)], name="notifications_created")
    deliveries = database.notification_deliveries
    await deliveries.create_index([("status", ASCENDING), ("send_after", ASCENDING)], name="deliveries_due")
    await deliveries.create_index([("created_at", ASCENDING)], name="deliveries_created")


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def _alert_document(alert: Alert) -> Document:
    return {
        "_id": alert.id,
        "user_id": alert.user_id,
        "exchange": alert.instrument.exchange,
        "symbol": alert.instrument.symbol,
        "condition": alert.condition.value,
        "last_trigger_pnl_micros": alert.last_trigger_pnl_micros,
        "level_micros": alert.level_micros,
        "change_basis_points": alert.change_basis_points,
        "rearm": alert.rearm,
        "cool_down_seconds": _seconds(alert.cool_down),
        "expires_at": alert.expires_at,
        "note": alert.note,
        "state": alert.state.value,
        "created_at": alert.created_at,
        "updated_at": alert.updated_at,
        "request_id": alert.request_id,
        "generation": alert.generation,
        "trigger_count": alert.trigger_count,
        "last_trigger_at": alert.last_trigger_at,
        "last_trigger_price_micros": alert.last_trigger_price_micros,
        "rearm_at": alert.rearm_at,
    }


def _alert(document: Document) -> Alert:
    cool_down = document.get("cool_down_seconds")
    return Alert(
        id=document["_id"],
        user_id=document["user_id"],
        instrument=InstrumentRef(document["exchange"], document["symbol"]),
        condition=AlertCondition(document["condition"]),
        level_micros=document["level_micros"],
        change_basis_points=document["change_basis_points"],
        rearm=document["rearm"],
        cool_down=None if cool_down is None else timedelta(seconds=cool_down),
        expires_at=document.get("expires_at"),
        note=document["note"],
        state=AlertState(document["state"]),
        created_at=document["created_at"],
        updated_at=document["updated_at"],
        request_id=document.get("request_id", ""),
        generation=document["generation"],
        trigger_count=document["trigger_count"],
        last_trigger_at=document.get("last_trigger_at"),
        last_trigger_price_micros=document["last_trigger_price_micros"],
        rearm_at=document.get("rearm_at"),
        last_trigger_pnl_micros=document.get("last_trigger_pnl_micros", 0),
    )


class MongoAlertStore:
    """Alerts in `notification_alerts`; `replace` is a conditional update on the generation."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._alerts = database.notification_alerts

    async def add(self, alert: Alert) -> Alert:
        try:
            await self._alerts.insert_one(_alert_document(alert))
        except DuplicateKeyError:
            existing = await self.get_by_request(alert.user_id, alert.request_id)
            if existing is None:
                raise
            return existing
        return alert

    async def get(self, user_id: str, alert_id: str) -> Alert | None:
        document = await self._alerts.find_one({"_id": alert_id, "user_id": user_id})
        return None if document is None else _alert(document)

    async def get_by_request(self, user_id: str, request_id: str) -> Alert | None:
        document = await self._alerts.find_one({"user_id": user_id, "request_id": request_id})
        return None if document is None else _alert(document)

    async def get_any(self, alert_id: str) -> Alert | None:
        document = await self._alerts.find_one({"_id": alert_id})
        return None if document is None else _alert(document)

    async def page(self, user_id: str, state: AlertState | None, after_id: str | None, limit: int) -> list[Alert]:
        query: Document = {"user_id": user_id}
        if state is not None:
            query["state"] = state.value
        if after_id is not None:
            query["_id"] = {"$lt": after_id}
        cursor = self._alerts.find(query).sort("_id", DESCENDING).limit(limit)
        return [_alert(document) async for document in cursor]

    async def count_active(self, user_id: str) -> int:
        return await self._alerts.count_documents({"user_id": user_id, "state": {"$in": _ACTIVE}})

    async def get_many(self, alert_ids: Collection[str]) -> dict[str, Alert]:
        cursor = self._alerts.find({"_id": {"$in": list(alert_ids)}})
        return {document["_id"]: _alert(document) async for document in cursor}

    async def replace(self, alert: Alert, expected_generation: int) -> bool:
        result = await self._alerts.replace_one(
            {"_id": alert.id, "generation": expected_generation}, _alert_document(alert)
        )
        return result.modified_count == 1

    async def replace_many(self, changes: Sequence[tuple[Alert, int]]) -> set[str]:
        if not changes:
            return set()
        # Each replacement carries this write's mark, so when some lost, a re-read of those tells which are ours
        # (another replica committing the same crossing writes the same next generation, with its own mark).
        mark = secrets.token_hex(8)
        result = await self._alerts.bulk_write(
            [
                ReplaceOne({"_id": alert.id, "generation": expected}, {**_alert_document(alert), "commit_mark": mark})
                for alert, expected in changes
            ],
            ordered=False,
        )
        ids = {alert.id for alert, _ in changes}
        if result.modified_count == len(ids):
            return ids
        cursor = self._alerts.find({"_id": {"$in": list(ids)}}, {"commit_mark": 1})
        return {document["_id"] async for document in cursor if document.get("commit_mark") == mark}

    async def delete(self, user_id: str, alert_id: str) -> bool:
        result = await self._alerts.delete_one({"_id": alert_id, "user_id": user_id})
        return result.deleted_count == 1

    async def active(self) -> list[Alert]:
        return [_alert(document) async for document in self._alerts.find({"state": {"$in": _ACTIVE}})]


def _notification(document: Document) -> Notification:
    return Notification(
        id=document["_id"],
        user_id=document["user_id"],
        kind=NotificationKind(document["kind"]),
        title=document["title"],
        body=document["body"],
        created_at=document["created_at"],
        alert_id=document.get("alert_id", ""),
        read=document["read"],
        sequence=document["sequence"],
    )


def _notification_document(stored: Notification) -> Document:
    return {
        "_id": stored.id,
        "user_id": stored.user_id,
        "kind": stored.kind.value,
        "title": stored.title,
        "body": stored.body,
        "alert_id": stored.alert_id,
        "read": stored.read,
        "sequence": stored.sequence,
        "created_at": stored.created_at,
    }


def _granted(counter: Document, ids: Sequence[str]) -> dict[str, int]:
    """Return the numbers the counter gave those of `ids` it remembers (its last grant has `sequence`)."""
    granted: list[str] = counter.get("granted", [])
    last = int(counter["sequence"]) - len(granted) + 1
    wanted = set(ids)
    return {item: last + offset for offset, item in enumerate(granted) if item in wanted}


class MongoNotificationStore:
    """Notifications in `notifications`, numbered per user from `notification_counters`."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._items = database.notifications
        self._counters = database.notification_counters
        self._counted: set[str] = set()

    async def add_many(self, notifications: Sequence[Notification]) -> list[Notification]:
        # Checked first so a redelivery does not use up a sequence number (watchers wait on gaps).
        wanted = {notification.id: notification for notification in reversed(notifications)}  # the first of an id
        cursor = self._items.find({"_id": {"$in": list(wanted)}}, {"_id": 1})
        existing = {document["_id"] async for document in cursor}
        by_user: dict[str, list[str]] = {}
        for notification_id, notification in reversed(wanted.items()):
            if notification_id not in existing:
                by_user.setdefault(notification.user_id, []).append(notification_id)
        if not by_user:
            return []
        numbers = await self._number(by_user)
        stored = [replace(wanted[item], sequence=numbers[item]) for items in by_user.values() for item in items]
        inserted = await insert_new(self._items, [_notification_document(item) for item in stored])
        return [item for item in stored if item.id in inserted]

    async def _number(self, by_user: dict[str, list[str]]) -> dict[str, int]:
        """Give each user's ids the user's next numbers, in order; an id numbered before keeps its number.

        A user's counter remembers the ids it numbered last (`granted`, oldest first: the last has `sequence`)
        and takes k more (`$inc: k`, the ids pushed) only if none of the k is among them — one conditional
        update per user, all in one unordered bulk write (a user's first counter is inserted with it). The
        counters are then read back with one `$in`: the numbers are the ids' places in `granted`, whoever else
        numbered meanwhile. So two replicas storing the same notification at once, or a re-fire after a crash
        between numbering and inserting, share one number (no gap); a user's k numbers taken together are
        contiguous and in the given order.
        """
        numbers: dict[str, int] = {}
        created: set[str] = set()
        fresh = {user_id: ids for user_id, ids in by_user.items() if user_id not in self._counted}
        if fresh:  # a user's first counter is inserted with its grant (a duplicate: it existed, numbered below)
            created = await insert_new(
                self._counters,
                [{"_id": user_id, "sequence": len(ids), "granted": ids} for user_id, ids in fresh.items()],
            )
            for user_id in created:
                numbers.update({item: number for number, item in enumerate(fresh[user_id], start=1)})
            if len(self._counted) > _COUNTERS_REMEMBERED:
                self._counted.clear()
            self._counted.update(fresh)
        pending = {user_id: ids for user_id, ids in by_user.items() if user_id not in created}
        if not pending:
            return numbers
        for _ in range(_NUMBERING_TRIES):
            await self._counters.bulk_write(
                [
                    UpdateOne(  # matches nothing when the counter granted one of the ids already (read back below)
                        {"_id": user_id, "granted": {"$nin": ids}},
                        {"$inc": {"sequence": len(ids)}, "$push": {"granted": {"$each": ids}}},
                    )
                    for user_id, ids in pending.items()
                ],
                ordered=False,
            )
            trims = []
            async for counter in self._counters.find({"_id": {"$in": list(pending)}}):
                numbers.update(_granted(counter, pending[counter["_id"]]))
                granted = counter.get("granted", [])
                if len(granted) > 2 * _GRANTS_KEPT:
                    trims.append(
                        UpdateOne(  # only if no one numbered since (else next time)
                            {"_id": counter["_id"], "sequence": counter["sequence"]},
                            {"$set": {"granted": granted[-_GRANTS_KEPT:]}},
                        )
                    )
            if trims:
                await self._counters.bulk_write(trims, ordered=False)
            pending = {
                user_id: missing
                for user_id, ids in pending.items()
                if (missing := [item for item in ids if item not in numbers])
            }
            if not pending:
                return numbers
        raise RuntimeError(f"could not number the notifications of {len(pending)} users")

    async def get(self, user_id: str, notification_id: str) -> Notification | None:
        document = await self._items.find_one({"_id": notification_id, "user_id": user_id})
        return None if document is None else _notification(document)

    async def page(
        self, user_id: str, unread_only: bool, before_sequence: int | None, limit: int
    ) -> list[Notification]:
        query: Document = {"user_id": user_id}
        if unread_only:
            query["read"] = False
        if before_sequence is not None:
            query["sequence"] = {"$lt": before_sequence}
        cursor = self._items.find(query).sort("sequence", DESCENDING).limit(limit)
        return [_notification(document) async for document in cursor]

    async def after(self, user_id: str, sequence: int, limit: int) -> list[Notification]:
        cursor = self._items.find({"user_id": user_id, "sequence": {"$gt": sequence}}).sort("sequence", ASCENDING)
        return [_notification(document) async for document in cursor.limit(limit)]

    async def unread_count(self, user_id: str) -> int:
        return await self._items.count_documents({"user_id": user_id, "read": False})

    async def last_sequence(self, user_id: str) -> int:
        counter = await self._counters.find_one({"_id": user_id})
        return 0 if counter is None else int(counter["sequence"])

    async def mark_read(self, user_id: str, notification_ids: Sequence[str]) -> int:
        result = await self._items.update_many(
            {"user_id": user_id, "_id": {"$in": list(notification_ids)}, "read": False}, {"$set": {"read": True}}
        )
        return result.modified_count

    async def mark_all_read(self, user_id: str) -> int:
        result = await self._items.update_many({"user_id": user_id, "read": False}, {"$set": {"read": True}})
        return result.modified_count

    async def delete(self, user_id: str, notification_id: str) -> bool:
        result = await self._items.delete_one({"_id": notification_id, "user_id": user_id})
        return result.deleted_count == 1

    async def delete_created_before(self, moment: datetime) -> int:
        result = await self._items.delete_many({"created_at": {"$lt": moment}})
        return result.deleted_count


def _preferences(document: Document) -> Preferences:
    quiet = document["quiet_hours"]
    return Preferences(
        channels={
            NotificationKind(kind): frozenset(Channel(channel) for channel in channels)
            for kind, channels in document["channels"].items()
        },
        quiet_hours=QuietHours(quiet["enabled"], quiet["start_minute"], quiet["end_minute"]),
        daily_digest=document["daily_digest"],
        email=document["email"],
        phone_number=document.get("phone_number", ""),
    )


class MongoPreferencesStore:
    """Preferences in `notification_preferences`, one document per user."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._preferences = database.notification_preferences

    async def get(self, user_id: str) -> Preferences | None:
        document = await self._preferences.find_one({"_id": user_id})
        return None if document is None else _preferences(document)

    async def get_many(self, user_ids: Collection[str]) -> dict[str, Preferences]:
        cursor = self._preferences.find({"_id": {"$in": list(user_ids)}})
        return {str(document["_id"]): _preferences(document) async for document in cursor}

    async def put(self, user_id: str, preferences: Preferences) -> None:
        quiet = preferences.quiet_hours
        await self._preferences.replace_one(
            {"_id": user_id},
            {
                "channels": {
                    kind.value: sorted(channel.value for channel in channels)
                    for kind, channels in preferences.channels.items()
                },
                "quiet_hours": {
                    "enabled": quiet.enabled,
                    "start_minute": quiet.start_minute,
                    "end_minute": quiet.end_minute,
                },
                "daily_digest": preferences.daily_digest,
                "email": preferences.email,
                "phone_number": preferences.phone_number,
            },
            upsert=True,
        )

    async def with_daily_digest(self) -> list[str]:
        cursor = self._preferences.find({"daily_digest": True}, {"_id": 1}).sort("_id", 1)
        return [str(document["_id"]) async for document in cursor]


def _delivery(document: Document) -> Delivery:
    mail = document["mail"]
    return Delivery(
        id=document["_id"],
        user_id=document["user_id"],
        notification_id=document["notification_id"],
        channel=Channel(document["channel"]),
        status=DeliveryStatus(document["status"]),
        send_after=document["send_after"],
        mail=MailMessage(mail["message_id"], mail["to"], mail["subject"], mail["body"]),
        created_at=document["created_at"],
        attempts=document["attempts"],
    )


def _delivery_document(delivery: Delivery) -> Document:
    mail = delivery.mail
    return {
        "_id": delivery.id,
        "user_id": delivery.user_id,
        "notification_id": delivery.notification_id,
        "channel": delivery.channel.value,
        "status": delivery.status.value,
        "send_after": delivery.send_after,
        "mail": {"message_id": mail.message_id, "to": mail.to, "subject": mail.subject, "body": mail.body},
        "created_at": delivery.created_at,
        "attempts": delivery.attempts,
    }


class MongoDeliveryStore:
    """Deliveries in `notification_deliveries`, keyed `<notification id>:<channel>` (the dedupe)."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._deliveries = database.notification_deliveries

    async def add_many(self, deliveries: Sequence[Delivery]) -> set[str]:
        return await insert_new(self._deliveries, [_delivery_document(delivery) for delivery in deliveries])

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[Delivery]:
        claimed = []
        for _ in range(limit):
            document = await self._deliveries.find_one_and_update(
                {"status": DeliveryStatus.PENDING.value, "send_after": {"$lte": now}},
                {"$set": {"send_after": lease_until}},
                sort=[("send_after", ASCENDING)],
            )
            if document is None:
                break
            claimed.append(_delivery(document))
        return claimed

    async def finish(self, delivery_id: str, status: str, now: datetime) -> None:
        await self._deliveries.update_one({"_id": delivery_id}, {"$set": {"status": status, "finished_at": now}})

    async def retry_later(self, delivery_id: str, send_after: datetime) -> None:
        await self._deliveries.update_one(
            {"_id": delivery_id}, {"$set": {"send_after": send_after}, "$inc": {"attempts": 1}}
        )

    async def delete_created_before(self, moment: datetime) -> int:
        result = await self._deliveries.delete_many({"created_at": {"$lt": moment}})
        return result.deleted_count
