"""Sharded evaluation on real servers (decision 0340): two notification services on one Redis and one database
share the instruments disjointly, fire each alert once, and a crashed replica's share is taken over after the
member timeout (a graceful stop's at once)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import pytest
from grpc import aio
from redis.asyncio import Redis

from tests.eventually import eventually
from tests.notifications.test_service import Ingest
from trademesh.common.v1 import instrument_pb2
from trademesh.kernel.ticks import TICK_CHANNEL_PREFIX
from trademesh.notifications.v1 import alert_pb2, notifications_service_pb2, notifications_service_pb2_grpc
from trademesh.services.notifications.server import NotificationsRuntime, build_notifications_runtime
from trademesh.services.notifications.service.sharding import INSTRUMENT_KEY, Shard, owner_of
from trademesh.services.notifications.settings import NotificationsSettings
from trademesh.services.notifications.sharding import MEMBERS_CHANNEL, MEMBERS_PREFIX, RedisMembership

if TYPE_CHECKING:
    from tests.conftest import MeshUser
    from trademesh.notifications.v1.notifications_service_pb2_grpc import NotificationsServiceAsyncStub

pb = notifications_service_pb2
INR = 1_000_000
MEMBER_TIMEOUT = 1.0


@dataclass
class Replica:
    runtime: NotificationsRuntime
    stub: NotificationsServiceAsyncStub
    settings: NotificationsSettings

    @property
    def shard(self) -> Shard:
        shard = self.runtime.app.shard
        assert shard is not None
        return shard

    @property
    def watched(self) -> set[str]:
        backplane = self.runtime.app.backplane
        assert backplane is not None
        return set(backplane.watched)


@pytest.fixture
async def start(core_settings: Callable[..., dict[str, Any]]) -> AsyncIterator[Callable[..., Awaitable[Replica]]]:
    cleanups: list[Callable[[], Awaitable[object]]] = []

    async def run(**overrides: Any) -> Replica:
        values = {"notifications_member_timeout_seconds": MEMBER_TIMEOUT, **overrides}
        settings = NotificationsSettings(**core_settings(**values))
        runtime = await build_notifications_runtime(settings)
        cleanups.append(lambda: runtime.host.stop(0))
        channel = aio.insecure_channel(f"127.0.0.1:{runtime.host.port}")
        cleanups.append(channel.close)
        return Replica(runtime, notifications_service_pb2_grpc.NotificationsServiceStub(channel), settings)

    yield run
    for cleanup in reversed(cleanups):
        await cleanup()


async def crash(replica: Replica) -> None:
    """Stop a replica as a crash would: its tasks end, its connections close, it never leaves the members."""
    host, app = replica.runtime.host, replica.runtime.app
    host.stopping.set()  # the fixture's later stop() then does nothing (no graceful leave)
    await host.server.stop(0)
    tasks = list(host._tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert app.redis is not None
    assert app.mongo is not None
    await app.redis.aclose()
    await app.mongo.close()


async def two_replicas(start: Callable[..., Awaitable[Replica]], **overrides: Any) -> tuple[Replica, Replica]:
    a, b = await start(**overrides), await start(**overrides)

    async def views() -> tuple[frozenset[str], frozenset[str]]:
        return a.shard.members, b.shard.members

    await eventually(
        views,
        until=lambda seen: seen[0] == seen[1] == {a.shard.member_id, b.shard.member_id},
        what="both replicas see both",
    )
    return a, b


def symbols_owned(a: Replica, b: Replica) -> tuple[str, str]:
    """Return a fresh symbol owned by each replica (fresh: no other test's subscriber on its channel)."""
    members = [a.shard.member_id, b.shard.member_id]
    found: dict[str, str] = {}
    while len(found) < 2:
        symbol = "T" + uuid.uuid4().hex[:8].upper()
        found.setdefault(owner_of(INSTRUMENT_KEY + "NSE:" + symbol, members) or "", symbol)
    return found[a.shard.member_id], found[b.shard.member_id]


def above(symbol: str, level: float) -> alert_pb2.Alert:
    return alert_pb2.Alert(
        instrument=instrument_pb2.Instrument(symbol=symbol, exchange=instrument_pb2.EXCHANGE_NSE),
        condition=alert_pb2.ALERT_CONDITION_PRICE_ABOVE,
        level_micros=int(level * INR),
    )


async def create(stub: NotificationsServiceAsyncStub, user: MeshUser, alert: alert_pb2.Alert) -> str:
    request = pb.CreateAlertRequest(request_id=str(uuid.uuid4()), alert=alert)
    return (await stub.CreateAlert(request, metadata=user.metadata)).alert.id


async def fires(replica: Replica, user: MeshUser, ingest: Ingest, symbol: str, alert_id: str) -> None:
    """Tick the instrument until the alert's notification is in the inbox (a tick sent before the owner's
    SUBSCRIBE is confirmed is not heard: ticking again is what a live market does)."""

    async def notified() -> list[str]:
        await ingest.publish("NSE:" + symbol, 1650)
        listed = await replica.stub.ListNotifications(pb.ListNotificationsRequest(), metadata=user.metadata)
        return [n.id for n in listed.notifications if n.alert_id == alert_id]

    await eventually(notified, what=f"the alert on {symbol} fires")


async def subscribers(redis: Redis, symbol: str) -> int:
    [(_, count)] = await redis.pubsub_numsub(TICK_CHANNEL_PREFIX + "NSE:" + symbol)
    return int(count)


async def test_two_replicas_share_the_instruments_disjointly_and_fire_each_alert_once(
    start: Callable[..., Awaitable[Replica]], new_user: Callable[[], Awaitable[MeshUser]], redis: Redis
) -> None:
    a, b = await two_replicas(start)
    mine_a, mine_b = symbols_owned(a, b)
    alice = await new_user()
    alert_a = await create(a.stub, alice, above(mine_a, 1600))
    alert_b = await create(a.stub, alice, above(mine_b, 1600))

    async def subscriptions() -> tuple[set[str], set[str], int, int, int, int]:
        return (
            a.watched,
            b.watched,
            await subscribers(redis, mine_a),
            await subscribers(redis, mine_b),
            len(a.runtime.app.evaluator.index),
            len(b.runtime.app.evaluator.index),
        )

    # Both evaluators index both alerts; each subscribes only its own instrument, on one connection in all.
    await eventually(
        subscriptions,
        until=lambda seen: seen == ({"NSE:" + mine_a}, {"NSE:" + mine_b}, 1, 1, 2, 2),
        what="each replica subscribes only the instrument it owns",
    )
    ingest = Ingest(redis)
    await fires(a, alice, ingest, mine_a, alert_a)
    await fires(a, alice, ingest, mine_b, alert_b)
    listed = await a.stub.ListNotifications(pb.ListNotificationsRequest(), metadata=alice.metadata)
    assert sorted(n.alert_id for n in listed.notifications) == sorted([alert_a, alert_b])
    assert (a.runtime.app.evaluator.fired, b.runtime.app.evaluator.fired) == (1, 1)
    for alert_id in (alert_a, alert_b):
        alert = (await b.stub.GetAlert(pb.GetAlertRequest(alert_id=alert_id), metadata=alice.metadata)).alert
        assert (alert.state, alert.trigger_count) == (alert_pb2.ALERT_STATE_TRIGGERED, 1)


async def test_a_crashed_replicas_instruments_are_taken_over_after_the_member_timeout(
    start: Callable[..., Awaitable[Replica]], new_user: Callable[[], Awaitable[MeshUser]], redis: Redis
) -> None:
    a, b = await two_replicas(start)
    _mine_a, mine_b = symbols_owned(a, b)
    alice = await new_user()
    alert_b = await create(a.stub, alice, above(mine_b, 1600))

    async def watched() -> tuple[set[str], set[str]]:
        return a.watched, b.watched

    await eventually(watched, until=lambda seen: seen == (set(), {"NSE:" + mine_b}), what="B alone watches its own")
    survivor_id, crashed_id = a.shard.member_id, b.shard.member_id
    loop = asyncio.get_running_loop()
    crashed_at = loop.time()
    await crash(b)

    async def survivor_view() -> frozenset[str]:
        return a.shard.members

    await eventually(survivor_view, until=lambda members: members == {survivor_id}, what="A drops the crashed B")
    # Dropped by the timeout (no leave was announced), counted from B's last beat: at most a beat (a third of
    # the timeout) before the crash.
    assert loop.time() - crashed_at >= MEMBER_TIMEOUT * 2 / 3 * 0.95
    members = cast("list[bytes]", await redis.zrange(_members_key(a), 0, -1))
    assert crashed_id.encode() not in members
    assert a.watched == {"NSE:" + mine_b}
    await fires(a, alice, Ingest(redis), mine_b, alert_b)
    listed = await a.stub.ListNotifications(pb.ListNotificationsRequest(), metadata=alice.metadata)
    assert [n.alert_id for n in listed.notifications] == [alert_b]
    assert a.runtime.app.evaluator.fired == 1


async def test_a_graceful_stop_hands_its_share_over_at_once(
    start: Callable[..., Awaitable[Replica]], new_user: Callable[[], Awaitable[MeshUser]], redis: Redis
) -> None:
    # A long member timeout: only the announced leave can explain a quick takeover.
    a, b = await two_replicas(start, notifications_member_timeout_seconds=60.0)
    _, mine_b = symbols_owned(a, b)
    alice = await new_user()
    alert_b = await create(a.stub, alice, above(mine_b, 1600))

    async def watched() -> set[str]:
        return b.watched

    await eventually(watched, until=lambda seen: seen == {"NSE:" + mine_b}, what="B watches its own")
    await b.runtime.host.stop(0)

    async def survivor() -> tuple[set[str], set[str]]:
        return set(a.shard.members), a.watched

    await eventually(
        survivor,
        until=lambda seen: seen == ({a.shard.member_id}, {"NSE:" + mine_b}),
        within=5.0,
        what="A takes B's instrument after B's announced leave",
    )
    await fires(a, alice, Ingest(redis), mine_b, alert_b)


def _members_key(replica: Replica) -> str:
    return MEMBERS_PREFIX + replica.settings.mongo_database


async def test_sharding_off_every_replica_subscribes_everything(
    start: Callable[..., Awaitable[Replica]], new_user: Callable[[], Awaitable[MeshUser]], redis: Redis
) -> None:
    a, b = await start(notifications_sharding=False), await start(notifications_sharding=False)
    assert a.runtime.app.shard is None
    assert b.runtime.app.shard is None
    alice = await new_user()
    symbol = "T" + uuid.uuid4().hex[:8].upper()
    await create(a.stub, alice, above(symbol, 1600))

    async def watched() -> tuple[set[str], set[str], int]:
        return a.watched, b.watched, await subscribers(redis, symbol)

    instrument = {"NSE:" + symbol}
    await eventually(watched, until=lambda seen: seen == (instrument, instrument, 2), what="both subscribe it")


async def test_the_redis_membership_counts_heartbeats_by_redis_time_and_announces_joins_and_leaves(
    redis: Redis,
) -> None:
    group = "test-" + uuid.uuid4().hex
    first, second = (RedisMembership(redis, group, timeout_seconds=0.5) for _ in range(2))
    assert first.member_id != second.member_id  # random per process (and per instance)
    assert await first.live() == {}
    pubsub = redis.pubsub()
    await pubsub.subscribe(MEMBERS_CHANNEL)
    try:
        await first.heartbeat()
        await second.heartbeat()
        live = await first.live()
        assert set(live) == set(await second.live()) == {first.member_id, second.member_id}
        assert all(0 < left <= 0.5 for left in live.values())  # seconds left before each expires
        await second.leave()
        assert set(await first.live()) == {first.member_id}

        async def announced() -> list[bytes]:
            messages = []
            while (message := await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)) is not None:
                messages.append(message["data"])
            return messages

        assert await eventually(announced) == [second.member_id.encode()]
        # Silent past the timeout: no longer live, and the reader deletes the entry.
        await eventually(first.live, until=lambda live: live == {}, what="the silent member expires")
        assert await redis.zcard(MEMBERS_PREFIX + group) == 0
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
