"""Sharded evaluation on in-memory fakes (decision 0340): what each replica subscribes and which P&L streams it
opens, as the members change — joins, crashes (silent past the timeout) and graceful leaves."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TypeVar

import pytest

from tests.eventually import eventually
from tests.notifications.conftest import World
from tests.notifications.fakes import RecordingTickSource
from tests.notifications.shard_fakes import InMemoryMembership, MembershipRegistry
from trademesh.services.notifications.model import Alert, AlertCondition, AlertDraft
from trademesh.services.notifications.model.guardrails import DayPnl
from trademesh.services.notifications.service import AlertEvaluator, GuardrailWatch
from trademesh.services.notifications.service.sharding import (
    INSTRUMENT_KEY,
    USER_KEY,
    Shard,
    ShardedTickSource,
    assignment,
    owner_of,
)

T = TypeVar("T")
INR = 1_000_000
TIMEOUT = 10.0
SYMBOLS = [f"S{number:03d}" for number in range(60)]
INSTRUMENTS = {f"NSE:{symbol}" for symbol in SYMBOLS}
USERS = [f"user{number:02d}" for number in range(20)]


class QueuedPnlFeed:
    """A P&L feed whose readings the test pushes, per user; records the streams open now."""

    def __init__(self) -> None:
        self.queues: dict[str, asyncio.Queue[DayPnl]] = {}
        self.open: set[str] = set()

    def queue(self, user_id: str) -> asyncio.Queue[DayPnl]:
        return self.queues.setdefault(user_id, asyncio.Queue())

    async def watch(self, user_id: str) -> AsyncIterator[DayPnl]:
        self.open.add(user_id)
        try:
            while True:
                yield await self.queue(user_id).get()
        finally:
            self.open.discard(user_id)


@dataclass
class Replica:
    """One replica's shard, its subscriptions (the recording source under the sharded one) and evaluator."""

    shard: Shard
    subscribed: RecordingTickSource
    ticks: ShardedTickSource
    evaluator: AlertEvaluator
    guardrails: GuardrailWatch
    feed: QueuedPnlFeed


@pytest.fixture
def registry() -> MembershipRegistry:
    return MembershipRegistry(TIMEOUT)


@pytest.fixture
async def replicas(world: World, registry: MembershipRegistry) -> AsyncIterator[dict[str, Replica]]:
    made: dict[str, Replica] = {}

    def replica(member_id: str) -> Replica:
        shard = Shard(registry.member(member_id))
        subscribed = RecordingTickSource()
        ticks = ShardedTickSource(subscribed, shard.owns_instrument)
        feed = QueuedPnlFeed()
        guardrails = GuardrailWatch(feed, owns=shard.owns_user)
        shard.on_change(ticks.rebalance)
        shard.on_change(guardrails.rebalance)
        evaluator = AlertEvaluator(
            store=world.alert_store,
            notifier=world.notifier,
            changes=world.changes,
            ticks=ticks,
            clock=world.clock,
            guardrails=guardrails,
        )
        made[member_id] = Replica(shard, subscribed, ticks, evaluator, guardrails, feed)
        return made[member_id]

    made["a"] = replica("a")
    made["b"] = replica("b")
    yield made
    for each in made.values():
        await each.guardrails.close()


async def alerts_on_every_instrument(world: World) -> None:
    for number, symbol in enumerate(SYMBOLS):
        draft = AlertDraft("NSE", symbol, AlertCondition.PRICE_ABOVE, 1000 * INR)
        await world.alerts.create(f"trader{number}", str(uuid.uuid4()), draft)


async def guardrail_per_user(world: World) -> list[Alert]:
    draft = AlertDraft(condition=AlertCondition.DAILY_LOSS_BEYOND, level_micros=1000 * INR)
    return [await world.alerts.create(user, str(uuid.uuid4()), draft) for user in USERS]


async def joined(replicas: dict[str, Replica], *loaded: str) -> tuple[Replica, Replica]:
    """Replicas A and B, each counting both as members (A beats again after B joined), the named ones' evaluators
    loaded, in that order."""
    a, b = replicas["a"], replicas["b"]
    for replica in (a, b, a):
        await replica.shard.beat()
    for name in loaded:
        await replicas[name].evaluator.load()
    return a, b


def share(member: str, members: list[str]) -> set[str]:
    owners = assignment((INSTRUMENT_KEY + instrument for instrument in INSTRUMENTS), members)
    return {key[len(INSTRUMENT_KEY) :] for key, owner in owners.items() if owner == member}


