"""MAE/MFE use cases on in-memory fakes (decision 0270): hand-computed long and short round trips, the quality of
each measurement (EXACT, FROM_BARS, PARTIAL, UNAVAILABLE), the recorder's rules and the report summary."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.analytics.excursion_fakes import FakeTickFeed, InMemoryBarSource, InMemoryExcursionStore
from tests.analytics.fakes import (
    InMemoryAnalyticsCache,
    InMemoryQuotes,
    InMemorySettingsStore,
    InMemoryTradeSource,
    ManualClock,
)
from trademesh.analytics.v1 import excursion_pb2
from trademesh.services.analytics.calendar_mapping import day_trips_to_proto
from trademesh.services.analytics.excursions import ExcursionRecorder
from trademesh.services.analytics.model import (
    Category,
    ChangeKind,
    Journal,
    JournalChange,
    JournalFill,
    ReportQuery,
    to_micros,
)
from trademesh.services.analytics.model.excursions import (
    Bar,
    BarWindow,
    Excursion,
    ExcursionQuality,
    PriceRange,
    excursion_stats,
    trip_shape,
)
from trademesh.services.analytics.model.periods import Period
from trademesh.services.analytics.model.trip_fills import fills_of_trips
from trademesh.services.analytics.server import Analytics, bootstrap
from trademesh.services.analytics.settings import AnalyticsSettings

MICROS = 1_000_000
SECOND = MICROS
MINUTE = 60 * SECOND
# Monday 2 Nov 2026, 09:20 IST: the round trips below close the same IST day.
T0 = to_micros(datetime(2026, 11, 2, 3, 50, tzinfo=UTC))
DAY = "2026-11-02"
INFY, TCS, SBIN = ("INFY", "NSE"), ("TCS", "NSE"), ("SBIN", "NSE")
EXACT, FROM_BARS = ExcursionQuality.EXACT, ExcursionQuality.FROM_BARS
PARTIAL, UNAVAILABLE = ExcursionQuality.PARTIAL, ExcursionQuality.UNAVAILABLE


def fill(trade_id: str, symbol: str, buy: bool, units: int, rupees: int, time_us: int, risk: int = 0) -> JournalFill:
    return JournalFill(
        trade_id=trade_id,
        symbol=symbol,
        exchange="NSE",
        buy=buy,
        quantity_micros=units * MICROS,
        price_micros=rupees * MICROS,
        fees_micros=0,
        time_us=time_us,
        create_time_us=time_us,
        category=Category.INTRADAY,
        planned_risk_micros=risk * MICROS,
    )


class World:
    """The analytics use cases on fakes, a recorder on a fake tick feed, a clock the test moves."""

    def __init__(self) -> None:
        self.clock = ManualClock(T0)
        self.trades = InMemoryTradeSource()
        self.store = InMemoryExcursionStore()
        self.bars = InMemoryBarSource()
        self.feed = FakeTickFeed()
        self.analytics: Analytics = bootstrap(
            AnalyticsSettings(),
            trades=self.trades,
            settings_store=InMemorySettingsStore(),
            cache=InMemoryAnalyticsCache(),
            quotes=InMemoryQuotes(),
            excursion_store=self.store,
            bars=self.bars,
            clock=self.clock,
        )
        self.service = self.analytics.service
        self.recorder = ExcursionRecorder(self.service.journal, self.store, self.feed, self.clock)
        self.service.listeners.append(self.recorder.journal_changed)
        self.version = 0

    async def trade(self, user: str, new: JournalFill) -> None:
        """Write a fill the way the event consumer applies it, then let the recorder see it."""
        self.version += 1
        self.trades.put(user, new)
        await self.service.apply_change(
            JournalChange(user, self.version, ChangeKind.UPSERT, new.trade_id, new.trade_version, new)
        )
        await self.recorder.step()

    async def at(self, time_us: int, ticks: tuple[tuple[tuple[str, str], int], ...] = ()) -> None:
        """Move the clock, deliver ticks received at that time and run one recorder round."""
        self.clock.now_us = time_us
        for instrument, rupees in ticks:
            self.feed.tick(instrument, rupees * MICROS, time_us)
        await self.recorder.step()

    async def day(self, user: str, authorization: str = "Bearer token") -> list[Excursion]:
        trips = await self.service.day_trips(user, DAY, authorization)
        return list(trips.excursions)


@pytest.fixture
def world() -> World:
    return World()


async def test_a_long_round_trip_recorded_live_is_exact_and_hand_computed(world: World) -> None:
    await world.trade("alice", fill("a1", "INFY", True, 10, 100, T0, risk=100))
    assert world.feed.watched == {INFY}
    await world.at(T0 + 1 * SECOND, ((INFY, 97), (INFY, 95), (INFY, 104)))
    await world.at(T0 + 3 * SECOND, ((INFY, 120), (INFY, 108)))
    world.clock.now_us = T0 + 4 * SECOND
    await world.trade("alice", fill("a2", "INFY", False, 10, 110, T0 + 4 * SECOND))
    await world.at(T0 + 5 * SECOND, ((INFY, 80),))  # after the close: not the position's

    [found] = await world.day("alice")
    # Long 10 @100, prices 95..120 while open: MAE (95 - 100) x 10 = -₹50, MFE (120 - 100) x 10 = ₹200.
    assert found.quality == EXACT
    assert (found.mae_micros, found.mfe_micros) == (-50 * MICROS, 200 * MICROS)
    assert (found.mae_price_micros, found.mfe_price_micros) == (-5 * MICROS, 20 * MICROS)
    assert (found.mae_r_milli, found.mfe_r_milli) == (-500, 2000)  # 1R = ₹100
    assert found.range == PriceRange(95 * MICROS, 120 * MICROS)
    assert world.bars.calls == []  # an exact recording needs no bars
    message = day_trips_to_proto(await world.service.day_trips("alice", DAY, "x")).trips[0].excursion
    assert message.quality == excursion_pb2.EXCURSION_QUALITY_EXACT
    assert (message.mae_micros, message.mfe_micros, message.mae_r_milli) == (-50 * MICROS, 200 * MICROS, -500)


async def test_a_short_round_trip_from_bars_covering_the_holding_period(world: World) -> None:
    world.bars.windows[TCS] = BarWindow(
        (
            Bar(T0 - MINUTE, 150 * MICROS, 250 * MICROS),  # before the open minute: not read
            Bar(T0, 199 * MICROS, 206 * MICROS),
            Bar(T0 + 10 * MINUTE, 185 * MICROS, 201 * MICROS),
            Bar(T0 + 30 * MINUTE, 189 * MICROS, 191 * MICROS),
        ),
        T0 - 24 * 60 * MINUTE,
    )
    trips = [fill("t1", "TCS", False, 5, 200, T0 + 10 * SECOND), fill("t2", "TCS", True, 5, 190, T0 + 30 * MINUTE)]
    for new in trips:
        world.trades.put("bob", new)

    [found] = await world.day("bob", "Bearer bob")
    # Short 5 @200, bars 185..206: MAE (200 - 206) x 5 = -₹30, MFE (200 - 185) x 5 = ₹75; no plan, no R.
    assert found.quality == FROM_BARS
    assert (found.mae_micros, found.mfe_micros) == (-30 * MICROS, 75 * MICROS)
    assert (found.mae_price_micros, found.mfe_price_micros) == (-6 * MICROS, 15 * MICROS)
    assert (found.mae_r_milli, found.mfe_r_milli) == (None, None)
    [(instrument, start, end, authorization)] = world.bars.calls
    assert (instrument, start, end, authorization) == (TCS, T0, T0 + 30 * MINUTE + 1, "Bearer bob")
    # The result is kept: the next read needs no bars (they expire after 30 days; the result does not).
    assert (await world.day("bob"))[0] == found
    assert len(world.bars.calls) == 1


async def test_bars_missing_part_of_the_holding_period_are_partial(world: World) -> None:
    world.bars.windows[TCS] = BarWindow((Bar(T0 + 5 * MINUTE, 195 * MICROS, 204 * MICROS),), T0 - MINUTE)
    world.bars.windows[SBIN] = BarWindow(  # both ends present, but the opening minute is past retention
        (Bar(T0, 700 * MICROS, 800 * MICROS), Bar(T0 + 2 * MINUTE, 790 * MICROS, 810 * MICROS)), T0 + MINUTE
    )
    for new in (
        fill("t1", "TCS", True, 1, 200, T0),
        fill("t2", "TCS", False, 1, 201, T0 + 9 * MINUTE),
        fill("s1", "SBIN", True, 2, 800, T0 + SECOND),
        fill("s2", "SBIN", False, 2, 805, T0 + 2 * MINUTE),
    ):
        world.trades.put("carol", new)

    sbin, tcs = await world.day("carol")  # close order
    # TCS long 1 @200: only bar 195..204 is known — a lower bound: MAE -₹5, MFE ₹4.
    assert (tcs.quality, tcs.mae_micros, tcs.mfe_micros) == (PARTIAL, -5 * MICROS, 4 * MICROS)
    # SBIN long 2 @800: 700..810 → MAE -₹200, MFE ₹20, but partial.
    assert (sbin.quality, sbin.mae_micros, sbin.mfe_micros) == (PARTIAL, -200 * MICROS, 20 * MICROS)


async def test_no_recording_and_no_bars_is_unavailable(world: World) -> None:
    for new in (fill("i1", "INFY", True, 1, 100, T0), fill("i2", "INFY", False, 1, 90, T0 + MINUTE)):
        world.trades.put("dave", new)
    [found] = await world.day("dave")
    assert found == Excursion(UNAVAILABLE)
    message = day_trips_to_proto(await world.service.day_trips("dave", DAY, "x")).trips[0].excursion
    assert message.quality == excursion_pb2.EXCURSION_QUALITY_UNAVAILABLE
    assert not message.HasField("mae_r_milli")
    world.bars.down = True  # market data unreachable: unmeasured, not an error
    assert [found.quality for found in await world.day("dave")] == [UNAVAILABLE]


async def test_a_gap_in_the_recording_falls_back_to_bars_or_a_partial_range(world: World) -> None:
    await world.trade("erin", fill("e1", "INFY", True, 10, 100, T0))
    await world.at(T0 + SECOND, ((INFY, 98),))
    await world.at(T0 + 20 * SECOND, ((INFY, 103),))  # nobody confirmed listening for 19 s > 5 s: a gap
    world.clock.now_us = T0 + 21 * SECOND
    await world.trade("erin", fill("e2", "INFY", False, 10, 101, T0 + 21 * SECOND))
    [found] = await world.day("erin")
    assert (found.quality, found.mae_micros, found.mfe_micros) == (PARTIAL, -20 * MICROS, 30 * MICROS)


async def test_a_position_learnt_of_late_is_not_exact(world: World) -> None:
    world.clock.now_us = T0 + MINUTE  # the opening fill reaches the journal a minute after it executed
    await world.trade("fay", fill("f1", "INFY", True, 1, 100, T0))
    await world.at(T0 + MINUTE + SECOND, ((INFY, 96),))
    world.clock.now_us = T0 + MINUTE + 2 * SECOND
    await world.trade("fay", fill("f2", "INFY", False, 1, 100, T0 + MINUTE + 2 * SECOND))
    [found] = await world.day("fay")
    assert (found.quality, found.mae_micros) == (PARTIAL, -4 * MICROS)


async def test_ticks_move_only_open_positions_opened_before_them_and_nobody_elses(world: World) -> None:
    await world.trade("alice", fill("a1", "INFY", True, 1, 100, T0))
    await world.trade("bob", fill("b1", "TCS", False, 1, 300, T0))
    await world.at(T0 + SECOND, ((INFY, 90), (TCS, 310)))
    later = T0 + 2 * SECOND
    world.clock.now_us = later
    await world.trade("carol", fill("c1", "INFY", True, 1, 95, later))
    await world.at(T0 + 3 * SECOND, ((INFY, 99),))
    recorded = {key[0]: held.range for key, held in world.store.recorded.items()}
    assert recorded == {
        "alice": PriceRange(90 * MICROS, 99 * MICROS),
        "bob": PriceRange(310 * MICROS, 310 * MICROS),  # INFY's ticks never touch a TCS position
        "carol": PriceRange(99 * MICROS, 99 * MICROS),  # opened after the 90 tick
    }
    # A restarted recorder (same store) keeps every extreme and records on.
    restarted = ExcursionRecorder(world.service.journal, world.store, world.feed, world.clock)
    await restarted.step()
    world.feed.tick(INFY, 88 * MICROS, T0 + 4 * SECOND)
    await restarted.flush()
    assert world.store.recorded[("alice", INFY, T0)].range == PriceRange(88 * MICROS, 99 * MICROS)
    assert world.store.recorded[("carol", INFY, later)].range == PriceRange(88 * MICROS, 99 * MICROS)


async def test_one_write_per_flush_however_many_ticks(world: World) -> None:
    await world.trade("alice", fill("a1", "INFY", True, 1, 100, T0))
    await world.trade("bob", fill("b1", "INFY", True, 1, 100, T0))
    writes = world.store.writes
    for index in range(1_000):
        world.feed.tick(INFY, (100 + index % 7) * MICROS, T0 + SECOND + index)
    await world.recorder.flush()
    assert world.store.writes - writes == 2  # one $min/$max for the instrument, one listening confirmation
    assert world.store.recorded[("bob", INFY, T0)].range == PriceRange(100 * MICROS, 106 * MICROS)


def test_scale_ins_and_zero_crossings_measure_against_the_average_entry() -> None:
    journal = Journal(
        [
            fill("1", "INFY", True, 10, 100, T0),
            fill("2", "INFY", True, 10, 110, T0 + SECOND),  # average entry 105 for 20
            fill("3", "INFY", False, 25, 120, T0 + 2 * SECOND),  # closes 20, opens a short of 5 @120
            fill("4", "INFY", True, 5, 118, T0 + 3 * SECOND),
        ]
    )
    long_trip, short_trip = journal.round_trips
    long_fills, short_fills = fills_of_trips([long_trip, short_trip], journal.instrument_fills)
    assert long_fills == [
        (True, 10 * MICROS, 100 * MICROS),
        (True, 10 * MICROS, 110 * MICROS),
        (False, 20 * MICROS, 120 * MICROS),
    ]
    assert short_fills == [(False, 5 * MICROS, 120 * MICROS), (True, 5 * MICROS, 118 * MICROS)]
    shape = trip_shape(long_fills, True)
    assert (shape.quantity_micros, shape.entry_value_scaled) == (20 * MICROS, 2100 * MICROS * MICROS)
    short = trip_shape(short_fills, False)
    assert (short.quantity_micros, short.low_fill_micros, short.high_fill_micros) == (
        5 * MICROS,
        118 * MICROS,
        120 * MICROS,
    )


def test_the_report_summary_counts_money_left_on_the_table() -> None:
    def measured(mae: int, mfe: int) -> Excursion:
        return Excursion(EXACT, mae * MICROS, mfe * MICROS)

    stats = excursion_stats(
        [
            (measured(-10, 250), 100 * MICROS),  # win, MFE ≥ 2 x 100: left on the table
            (measured(-30, 200), 100 * MICROS),  # exactly 2x: counts
            (measured(-5, 150), 100 * MICROS),  # win, kept most of it
            (measured(-60, 10), -50 * MICROS),  # loss
        ],
        unmeasured_count=3,
        tolerance_micros=0,
    )
    assert (stats.measured_count, stats.unmeasured_count, stats.exact_count) == (4, 3, 4)
    assert stats.average_mae_micros == -26_250_000  # (-10 - 30 - 5 - 60) / 4 = -26.25
    assert stats.average_mfe_micros == 152_500_000
    assert (stats.measured_win_count, stats.left_on_table_count) == (3, 2)
    assert stats.left_on_table_percent == pytest.approx(200 / 3)
    empty = excursion_stats([], 0, 0)
    assert (empty.average_mae_micros, empty.left_on_table_percent) == (None, None)


async def test_get_analytics_reports_the_recorded_excursions(world: World) -> None:
    await world.trade("alice", fill("a1", "INFY", True, 10, 100, T0))
    await world.at(T0 + SECOND, ((INFY, 95), (INFY, 130)))
    world.clock.now_us = T0 + 2 * SECOND
    await world.trade("alice", fill("a2", "INFY", False, 10, 110, T0 + 2 * SECOND))
    # An unrecorded, unopened trip of the same day counts as unmeasured.
    for new in (fill("t1", "TCS", True, 1, 100, T0), fill("t2", "TCS", False, 1, 99, T0 + MINUTE)):
        world.trades.put("alice", new)
        await world.service.apply_change(
            JournalChange("alice", 99 + int(new.trade_id[1]), ChangeKind.UPSERT, new.trade_id, 1, new)
        )
    world.clock.now_us = T0 + 2 * MINUTE
    lookup = await world.service.lookup("alice", ReportQuery(Period.ALL_TIME, None, None))
    report, _ = await world.service.compute(lookup, "x")
    stats = report.excursions
    assert stats is not None
    assert (stats.measured_count, stats.unmeasured_count, stats.exact_count) == (1, 1, 1)
    # Long 10 @100, 95..130, closed @110 (+₹100): MAE -₹50, MFE ₹300 ≥ 2 x ₹100.
    assert (stats.average_mae_micros, stats.average_mfe_micros) == (-50 * MICROS, 300 * MICROS)
    assert (stats.measured_win_count, stats.left_on_table_count, stats.left_on_table_percent) == (1, 1, 100.0)
