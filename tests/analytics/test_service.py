"""The analytics service against real servers: trade, market data (simulated feed), Redis, FerretDB."""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import grpc
from google.protobuf import field_mask_pb2

from tests.analytics.conftest import Mesh, bearer, create_trade, equity_trade
from tests.conftest import MeshUser
from tests.eventually import eventually
from tests.rpc import expect_failure
from trademesh.analytics.v1 import analytics_service_pb2, period_pb2, settings_pb2, tax_pb2
from trademesh.services.analytics.recompute import recompute
from trademesh.trade.v1 import trade_pb2, trade_service_pb2

BUY, SELL = trade_pb2.SIDE_BUY, trade_pb2.SIDE_SELL
ALL_TIME = analytics_service_pb2.GetAnalyticsRequest(period=period_pb2.PERIOD_ALL_TIME)
MICROS = 1_000_000


async def test_empty_history_is_a_defined_report_and_the_second_call_is_a_cache_hit(
    start_mesh: Callable[..., Awaitable[Mesh]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    mesh = await start_mesh(marketdata=False)
    user = await new_user()
    hits_before, _ = await mesh.runtime.cache.hit_rate()

    first = (await mesh.analytics.GetAnalytics(ALL_TIME, metadata=user.metadata)).report
    second = (await mesh.analytics.GetAnalytics(ALL_TIME, metadata=user.metadata)).report

    assert first.performance.round_trip_count == 0
    assert not first.performance.HasField("win_rate_percent")
    assert len(first.by_category) == 4
    assert len(first.by_hour_of_day) == 24
    assert len(first.by_weekday) == 7
    assert len(first.by_month) == 12
    assert first.journal_version == 0
    assert second == first  # same computed_time: served from the cache
    hits_after, _ = await mesh.runtime.cache.hit_rate()
    assert hits_after == hits_before + 1


async def test_a_trade_written_through_the_trade_service_invalidates_the_cache_within_a_bounded_delay(
    start_mesh: Callable[..., Awaitable[Mesh]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    mesh = await start_mesh(marketdata=False)
    user = await new_user()
    opened = datetime.now(UTC) - timedelta(hours=2)
    await create_trade(mesh.trade, user.metadata, equity_trade("INFY", BUY, 10, 1500, opened, fees_micros=20 * MICROS))
    await eventually(lambda: _round_trips_or_open(mesh, user, open_positions=1))
    cached = (await mesh.analytics.GetAnalytics(ALL_TIME, metadata=user.metadata)).report
    assert cached.performance.round_trip_count == 0

    sell = await create_trade(
        mesh.trade, user.metadata, equity_trade("INFY", SELL, 10, 1510, opened + timedelta(hours=1))
    )
    written = time.monotonic()
    await eventually(lambda: _round_trips_or_open(mesh, user, round_trips=1), interval=0.005)
    delay = time.monotonic() - written

    report = (await mesh.analytics.GetAnalytics(ALL_TIME, metadata=user.metadata)).report
    # The sell carries no fees: the trade service charges it by the schedule (COMPUTED); the round trip's
    # net is its gross 10 x 10 minus every charge, the typed 20 of the buy and the sell's computed ones.
    assert sell.charges_source == trade_pb2.CHARGES_SOURCE_COMPUTED
    assert sell.fees_micros > 0
    assert report.performance.fees_micros == 20 * MICROS + sell.fees_micros
    assert report.performance.realized_pnl_micros == 100 * MICROS
    assert report.performance.net_pnl_micros == 100 * MICROS - 20 * MICROS - sell.fees_micros
    assert report.performance.win_count == 1
    assert report.journal_version > cached.journal_version
    # Read-your-writes bound measured here (README: typically a few ms; the consumer blocks 0.2 s at most).
    assert delay < 1.0, f"the trade took {delay:.3f} s to be reflected"
    print(f"read-your-writes delay: {delay * 1000:.1f} ms")


async def receive(stream: Any) -> analytics_service_pb2.WatchPnlResponse:
    """Read the next WatchPnl message (failing after 5 s)."""
    message = await asyncio.wait_for(stream.read(), timeout=5)
    assert isinstance(message, analytics_service_pb2.WatchPnlResponse)
    return message


async def _round_trips_or_open(
    mesh: Mesh, user: MeshUser, round_trips: int | None = None, open_positions: int | None = None
) -> bool:
    report = (await mesh.analytics.GetAnalytics(ALL_TIME, metadata=user.metadata)).report
    if round_trips is not None and report.performance.round_trip_count != round_trips:
        return False
    return open_positions is None or len(report.open_positions) == open_positions


async def test_min_journal_version_waits_then_fails_when_not_applied(
    start_mesh: Callable[..., Awaitable[Mesh]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    mesh = await start_mesh(marketdata=False)
    user = await new_user()
    await create_trade(mesh.trade, user.metadata, equity_trade("TCS", BUY, 1, 4000))
    await eventually(lambda: _round_trips_or_open(mesh, user, open_positions=1))
    applied = (await mesh.analytics.GetAnalytics(ALL_TIME, metadata=user.metadata)).report.journal_version

    ok = analytics_service_pb2.GetAnalyticsRequest(period=period_pb2.PERIOD_ALL_TIME, min_journal_version=applied)
    assert (await mesh.analytics.GetAnalytics(ok, metadata=user.metadata)).report.journal_version == applied
    ahead = analytics_service_pb2.GetAnalyticsRequest(
        period=period_pb2.PERIOD_ALL_TIME, min_journal_version=applied + 1
    )
    failure = await expect_failure(mesh.analytics.GetAnalytics(ahead, metadata=user.metadata, timeout=0.5))

    assert failure.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


async def test_deleting_a_trade_removes_it_and_another_users_data_is_never_visible(
    start_mesh: Callable[..., Awaitable[Mesh]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    mesh = await start_mesh(marketdata=False)
    owner, stranger = await new_user(), await new_user()
    buy = await create_trade(mesh.trade, owner.metadata, equity_trade("SBIN", BUY, 5, 800))
    await eventually(lambda: _round_trips_or_open(mesh, owner, open_positions=1))

    other = (await mesh.analytics.GetAnalytics(ALL_TIME, metadata=stranger.metadata)).report
    assert other.activity.fill_count == 0
    assert list(other.open_positions) == []

    await mesh.trade.DeleteTrade(trade_service_pb2.DeleteTradeRequest(id=buy.id), metadata=owner.metadata)
    await eventually(lambda: _round_trips_or_open(mesh, owner, open_positions=0))
    report = (await mesh.analytics.GetAnalytics(ALL_TIME, metadata=owner.metadata)).report
    assert report.activity.fill_count == 0


async def test_recompute_needs_an_admin_or_service_identity(
    start_mesh: Callable[..., Awaitable[Mesh]],
    new_user: Callable[[], Awaitable[MeshUser]],
    mint_token: Callable[..., str],
) -> None:
    mesh = await start_mesh(marketdata=False)
    user = await new_user()
    await create_trade(mesh.trade, user.metadata, equity_trade("ITC", BUY, 3, 400, fees_micros=MICROS))
    await create_trade(mesh.trade, user.metadata, equity_trade("ITC", SELL, 5, 410))
    request = analytics_service_pb2.RecomputeAnalyticsRequest(user_id=user.user_id)

    denied = await expect_failure(mesh.analytics.RecomputeAnalytics(request, metadata=user.metadata))
    by_service = await mesh.analytics.RecomputeAnalytics(request, metadata=bearer(mint_token()))
    by_admin = await mesh.analytics.RecomputeAnalytics(
        analytics_service_pb2.RecomputeAnalyticsRequest(), metadata=bearer(mint_token("root", ("user", "admin")))
    )

    assert (denied.code, denied.reason) == (grpc.StatusCode.PERMISSION_DENIED, "ADMIN_REQUIRED")
    # One closed round trip (long 3) and one open (the short 2 left by the crossing sell).
    assert (by_service.user_count, by_service.fill_count, by_service.round_trip_count) == (1, 2, 2)
    assert by_admin.user_count >= 1
    too_long = analytics_service_pb2.RecomputeAnalyticsRequest(user_id="x" * 129)
    invalid = await expect_failure(mesh.analytics.RecomputeAnalytics(too_long, metadata=bearer(mint_token())))
    assert invalid.reason == "INVALID_USER_ID"


async def test_settings_update_with_etag_and_the_report_uses_them_at_once(
    start_mesh: Callable[..., Awaitable[Mesh]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    mesh = await start_mesh(marketdata=False)
    user = await new_user()
    defaults = (
        await mesh.analytics.GetAnalyticsSettings(
            analytics_service_pb2.GetAnalyticsSettingsRequest(), metadata=user.metadata
        )
    ).settings
    before = (await mesh.analytics.GetAnalytics(ALL_TIME, metadata=user.metadata)).report
    assert not before.risk.HasField("return_percent")

    update = analytics_service_pb2.UpdateAnalyticsSettingsRequest(
        settings=settings_pb2.AnalyticsSettings(capital_base_micros=100_000 * MICROS, etag=defaults.etag),
        update_mask=field_mask_pb2.FieldMask(paths=["capital_base_micros"]),
    )
    updated = (await mesh.analytics.UpdateAnalyticsSettings(update, metadata=user.metadata)).settings
    stale = await expect_failure(mesh.analytics.UpdateAnalyticsSettings(update, metadata=user.metadata))
    bad = analytics_service_pb2.UpdateAnalyticsSettingsRequest(
        settings=settings_pb2.AnalyticsSettings(risk_free_rate_bps=5000),
        update_mask=field_mask_pb2.FieldMask(paths=["risk_free_rate_bps"]),
    )
    invalid = await expect_failure(mesh.analytics.UpdateAnalyticsSettings(bad, metadata=user.metadata))
    empty_mask = await expect_failure(
        mesh.analytics.UpdateAnalyticsSettings(
            analytics_service_pb2.UpdateAnalyticsSettingsRequest(), metadata=user.metadata
        )
    )
    after = (await mesh.analytics.GetAnalytics(ALL_TIME, metadata=user.metadata)).report

    assert updated.capital_base_micros == 100_000 * MICROS
    assert updated.etag != defaults.etag
    assert (stale.code, stale.reason) == (grpc.StatusCode.ABORTED, "ETAG_MISMATCH")
    assert (invalid.reason, list(invalid.violations)) == ("INVALID_SETTINGS", ["settings.risk_free_rate_bps"])
    assert empty_mask.reason == "INVALID_UPDATE_MASK"
    assert after.settings.capital_base_micros == 100_000 * MICROS
    assert after.risk.return_percent == 0


async def test_invalid_requests_are_invalid_argument_with_the_field(
    start_mesh: Callable[..., Awaitable[Mesh]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    mesh = await start_mesh(marketdata=False)
    user = await new_user()

    unspecified = await expect_failure(
        mesh.analytics.GetAnalytics(analytics_service_pb2.GetAnalyticsRequest(), metadata=user.metadata)
    )
    custom = await expect_failure(
        mesh.analytics.GetAnalytics(
            analytics_service_pb2.GetAnalyticsRequest(period=period_pb2.PERIOD_CUSTOM), metadata=user.metadata
        )
    )
    anonymous = await expect_failure(mesh.analytics.GetAnalytics(ALL_TIME))

    assert (unspecified.code, unspecified.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PERIOD")
    assert (custom.reason, list(custom.violations)) == ("INVALID_TIME_RANGE", ["custom_range"])
    assert anonymous.code == grpc.StatusCode.UNAUTHENTICATED


async def test_the_largest_trades_and_only_losses_give_exact_defined_answers(
    start_mesh: Callable[..., Awaitable[Mesh]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    mesh = await start_mesh(marketdata=False)
    user = await new_user()
    when = datetime.now(UTC) - timedelta(hours=3)
    # Ten buys of 10^5 units at ₹10^5, each worth 10^16 micros (the most one trade may be worth), then
    # one sell of everything at ₹10^3: a loss of 10^17 - 10^15 micros. (Totals beyond int64, which the
    # trade service's per-trade cap makes need ~1,000 such trades, saturate: see test_round_trips.py.)
    for minute in range(10):
        trade = equity_trade(
            "MRF",
            BUY,
            0,
            0,
            when + timedelta(minutes=minute),
            quantity_micros=10**11,
            price_micros=10**11,
            charges_source=trade_pb2.CHARGES_SOURCE_MANUAL,  # typed as zero: this test is about the extremes
        )
        await create_trade(mesh.trade, user.metadata, trade)
    sell = equity_trade(
        "MRF",
        SELL,
        0,
        0,
        when + timedelta(minutes=20),
        quantity_micros=10**12,
        price_micros=10**9,
        charges_source=trade_pb2.CHARGES_SOURCE_MANUAL,
    )
    await create_trade(mesh.trade, user.metadata, sell)
    await eventually(lambda: _round_trips_or_open(mesh, user, round_trips=1))

    report = (await mesh.analytics.GetAnalytics(ALL_TIME, metadata=user.metadata)).report

    assert report.performance.net_pnl_micros == -(10**17 - 10**15)
    assert report.performance.loss_count == 1
    assert report.performance.win_rate_percent == 0
    assert report.performance.profit_factor == 0
    assert report.risk.max_drawdown_micros == 10**17 - 10**15
    assert report.risk.recovery_factor == -1


async def test_watch_pnl_marks_open_positions_with_live_ticks_throttled(
    start_mesh: Callable[..., Awaitable[Mesh]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    mesh = await start_mesh()
    user, stranger = await new_user(), await new_user()
    await create_trade(mesh.trade, user.metadata, equity_trade("INFY", BUY, 10, 1500))
    await create_trade(mesh.trade, user.metadata, equity_trade("RELIANCE", SELL, 4, 2500))
    await eventually(lambda: _round_trips_or_open(mesh, user, open_positions=2))

    stream = mesh.analytics.WatchPnl(
        analytics_service_pb2.WatchPnlRequest(max_updates_per_second=2), metadata=user.metadata
    )
    first = (await receive(stream)).update
    started = time.monotonic()
    deltas = []
    while time.monotonic() - started < 3.0:
        message = await receive(stream)
        if message.WhichOneof("event") == "update":
            deltas.append((time.monotonic(), message.update))
    elapsed = time.monotonic() - started
    stream.cancel()

    assert first.snapshot
    assert first.effective_max_updates_per_second == 2
    assert [(p.instrument.symbol, p.net_quantity) for p in first.positions] == [("INFY", 10), ("RELIANCE", -4)]
    assert first.totals.open_position_count == 2
    assert deltas, "no delta arrived while the simulated feed ticked"
    assert all(not update.snapshot for _, update in deltas)
    # At most 2 messages a second (plus one for the window edge).
    assert len(deltas) <= 2 * elapsed + 1
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(deltas)]
    assert all(gap >= 0.3 for gap in gaps), gaps  # 0.5 s apart when sent; receive jitter allowed
    # Deltas carry changed positions only; merged onto the snapshot they explain the complete totals.
    state = {p.instrument.symbol: p for p in first.positions}
    for _, update in deltas:
        state.update({p.instrument.symbol: p for p in update.positions})
        marked = [p.unrealized_pnl_micros for p in state.values() if p.HasField("unrealized_pnl_micros")]
        assert update.totals.unrealized_pnl_micros == sum(marked)
        assert update.totals.unmarked_position_count == len(state) - len(marked)
    # The feed prices every instrument within the window (a freshly started feed may not have at the snapshot).
    assert all(p.last_price_micros > 0 and p.HasField("unrealized_pnl_micros") for p in state.values())

    other = mesh.analytics.WatchPnl(analytics_service_pb2.WatchPnlRequest(), metadata=stranger.metadata)
    other_first = (await receive(other)).update
    other.cancel()
    assert other_first.snapshot
    assert list(other_first.positions) == []
    assert other_first.effective_max_updates_per_second == 4


async def test_watch_pnl_sends_a_new_snapshot_when_a_trade_is_written(
    start_mesh: Callable[..., Awaitable[Mesh]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    mesh = await start_mesh()
    user = await new_user()
    stream = mesh.analytics.WatchPnl(analytics_service_pb2.WatchPnlRequest(), metadata=user.metadata)
    assert (await receive(stream)).update.totals.open_position_count == 0

    await create_trade(mesh.trade, user.metadata, equity_trade("TCS", BUY, 2, 4000))
    message = await eventually(
        lambda: receive(stream),
        interval=0,
        until=lambda message: message.WhichOneof("event") == "update" and message.update.snapshot,
        what="a new snapshot after the trade",
    )
    stream.cancel()

    assert [p.instrument.symbol for p in message.update.positions] == ["TCS"]
    assert message.update.journal_version > 0


async def test_watch_pnl_limits_streams_per_user(
    start_mesh: Callable[..., Awaitable[Mesh]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    mesh = await start_mesh(marketdata=False, max_watches_per_user=1)
    user = await new_user()
    first = mesh.analytics.WatchPnl(analytics_service_pb2.WatchPnlRequest(), metadata=user.metadata)
    await first.read()

    second = mesh.analytics.WatchPnl(analytics_service_pb2.WatchPnlRequest(), metadata=user.metadata)
    failure = await expect_failure(second.read())
    first.cancel()

    assert (failure.code, failure.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "TOO_MANY_STREAMS")


async def test_the_nightly_recompute_rebuilds_every_user_and_invalidates_cached_reports(
    start_mesh: Callable[..., Awaitable[Mesh]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    mesh = await start_mesh()
    first, second = await new_user(), await new_user()
    for user in (first, second):
        await create_trade(mesh.trade, user.metadata, equity_trade("WIPRO", BUY, 1, 300))
        await eventually(lambda user=user: _round_trips_or_open(mesh, user, open_positions=1))  # type: ignore[misc]
    before = (await mesh.analytics.GetAnalytics(ALL_TIME, metadata=first.metadata)).report
    assert (await mesh.analytics.GetAnalytics(ALL_TIME, metadata=first.metadata)).report == before  # cached

    result = await recompute(mesh.settings, None)
    again = await recompute(mesh.settings, first.user_id)

    assert (result.user_count, result.fill_count, result.round_trip_count) == (2, 2, 2)
    assert (again.user_count, again.fill_count) == (1, 1)
    after = (await mesh.analytics.GetAnalytics(ALL_TIME, metadata=first.metadata)).report
    assert after.computed_time != before.computed_time  # the cached report was made unreachable
    assert after.performance == before.performance
    # The CronJob's entry point, as the chart runs it (a process with the service's environment).
    environment = {
        **os.environ,
        "TRADEMESH_MONGO_URL": mesh.settings.mongo_url,
        "TRADEMESH_MONGO_DATABASE": mesh.settings.mongo_database,
        "TRADEMESH_REDIS_URL": mesh.settings.redis_url,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "trademesh.services.analytics.recompute", env=environment, stderr=asyncio.subprocess.PIPE
    )
    _, errors = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, errors.decode()
    assert b"recomputed 2 users, 2 fills" in errors


async def test_get_tax_report_serves_the_callers_own_statement_and_rejects_a_bad_year(
    start_mesh: Callable[..., Awaitable[Mesh]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    mesh = await start_mesh(marketdata=False)
    owner, stranger = await new_user(), await new_user()
    ist = timezone(timedelta(hours=5, minutes=30))
    day = (datetime.now(ist) - timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)
    year = day.year if day.month >= 4 else day.year - 1
    label = f"{year}-{(year + 1) % 100:02d}"
    await create_trade(mesh.trade, owner.metadata, equity_trade("INFY", BUY, 10, 1500, day, fees_micros=5 * MICROS))
    sell = equity_trade("INFY", SELL, 10, 1520, day + timedelta(hours=4), fees_micros=10 * MICROS)
    await create_trade(mesh.trade, owner.metadata, sell)
    await eventually(lambda: _round_trips_or_open(mesh, owner, round_trips=1))

    request = tax_pb2.GetTaxReportRequest(financial_year=label)
    report = (await mesh.analytics.GetTaxReport(request, metadata=owner.metadata)).report
    speculative = report.heads[0]
    assert speculative.head == tax_pb2.TAX_HEAD_SPECULATIVE_BUSINESS
    assert (speculative.lot_count, speculative.net_micros, speculative.turnover_micros) == (
        1,
        185 * MICROS,
        200 * MICROS,
    )
    assert speculative.lots[0].instrument.symbol == "INFY"
    assert "not tax advice" in report.disclaimer
    assert "Dividends are left out" in report.dividends_note

    other = (await mesh.analytics.GetTaxReport(request, metadata=stranger.metadata)).report
    assert [head.lot_count for head in other.heads] == [0, 0, 0, 0, 0]

    bad = await expect_failure(
        mesh.analytics.GetTaxReport(tax_pb2.GetTaxReportRequest(financial_year="2025-2026"), metadata=owner.metadata)
    )
    anonymous = await expect_failure(mesh.analytics.GetTaxReport(request))
    assert (bad.code, bad.reason, list(bad.violations)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_FINANCIAL_YEAR",
        ["financial_year"],
    )
    assert anonymous.code == grpc.StatusCode.UNAUTHENTICATED