def user_share(member: str, members: list[str]) -> set[str]:
    owners = assignment((USER_KEY + user for user in USERS), members)
    return {key[len(USER_KEY) :] for key, owner in owners.items() if owner == member}


async def test_a_lone_replica_subscribes_everything_the_evaluator_watches(
    world: World, replicas: dict[str, Replica]
) -> None:
    a = replicas["a"]
    await alerts_on_every_instrument(world)
    await a.shard.beat()
    await a.evaluator.load()
    assert a.subscribed.watched == INSTRUMENTS
    assert a.ticks.wanted == INSTRUMENTS


async def test_a_joining_replica_takes_its_share_and_the_others_hand_it_over_at_their_next_beat(
    world: World, replicas: dict[str, Replica], registry: MembershipRegistry
) -> None:
    a, b = replicas["a"], replicas["b"]
    await alerts_on_every_instrument(world)
    await a.shard.beat()
    await a.evaluator.load()
    await b.shard.beat()
    await b.evaluator.load()
    assert registry.announcements == ["a", "b"]  # each join is announced, so the others beat at once
    # B subscribed its share before A saw it: overlap for a moment, never a gap.
    assert b.subscribed.watched == share("b", ["a", "b"])
    assert a.subscribed.watched == INSTRUMENTS
    assert await a.shard.beat()
    assert a.subscribed.watched == share("a", ["a", "b"])
    assert a.subscribed.watched | b.subscribed.watched == INSTRUMENTS
    assert not a.subscribed.watched & b.subscribed.watched
    assert 0.3 < len(b.subscribed.watched) / len(INSTRUMENTS) < 0.7
    # The evaluator still indexes every alert: only the subscriptions are shared.
    assert a.evaluator.index.instruments() == b.evaluator.index.instruments() == INSTRUMENTS
    assert not await a.shard.beat()  # no change: nothing moves


async def test_the_evaluators_interest_after_a_change_subscribes_only_at_the_owner(
    world: World, replicas: dict[str, Replica]
) -> None:
    a, b = await joined(replicas, "a", "b")
    draft = AlertDraft("NSE", "NEWCO", AlertCondition.PRICE_BELOW, INR)
    created = await world.alerts.create("zoe", str(uuid.uuid4()), draft)
    for replica in (a, b):
        await replica.evaluator.alert_changed(created.id)
    owner, other = (a, b) if owner_of(INSTRUMENT_KEY + "NSE:NEWCO", ["a", "b"]) == "a" else (b, a)
    assert "NSE:NEWCO" in owner.subscribed.watched
    assert "NSE:NEWCO" not in other.subscribed.watched
    assert "NSE:NEWCO" in other.ticks.wanted  # interest kept: it is subscribed if the instrument moves here
    await world.alerts.delete("zoe", created.id)
    for replica in (a, b):
        await replica.evaluator.alert_changed(created.id)
        assert "NSE:NEWCO" not in replica.subscribed.watched | replica.ticks.wanted


async def test_a_crashed_replica_is_dropped_after_the_timeout_and_its_share_taken_over(
    world: World, replicas: dict[str, Replica], registry: MembershipRegistry
) -> None:
    await alerts_on_every_instrument(world)
    a, _ = await joined(replicas, "a", "b")
    assert a.subscribed.watched == share("a", ["a", "b"])
    # B stops beating (a crash: no leave). Within the timeout A still counts on it.
    registry.advance(TIMEOUT)
    assert not await a.shard.beat()
    assert a.subscribed.watched == share("a", ["a", "b"])
    registry.advance(TIMEOUT / 3)
    assert await a.shard.beat()
    assert a.shard.members == {"a"}
    assert a.subscribed.watched == INSTRUMENTS


async def test_a_replica_times_its_next_beat_for_the_first_expiry_it_expects(
    replicas: dict[str, Replica], registry: MembershipRegistry
) -> None:
    a, b = replicas["a"], replicas["b"]
    assert a.shard.next_beat_in(3.0) == 3.0  # alone: the regular interval
    await b.shard.beat()
    await a.shard.beat()
    assert a.shard.next_beat_in(3.0) == 3.0  # B has the whole timeout left
    registry.advance(TIMEOUT - 1)
    await a.shard.beat()  # B silent since: it expires in 1 s, so A looks again then, not 3 s later
    assert 0.9 <= a.shard.next_beat_in(3.0) <= 1.0 + 0.05
    registry.advance(1.01)
    assert await a.shard.beat()
    assert a.shard.members == {"a"}
    assert a.shard.next_beat_in(3.0) == 3.0


