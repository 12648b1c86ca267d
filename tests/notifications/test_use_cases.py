"""Use-case tests of the notification rules on in-memory fakes: milliseconds each, no servers."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tests.notifications.conftest import World
from trademesh.kernel.errors import InvalidArgument, NotFound, ResourceExhausted
from trademesh.services.notifications.model import (
    AlertCondition,
    AlertDraft,
    AlertState,
    Channel,
    DeliveryStatus,
    Notification,
    NotificationKind,
    Preferences,
    QuietHours,
    Tick,
)
from trademesh.services.notifications.service import TradeActivity, TradeRunNotices

INR = 1_000_000
ALICE, BOB = "alice", "bob"


def draft(
    condition: AlertCondition = AlertCondition.PRICE_CROSSING, level: int = 1600 * INR, **kw: object
) -> AlertDraft:
    values: dict[str, object] = {"exchange": "NSE", "symbol": "INFY", "condition": condition}
    if condition is AlertCondition.DAY_CHANGE_BEYOND:
        values["change_basis_points"] = kw.pop("change", 200)
    else:
        values["level_micros"] = level
    values.update(kw)
    return AlertDraft(**values)  # type: ignore[arg-type]


def tick(price: float, *, close: float = 1500.0, instrument: str = "NSE:INFY") -> Tick:
    return Tick(instrument, int(price * INR), int(price * INR) - int(close * INR), 0)


async def create(world: World, user: str = ALICE, **kw: object) -> str:
    alert = await world.alerts.create(user, str(uuid.uuid4()), draft(**kw))  # type: ignore[arg-type]
    await world.evaluator.alert_changed(alert.id)
    return alert.id


async def feed(world: World, *prices: float) -> None:
    for price in prices:
        await world.evaluator.on_tick(tick(price))
        await world.evaluator.settled()  # the firing task fired what the tick queued


def price_alerts(world: World, user: str = ALICE) -> list[Notification]:
    return [
        n for n in world.notifications.items.values() if n.user_id == user and n.kind is NotificationKind.PRICE_ALERT
    ]


async def test_create_validates_every_field(world: World) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await world.alerts.create(
            ALICE,
            str(uuid.uuid4()),
            AlertDraft(
                exchange="XYZ",
                symbol="bad symbol!",
                condition=AlertCondition.PRICE_ABOVE,
                level_micros=-1,
                rearm=True,
                note="x" * 201,
                expires_at=world.clock.now - timedelta(seconds=1),
            ),
        )
    fields = {v.field for v in caught.value.violations}
    assert fields == {
        "alert.instrument.exchange",
        "alert.instrument.symbol",
        "alert.level_micros",
        "alert.cool_down",
        "alert.expire_time",
        "alert.note",
    }
    with pytest.raises(InvalidArgument) as caught:
        await world.alerts.create(ALICE, str(uuid.uuid4()), draft(AlertCondition.DAY_CHANGE_BEYOND, change=0))
    assert [v.field for v in caught.value.violations] == ["alert.change_basis_points"]
    with pytest.raises(InvalidArgument) as caught:
        await world.alerts.create(ALICE, "not-a-uuid", draft())
    assert caught.value.reason == "REQUEST_ID_INVALID"
    assert world.alert_store.alerts == {}


async def test_create_is_idempotent_by_request_id_and_limited_per_user(world: World) -> None:
    request_id = str(uuid.uuid4())
    first = await world.alerts.create(ALICE, request_id, draft())
    again = await world.alerts.create(ALICE, request_id, draft())
    assert again.id == first.id
    assert len(world.alert_store.alerts) == 1
    await world.alerts.create(ALICE, str(uuid.uuid4()), draft())
    await world.alerts.create(ALICE, str(uuid.uuid4()), draft())
    with pytest.raises(ResourceExhausted) as caught:
        await world.alerts.create(ALICE, str(uuid.uuid4()), draft())
    assert caught.value.reason == "ALERT_LIMIT_REACHED"
    # A retry of an earlier create still answers at the limit; Bob has his own limit.
    assert (await world.alerts.create(ALICE, request_id, draft())).id == first.id
    await world.alerts.create(BOB, request_id, draft())
    assert len(world.alert_store.alerts) == 4


async def test_every_alert_operation_is_owner_only(world: World) -> None:
    alert_id = await create(world, ALICE)
    with pytest.raises(NotFound):
        await world.alerts.get(BOB, alert_id)
    with pytest.raises(NotFound):
        await world.alerts.update(BOB, alert_id, draft(level=1700 * INR), ["level_micros"])
    with pytest.raises(NotFound):
        await world.alerts.delete(BOB, alert_id)
    assert (await world.alerts.list_alerts(BOB, None, 0, ""))[0] == []
    assert (await world.alerts.get(ALICE, alert_id)).level_micros == 1600 * INR
    alerts, _ = await world.alerts.list_alerts(ALICE, None, 0, "")
    assert [a.id for a in alerts] == [alert_id]


async def test_list_alerts_pages_and_rejects_foreign_tokens(world: World) -> None:
    ids = [await create(world) for _ in range(3)]
    world.clock.advance(timedelta(seconds=1))
    first, token = await world.alerts.list_alerts(ALICE, None, 2, "")
    second, last = await world.alerts.list_alerts(ALICE, None, 2, token)
    assert [a.id for a in first + second] == sorted(ids, reverse=True)
    assert last == ""
    with pytest.raises(InvalidArgument):
        await world.alerts.list_alerts(BOB, None, 2, token)
    with pytest.raises(InvalidArgument):
        await world.alerts.list_alerts(ALICE, AlertState.ARMED, 2, token)


async def test_crossing_fires_exactly_once_per_crossing_under_a_burst(world: World) -> None:
    await create(world, rearm=False)
    await feed(world, 1590)  # the first tick only tells the side
    await feed(world, *[1601, 1590, 1620, 1580, 1600, 1650] * 50)
    assert len(price_alerts(world)) == 1
    alert = next(iter(world.alert_store.alerts.values()))
    assert alert.state is AlertState.TRIGGERED
    assert alert.trigger_count == 1
    assert alert.last_trigger_price_micros == 1601 * INR


async def test_first_tick_after_arming_a_crossing_alert_does_not_fire(world: World) -> None:
    await feed(world, 1650)
    await create(world)
    await feed(world, 1650, 1640)
    assert price_alerts(world) == []
    await feed(world, 1599)
    assert len(price_alerts(world)) == 1


async def test_rearming_alert_stays_silent_during_cool_down_then_fires_on_the_next_crossing(world: World) -> None:
    alert_id = await create(world, rearm=True, cool_down=timedelta(minutes=5))
    await feed(world, 1590, 1610, 1590, 1610)
    assert len(price_alerts(world)) == 1
    assert world.alert_store.alerts[alert_id].state is AlertState.COOLING_DOWN
    world.clock.advance(timedelta(minutes=5))
    await feed(world, 1610)  # re-armed by this tick's tend; it tells the side
    assert world.alert_store.alerts[alert_id].state is AlertState.ARMED
    await feed(world, 1610, 1599, 1598, 1590)
    notices = price_alerts(world)
    assert len(notices) == 2
    assert {n.id for n in notices} == {f"{alert_id}.1", f"{alert_id}.3"}


async def test_above_and_below_fire_once_and_touch_only_reached_alerts(world: World) -> None:
    above = await create(world, condition=AlertCondition.PRICE_ABOVE, level=1600 * INR)
    far = await create(world, condition=AlertCondition.PRICE_ABOVE, level=1800 * INR)
    below = await create(world, condition=AlertCondition.PRICE_BELOW, level=1500 * INR)
    await feed(world, *[1601, 1650, 1599] * 20)
    assert [n.alert_id for n in price_alerts(world)] == [above]
    await feed(world, 1500)
    assert [n.alert_id for n in price_alerts(world)] == [above, below]
    assert world.alert_store.alerts[far].state is AlertState.ARMED
    assert far in world.evaluator.index


async def test_day_change_fires_on_either_side(world: World) -> None:
    up = await create(world, condition=AlertCondition.DAY_CHANGE_BEYOND, change=200)
    await feed(world, 1520, 1529.9)  # +1.99 %
    assert price_alerts(world) == []
    await feed(world, 1530, 1400)  # +2.00 %, then -6.7 %: one alert fires once
    assert [n.alert_id for n in price_alerts(world)] == [up]
    assert "+2.00%" in price_alerts(world)[0].title


async def test_expired_alert_never_fires_and_is_marked_expired(world: World) -> None:
    alert_id = await create(
        world, condition=AlertCondition.PRICE_ABOVE, expires_at=world.clock.now + timedelta(hours=1)
    )
    world.clock.advance(timedelta(hours=1))
    await feed(world, 1700)
    assert price_alerts(world) == []
    assert world.alert_store.alerts[alert_id].state is AlertState.EXPIRED
    assert alert_id not in world.evaluator.index


async def test_two_replicas_fire_a_crossing_once(world: World) -> None:
    other = world.evaluator_replica()
    alert_id = await create(world, rearm=False)
    await other.alert_changed(alert_id)
    for evaluator in (world.evaluator, other):
        await evaluator.on_tick(tick(1590))
    for evaluator in (world.evaluator, other):
        await evaluator.on_tick(tick(1610))
        await evaluator.settled()
    assert len(price_alerts(world)) == 1
    assert world.evaluator.fired + other.fired == 1


async def test_evaluator_rebuilds_its_index_on_start(world: World) -> None:
    armed = await create(world, condition=AlertCondition.PRICE_ABOVE)
    cooling = await create(
        world, condition=AlertCondition.PRICE_BELOW, level=1500 * INR, rearm=True, cool_down=timedelta(minutes=1)
    )
    await feed(world, 1400)
    restarted = world.evaluator_replica()
    assert await restarted.load() == 2
    assert armed in restarted.index
    assert cooling not in restarted.index
    assert "NSE:INFY" in world.ticks.watched
    world.clock.advance(timedelta(minutes=1))
    await restarted.on_tick(tick(1700))
    await restarted.settled()
    assert sorted(n.alert_id for n in price_alerts(world)) == sorted([armed, cooling])


async def test_update_rearms_with_new_values_and_delete_stops_evaluation(world: World) -> None:
    alert_id = await create(world, condition=AlertCondition.PRICE_ABOVE)
    await feed(world, 1610)
    updated = await world.alerts.update(ALICE, alert_id, draft(level=1700 * INR), ["level_micros"])
    await world.evaluator.alert_changed(alert_id)
    assert updated.state is AlertState.ARMED
    assert updated.level_micros == 1700 * INR
    await feed(world, 1650)
    assert len(price_alerts(world)) == 1
    await world.alerts.delete(ALICE, alert_id)
    await world.evaluator.alert_changed(alert_id)
    await feed(world, 1800)
    assert len(price_alerts(world)) == 1
    assert len(world.evaluator.index) == 0
    with pytest.raises(InvalidArgument):
        await world.alerts.update(ALICE, alert_id, draft(), ["instrument"])


async def _notices(world: World, user: str, count: int) -> list[Notification]:
    stored = []
    for number in range(count):
        item = await world.notifier.notify(
            Notification(f"n{user}{number}", user, NotificationKind.SYSTEM, f"title {number}", "body", world.clock.now)
        )
        assert item is not None
        stored.append(item)
    return stored


async def test_inbox_pages_filters_unread_and_marks_read_owner_only(world: World) -> None:
    items = await _notices(world, ALICE, 5)
    await _notices(world, BOB, 1)
    page, token, unread = await world.inbox.list_notifications(ALICE, False, 2, "")
    assert [n.sequence for n in page] == [5, 4]
    assert unread == 5
    assert await world.inbox.mark_read(ALICE, [items[4].id, items[3].id, "nbob0"]) == 3
    assert (await world.notifications.get(BOB, "nbob0")).read is False  # type: ignore[union-attr]
    unread_page, _, _ = await world.inbox.list_notifications(ALICE, True, 10, "")
    assert [n.sequence for n in unread_page] == [3, 2, 1]
    rest, last, _ = await world.inbox.list_notifications(ALICE, False, 2, token)
    assert [n.sequence for n in rest] == [3, 2]
    assert last
    with pytest.raises(InvalidArgument):
        await world.inbox.list_notifications(ALICE, True, 2, token)  # issued for other filters
    with pytest.raises(NotFound):
        await world.inbox.delete(BOB, items[0].id)
    assert await world.inbox.mark_all_read(ALICE) == 3
    assert await world.inbox.mark_read(ALICE, [items[0].id]) == 0
    with pytest.raises(InvalidArgument):
        await world.inbox.mark_read(ALICE, [])


async def test_a_redelivered_notification_is_stored_once(world: World) -> None:
    notice = Notification("same", ALICE, NotificationKind.SYSTEM, "t", "b", world.clock.now)
    assert await world.notifier.notify(notice) is not None
    assert await world.notifier.notify(notice) is None
    assert len(world.notifications.items) == 1


async def test_watch_resumes_without_missing_or_doubling(world: World) -> None:
    await _notices(world, ALICE, 3)
    stream = world.inbox.watch(ALICE, "", 2)
    first = await anext(stream)
    assert first.snapshot is not None
    assert [n.sequence for n in first.snapshot] == [3, 2]
    assert first.unread_count == 3
    more = await _notices_after(world, 3, 2)
    live = [await anext(stream), await anext(stream)]
    assert [e.notification.id for e in live if e.notification] == [n.id for n in more]
    token = world.inbox.resume_token(ALICE, live[0].resume_sequence)
    await stream.aclose()
    await _notices_after(world, 5, 1)  # while disconnected
    resumed = world.inbox.watch(ALICE, token, 0)
    replay = [await anext(resumed) for _ in range(2)]
    assert [e.notification.sequence for e in replay if e.notification] == [5, 6]
    assert replay[-1].unread_count == 6
    heartbeat = await anext(resumed)
    assert heartbeat.heartbeat
    assert heartbeat.resume_sequence == 6
    await resumed.aclose()
    with pytest.raises(InvalidArgument):
        await anext(world.inbox.watch(BOB, token, 0))  # another user's token


async def _notices_after(world: World, start: int, count: int) -> list[Notification]:
    out = []
    for number in range(start, start + count):
        item = await world.notifier.notify(
            Notification(f"late{number}", ALICE, NotificationKind.SYSTEM, "t", "b", world.clock.now)
        )
        assert item is not None
        out.append(item)
    return out


async def test_email_goes_by_preferences_once_per_notification(world: World) -> None:
    await world.preferences.update(ALICE, Preferences(email="alice@example.com"), ["email"])
    await create(world, condition=AlertCondition.PRICE_ABOVE)
    await feed(world, 1601)
    notice = Notification("n1", ALICE, NotificationKind.SYSTEM, "t", "b", world.clock.now)
    await world.notifier.notify(notice)  # SYSTEM: in-app only by default
    world.mail.failures = 1
    assert await world.dispatcher.dispatch_due() == 0  # the SMTP server failed: retried later
    world.clock.advance(timedelta(minutes=1))
    assert await world.dispatcher.dispatch_due() == 1
    assert await world.dispatcher.dispatch_due() == 0
    [mail] = world.mail.sent
    assert mail.to == "alice@example.com"
    assert mail.subject == "INFY is at or above 1600.00"


async def test_quiet_hours_hold_trade_notices_and_drop_price_alert_email(world: World) -> None:
    quiet = QuietHours(enabled=True, start_minute=22 * 60, end_minute=7 * 60)
    channels = {NotificationKind.TRADE_ALERT: frozenset({Channel.IN_APP, Channel.EMAIL})}
    await world.preferences.update(
        ALICE,
        Preferences(email="a@example.com", quiet_hours=quiet, channels=channels),
        ["email", "quiet_hours", "kind_channels"],
    )
    world.clock.now = world.clock.now.replace(hour=18, minute=0)  # 23:30 IST
    await create(world, condition=AlertCondition.PRICE_ABOVE)
    await feed(world, 1601)
    await world.notifier.notify(
        Notification("imp", ALICE, NotificationKind.TRADE_ALERT, "Import", "b", world.clock.now)
    )
    assert len(world.notifications.items) == 2  # the inbox gets both at once
    assert await world.dispatcher.dispatch_due() == 0
    statuses = {d.notification_id: d.status for d in world.deliveries.deliveries.values()}
    assert statuses["imp"] is DeliveryStatus.PENDING
    assert [s for key, s in statuses.items() if key != "imp"] == [DeliveryStatus.DROPPED]
    world.clock.advance(timedelta(hours=8))  # 07:30 IST
    assert await world.dispatcher.dispatch_due() == 1
    assert [m.subject for m in world.mail.sent] == ["Import"]


async def test_preferences_validate_and_merge_channels(world: World) -> None:
    with pytest.raises(InvalidArgument):
        await world.preferences.update(ALICE, Preferences(email="not-an-address"), ["email"])
    with pytest.raises(InvalidArgument):
        await world.preferences.update(ALICE, Preferences(quiet_hours=QuietHours(True, 1440, 0)), ["quiet_hours"])
    with pytest.raises(InvalidArgument):
        await world.preferences.update(ALICE, Preferences(), [])
    updated = await world.preferences.update(
        ALICE, Preferences(channels={NotificationKind.PRICE_ALERT: frozenset()}), ["kind_channels"]
    )
    assert updated.channels_for(NotificationKind.PRICE_ALERT) == frozenset()
    assert updated.channels_for(NotificationKind.TRADE_ALERT) == frozenset({Channel.IN_APP, Channel.WEBHOOK})
    assert (await world.preferences.get(BOB)) == Preferences()


def test_a_500_trade_import_makes_one_notice_per_run(world: World) -> None:
    runs = TradeRunNotices(quiet_seconds=2)
    now = world.clock.now
    for number in range(500):
        runs.add(TradeActivity(f"{number}-0", ALICE, "import", "imp-1", created=True), now)
    runs.add(TradeActivity("900-0", ALICE, "sync", "acct-1", created=False), now)
    runs.add(TradeActivity("901-0", BOB, "import", "imp-1", created=True), now)
    assert runs.finished(now + timedelta(seconds=1)) == []
    done = runs.finished(now + timedelta(seconds=2))
    assert sorted(run.notification.id for run in done) == sorted(
        ["import.alice.imp-1", "sync.alice.900-0", "import.bob.imp-1"]
    )
    alice_import = next(run for run in done if run.notification.id == "import.alice.imp-1")
    assert len(alice_import.entries) == 500
    assert alice_import.notification.title == "Import finished: 500 new trades"
    assert len(runs) == 0
