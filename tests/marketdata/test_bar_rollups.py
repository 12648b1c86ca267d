"""Bar roll-ups (5-minute and IST day) from 1-minute bars: the model and GetBars' use case against fakes."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest

from tests.marketdata.fakes import InMemoryBarStore
from tests.marketdata.test_use_cases import IN_SESSION, INFY, TCS, World, nse
from trademesh.kernel.calendar import IST
from trademesh.kernel.errors import InvalidArgument
from trademesh.services.marketdata.model import (
    DAY_NANOS,
    FIVE_MINUTE_NANOS,
    MINUTE_NANOS,
    NANOS_PER_SECOND,
    Bar,
    BarInterval,
    interval_floor,
    roll_up,
)
from trademesh.services.marketdata.service import BarQuery


def _minute(start: int, open_: int, high: int, low: int, close: int, volume: int, oi: int = 0) -> Bar:
    return Bar(INFY, start, open_, high, low, close, volume, oi, complete=True)


def test_five_minute_bars_are_exact_roll_ups_of_their_minutes() -> None:
    base = IN_SESSION  # 11:00 IST, a 5-minute boundary
    minutes = [
        _minute(base + 4 * MINUTE_NANOS, 104, 109, 100, 107, 40, 7),
        _minute(base, 100, 103, 98, 101, 10, 3),
        _minute(base + 2 * MINUTE_NANOS, 101, 112, 99, 102, 20, 5),
        _minute(base + 5 * MINUTE_NANOS, 200, 201, 199, 200, 1, 9),
    ]
    first, second = roll_up(minutes, BarInterval.FIVE_MINUTES)
    assert (first.start_ns, first.open_micros, first.high_micros, first.low_micros, first.close_micros) == (
        base,
        100,
        112,
        98,
        107,
    )
    assert (first.volume, first.open_interest, first.complete) == (70, 7, True)
    assert (second.start_ns, second.open_micros, second.close_micros, second.volume) == (
        base + FIVE_MINUTE_NANOS,
        200,
        200,
        1,
    )
    # One running minute leaves its window incomplete.
    (running,) = roll_up([minutes[1], replace(minutes[2], complete=False)], BarInterval.FIVE_MINUTES)
    assert not running.complete


def test_a_day_bar_is_one_ist_day_whichever_utc_day_its_minutes_fall_on() -> None:
    ist_midnight = int(datetime(2025, 11, 25, tzinfo=IST).timestamp()) * NANOS_PER_SECOND
    early = _minute(ist_midnight + MINUTE_NANOS, 50, 60, 40, 55, 5)  # 00:01 IST = 18:31 UTC the day before
    late = _minute(ist_midnight + DAY_NANOS - MINUTE_NANOS, 70, 80, 30, 75, 6)  # 23:59 IST
    next_day = _minute(ist_midnight + DAY_NANOS, 1, 1, 1, 1, 1)
    assert interval_floor(early.start_ns, BarInterval.ONE_DAY) == ist_midnight
    day, following = roll_up([late, next_day, early], BarInterval.ONE_DAY)
    assert (day.start_ns, day.open_micros, day.high_micros, day.low_micros, day.close_micros, day.volume) == (
        ist_midnight,
        50,
        80,
        30,
        75,
        11,
    )
    assert following.start_ns == ist_midnight + DAY_NANOS
    # Rolling the 5-minute bars up gives the same day bar as rolling the minutes up.
    assert roll_up(roll_up([late, early], BarInterval.FIVE_MINUTES), BarInterval.ONE_DAY) == [day]


async def test_duplicate_saves_and_a_restarted_ingest_give_the_same_roll_ups() -> None:
    store = InMemoryBarStore()
    minutes = [_minute(IN_SESSION + i * MINUTE_NANOS, 100 + i, 110 + i, 90 + i, 105 + i, i) for i in range(7)]
    await store.save(minutes)
    once = dict(store.rollups[BarInterval.FIVE_MINUTES])
    await store.save(minutes[2:4])  # the same flush again
    await store.save(minutes)
    assert store.rollups[BarInterval.FIVE_MINUTES] == once
    (bar,) = [b for (key, start), b in once.items() if start == IN_SESSION]
    assert (bar.open_micros, bar.high_micros, bar.low_micros, bar.close_micros, bar.volume) == (100, 114, 90, 109, 10)


def _query(interval: int, start: int, **changes: Any) -> BarQuery:
    values: dict[str, Any] = dict(
        instrument=nse("INFY")[0], interval=interval, start_ns=start, end_ns=None, page_size=10
    )
    values.update(changes)
    return BarQuery(**values)


async def test_get_bars_serves_each_interval_and_settles_windows_by_time() -> None:
    now = IN_SESSION + 7 * MINUTE_NANOS + 30 * NANOS_PER_SECOND  # 11:07:30 IST
    world = World(now=now)
    await world.bars.save(
        [_minute(IN_SESSION + i * MINUTE_NANOS, 100 + i, 110 + i, 90 + i, 105 + i, 1) for i in range(8)]
        + [Bar(TCS, IN_SESSION, 1, 1, 1, 1, 1, 0, True)]
    )
    five = await world.service.get_bars(_query(BarInterval.FIVE_MINUTES, IN_SESSION - DAY_NANOS))
    assert [(b.start_ns, b.open_micros, b.close_micros, b.volume, b.complete) for b in five.bars] == [
        (IN_SESSION, 100, 109, 5, True),
        (IN_SESSION + FIVE_MINUTE_NANOS, 105, 112, 3, False),  # 11:05-11:10 is still running
    ]
    assert five.earliest_available_ns == IN_SESSION
    day_start = interval_floor(IN_SESSION, BarInterval.ONE_DAY)
    day = await world.service.get_bars(_query(BarInterval.ONE_DAY, day_start - 3 * DAY_NANOS))
    assert [(b.start_ns, b.open_micros, b.high_micros, b.low_micros, b.volume, b.complete) for b in day.bars] == [
        (day_start, 100, 117, 90, 8, False)
    ]
    minute = await world.service.get_bars(_query(BarInterval.ONE_MINUTE, IN_SESSION))
    assert len(minute.bars) == 8


async def test_roll_ups_page_and_outlive_the_one_minute_retention() -> None:
    long_ago = IN_SESSION - 200 * DAY_NANOS  # past the 30 days of 1-minute bars, within 365 days of 5-minute ones
    world = World()
    await world.bars.save([_minute(long_ago + i * FIVE_MINUTE_NANOS, 10 + i, 20, 5, 15, 1) for i in range(5)])
    world.bars.bars.clear()  # the 1-minute sweep ran
    assert (await world.service.get_bars(_query(BarInterval.ONE_MINUTE, long_ago))).bars == []
    seen: list[int] = []
    token = ""
    while True:
        page = await world.service.get_bars(_query(BarInterval.FIVE_MINUTES, long_ago, page_size=2, page_token=token))
        seen += [bar.open_micros for bar in page.bars]
        token = page.next_page_token
        if not token:
            break
    assert seen == [10, 11, 12, 13, 14]
    # Beyond 365 days the 5-minute bars are past their horizon; day bars have none.
    ancient = IN_SESSION - 400 * DAY_NANOS
    await world.bars.save([_minute(ancient, 7, 7, 7, 7, 1)])
    five = await world.service.get_bars(_query(BarInterval.FIVE_MINUTES, ancient - DAY_NANOS))
    assert five.bars[0].start_ns == long_ago
    day = await world.service.get_bars(_query(BarInterval.ONE_DAY, ancient - DAY_NANOS))
    assert [bar.open_micros for bar in day.bars] == [7, 10]
    assert day.earliest_available_ns == interval_floor(ancient, BarInterval.ONE_DAY)


async def test_a_page_token_is_tied_to_its_interval() -> None:
    world = World()
    await world.bars.save([_minute(IN_SESSION - DAY_NANOS + i * FIVE_MINUTE_NANOS, 1, 1, 1, 1, 1) for i in range(4)])
    start = IN_SESSION - 2 * DAY_NANOS
    token = (await world.service.get_bars(_query(BarInterval.FIVE_MINUTES, start, page_size=2))).next_page_token
    assert token
    with pytest.raises(InvalidArgument) as caught:
        await world.service.get_bars(_query(BarInterval.ONE_MINUTE, start, page_size=2, page_token=token))
    assert caught.value.reason == "PAGE_TOKEN_INVALID"


@pytest.mark.parametrize("interval", [0, 4, 99, -1])
async def test_an_unknown_interval_is_invalid(interval: int) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await World().service.get_bars(_query(interval, IN_SESSION - DAY_NANOS))
    assert caught.value.reason == "INVALID_INTERVAL"
    assert [violation.field for violation in caught.value.violations] == ["interval"]


@pytest.mark.parametrize("interval", [BarInterval.FIVE_MINUTES, BarInterval.ONE_DAY])
async def test_a_backwards_range_is_invalid_for_every_interval(interval: BarInterval) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await World().service.get_bars(_query(interval, IN_SESSION - DAY_NANOS, end_ns=IN_SESSION - 2 * DAY_NANOS))
    assert caught.value.reason == "INVALID_TIME_RANGE"
