"""Analytics by slice (decision 0250) on in-memory fakes: membership by the opening fill, any/all tags, the
rest, validation with field violations, empty slices, per-slice cache keys and their invalidation."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from tests.analytics.wiring import Fakes
from trademesh.analytics.v1 import analytics_service_pb2, period_pb2, slice_pb2, trade_category_pb2
from trademesh.common.v1 import instrument_pb2
from trademesh.kernel.errors import InvalidArgument
from trademesh.services.analytics.model import (
    Category,
    ChangeKind,
    Journal,
    JournalChange,
    JournalFill,
    Period,
    UserSettings,
    build_query,
    build_report,
    pnl_state,
    to_micros,
)
from trademesh.services.analytics.model.calendar import build_day_trips
from trademesh.services.analytics.model.fills import profile_of
from trademesh.services.analytics.model.slices import Slice
from trademesh.services.analytics.server import Analytics
from trademesh.services.analytics.settings import AnalyticsSettings
from trademesh.services.core.identity import Principal, bind_principal

MICROS = 1_000_000
NOW = to_micros(datetime(2026, 11, 26, 10, 0, tzinfo=UTC))  # Thursday 15:30 IST
HOUR = 3_600 * MICROS
DAY = 24 * HOUR
ALICE, BOB = "alice", "bob"
# Monday 2026-11-23 09:30 IST.
MONDAY_0930 = to_micros(datetime(2026, 11, 23, 4, 0, tzinfo=UTC))


def fill(
    trade_id: str,
    buy: bool,
    rupees: int,
    time_us: int,
    *,
    symbol: str = "INFY",
    exchange: str = "NSE",
    strategy: str = "",
    tags: tuple[str, ...] = (),
    broker: str = "MANUAL",
    account: str = "",
    segment: str = "EQUITY",
    category: Category = Category.INTRADAY,
    version: int = 1,
) -> JournalFill:
    return JournalFill(
        trade_id=trade_id,
        symbol=symbol,
        exchange=exchange,
        buy=buy,
        quantity_micros=10 * MICROS,
        price_micros=rupees * MICROS,
        fees_micros=0,
        time_us=time_us,
        create_time_us=time_us,
        category=category,
        trade_version=version,
        profile=profile_of(broker, account, segment, strategy, tags),
    )


def journal_fills() -> list[JournalFill]:
    """Four round trips and one open position:

    A INFY long, Mon 09:30, Breakout [fomo, late] +100 (its exit tagged "revenge": does not count)
    B TCS short, Mon 13:30, Reversal [fomo], Zerodha Z1 -50
    C SBIN long, Tue 10:30, breakout (case differs) [late], Zerodha Z2, SWING +200
    D NIFTY fut short on NFO, Wed 09:30, no strategy, FUTURES -300
    E WIPRO long, open, Thu 09:30, Breakout
    """
    tuesday, wednesday, thursday = MONDAY_0930 + DAY, MONDAY_0930 + 2 * DAY, MONDAY_0930 + 3 * DAY
    return [
        fill("a1", True, 100, MONDAY_0930, strategy="Breakout", tags=("FOMO", "late")),
        fill("a2", False, 110, MONDAY_0930 + HOUR, tags=("revenge",)),
        fill(
            "b1",
            False,
            200,
            MONDAY_0930 + 4 * HOUR,
            symbol="TCS",
            strategy="Reversal",
            tags=("fomo",),
            broker="ZERODHA",
            account="Z1",
        ),
        fill("b2", True, 205, MONDAY_0930 + 5 * HOUR, symbol="TCS", broker="ZERODHA", account="Z1"),
        fill(
            "c1",
            True,
            50,
            tuesday + HOUR,
            symbol="SBIN",
            strategy=" breakout ",
            tags=("late",),
            broker="ZERODHA",
            account="Z2",
            category=Category.SWING,
        ),
        fill("c2", False, 70, tuesday + 2 * HOUR, symbol="SBIN", broker="ZERODHA", account="Z2"),
        fill("d1", False, 300, wednesday, symbol="NIFTY26DECFUT", exchange="NFO", segment="FUTURES"),
        fill("d2", True, 330, wednesday + HOUR, symbol="NIFTY26DECFUT", exchange="NFO", segment="FUTURES"),
        fill("e1", True, 400, thursday, symbol="WIPRO", strategy="Breakout"),
    ]


def report_of(journal: Journal, chosen: Slice | None) -> Any:
    query = replace(build_query(Period.ALL_TIME, now_us=NOW), slice=chosen)
    return build_report(journal, query, UserSettings(), NOW, {})


def symbols_of(report: Any) -> list[str]:
    return sorted(performance.instrument[0] for performance in (*report.top_instruments, *report.worst_instruments))


@pytest.mark.parametrize("vectorized", [True, False])
def test_a_round_trip_belongs_to_a_slice_by_its_opening_fill(vectorized: bool) -> None:
    journal = Journal(journal_fills(), 1, vectorized=vectorized)
    cases: list[tuple[Slice, list[str]]] = [
        (Slice(), ["INFY", "NIFTY26DECFUT", "SBIN", "TCS"]),
        (Slice(strategies=frozenset({"breakout"})), ["INFY", "SBIN"]),
        (Slice(tags=frozenset({"fomo", "late"})), ["INFY", "SBIN", "TCS"]),
        (Slice(tags=frozenset({"fomo", "late"}), all_tags=True), ["INFY"]),
        (Slice(tags=frozenset({"revenge"})), []),  # an exit's tag does not move its round trip
        (Slice(accounts=frozenset({("ZERODHA", "")})), ["SBIN", "TCS"]),
        (Slice(accounts=frozenset({("ZERODHA", "Z2"), ("MANUAL", "")})), ["INFY", "NIFTY26DECFUT", "SBIN"]),
        (Slice(segments=frozenset({"FUTURES"})), ["NIFTY26DECFUT"]),
        (Slice(exchanges=frozenset({"NFO"})), ["NIFTY26DECFUT"]),
        (Slice(categories=frozenset({Category.SWING})), ["SBIN"]),
        (Slice(symbols=frozenset({"TCS", "INFY"})), ["INFY", "TCS"]),
        (Slice(long=False), ["NIFTY26DECFUT", "TCS"]),
        (Slice(weekdays=frozenset({1})), ["INFY", "TCS"]),
        (Slice(hours=(9, 10)), ["INFY", "NIFTY26DECFUT"]),
        (Slice(long=True, strategies=frozenset({"breakout"}), weekdays=frozenset({2})), ["SBIN"]),
    ]
    for chosen, expected in cases:
        assert symbols_of(report_of(journal, chosen)) == expected, chosen


@pytest.mark.parametrize("vectorized", [True, False])
def test_a_slice_and_its_rest_partition_round_trips_fills_and_positions(vectorized: bool) -> None:
    journal = Journal(journal_fills(), 1, vectorized=vectorized)
    chosen = Slice(strategies=frozenset({"breakout"}))
    whole, part, rest = (report_of(journal, s) for s in (None, chosen, chosen.complement()))
    assert part.performance.round_trip_count == 2
    assert part.performance.net_pnl_micros == (100 + 200) * MICROS
    assert part.activity.fill_count == 5  # A's and C's fills, and the open WIPRO position's
    assert [p.instrument[0] for p in part.open_positions] == ["WIPRO"]
    assert rest.performance.round_trip_count == 2
    assert rest.open_positions == ()
    for name in ("round_trip_count", "net_pnl_micros"):
        assert getattr(part.performance, name) + getattr(rest.performance, name) == getattr(whole.performance, name)
    assert part.activity.fill_count + rest.activity.fill_count == whole.activity.fill_count


def test_a_slice_matching_nothing_is_an_empty_report() -> None:
    journal = Journal(journal_fills(), 1)
    report = report_of(journal, Slice(tags=frozenset({"never-used"})))
    assert report.performance.round_trip_count == 0
    assert report.activity.fill_count == 0
    assert report.open_positions == ()
    assert report.risk.max_drawdown_micros == 0


def test_incremental_fills_keep_the_slice_columns_of_a_rebuild() -> None:
    fills = journal_fills()
    built = Journal(fills, 1)
    grown = Journal(fills[:3], 1)
    for f in fills[3:]:
        grown.upsert(f)
    chosen = Slice(tags=frozenset({"late"}))
    assert symbols_of(report_of(grown, chosen)) == symbols_of(report_of(built, chosen)) == ["INFY", "SBIN"]
    for name in ("cycle_profile", "cycle_long", "cycle_open_time", "cycle_category"):
        as_built = [grown.profiles[p] for p in built.fill_columns()[name]] if name == "cycle_profile" else None
        if as_built is None:
            assert grown.fill_columns()[name].tolist() == built.fill_columns()[name].tolist(), name
        else:
            assert [built.profiles[p] for p in built.fill_columns()[name]] == [
                grown.profiles[p] for p in grown.fill_columns()[name]
            ]


def test_the_live_pnl_of_a_slice_counts_only_its_positions_and_round_trips() -> None:
    journal = Journal(journal_fills(), 1)
    everything = pnl_state(journal, {}, NOW)
    breakout = pnl_state(journal, {}, NOW, None, Slice(strategies=frozenset({"breakout"})))
    reversal = pnl_state(journal, {}, NOW, None, Slice(strategies=frozenset({"reversal"})))
    assert everything.totals.open_position_count == breakout.totals.open_position_count == 1
    assert reversal.totals.open_position_count == 0
    assert breakout.totals.realized_pnl_all_time_micros == 300 * MICROS
    assert reversal.totals.realized_pnl_all_time_micros == -50 * MICROS


def test_equal_slices_have_one_cache_key_and_different_slices_differ() -> None:
    query = build_query(Period.ALL_TIME, now_us=NOW)
    one = Slice(tags=frozenset({"a", "b"}), symbols=frozenset({"X", "Y"}))
    same = Slice(symbols=frozenset({"Y", "X"}), tags=frozenset({"b", "a"}))
    assert replace(query, slice=one).cache_key == replace(query, slice=same).cache_key
    keys = {
        replace(query, slice=s).cache_key
        for s in (None, one, one.complement(), replace(one, all_tags=True), Slice(long=True), Slice(hours=(9, 10)))
    }
    assert len(keys) == 6
    assert replace(query, slice=Slice()).cache_key == query.cache_key


# -- the servicer on fakes --------------------------------------------------------------------------


class Context:
    """The parts of a grpc.aio ServicerContext the servicer reads."""

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", "Bearer a"),)

    def time_remaining(self) -> float | None:
        return None


@pytest.fixture
def fakes() -> Fakes:
    return Fakes(NOW)


@pytest.fixture
def analytics(fakes: Fakes) -> Analytics:
    return fakes.analytics(AnalyticsSettings(watch_max_updates_per_second=1_000, watch_heartbeat_seconds=60.0))


def context() -> Any:
    return Context()


def as_user(user_id: str) -> None:
    expires = datetime.fromtimestamp(NOW / MICROS, UTC) + timedelta(hours=1)
    bind_principal(Principal(user_id, frozenset({"user"}), "token", "session", expires))


def request(**slice_fields: Any) -> analytics_service_pb2.GetAnalyticsRequest:
    return analytics_service_pb2.GetAnalyticsRequest(
        period=period_pb2.PERIOD_ALL_TIME, slice=slice_pb2.AnalyticsSlice(**slice_fields)
    )


async def test_get_analytics_filters_by_a_slice_and_names_each_bad_field(analytics: Analytics, fakes: Fakes) -> None:
    for f in journal_fills():
        fakes.trades.put(ALICE, f)
    as_user(ALICE)
    servicer = analytics.servicer
    response = await servicer.GetAnalytics(request(tags=["FOMO"], side=slice_pb2.OPENING_SIDE_SELL), context())
    assert response.report.performance.round_trip_count == 1
    assert response.report.performance.net_pnl_micros == -50 * MICROS
    nothing = await servicer.GetAnalytics(request(tags=["unknown-tag"]), context())
    assert nothing.report.performance.round_trip_count == 0

    bad = request(
        segments=[slice_pb2.SLICE_SEGMENT_UNSPECIFIED, 99],
        categories=[trade_category_pb2.TRADE_CATEGORY_SWING, 42],
        exchanges=[instrument_pb2.EXCHANGE_UNSPECIFIED],
        tags=["ok", "x" * 33, "  "],
        symbols=["SBIN", "no spaces"],
        accounts=[slice_pb2.SliceAccount(broker=instrument_pb2.BROKER_MANUAL, broker_account_id="Z1")],
        weekdays=[8],
        hours=slice_pb2.HourRange(start_hour=10, end_hour=10),
        side=7,
        tag_match=5,
        strategies=["s"] * 51,
    )
    with pytest.raises(InvalidArgument) as error:
        await servicer.GetAnalytics(bad, context())
    assert error.value.reason == "INVALID_SLICE"
    assert sorted(v.field for v in error.value.violations) == sorted(
        [
            "slice.strategies",
            "slice.segments[0]",
            "slice.segments[1]",
            "slice.categories[1]",
            "slice.exchanges[0]",
            "slice.tags[1]",
            "slice.tags[2]",
            "slice.symbols[1]",
            "slice.accounts[0].broker_account_id",
            "slice.weekdays[0]",
            "slice.hours.end_hour",
            "slice.side",
            "slice.tag_match",
        ]
    )


async def test_compare_analytics_gives_a_slice_and_the_rest_or_another_slice(
    analytics: Analytics, fakes: Fakes
) -> None:
    for f in journal_fills():
        fakes.trades.put(ALICE, f)
    as_user(ALICE)
    servicer = analytics.servicer
    rest = await servicer.CompareAnalytics(
        analytics_service_pb2.CompareAnalyticsRequest(query=request(strategies=["Breakout"]), rest=True), context()
    )
    assert (rest.first.performance.round_trip_count, rest.second.performance.round_trip_count) == (2, 2)
    assert rest.second.performance.net_pnl_micros == -350 * MICROS
    other = await servicer.CompareAnalytics(
        analytics_service_pb2.CompareAnalyticsRequest(
            query=request(strategies=["breakout"]), other=slice_pb2.AnalyticsSlice(strategies=["reversal"])
        ),
        context(),
    )
    assert other.first == rest.first
    assert other.second.performance.net_pnl_micros == -50 * MICROS

    with pytest.raises(InvalidArgument) as neither:
        await servicer.CompareAnalytics(analytics_service_pb2.CompareAnalyticsRequest(query=request()), context())
    assert neither.value.reason == "INVALID_COMPARISON"
    with pytest.raises(InvalidArgument) as bad:
        await servicer.CompareAnalytics(
            analytics_service_pb2.CompareAnalyticsRequest(
                query=request(tags=[""]),
                other=slice_pb2.AnalyticsSlice(weekdays=[0]),  # type: ignore[list-item]
            ),
            context(),
        )
    assert [v.field for v in bad.value.violations] == ["query.slice.tags[0]"]


async def test_a_cached_slice_report_changes_when_a_matching_trade_arrives(analytics: Analytics, fakes: Fakes) -> None:
    for f in journal_fills():
        fakes.trades.put(ALICE, f)
    as_user(ALICE)
    servicer = analytics.servicer
    sliced, whole = request(tags=["late"]), request()
    first = await servicer.GetAnalytics(sliced, context())
    assert (await servicer.GetAnalytics(sliced, context())) == first
    await servicer.GetAnalytics(whole, context())
    assert (fakes.cache.hits, fakes.cache.misses) == (1, 2)
    assert len(fakes.cache.reports) == 2  # one entry per slice

    # A new round trip tagged "late" (its entry) through trade events: version 2, then 3.
    for version, f in enumerate(
        (
            fill("f1", True, 10, NOW - 2 * HOUR, symbol="ITC", tags=("Late",)),
            fill("f2", False, 15, NOW - HOUR, symbol="ITC"),
        ),
        start=2,
    ):
        fakes.trades.put(ALICE, f)
        await analytics.service.apply_change(JournalChange(ALICE, version, ChangeKind.UPSERT, f.trade_id, 1, f))
    after = await servicer.GetAnalytics(sliced, context())
    assert after.report.performance.round_trip_count == first.report.performance.round_trip_count + 1
    assert after.report.journal_version == 3

    # Tagging a round trip = tagging its opening trade (UpdateTrade → a newer trade version).
    retagged = replace(journal_fills()[6], trade_version=2, profile=profile_of("MANUAL", "", "FUTURES", "", ("late",)))
    await analytics.service.apply_change(JournalChange(ALICE, 4, ChangeKind.UPSERT, "d1", 2, retagged))
    latest = await servicer.GetAnalytics(sliced, context())
    assert latest.report.performance.round_trip_count == after.report.performance.round_trip_count + 1


async def test_a_slice_never_reaches_another_users_round_trips(analytics: Analytics, fakes: Fakes) -> None:
    for f in journal_fills():
        fakes.trades.put(ALICE, f)
    fakes.trades.put(BOB, fill("x1", True, 10, NOW - 2 * HOUR, tags=("late",)))
    fakes.trades.put(BOB, fill("x2", False, 11, NOW - HOUR))
    as_user(BOB)
    report = (await analytics.servicer.GetAnalytics(request(tags=["late"]), context())).report
    assert report.performance.round_trip_count == 1
    assert report.performance.net_pnl_micros == 10 * MICROS


def test_a_days_round_trips_and_totals_follow_a_slice() -> None:
    journal = Journal(journal_fills(), 1)
    monday = date(2026, 11, 23)
    everything = build_day_trips(journal, monday, 0)
    fomo_shorts = build_day_trips(journal, monday, 0, Slice(tags=frozenset({"fomo"}), long=False))
    assert [trip.instrument[0] for trip in everything.trips] == ["INFY", "TCS"]
    assert [trip.instrument[0] for trip in fomo_shorts.trips] == ["TCS"]
    assert fomo_shorts.day.net_pnl_micros == -50 * MICROS
    assert fomo_shorts.risks == (0,)
    assert build_day_trips(journal, monday, 0, Slice(tags=frozenset({"none"}))).trips == ()


async def test_watch_pnl_streams_only_a_slices_positions(analytics: Analytics, fakes: Fakes) -> None:
    for f in journal_fills():
        fakes.trades.put(ALICE, f)
    as_user(ALICE)
    for strategies, positions in ((["breakout"], ["WIPRO"]), (["reversal"], [])):
        stream = analytics.servicer.WatchPnl(
            analytics_service_pb2.WatchPnlRequest(slice=slice_pb2.AnalyticsSlice(strategies=strategies)), context()
        )
        first = await anext(aiter(stream))
        await stream.aclose()  # type: ignore[attr-defined]
        assert first.update.snapshot
        assert [p.instrument.symbol for p in first.update.positions] == positions
    bad = analytics.servicer.WatchPnl(
        analytics_service_pb2.WatchPnlRequest(slice=slice_pb2.AnalyticsSlice(symbols=["bad symbol"])), context()
    )
    with pytest.raises(InvalidArgument) as error:
        await anext(aiter(bad))
    assert [v.field for v in error.value.violations] == ["slice.symbols[0]"]
