"""MongoBarStore against the real database: exact 5-minute and day roll-ups, idempotence, retention per interval."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from trademesh.kernel.calendar import IST
from trademesh.kernel.instruments import Exchange
from trademesh.services.marketdata.model import (
    DAY_NANOS,
    FIVE_MINUTE_NANOS,
    MINUTE_NANOS,
    NANOS_PER_SECOND,
    Bar,
    BarInterval,
    InstrumentKey,
    roll_up,
)
from trademesh.services.marketdata.store import MongoBarStore

INFY = InstrumentKey(Exchange.NSE, "INFY")
TCS = InstrumentKey(Exchange.NSE, "TCS")


def _ns(moment: datetime) -> int:
    return int(moment.timestamp()) * NANOS_PER_SECOND


def _ohlcv(bars: list[Bar]) -> list[tuple[int, int, int, int, int, int, int]]:
    return [
        (b.start_ns, b.open_micros, b.high_micros, b.low_micros, b.close_micros, b.volume, b.open_interest)
        for b in bars
    ]


@pytest.fixture
async def database(core_settings: Callable[..., dict[str, Any]]) -> AsyncIterator[Any]:
    values = core_settings()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(values["mongo_url"])
    yield client[values["mongo_database"]]
    await client.close()


async def test_roll_ups_are_exact_and_idempotent_across_saves_and_restarts(database: Any) -> None:
    base = _ns(datetime(2026, 11, 24, 10, 0, tzinfo=IST))  # a Tuesday, 10:00 IST
    minutes = [
        Bar(INFY, base + i * MINUTE_NANOS, 1000 + i, 1010 + 3 * i, 990 - i, 1005 + i, 10 * (i + 1), i, True)
        for i in range(12)
    ]
    store = MongoBarStore(database)
    await store.save(minutes[:7])
    await store.save(minutes[5:])  # overlapping flushes, as the ingest writes running bars again
    await store.save(minutes[3:4])  # a duplicate
    await MongoBarStore(database).save(minutes[8:10])  # a restarted ingest writes the same minutes again
    await store.save([Bar(TCS, base, 1, 1, 1, 1, 1, 0, True)])  # another instrument stays apart

    five, more = await store.range(INFY, base - DAY_NANOS, base + DAY_NANOS, 100, BarInterval.FIVE_MINUTES)
    assert not more
    assert _ohlcv(five) == _ohlcv(roll_up(minutes, BarInterval.FIVE_MINUTES))
    assert _ohlcv(five)[0] == (base, 1000, 1022, 986, 1009, 150, 4)
    day_start = _ns(datetime(2026, 11, 24, tzinfo=IST))
    days, _ = await store.range(INFY, day_start - 5 * DAY_NANOS, day_start + DAY_NANOS, 100, BarInterval.ONE_DAY)
    assert _ohlcv(days) == [(day_start, 1000, 1043, 979, 1016, sum(10 * (i + 1) for i in range(12)), 11)]

    # A minute rewritten (the ingest's later, fuller version of it) replaces, never adds to, the roll-up.
    await store.save([Bar(INFY, base, 1000, 2000, 990, 1005, 999, 0, True)])
    five, _ = await store.range(INFY, base, base + FIVE_MINUTE_NANOS, 10, BarInterval.FIVE_MINUTES)
    assert (five[0].high_micros, five[0].volume) == (2000, 999 + 20 + 30 + 40 + 50)
    days, _ = await store.range(INFY, day_start, day_start + DAY_NANOS, 10, BarInterval.ONE_DAY)
    assert days[0].high_micros == 2000

    page, more = await store.range(INFY, base, base + DAY_NANOS, 2, BarInterval.FIVE_MINUTES)
    assert more
    assert [bar.start_ns for bar in page] == [base, base + FIVE_MINUTE_NANOS]
    assert await store.earliest(INFY, 0, base + DAY_NANOS, BarInterval.FIVE_MINUTES) == base
    assert await store.earliest(INFY, 0, base + DAY_NANOS, BarInterval.ONE_DAY) == day_start


async def test_a_day_bar_joins_an_ist_day_split_over_two_utc_days(database: Any) -> None:
    store = MongoBarStore(database)
    ist_midnight = _ns(datetime(2026, 11, 25, tzinfo=IST))
    early = Bar(INFY, ist_midnight + 5 * MINUTE_NANOS, 50, 60, 40, 55, 5, 0, True)  # 18:35 UTC on the 24th
    late = Bar(INFY, ist_midnight + 12 * 3600 * NANOS_PER_SECOND, 70, 80, 30, 75, 6, 0, True)  # 06:30 UTC on the 25th
    await store.save([late])
    await store.save([early])
    days, _ = await store.range(INFY, ist_midnight - DAY_NANOS, ist_midnight + 2 * DAY_NANOS, 10, BarInterval.ONE_DAY)
    assert _ohlcv(days) == [(ist_midnight, 50, 80, 30, 75, 11, 0)]


async def test_roll_ups_outlive_the_one_minute_sweep_and_day_bars_outlive_the_five_minute_one(database: Any) -> None:
    store = MongoBarStore(database)
    old = _ns(datetime.now(UTC) - timedelta(days=45))
    old += 4 * 3600 * NANOS_PER_SECOND - old % DAY_NANOS  # 04:00 UTC: the minutes below share one UTC day
    await store.save([Bar(INFY, old + i * MINUTE_NANOS, 100 + i, 120, 80, 110, 2, 0, True) for i in range(3)])
    # A minute document written before roll-ups existed (or whose roll-up write failed): the sweep rolls it up.
    recent = old + 10 * MINUTE_NANOS
    day = datetime.fromtimestamp(recent / NANOS_PER_SECOND, UTC).strftime("%Y-%m-%d")
    slot = datetime.fromtimestamp(recent / NANOS_PER_SECOND, UTC).strftime("%H%M")
    await database["bars"].update_one(
        {"_id": f"{TCS}:{day}"},
        {
            "$set": {
                f"bars.{slot}": {"o": 7, "h": 9, "l": 6, "c": 8, "v": 3, "oi": 0, "complete": True},
                "day": day,
                "instrument": str(TCS),
            }
        },
        upsert=True,
    )
    before, _ = await store.range(INFY, old, old + DAY_NANOS, 10, BarInterval.FIVE_MINUTES)

    assert await store.delete_before(datetime.now(UTC) - timedelta(days=30)) >= 2
    assert (await store.range(INFY, old, old + DAY_NANOS, 10))[0] == []
    after, _ = await store.range(INFY, old, old + DAY_NANOS, 10, BarInterval.FIVE_MINUTES)
    assert _ohlcv(after) == _ohlcv(before) == [(old, 100, 120, 80, 110, 6, 0)]
    tcs, _ = await store.range(TCS, old, old + DAY_NANOS, 10, BarInterval.FIVE_MINUTES)
    assert _ohlcv(tcs) == [(recent, 7, 9, 6, 8, 3, 0)]

    # 20 days of 5-minute retention: the 45-day-old 5-minute bars go, their day bars stay.
    assert await store.delete_five_minute_before(datetime.now(UTC) - timedelta(days=20)) >= 1
    assert (await store.range(INFY, old, old + DAY_NANOS, 10, BarInterval.FIVE_MINUTES))[0] == []
    assert await store.earliest(INFY, 0, _ns(datetime.now(UTC)), BarInterval.FIVE_MINUTES) is None
    days, _ = await store.range(INFY, old - DAY_NANOS, old + DAY_NANOS, 10, BarInterval.ONE_DAY)
    assert [(bar.open_micros, bar.volume) for bar in days] == [(100, 6)]