async def test_a_graceful_leave_is_announced_and_taken_over_at_the_next_beat(
    world: World, replicas: dict[str, Replica], registry: MembershipRegistry
) -> None:
    await alerts_on_every_instrument(world)
    a, b = await joined(replicas, "a")
    await b.shard.leave()
    assert registry.announcements[-1] == "b"
    assert "b" not in registry.beats
    assert await a.shard.beat()  # the backplane wakes A's beat on the announcement (members_changed)
    assert a.subscribed.watched == INSTRUMENTS


async def test_guardrail_streams_open_only_at_the_owner_and_move_with_the_members(
    world: World, replicas: dict[str, Replica], registry: MembershipRegistry
) -> None:
    a, b = replicas["a"], replicas["b"]
    alerts = await guardrail_per_user(world)
    await a.shard.beat()
    await a.evaluator.load()
    assert await eventually(lambda: _now(a.feed.open), until=lambda users: users == set(USERS), what="A streams all")
    await b.shard.beat()
    await b.evaluator.load()
    await a.shard.beat()
    a_users, b_users = user_share("a", ["a", "b"]), user_share("b", ["a", "b"])
    assert a_users
    assert b_users
    await eventually(lambda: _now(a.feed.open), until=lambda users: users == a_users, what="A closes B's streams")
    await eventually(lambda: _now(b.feed.open), until=lambda users: users == b_users, what="B opens its streams")
    assert a.guardrails.streaming() == a_users
    assert a.guardrails.users() == b.guardrails.users() == set(USERS)  # both still track every guardrail
    # A reading of a user B owns reaches B's stream and fires the guardrail once.
    user = sorted(b_users)[0]
    await b.feed.queue(user).put(DayPnl("2024-07-01", -1500 * INR))
    fired = next(alert for alert in alerts if alert.user_id == user)
    await eventually(
        lambda: _now([n for n in world.notifications.items.values() if n.alert_id == fired.id]),
        until=lambda notices: len(notices) == 1,
        what="the guardrail fires at its owner",
    )
    await a.evaluator.alert_changed(fired.id)  # A follows B's announcement of the fired (one-shot) guardrail
    # B crashes: after the timeout A takes its users' streams back.
    registry.advance(TIMEOUT + 1)
    assert await a.shard.beat()
    still_armed = set(USERS) - {user}
    await eventually(lambda: _now(a.feed.open), until=lambda users: users == still_armed, what="A takes over")


async def _now(value: T) -> T:
    return value


class FlakyMembership:
    """A membership whose store can go down (every call then fails); counts the failed calls."""

    def __init__(self, inner: InMemoryMembership) -> None:
        self._inner = inner
        self.down = False
        self.failures = 0

    @property
    def member_id(self) -> str:
        return self._inner.member_id

    def _check(self) -> None:
        if self.down:
            self.failures += 1
            raise ConnectionError("membership store down")

    async def live(self) -> dict[str, float]:
        self._check()
        return await self._inner.live()

    async def heartbeat(self) -> None:
        self._check()
        await self._inner.heartbeat()

    async def announce(self) -> None:
        self._check()
        await self._inner.announce()

    async def leave(self) -> None:
        self._check()
        await self._inner.leave()


async def test_a_replica_that_cannot_beat_keeps_its_view_and_retries_after_an_interval(
    registry: MembershipRegistry,
) -> None:
    flaky = FlakyMembership(registry.member("a"))
    shard = Shard(flaky)
    await Shard(registry.member("b")).beat()
    await shard.beat()
    registry.advance(TIMEOUT - 0.001)
    await shard.beat()  # B expires in a millisecond: the next beat would come right after that
    assert shard.next_beat_in(0.5) < 0.1
    before = shard.members
    flaky.down = True
    runner = asyncio.create_task(shard.run(0.5))
    try:
        await eventually(lambda: _now(flaky.failures), until=lambda failures: failures >= 1, what="a beat fails")
        assert shard.next_beat_in(0.5) == 0.5  # a whole interval before retrying, not a loop against the store
        assert shard.members == before == {"a", "b"}  # the last view is kept: overlap, never a gap
        await shard.leave()  # a failed leave is logged; the others drop this replica after the timeout
    finally:
        shard.close()
        await asyncio.wait_for(runner, 5)
