"""Batched firing (decision 0330) on fakes: what a batch does when some of its alerts lost their race, when one user
has several alerts in it, when it crashes between the notifications and the commit, when an owner changed an
alert while it was queued, and when an alert expired while it was queued."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

from tests.notifications.conftest import World
from tests.notifications.fakes import InMemoryAlertStore
from trademesh.services.notifications.model import Alert, AlertCondition, AlertDraft, AlertState, Tick

INR = 1_000_000
ALICE, BOB = "alice", "bob"


def tick(price: float, instrument: str = "NSE:INFY") -> Tick:
    return Tick(instrument, int(price * INR), int(price * INR) - 1500 * INR, 0)


async def create(world: World, user: str = ALICE, level: float = 1600, **kw: object) -> Alert:
    values: dict[str, object] = {
        "exchange": "NSE",
        "symbol": "INFY",
        "condition": AlertCondition.PRICE_ABOVE,
        "level_micros": int(level * INR),
    }
    values.update(kw)
    alert = await world.alerts.create(user, str(uuid.uuid4()), AlertDraft(**values))  # type: ignore[arg-type]
    await world.evaluator.alert_changed(alert.id)
    return alert


class RacedAlertStore(InMemoryAlertStore):
    """The in-memory store where another writer commits the `raced` alerts just before a batch's commit, and
    where the next `fail_commits` batch commits fail (the replica crashed or lost the database mid-batch)."""

    def __init__(self, alerts: dict[str, Alert]) -> None:
        super().__init__()
        self.alerts = alerts
        self.raced: set[str] = set()
        self.fail_commits = 0
        self.commit_calls: list[list[str]] = []

    async def replace_many(self, changes: Sequence[tuple[Alert, int]]) -> set[str]:
        self.commit_calls.append([alert.id for alert, _ in changes])
        if self.fail_commits:
            self.fail_commits -= 1
            raise ConnectionError("the database went away between the notifications and the commit")
        for alert_id in self.raced:
            stored = self.alerts[alert_id]
            self.alerts[alert_id] = stored.fired(stored.level_micros, stored.updated_at)  # the other replica's
        self.raced.clear()
        return await super().replace_many(changes)


def raced(world: World) -> RacedAlertStore:
    store = RacedAlertStore(world.alert_store.alerts)
    world.alert_store = store
    world.alerts._store = store
    world.evaluator = world.evaluator_replica()
    return store


async def test_a_batch_whose_alerts_partly_lost_their_race_commits_the_others_and_re_reads_the_losers(
    world: World,
) -> None:
    store = raced(world)
    first, second, third = [await create(world, level=level) for level in (1600, 1601, 1602)]
    store.raced = {second.id}
    await world.evaluator.on_tick(tick(1610))
    await world.evaluator.settled()
    assert world.evaluator.batches == 1
    assert store.commit_calls == [[first.id, second.id, third.id]]  # one commit for the whole batch
    assert world.evaluator.fired == 2  # the lost one was fired by the other replica
    assert world.evaluator.reloads - 3 == 1  # after the three creations: only the loser is re-read
    assert world.changes.changed[-2:] == [first.id, third.id]  # only the winners are announced
    assert {n.alert_id for n in world.notifications.items.values()} == {first.id, second.id, third.id}
    assert all(store.alerts[a.id].state is AlertState.TRIGGERED for a in (first, second, third))
    assert second.id not in world.evaluator.index


async def test_one_users_alerts_in_a_batch_get_contiguous_sequences_in_queue_order(world: World) -> None:
    low = await create(world, ALICE, level=1600)
    other = await create(world, BOB, level=1600)
    high = await create(world, ALICE, level=1650)
    await world.notifier.notify_many([])  # an empty batch writes nothing
    await world.evaluator.on_tick(tick(1610))  # queues alice's low and bob's
    await world.evaluator.on_tick(tick(1660))  # queues alice's high: the same batch (the task has not run yet)
    await world.evaluator.settled()
    assert world.evaluator.batches == 1
    assert world.evaluator.fired == 3
    alice = sorted((n for n in world.notifications.items.values() if n.user_id == ALICE), key=lambda n: n.sequence)
    assert [(n.alert_id, n.sequence) for n in alice] == [(low.id, 1), (high.id, 2)]
    assert [n.sequence for n in world.notifications.items.values() if n.user_id == BOB] == [1]
    assert world.notifications.items[other.notification_id()].alert_id == other.id
    assert sorted(world.signal.published) == [ALICE, BOB]  # one signal per user per batch


async def test_a_crash_between_the_notifications_and_the_commit_re_fires_without_writing_twice(
    world: World,
) -> None:
    store = raced(world)
    alerts = [await create(world, user, level=1600) for user in (ALICE, ALICE, BOB)]
    store.fail_commits = 1
    await world.evaluator.on_tick(tick(1610))
    await world.evaluator.settled()
    assert world.evaluator.fired == 0
    assert len(world.notifications.items) == 3  # written before the commit failed
    assert all(store.alerts[a.id].state is AlertState.ARMED for a in alerts)
    assert all(a.id in world.evaluator.index for a in alerts)  # put back: re-read and re-indexed
    await world.evaluator.on_tick(tick(1620))  # the next reaching tick fires them again
    await world.evaluator.settled()
    assert world.evaluator.fired == 3
    assert len(world.notifications.items) == 3  # the same ids: nothing written twice
    assert world.notifications.sequences == {ALICE: 2, BOB: 1}  # no number used up by the repeat
    assert sorted(n.sequence for n in world.notifications.items.values() if n.user_id == ALICE) == [1, 2]
    assert all(store.alerts[a.id].state is AlertState.TRIGGERED for a in alerts)


async def test_an_owners_change_while_queued_is_not_fired_at_the_stale_generation(world: World) -> None:
    changed = await create(world, level=1600)
    kept = await create(world, BOB, level=1600)
    await world.evaluator.on_tick(tick(1610))  # both queued at the generation the index had
    draft = AlertDraft(exchange="NSE", symbol="INFY", condition=AlertCondition.PRICE_ABOVE, level_micros=1700 * INR)
    await world.alerts.update(ALICE, changed.id, draft, ["level_micros"])  # not followed yet
    await world.evaluator.settled()
    assert [n.alert_id for n in world.notifications.items.values()] == [kept.id]
    assert world.evaluator.fired == 1
    stored = world.alert_store.alerts[changed.id]
    assert stored.state is AlertState.ARMED
    assert world.evaluator.index.get(changed.id) == stored  # the batch followed the stored alert
    await world.evaluator.on_tick(tick(1690))
    await world.evaluator.settled()
    assert world.evaluator.fired == 1
    await world.evaluator.on_tick(tick(1710))
    await world.evaluator.settled()
    assert world.evaluator.fired == 2
    assert world.notifications.items[stored.notification_id()].alert_id == changed.id


async def test_an_alert_that_expired_while_queued_is_marked_expired_and_the_rest_of_the_batch_fires(
    world: World,
) -> None:
    expiring = await create(world, level=1600, expires_at=world.clock.now + timedelta(seconds=30))
    lasting = await create(world, BOB, level=1600)
    await world.evaluator.on_tick(tick(1610))
    world.clock.advance(timedelta(seconds=30))  # the batch runs after the expiry
    await world.evaluator.settled()
    assert world.alert_store.alerts[expiring.id].state is AlertState.EXPIRED
    assert world.alert_store.alerts[lasting.id].state is AlertState.TRIGGERED
    assert [n.alert_id for n in world.notifications.items.values()] == [lasting.id]
    assert world.evaluator.fired == 1
    assert expiring.id not in world.evaluator.index
