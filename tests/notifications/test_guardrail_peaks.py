"""The day's peak of the P&L guardrails is shared by the replicas (decision 0300): a user's P&L stream that moves
to another replica (sharding, decision 0340, or a restart) keeps the day's peak, so a drawdown is measured from
the real high. Use cases on fakes (two evaluators over one store) and the Redis adapter on a real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

from redis.asyncio import Redis

from tests.notifications.conftest import World
from trademesh.services.notifications.guardrail_peaks import PEAKS_PREFIX, RedisDayPeaks
from trademesh.services.notifications.model import AlertCondition, AlertDraft, Notification
from trademesh.services.notifications.model.guardrails import DayPnl
from trademesh.services.notifications.service import AlertEvaluator, GuardrailWatch

INR = 1_000_000
ALICE = "alice"
DAY = "2024-07-01"  # the fake clock's day


class MemoryDayPeaks:
    """The DayPeaks port in memory (what ZADD GT does), optionally failing."""

    def __init__(self) -> None:
        self.peaks: dict[tuple[str, str], int] = {}
        self.failing = False

    async def raise_to(self, user_id: str, trading_date: str, pnl_micros: int) -> int:
        if self.failing:
            raise ConnectionError("redis is down")
        key = (user_id, trading_date)
        self.peaks[key] = max(self.peaks.get(key, pnl_micros), pnl_micros)
        return self.peaks[key]


class NoStream:
    """A P&L feed whose streams never yield: the test hands readings to `on_reading` itself."""

    async def watch(self, user_id: str) -> AsyncIterator[DayPnl]:
        await asyncio.Event().wait()
        yield DayPnl(DAY, 0)  # pragma: no cover - never reached


def replica(world: World, peaks: MemoryDayPeaks | None) -> GuardrailWatch:
    """One replica's guardrail watch and evaluator over the world's shared store."""
    watch = GuardrailWatch(NoStream(), peaks=peaks)
    AlertEvaluator(
        store=world.alert_store,
        notifier=world.notifier,
        changes=world.changes,
        ticks=world.ticks,
        clock=world.clock,
        guardrails=watch,
    )
    return watch


async def guard(world: World, watch: GuardrailWatch, amount_inr: int) -> None:
    draft = AlertDraft(condition=AlertCondition.DRAWDOWN_FROM_PEAK, level_micros=amount_inr * INR)
    alert = await world.alerts.create(ALICE, str(uuid.uuid4()), draft)
    watch.track(alert)


async def readings(watch: GuardrailWatch, *pnl_inr: int) -> None:
    for value in pnl_inr:
        await watch.on_reading(ALICE, DayPnl(DAY, value * INR))


def inbox(world: World) -> list[Notification]:
    return sorted(world.notifications.items.values(), key=lambda n: n.sequence)


async def test_a_stream_moved_to_another_replica_measures_the_drawdown_from_the_days_real_peak(world: World) -> None:
    peaks = MemoryDayPeaks()
    first, second = replica(world, peaks), replica(world, peaks)
    await guard(world, first, 3000)
    # Replica 1 sees the day rise to +5,000, then the user's stream moves (replica 1 stops following it).
    await readings(first, 1000, 5000, 4000)
    await first.close()
    await guard(world, second, 3000)
    # Replica 2's first reading is +2,500: 2,500 below the shared peak — within the limit; +2,000 reaches it.
    await readings(second, 2500)
    assert inbox(world) == []
    assert second.peak(ALICE) == 5000 * INR
    await readings(second, 2000)
    [notice] = inbox(world)
    assert "from its peak of 5000.00 to 2000.00" in notice.body
    await second.close()


async def test_without_a_shared_peak_the_moved_stream_would_start_from_its_first_reading(world: World) -> None:
    # The same day without the port (the old behaviour, kept when Redis is not configured): the new replica's peak
    # is its first reading, so the same fall reaches nothing — what the shared peak fixes.
    first, second = replica(world, None), replica(world, None)
    await guard(world, first, 3000)
    await readings(first, 1000, 5000, 4000)
    await first.close()
    await guard(world, second, 3000)
    await readings(second, 2500, 2000)
    assert second.peak(ALICE) == 2500 * INR
    assert inbox(world) == []
    await second.close()


async def test_a_failing_peak_store_falls_back_to_the_replicas_own_peak(world: World) -> None:
    peaks = MemoryDayPeaks()
    peaks.failing = True
    watch = replica(world, peaks)
    await guard(world, watch, 3000)
    await readings(watch, 4500, 1500)
    [notice] = inbox(world)
    assert "from its peak of 4500.00 to 1500.00" in notice.body
    await watch.close()


async def test_redis_keeps_the_highest_value_of_the_day_per_user(redis: Redis) -> None:
    peaks = RedisDayPeaks(redis)
    day = DAY
    user, other = f"u-{uuid.uuid4().hex}", f"u-{uuid.uuid4().hex}"
    assert await peaks.raise_to(user, day, -2_000 * INR) == -2_000 * INR  # a day that starts in loss
    assert await peaks.raise_to(user, day, 1_500 * INR) == 1_500 * INR
    assert await peaks.raise_to(user, day, 900 * INR) == 1_500 * INR  # lower: kept
    assert await peaks.raise_to(other, day, 10 * INR) == 10 * INR  # per user
    # Two replicas raising at once: the larger wins whatever the order.
    results = await asyncio.gather(*(peaks.raise_to(user, day, value * INR) for value in (1_600, 3_100, 2_000)))
    assert max(results) == 3_100 * INR
    assert await peaks.raise_to(user, day, 0) == 3_100 * INR
    # Micros stay exact up to what a trader's day can reach (scores are doubles: exact below 2^53).
    assert await peaks.raise_to(user, day, 9_000_000_000 * INR + 1) == 9_000_000_000 * INR + 1
    assert 0 < await redis.ttl(PEAKS_PREFIX + day) <= 2 * 24 * 3600
