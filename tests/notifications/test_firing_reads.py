"""The firing path's reads, pinned on fakes: one alert read per firing, none for the echo of an own commit,
and a lost race still re-read and fired once.

Since firing is batched (decision 0330) a batch reads its alerts with one `get_many` and commits them with one
`replace_many`; each of these tests fires one alert per batch, so the counts are the per-firing counts they
were (one read, one replace), each read now being one `get_many` call (counted as one read, as `get_any` is)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import timedelta

from tests.notifications.conftest import World
from tests.notifications.fakes import InMemoryAlertStore
from trademesh.services.notifications.model import (
    Alert,
    AlertCondition,
    AlertDraft,
    AlertState,
    Channel,
    Notification,
    Tick,
)
from trademesh.services.notifications.service import AlertEvaluator

INR = 1_000_000
ALICE = "alice"


class CountingAlertStore(InMemoryAlertStore):
    """The in-memory store, counting the evaluator's reads (`get_any`, `get_many`: one round trip each) and
    conditional replaces (`replace_many`: one round trip)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.replaces = 0

    async def get_any(self, alert_id: str) -> Alert | None:
        self.reads += 1
        return await super().get_any(alert_id)

    async def get_many(self, alert_ids: Collection[str]) -> dict[str, Alert]:
        self.reads += 1
        return {alert_id: self.alerts[alert_id] for alert_id in alert_ids if alert_id in self.alerts}

    async def replace_many(self, changes: Sequence[tuple[Alert, int]]) -> set[str]:
        self.replaces += 1
        return {alert.id for alert, expected in changes if await InMemoryAlertStore.replace(self, alert, expected)}


def tick(price: float) -> Tick:
    return Tick("NSE:INFY", int(price * INR), int(price * INR) - 1500 * INR, 0)


def counted(world: World) -> CountingAlertStore:
    """Swap the world's alert store for a counting one (same alerts), in the service and the evaluator."""
    store = CountingAlertStore()
    world.alert_store = store
    world.alerts._store = store
    world.evaluator = world.evaluator_replica()
    return store


async def create(world: World, **kw: object) -> Alert:
    values: dict[str, object] = {
        "exchange": "NSE",
        "symbol": "INFY",
        "condition": AlertCondition.PRICE_ABOVE,
        "level_micros": 1600 * INR,
    }
    values.update(kw)
    alert = await world.alerts.create(ALICE, str(uuid.uuid4()), AlertDraft(**values))  # type: ignore[arg-type]
    await world.evaluator.alert_changed(alert.id)
    return alert


async def echo(world: World, *evaluators: AlertEvaluator) -> None:
    """Deliver what was announced on `notify:alerts` to every replica's evaluator, as the backplane does."""
    announced, world.changes.changed[:] = list(world.changes.changed), []
    for alert_id in announced:
        for evaluator in evaluators:
            await evaluator.announced(alert_id)


async def test_a_firing_reads_the_alert_once_and_its_echo_not_at_all(world: World) -> None:
    store = counted(world)
    alert = await create(world)
    await echo(world, world.evaluator)  # the creation's announcement: another writer's, re-read
    reads = store.reads
    await world.evaluator.on_tick(tick(1610))
    await world.evaluator.settled()
    assert store.reads - reads == 1  # the check before the notification; none after the commit
    assert store.replaces == 1
    assert world.changes.changed == [alert.id]
    await echo(world, world.evaluator)
    assert store.reads - reads == 1  # the own commit's announcement is not re-read
    assert world.evaluator.reloads == 2  # the creation's alert_changed and its announcement only
    assert world.evaluator.fired == 1
    assert store.alerts[alert.id].state is AlertState.TRIGGERED
    assert alert.id not in world.evaluator.index


async def test_other_replicas_reload_the_announcement_of_a_firing(world: World) -> None:
    store = counted(world)
    other = world.evaluator_replica()
    alert = await create(world)
    await other.alert_changed(alert.id)
    await echo(world)
    await world.evaluator.on_tick(tick(1610))
    await world.evaluator.settled()
    reads = store.reads
    await echo(world, world.evaluator, other)
    assert store.reads - reads == 1  # only the other replica re-reads
    await other.on_tick(tick(1620))
    await other.settled()
    assert other.fired == 0
    assert len(world.notifications.items) == 1


