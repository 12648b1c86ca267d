"""Batched firing (decision 0330) on real servers: two replicas on one Redis and one database under a tick burst fire
each alert exactly once, and every user's inbox is numbered 1..n without a gap."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from tests.eventually import eventually
from trademesh.kernel.ticks import TICK_CHANNEL_PREFIX, encode_tick_payload
from trademesh.marketdata.v1 import quote_pb2
from trademesh.services.core.connections import ensure_collections
from trademesh.services.notifications.model import (
    Alert,
    AlertCondition,
    AlertState,
    InstrumentRef,
    Notification,
    NotificationKind,
)
from trademesh.services.notifications.server import NotificationsRuntime, build_notifications_runtime
from trademesh.services.notifications.settings import NotificationsSettings
from trademesh.services.notifications.store import COLLECTIONS, MongoAlertStore, MongoNotificationStore, ensure_indexes

INR = 1_000_000
NOW = datetime(2024, 7, 1, 5, 0, tzinfo=UTC)
INSTRUMENTS = ["NSE:INFY", "NSE:TCS", "NSE:WIPRO"]
USERS = [f"user-{number}" for number in range(6)]
Document = dict[str, Any]


def alert(number: int) -> Alert:
    """Alert `number`: PRICE_ABOVE 101..130 on one of three instruments, for one of six users (one-shot)."""
    return Alert(
        f"al-{number:03d}",
        USERS[number % len(USERS)],
        InstrumentRef.parse(INSTRUMENTS[number % len(INSTRUMENTS)]),
        AlertCondition.PRICE_ABOVE,
        (101 + number % 30) * INR,
        0,
        False,
        None,
        None,
        "",
        AlertState.ARMED,
        NOW,
        NOW,
        request_id=f"request-{number}",
    )


@pytest.fixture
async def database(core_settings: Callable[..., dict[str, Any]]) -> AsyncIterator[tuple[dict[str, Any], Any]]:
    values = core_settings()
    client: AsyncMongoClient[Document] = AsyncMongoClient(values["mongo_url"], tz_aware=True)
    db = client[values["mongo_database"]]
    await ensure_collections(db, COLLECTIONS)
    await ensure_indexes(db)
    yield values, db
    await client.close()


@pytest.mark.parametrize("sharding", [False, True], ids=["every-replica-evaluates-all", "sharded"])
async def test_two_replicas_under_a_tick_burst_fire_each_alert_once_and_number_every_inbox_without_gaps(
    database: tuple[dict[str, Any], Any], redis: Redis, sharding: bool
) -> None:
    """Unsharded, both replicas reach every crossing at once (the race on the commit and on the numbering of the
    same notifications); sharded (decision 0340), each user's alerts fire from both replicas (on instruments
    each owns), numbered concurrently on the user's one counter."""
    values, db = database
    alerts = [alert(number) for number in range(90)]
    store = MongoAlertStore(db)
    for item in alerts:
        await store.add(item)
    replicas: list[NotificationsRuntime] = []
    try:
        for name in ("replica-a", "replica-b"):
            settings = NotificationsSettings(**{**values, "consumer_name": name, "notifications_sharding": sharding})
            replicas.append(await build_notifications_runtime(settings))
        channels = [TICK_CHANNEL_PREFIX + instrument for instrument in INSTRUMENTS]

        async def subscribers() -> list[int]:
            return [int(count) for _, count in await redis.pubsub_numsub(*channels)]

        def ready(counts: list[int]) -> bool:
            if not sharding:
                return counts == [2, 2, 2]
            shards = [replica.app.shard for replica in replicas]
            return counts == [1, 1, 1] and all(shard is not None and len(shard.members) == 2 for shard in shards)

        await eventually(subscribers, until=ready, what="the replicas subscribed to the ticks")
        # The burst: every instrument from 100 to 131 in one pipeline, so each replica's firing task finds
        # several alerts of a user queued at once.
        pipe = redis.pipeline(transaction=False)
        sequence = 0
        for price in range(100, 132):
            for instrument in INSTRUMENTS:
                sequence += 1
                body = quote_pb2.Quote(last_price_micros=price * INR, change_micros=0).SerializeToString()
                payload = encode_tick_payload(1, sequence, time.time_ns(), (body, body, body))
                pipe.publish(TICK_CHANNEL_PREFIX + instrument, payload)
        await pipe.execute()

        async def triggered() -> int:
            return int(await db.notification_alerts.count_documents({"state": AlertState.TRIGGERED.value}))

        await eventually(triggered, until=lambda count: count == len(alerts), what="every alert committed")
        await asyncio.gather(*(replica.app.evaluator.settled() for replica in replicas))
        fired = [replica.app.evaluator.fired for replica in replicas]
        assert sum(fired) == len(alerts)  # each alert committed by exactly one replica
        items = [document async for document in db.notifications.find({})]
        assert sorted(document["alert_id"] for document in items) == sorted(item.id for item in alerts)
        assert {document["_id"] for document in items} == {item.notification_id() for item in alerts}
        for user in USERS:
            mine = sorted(document["sequence"] for document in items if document["user_id"] == user)
            assert mine == list(range(1, len(mine) + 1)), f"{user}'s inbox has gaps or repeats: {mine}"
            counter = await db.notification_counters.find_one({"_id": user})
            assert counter is not None
            assert counter["sequence"] == len(mine)  # no number used up by a repeat
    finally:
        for replica in replicas:
            await replica.host.stop(0)


async def test_concurrent_batches_with_the_same_notifications_number_them_once(
    database: tuple[dict[str, Any], Any],
) -> None:
    """Two replicas storing the same notifications at once, and one storing others of the same user, share
    one numbering: the repeats reuse the number the first writer took."""
    _, db = database
    store = MongoNotificationStore(db)

    def notice(number: int) -> Notification:
        return Notification(f"n-{number}", "user-1", NotificationKind.SYSTEM, f"t{number}", "b", NOW)

    shared = [notice(number) for number in range(8)]
    results = await asyncio.gather(
        store.add_many(shared), store.add_many(list(reversed(shared))), store.add_many([notice(8), notice(9)])
    )
    assert sorted(item.id for result in results for item in result) == sorted(f"n-{n}" for n in range(10))
    stored = [document async for document in db.notifications.find({"user_id": "user-1"})]
    assert sorted(document["sequence"] for document in stored) == list(range(1, 11))
    assert await store.last_sequence("user-1") == 10
    again = await store.add_many(shared)  # a redelivery: nothing stored, no number used
    assert again == []
    assert await store.last_sequence("user-1") == 10
