"""Analytics use cases against in-memory fakes of the ports: reports, the cache, journal versions, settings,
ownership, recompute and WatchPnl (milliseconds each, no servers)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.analytics.wiring import Fakes
from trademesh.analytics.v1 import analytics_service_pb2, period_pb2
from trademesh.kernel.errors import Aborted, InvalidArgument, Unavailable
from trademesh.services.analytics import watch
from trademesh.services.analytics.model import (
    Category,
    ChangeKind,
    JournalChange,
    JournalFill,
    Mark,
    Period,
    UserSettings,
    build_query,
    to_micros,
)
from trademesh.services.analytics.server import Analytics
from trademesh.services.analytics.settings import AnalyticsSettings
from trademesh.services.analytics.watch import PnlHeartbeat, PnlUpdate
from trademesh.services.core.identity import Principal, bind_principal

MICROS = 1_000_000
NOW = to_micros(datetime(2026, 11, 26, 6, 0, tzinfo=UTC))  # Thursday 11:30 IST
HOUR = 3_600 * MICROS
ALICE, BOB = "alice", "bob"


def fill(
    trade_id: str,
    buy: bool,
    units: int,
    rupees: int,
    time_us: int,
    *,
    symbol: str = "INFY",
    fees: int = 0,
    version: int = 1,
) -> JournalFill:
    return JournalFill(
        trade_id=trade_id,
        symbol=symbol,
        exchange="NSE",
        buy=buy,
        quantity_micros=units * MICROS,
        price_micros=rupees * MICROS,
        fees_micros=fees * MICROS,
        time_us=time_us,
        create_time_us=time_us,
        category=Category.INTRADAY,
        trade_version=version,
    )


def upsert(user_id: str, version: int, f: JournalFill) -> JournalChange:
    return JournalChange(user_id, version, ChangeKind.UPSERT, f.trade_id, f.trade_version, f)


@pytest.fixture
def fakes() -> Fakes:
    return Fakes(NOW)


@pytest.fixture
def analytics(fakes: Fakes) -> Analytics:
    return fakes.analytics(AnalyticsSettings(watch_max_updates_per_second=1_000, watch_heartbeat_seconds=60.0))


def daily() -> Any:
    return build_query(Period.DAILY, now_us=NOW)


async def test_the_report_of_a_period_counts_only_its_round_trips(fakes: Fakes, analytics: Analytics) -> None:
    yesterday = NOW - 24 * HOUR
    for f in (
        fill("t1", True, 10, 100, yesterday - HOUR),
        fill("t2", False, 10, 90, yesterday),  # closed yesterday: a loss outside today's report
        fill("t3", True, 10, 100, NOW - 2 * HOUR, fees=5),
        fill("t4", False, 10, 110, NOW - HOUR, fees=5),
    ):
        fakes.trades.put(ALICE, f)
    service = analytics.service
    report, cacheable = await service.compute(await service.lookup(ALICE, daily()), "Bearer a")
    assert cacheable
    assert report.performance.round_trip_count == 1
    assert report.performance.net_pnl_micros == 90 * MICROS  # 10 x 10 - 10 fees
    assert report.activity.fill_count == 2
    everything = build_query(Period.ALL_TIME, now_us=NOW)
    report, _ = await service.compute(await service.lookup(ALICE, everything), "Bearer a")
    assert report.performance.round_trip_count == 2
    assert report.performance.net_pnl_micros == -10 * MICROS


async def test_a_cached_report_is_hit_until_a_trade_event_changes_the_journal_version(
    fakes: Fakes, analytics: Analytics
) -> None:
    service = analytics.service
    first = await service.lookup(ALICE, daily())
    assert first.cached is None
    await service.store(first, b"report-1")
    again = await service.lookup(ALICE, daily())
    assert again.cached == b"report-1"
    assert (fakes.cache.hits, fakes.cache.misses) == (1, 1)

    await service.apply_change(upsert(ALICE, 7, fill("t1", True, 1, 100, NOW - HOUR)))
    after = await service.lookup(ALICE, daily())
    assert after.key != first.key
    assert after.cached is None
    assert await service.applied_version(ALICE) == 7


async def test_a_recompute_and_a_settings_change_make_cached_reports_unreachable(analytics: Analytics) -> None:
    service = analytics.service
    first = await service.lookup(ALICE, daily())
    await service.store(first, b"report")
    await service.recompute(ALICE)
    assert (await service.lookup(ALICE, daily())).cached is None

    second = await service.lookup(ALICE, daily())
    await service.store(second, b"report")
    current = await service.get_settings(ALICE)
    await service.update_settings(
        ALICE, UserSettings(capital_base_micros=10 * MICROS), frozenset({"capital_base_micros"}), current.etag
    )
    assert (await service.lookup(ALICE, daily())).cached is None


async def test_a_cache_outage_on_store_only_costs_a_recomputation(fakes: Fakes, analytics: Analytics) -> None:
    fakes.cache.available = False
    lookup = await analytics.service.lookup(ALICE, daily())
    await analytics.service.store(lookup, b"report")
    assert fakes.cache.reports == {}


async def test_older_trade_versions_are_ignored_and_redelivery_changes_nothing(analytics: Analytics) -> None:
    service = analytics.service
    await service.journal(ALICE)  # cached (empty): events advance it
    v2 = fill("t1", True, 10, 100, NOW - 2 * HOUR, version=2)
    await service.apply_change(upsert(ALICE, 10, v2))
    await service.apply_change(upsert(ALICE, 11, fill("t2", False, 4, 120, NOW - HOUR)))
    journal = await service.journal(ALICE)
    before = ([f.trade_id for f in journal.fills], journal.cycles[("INFY", "NSE")].position, journal.version)
    assert before == (["t1", "t2"], 6 * MICROS, 11)

    # An older version of t1 (a late event) and a removal of an older version are both stale.
    await service.apply_change(upsert(ALICE, 12, fill("t1", True, 99, 100, NOW - 2 * HOUR, version=1)))
    await service.apply_change(JournalChange(ALICE, 13, ChangeKind.REMOVE, "t1", 1))
    # Redelivery of applied events.
    await service.apply_change(upsert(ALICE, 10, v2))
    await service.apply_change(upsert(ALICE, 11, fill("t2", False, 4, 120, NOW - HOUR)))
    journal = await service.journal(ALICE)
    assert [f.quantity_micros for f in journal.fills] == [10 * MICROS, 4 * MICROS]
    assert journal.cycles[("INFY", "NSE")].position == 6 * MICROS
    assert await service.applied_version(ALICE) == 13

    # A newer version replaces the fill; removing the current version drops it.
    await service.apply_change(upsert(ALICE, 14, fill("t1", True, 5, 100, NOW - 2 * HOUR, version=3)))
    await service.apply_change(JournalChange(ALICE, 15, ChangeKind.REMOVE, "t2", 1))
    journal = await service.journal(ALICE)
    assert [(f.trade_id, f.quantity_micros) for f in journal.fills] == [("t1", 5 * MICROS)]


async def test_a_journal_behind_another_replica_is_rebuilt_from_the_trades(fakes: Fakes, analytics: Analytics) -> None:
    service = analytics.service
    fakes.trades.put(ALICE, fill("t1", True, 10, 100, NOW - 2 * HOUR))
    await service.journal(ALICE)
    # Another replica applied version 5 (and the trades now hold t2); this one sees version 6 next.
    await fakes.cache.advance_version(ALICE, 5)
    fakes.trades.put(ALICE, fill("t2", False, 10, 110, NOW - HOUR))
    await service.apply_change(JournalChange(ALICE, 6, ChangeKind.REMOVE, "t9", 1))
    journal = await service.journal(ALICE)
    assert journal.round_trip_count == 1
    assert journal.version == 6


async def test_one_users_events_and_trades_never_reach_another_users_journal_or_cache(
    fakes: Fakes, analytics: Analytics
) -> None:
    service = analytics.service
    fakes.trades.put(ALICE, fill("a1", True, 10, 100, NOW - 2 * HOUR))
    await service.apply_change(upsert(ALICE, 3, fill("a2", False, 10, 110, NOW - HOUR)))
    alice, bob = await service.lookup(ALICE, daily()), await service.lookup(BOB, daily())
    await service.store(alice, b"alice's report")
    assert alice.key != bob.key
    assert (await service.lookup(BOB, daily())).cached is None
    report, _ = await service.compute(bob, "Bearer b")
    assert report.performance.round_trip_count == 0
    assert report.activity.fill_count == 0
    assert await service.applied_version(BOB) == 0


async def test_settings_are_validated_and_updated_with_an_etag(analytics: Analytics) -> None:
    service = analytics.service
    with pytest.raises(InvalidArgument) as bad:
        await service.update_settings(
            ALICE, UserSettings(risk_free_rate_bps=5_000), frozenset({"risk_free_rate_bps"}), ""
        )
    assert bad.value.reason == "INVALID_SETTINGS"
    assert [v.field for v in bad.value.violations] == ["settings.risk_free_rate_bps"]
    # A bad value in a field outside the mask is not looked at.
    updated = await service.update_settings(
        ALICE,
        UserSettings(capital_base_micros=5 * MICROS, risk_free_rate_bps=5_000),
        frozenset({"capital_base_micros"}),
        "default",
    )
    assert (updated.capital_base_micros, updated.risk_free_rate_bps) == (5 * MICROS, 0)
    with pytest.raises(Aborted):
        await service.update_settings(ALICE, UserSettings(), frozenset({"capital_base_micros"}), "default")
    assert (await service.get_settings(BOB)).capital_base_micros is None


async def test_a_journal_version_not_applied_in_time_is_unavailable(analytics: Analytics) -> None:
    service = analytics.service
    await service.apply_change(JournalChange(ALICE, 4, ChangeKind.REMOVE, "t0", 1))
    await service.wait_for_version(ALICE, 4, 0.0)
    with pytest.raises(Unavailable) as late:
        await service.wait_for_version(ALICE, 5, 0.0)
    assert late.value.reason == "JOURNAL_VERSION_NOT_APPLIED"
    assert late.value.metadata == {"requested_version": "5", "applied_version": "4"}


async def test_open_positions_are_marked_and_without_market_data_the_report_is_not_cached(
    fakes: Fakes, analytics: Analytics
) -> None:
    fakes.trades.put(ALICE, fill("t1", True, 10, 100, NOW - HOUR))
    fakes.quotes.marks_of[("INFY", "NSE")] = Mark(105 * MICROS, 100 * MICROS, NOW, False)
    service = analytics.service
    report, cacheable = await service.compute(await service.lookup(ALICE, daily()), "Bearer a")
    assert cacheable
    assert report.unrealized_pnl_micros == 50 * MICROS
    assert fakes.quotes.authorizations == ["Bearer a"]  # the caller's own credentials
    fakes.quotes.available = False
    report, cacheable = await service.compute(await service.lookup(ALICE, daily()), "Bearer a")
    assert not cacheable
    assert report.unmarked_position_count == 1


async def test_recompute_rebuilds_every_user_once_at_a_time(fakes: Fakes, analytics: Analytics) -> None:
    fakes.trades.put(ALICE, fill("a1", True, 10, 100, NOW - 2 * HOUR))
    fakes.trades.put(ALICE, fill("a2", False, 10, 110, NOW - HOUR))
    fakes.trades.put(BOB, fill("b1", True, 1, 100, NOW - HOUR))
    result = await analytics.service.recompute(None)
    assert (result.user_count, result.fill_count, result.round_trip_count) == (2, 3, 2)  # Bob's open one counts
    assert (await fakes.cache.meta(ALICE)).generation == 1
    await fakes.cache.lock_recompute("*", 60)
    with pytest.raises(Aborted) as busy:
        await analytics.service.recompute(ALICE)
    assert busy.value.reason == "RECOMPUTE_IN_PROGRESS"


class Context:
    """The parts of a grpc.aio ServicerContext the servicer reads."""

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", "Bearer a"),)

    def time_remaining(self) -> float | None:
        return None


def as_user(user_id: str) -> None:
    expires = datetime.fromtimestamp(NOW / MICROS, UTC) + timedelta(hours=1)
    bind_principal(Principal(user_id, frozenset({"user"}), "token", "session", expires))


async def test_get_analytics_names_a_bad_reference_time_and_caches_the_second_call(
    fakes: Fakes, analytics: Analytics
) -> None:
    as_user(ALICE)
    request = analytics_service_pb2.GetAnalyticsRequest(period=period_pb2.PERIOD_DAILY)
    request.reference_time.seconds = 10**12  # past year 9999
    with pytest.raises(InvalidArgument) as bad:
        await analytics.servicer.GetAnalytics(request, Context())  # type: ignore[arg-type]
    assert [v.field for v in bad.value.violations] == ["reference_time"]

    fakes.trades.put(ALICE, fill("t1", True, 10, 100, NOW - 2 * HOUR))
    fakes.trades.put(ALICE, fill("t2", False, 10, 110, NOW - HOUR))
    request = analytics_service_pb2.GetAnalyticsRequest(period=period_pb2.PERIOD_DAILY)
    first = await analytics.servicer.GetAnalytics(request, Context())  # type: ignore[arg-type]
    second = await analytics.servicer.GetAnalytics(request, Context())  # type: ignore[arg-type]
    assert first == second
    assert first.report.performance.net_pnl_micros == 100 * MICROS
    assert (fakes.cache.hits, fakes.cache.misses) == (1, 1)
    assert fakes.trades.loads == 1


async def test_watch_pnl_sends_a_snapshot_then_a_delta_when_a_tick_moves_a_position(
    fakes: Fakes, analytics: Analytics, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stream loop looks at pending ticks when it wakes (at the latest at each version check).
    monkeypatch.setattr(watch, "VERSION_POLL_SECONDS", 0.005)
    fakes.trades.put(ALICE, fill("t1", True, 10, 100, NOW - HOUR))
    fakes.quotes.marks_of[("INFY", "NSE")] = Mark(100 * MICROS, 100 * MICROS, NOW, False)
    messages: AsyncIterator[PnlUpdate | PnlHeartbeat] = analytics.watcher.watch(ALICE, "Bearer a", 1_000, NOW + HOUR)
    try:
        snapshot = await anext(messages)
        assert isinstance(snapshot, PnlUpdate)
        assert snapshot.snapshot
        assert snapshot.totals.unrealized_pnl_micros == 0
        fakes.quotes.ticks.put_nowait({("INFY", "NSE"): Mark(103 * MICROS, 100 * MICROS, NOW, False)})
        delta = await anext(messages)
        assert isinstance(delta, PnlUpdate)
        assert not delta.snapshot
        assert delta.totals.unrealized_pnl_micros == 30 * MICROS
        assert [p.instrument for p in delta.positions] == [("INFY", "NSE")]
    finally:
        await messages.aclose()  # type: ignore[attr-defined]