async def test_a_rearmed_alert_is_followed_from_the_commit_without_its_echo(world: World) -> None:
    store = counted(world)
    alert = await create(world, rearm=True, cool_down=timedelta(minutes=1))
    await echo(world)  # the creation's announcement, already followed
    await world.evaluator.on_tick(tick(1610))
    await world.evaluator.settled()
    reads = store.reads
    await echo(world, world.evaluator)
    world.ticks.watched.clear()  # as if the instrument had been unwatched meanwhile
    world.clock.advance(timedelta(minutes=1))
    await world.evaluator.tend()
    assert store.reads - reads == 1  # the timer's check only, none for the firing's echo
    assert world.evaluator.index.get(alert.id) == store.alerts[alert.id]
    assert store.alerts[alert.id].state is AlertState.ARMED
    assert "NSE:INFY" in world.ticks.watched  # watched again without waiting for the echo
    await echo(world, world.evaluator)
    assert store.reads - reads == 1
    await world.evaluator.on_tick(tick(1620))
    await world.evaluator.settled()
    assert world.evaluator.fired == 2


async def test_a_change_announced_before_the_echo_is_still_followed(world: World) -> None:
    """The skipped announcement may be the owner's; the own echo, published after the commit, is then re-read."""
    counted(world)
    alert = await create(world, rearm=True, cool_down=timedelta(minutes=1))
    await echo(world)
    await world.evaluator.on_tick(tick(1610))
    await world.evaluator.settled()
    own = list(world.changes.changed)
    world.changes.changed.clear()
    draft = AlertDraft(exchange="NSE", symbol="INFY", condition=AlertCondition.PRICE_ABOVE, level_micros=1700 * INR)
    await world.alerts.update(ALICE, alert.id, draft, ["level_micros"])
    foreign = list(world.changes.changed)
    world.changes.changed[:] = foreign + own  # the owner's announcement arrives first
    await echo(world, world.evaluator)
    assert world.evaluator.index.get(alert.id) == world.alert_store.alerts[alert.id]
    assert world.alert_store.alerts[alert.id].level_micros == 1700 * INR
    await world.evaluator.on_tick(tick(1650))
    await world.evaluator.settled()
    assert world.evaluator.fired == 1
    await world.evaluator.on_tick(tick(1710))
    await world.evaluator.settled()
    assert world.evaluator.fired == 2


async def test_a_lost_race_is_re_read_and_the_crossing_fires_once(world: World) -> None:
    """Replica A reads the alert, replica B fires and commits it meanwhile: A's replace loses, A re-reads."""
    store = counted(world)
    other = world.evaluator_replica()
    alert = await create(world)
    await other.alert_changed(alert.id)
    await echo(world)
    notify: Callable[..., Awaitable[list[Notification | None]]] = world.notifier.notify_many
    raced: list[str] = []

    async def racing(batch: Sequence[tuple[Notification, frozenset[Channel]]]) -> list[Notification | None]:
        if not raced:
            raced.append(batch[0][0].id)
            await other.on_tick(tick(1610))  # B reaches the same crossing between A's read and A's replace
            await other.settled()
        return await notify(batch)

    world.notifier.notify_many = racing  # type: ignore[method-assign]
    reloads = world.evaluator.reloads
    await world.evaluator.on_tick(tick(1610))
    await world.evaluator.settled()
    assert world.evaluator.fired == 0
    assert other.fired == 1
    assert world.evaluator.reloads - reloads == 1  # the lost race re-read the alert
    assert store.replaces == 2
    assert [n.alert_id for n in world.notifications.items.values()] == [alert.id]
    assert alert.id not in world.evaluator.index
    await echo(world, world.evaluator, other)
    assert alert.id not in world.evaluator.index
    assert alert.id not in other.index
    assert len(world.notifications.items) == 1


async def test_a_reconnection_forgets_the_own_commits(world: World) -> None:
    store = counted(world)
    alert = await create(world, rearm=True, cool_down=timedelta(minutes=1))
    await echo(world)
    await world.evaluator.on_tick(tick(1610))
    await world.evaluator.settled()
    world.changes.changed.clear()  # the echo was lost with the connection
    assert await world.evaluator.load() == 1
    reads = store.reads
    await world.evaluator.announced(alert.id)  # a later announcement is re-read, not taken for the echo
    assert store.reads - reads == 1
