"""The firing path's reads, pinned on fakes: one alert read per firing, none for the echo of an own commit,
and a lost race still re-read and fired once."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

from tests.notifications.conftest import World
from tests.notifications.fakes import InMemoryAlertStore
from trademesh.services.notifications.model import Alert, AlertCondition, AlertDraft, AlertState, Notification, Tick
from trademesh.services.notifications.service import AlertEvaluator

INR = 1_000_000
ALICE = "alice"


class CountingAlertStore(InMemoryAlertStore):
    """The in-memory store, counting the evaluator's reads (`get_any`) and conditional replaces."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.replaces = 0

    async def get_any(self, alert_id: str) -> Alert | None:
        self.reads += 1
        return await super().get_any(alert_id)

    async def replace(self, alert: Alert, expected_generation: int) -> bool:
        self.replaces += 1
        return await super().replace(alert, expected_generation)


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
    reads = store.reads
    await echo(world, world.evaluator, other)
    assert store.reads - reads == 1  # only the other replica re-reads
    await other.on_tick(tick(1620))
    assert other.fired == 0
    assert len(world.notifications.items) == 1


async def test_a_rearmed_alert_is_followed_from_the_commit_without_its_echo(world: World) -> None:
    store = counted(world)
    alert = await create(world, rearm=True, cool_down=timedelta(minutes=1))
    await echo(world)  # the creation's announcement, already followed
    await world.evaluator.on_tick(tick(1610))
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
    assert world.evaluator.fired == 2


async def test_a_change_announced_before_the_echo_is_still_followed(world: World) -> None:
    """The skipped announcement may be the owner's; the own echo, published after the commit, is then re-read."""
    counted(world)
    alert = await create(world, rearm=True, cool_down=timedelta(minutes=1))
    await echo(world)
    await world.evaluator.on_tick(tick(1610))
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
    assert world.evaluator.fired == 1
    await world.evaluator.on_tick(tick(1710))
    assert world.evaluator.fired == 2


async def test_a_lost_race_is_re_read_and_the_crossing_fires_once(world: World) -> None:
    """Replica A reads the alert, replica B fires and commits it meanwhile: A's replace loses, A re-reads."""
    store = counted(world)
    other = world.evaluator_replica()
    alert = await create(world)
    await other.alert_changed(alert.id)
    await echo(world)
    notify: Callable[..., Awaitable[Notification | None]] = world.notifier.notify
    raced: list[str] = []

    async def racing(notification: Notification, **kw: object) -> Notification | None:
        if not raced:
            raced.append(notification.id)
            await other.on_tick(tick(1610))  # B reaches the same crossing between A's read and A's replace
        return await notify(notification, **kw)

    world.notifier.notify = racing  # type: ignore[method-assign]
    reloads = world.evaluator.reloads
    await world.evaluator.on_tick(tick(1610))
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
    world.changes.changed.clear()  # the echo was lost with the connection
    assert await world.evaluator.load() == 1
    reads = store.reads
    await world.evaluator.announced(alert.id)  # a later announcement is re-read, not taken for the echo
    assert store.reads - reads == 1
