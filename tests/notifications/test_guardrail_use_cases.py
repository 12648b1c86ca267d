"""Use-case tests of the P&L guardrails (decision 0300) on in-memory fakes: hand-computed days, no servers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from tests.eventually import eventually
from tests.notifications.conftest import World
from trademesh.kernel.errors import FailedPrecondition, InvalidArgument
from trademesh.services.core.page_tokens import Codec
from trademesh.services.notifications.model import (
    AlertCondition,
    AlertDraft,
    AlertState,
    DeliveryStatus,
    Notification,
    Preferences,
    QuietHours,
)
from trademesh.services.notifications.model.guardrails import DayPnl, next_ist_day_start
from trademesh.services.notifications.service import AlertEvaluator, AlertService, GuardrailWatch

INR = 1_000_000
ALICE, BOB = "alice", "bob"
DAY_1, DAY_2 = "2024-07-01", "2024-07-02"  # the fake clock starts at 10:30 IST on 1 July 2024


class QueuedPnlFeed:
    """A P&L feed whose readings the test pushes, per user; counts the streams opened."""

    def __init__(self) -> None:
        self.queues: dict[str, asyncio.Queue[DayPnl]] = {}
        self.opened: list[str] = []

    def queue(self, user_id: str) -> asyncio.Queue[DayPnl]:
        return self.queues.setdefault(user_id, asyncio.Queue())

    async def watch(self, user_id: str) -> AsyncIterator[DayPnl]:
        self.opened.append(user_id)
        queue = self.queue(user_id)
        while True:
            yield await queue.get()


@pytest.fixture
async def guarded(world: World) -> AsyncIterator[tuple[World, GuardrailWatch, QueuedPnlFeed]]:
    feed = QueuedPnlFeed()
    watch = GuardrailWatch(feed)
    world.evaluator = AlertEvaluator(
        store=world.alert_store,
        notifier=world.notifier,
        changes=world.changes,
        ticks=world.ticks,
        clock=world.clock,
        guardrails=watch,
    )
    yield world, watch, feed
    await watch.close()


def loss(limit_inr: int, **kw: object) -> AlertDraft:
    return AlertDraft(condition=AlertCondition.DAILY_LOSS_BEYOND, level_micros=limit_inr * INR, **kw)  # type: ignore[arg-type]


def drawdown(amount_inr: int = 0, basis_points: int = 0, **kw: object) -> AlertDraft:
    return AlertDraft(
        condition=AlertCondition.DRAWDOWN_FROM_PEAK,
        level_micros=amount_inr * INR,
        change_basis_points=basis_points,
        **kw,  # type: ignore[arg-type]
    )


async def add(world: World, alert_draft: AlertDraft, user: str = ALICE) -> str:
    alert = await world.alerts.create(user, str(uuid.uuid4()), alert_draft)
    await world.evaluator.alert_changed(alert.id)
    return alert.id


async def day(watch: GuardrailWatch, trading_date: str, *pnl_inr: float, user: str = ALICE) -> None:
    for value in pnl_inr:
        await watch.on_reading(user, DayPnl(trading_date, int(value * INR)))


def inbox(world: World, user: str = ALICE) -> list[Notification]:
    return sorted((n for n in world.notifications.items.values() if n.user_id == user), key=lambda n: n.sequence)


async def test_a_day_crossing_the_loss_limit_fires_once_and_the_next_day_re_arms(
    guarded: tuple[World, GuardrailWatch, QueuedPnlFeed],
) -> None:
    world, watch, _ = guarded
    alert_id = await add(world, loss(5000, rearm=True))
    # +1,000 → -3,000 → -4,999.99: within the limit; -5,000.00 reaches it; -6,000 and -5,200 are the same day.
    await day(watch, DAY_1, 1000, -3000, -4999.99)
    assert inbox(world) == []
    await day(watch, DAY_1, -5000, -6000, -5200)
    [first] = inbox(world)
    assert first.title == "Daily loss limit reached: -5000.00"
    assert first.alert_id == alert_id
    alert = await world.alerts.get(ALICE, alert_id)
    assert alert.state is AlertState.COOLING_DOWN
    assert alert.rearm_at == next_ist_day_start(world.clock.now)  # 2 July 00:00 IST
    assert alert.last_trigger_pnl_micros == -5000 * INR
    # Still 1 July: nothing re-arms, a further loss sends nothing.
    world.clock.advance(timedelta(hours=8))  # 18:30 IST
    await world.evaluator.tend()
    await day(watch, DAY_1, -9000)
    assert len(inbox(world)) == 1
    # 2 July 09:30 IST: armed again; a new day of readings crosses again and fires once more.
    world.clock.advance(timedelta(hours=15))
    await world.evaluator.tend()
    assert (await world.alerts.get(ALICE, alert_id)).state is AlertState.ARMED
    await day(watch, DAY_2, -100, -5500, -7000)
    assert [n.title for n in inbox(world)] == [
        "Daily loss limit reached: -5000.00",
        "Daily loss limit reached: -5500.00",
    ]
    assert (await world.alerts.get(ALICE, alert_id)).trigger_count == 2


async def test_drawdown_from_the_days_peak_fires_when_the_fall_reaches_the_amount(
    guarded: tuple[World, GuardrailWatch, QueuedPnlFeed],
) -> None:
    world, watch, _ = guarded
    await add(world, drawdown(3000))
    # Peak +4,500; +2,000 is a fall of 2,500; +1,500.50 of 2,999.50; +1,500 of exactly 3,000 → fires.
    await day(watch, DAY_1, 0, 2000, 4500, 2000, 1500.50)
    assert inbox(world) == []
    await day(watch, DAY_1, 1500, -2000)
    [notice] = inbox(world)
    assert notice.title == "Drawdown from today's peak: 3000.00"
    assert "from its peak of 4500.00 to 1500.00" in notice.body
    assert watch.peak(ALICE) is None  # one-shot: triggered, the user's stream is closed


async def test_drawdown_as_a_share_of_a_positive_peak(guarded: tuple[World, GuardrailWatch, QueuedPnlFeed]) -> None:
    world, watch, _ = guarded
    await add(world, drawdown(basis_points=5000))  # half of the peak
    await day(watch, DAY_1, -1000, -4000)  # no positive peak: a fall from a loss is not a share of anything
    assert inbox(world) == []
    await day(watch, DAY_1, 4000, 2001)  # peak 4,000; fall 1,999 < 2,000
    assert inbox(world) == []
    await day(watch, DAY_1, 2000)  # fall 2,000 = 50 % of 4,000
    assert [n.title for n in inbox(world)] == ["Drawdown from today's peak: 2000.00"]


async def test_a_new_trading_date_starts_a_new_peak(guarded: tuple[World, GuardrailWatch, QueuedPnlFeed]) -> None:
    world, watch, _ = guarded
    await add(world, drawdown(3000))
    await day(watch, DAY_1, 5000, 2500)  # fall 2,500
    await day(watch, DAY_2, 1000, -1000)  # yesterday's peak is gone: fall 2,000 from today's 1,000
    assert inbox(world) == []
    await day(watch, DAY_2, -2000)
    assert len(inbox(world)) == 1


async def test_readings_of_one_user_never_fire_anothers_guardrail(
    guarded: tuple[World, GuardrailWatch, QueuedPnlFeed],
) -> None:
    world, watch, _ = guarded
    await add(world, loss(1000), user=ALICE)
    await add(world, loss(1000), user=BOB)
    await day(watch, DAY_1, -2000, user=BOB)
    assert inbox(world, ALICE) == []
    assert len(inbox(world, BOB)) == 1


async def test_readings_come_from_one_stream_per_user_with_an_armed_guardrail(
    guarded: tuple[World, GuardrailWatch, QueuedPnlFeed],
) -> None:
    world, watch, feed = guarded
    first = await add(world, loss(1000))
    await add(world, drawdown(500))
    await world.alerts.create(ALICE, str(uuid.uuid4()), AlertDraft("NSE", "INFY", AlertCondition.PRICE_ABOVE, INR))

    async def opened() -> list[str]:
        return feed.opened

    async def notices_now() -> list[Notification]:
        return inbox(world)

    await eventually(opened, until=lambda users: users == [ALICE], what="one P&L stream for alice")
    await feed.queue(ALICE).put(DayPnl(DAY_1, 400 * INR))
    await feed.queue(ALICE).put(DayPnl(DAY_1, -1200 * INR))  # loss 1,200 ≥ 1,000 and fall 1,600 ≥ 500
    notices = await eventually(notices_now, until=lambda items: len(items) == 2, what="both guardrails")
    assert {n.alert_id for n in notices} >= {first}
    assert watch.users() == frozenset()  # both one-shot and fired: the stream is closed
    assert feed.opened == [ALICE]


async def test_an_expired_guardrail_never_fires(guarded: tuple[World, GuardrailWatch, QueuedPnlFeed]) -> None:
    world, watch, _ = guarded
    alert_id = await add(world, loss(1000, expires_at=world.clock.now + timedelta(minutes=5)))
    world.clock.advance(timedelta(minutes=6))
    await day(watch, DAY_1, -2000)
    assert inbox(world) == []
    assert (await world.alerts.get(ALICE, alert_id)).state is AlertState.EXPIRED


async def test_quiet_hours_drop_the_guardrail_email_and_keep_the_in_app_notice(
    guarded: tuple[World, GuardrailWatch, QueuedPnlFeed],
) -> None:
    world, watch, _ = guarded
    quiet = QuietHours(enabled=True, start_minute=10 * 60, end_minute=11 * 60)  # 10:00-11:00 IST; it is 10:30
    await world.preferences.update(
        ALICE, Preferences(email="a@example.com", quiet_hours=quiet), ["email", "quiet_hours"]
    )
    await add(world, loss(1000))
    await day(watch, DAY_1, -1500)
    assert len(inbox(world)) == 1
    assert [d.status for d in world.deliveries.deliveries.values()] == [DeliveryStatus.DROPPED]


async def test_guardrails_count_against_the_per_user_limit(
    guarded: tuple[World, GuardrailWatch, QueuedPnlFeed],
) -> None:
    world, _, _ = guarded
    for _ in range(3):
        await add(world, loss(1000))
    with pytest.raises(Exception, match="at most 3 active alerts"):
        await add(world, drawdown(10))


@pytest.mark.parametrize(
    ("alert_draft", "fields"),
    [
        (loss(0), {"alert.level_micros"}),
        (AlertDraft(condition=AlertCondition.DAILY_LOSS_BEYOND, level_micros=-5), {"alert.level_micros"}),
        (AlertDraft(condition=AlertCondition.DAILY_LOSS_BEYOND, level_micros=10**15 + 1), {"alert.level_micros"}),
        (loss(100, change_basis_points=10), {"alert.change_basis_points"}),
        (loss(100, exchange="NSE", symbol="INFY"), {"alert.instrument"}),
        (drawdown(), {"alert.level_micros"}),
        (drawdown(100, 500), {"alert.level_micros"}),
        (drawdown(basis_points=10_001), {"alert.change_basis_points"}),
        (drawdown(basis_points=-1), {"alert.change_basis_points"}),
        (loss(100, rearm=True, cool_down=timedelta(seconds=5)), {"alert.cool_down"}),
    ],
)
async def test_guardrail_limits_are_validated_with_field_violations(
    guarded: tuple[World, GuardrailWatch, QueuedPnlFeed], alert_draft: AlertDraft, fields: set[str]
) -> None:
    world, _, _ = guarded
    with pytest.raises(InvalidArgument) as raised:
        await world.alerts.create(ALICE, str(uuid.uuid4()), alert_draft)
    assert {violation.field for violation in raised.value.violations} == fields


async def test_a_re_arming_guardrail_needs_no_cool_down_and_waits_for_the_longer_of_both(
    guarded: tuple[World, GuardrailWatch, QueuedPnlFeed],
) -> None:
    world, watch, _ = guarded
    plain = await add(world, loss(1000, rearm=True))
    long = await add(world, loss(1000, rearm=True, cool_down=timedelta(days=2)))
    await day(watch, DAY_1, -1000)
    assert (await world.alerts.get(ALICE, plain)).rearm_at == next_ist_day_start(world.clock.now)
    assert (await world.alerts.get(ALICE, long)).rearm_at == world.clock.now + timedelta(days=2)


async def test_guardrails_are_refused_where_no_pnl_feed_is_configured(world: World) -> None:
    alerts = AlertService(
        store=world.alert_store,
        changes=world.changes,
        tokens=Codec(b"secret"),
        clock=world.clock,
        max_alerts_per_user=3,
        guardrails_enabled=False,
    )
    with pytest.raises(FailedPrecondition) as raised:
        await alerts.create(ALICE, str(uuid.uuid4()), loss(1000))
    assert raised.value.reason == "GUARDRAILS_NOT_CONFIGURED"
