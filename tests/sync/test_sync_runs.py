"""Sync runs end to end: fake Kite → sync service → real trade service, real Redis and FerretDB."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, timedelta
from typing import Any

from redis.asyncio import Redis

from tests.conftest import MeshUser
from tests.sync.conftest import (
    DATA,
    Mesh,
    ist,
    journal,
    kite_app,
    link_kite,
    run_scheduled,
    summary_of,
    sync_now,
    wait_for_log,
)
from tests.sync.linked import linked_kite
from trademesh.services.brokers.fake_server import Fault, FaultKind
from trademesh.services.brokers.fakes import sample_book
from trademesh.services.brokers.zerodha.fake import FakeKite, kite_trade
from trademesh.services.sync.model import Broker, NormalisedTrade
from trademesh.services.sync.ports import ReconcileResult, TradeReconciler, TradeServiceUnavailable
from trademesh.services.sync.store import MongoSyncLogStore
from trademesh.sync.v1 import broker_account_pb2, sync_log_pb2, sync_service_pb2
from trademesh.trade.v1 import trade_pb2


def fixture_trades() -> list[dict[str, Any]]:
    """Return the real Kite sample trades (kiteconnect-mocks), including currency and commodity futures."""
    rows: list[dict[str, Any]] = json.loads((DATA / "kite_trades.json").read_text())["data"]
    return rows


async def test_full_sync_creates_every_trade(
    mesh: Mesh, fake_kite: FakeKite, new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    user = await new_user()
    rows = fixture_trades() + sample_book(20)
    app = kite_app(fake_kite, rows)
    sync = await mesh.start()
    account = await link_kite(sync, user, app)

    messages = await sync_now(sync, user, account.id)

    assert messages[0].WhichOneof("item") == "progress"
    summary = summary_of(messages)
    assert summary.status == sync_log_pb2.SYNC_STATUS_SUCCEEDED
    assert summary.type == sync_log_pb2.SYNC_TYPE_MANUAL
    assert summary.counters.fetched == len(rows)
    assert summary.counters.created == len(rows)
    trades = await journal(mesh, user, account.id)
    assert sorted(t.broker_trade_id for t in trades) == sorted(str(r["trade_id"]) for r in rows)
    by_id = {t.broker_trade_id: t for t in trades}
    sbin = by_id["10000000"]  # the sample's NSE SBIN fill at 420.65, 2021-05-31 09:16:39 IST
    assert sbin.instrument.symbol == "SBIN"
    assert sbin.price_micros == 420_650_000
    assert sbin.quantity_micros == 1_000_000
    assert sbin.side == trade_pb2.SIDE_BUY
    assert sbin.trade_time.ToDatetime(tzinfo=UTC) == ist("2021-05-31 09:16:39")
    usdinr = by_id["40000000"]
    assert usdinr.segment == trade_pb2.SEGMENT_CURRENCY
    assert usdinr.derivative.underlying == "USDINR"
    assert usdinr.price_micros == 72_755_000
    assert by_id["70000000"].segment == trade_pb2.SEGMENT_COMMODITY
    assert all(t.broker_account_id == account.id for t in trades)
    # Kite's own charges (the fake's virtual contract note) are recorded per fill as BROKER charges.
    assert sbin.charges_source == trade_pb2.CHARGES_SOURCE_BROKER
    assert sbin.fees_micros > 0
    b = sbin.fee_breakdown
    parts = (b.brokerage_micros, b.stt_micros, b.exchange_charges_micros, b.sebi_charges_micros)
    assert sbin.fees_micros == sum(parts) + b.stamp_duty_micros + b.gst_micros + b.other_micros
    assert b.stamp_duty_micros == 60_000  # 0.015 % of a ₹420.65 buy, to the paisa (Kite rounds stamp duty)
    # Currency has no contract-note charges from the fake and no schedule in the journal.
    assert usdinr.charges_source == trade_pb2.CHARGES_SOURCE_UNSPECIFIED
    assert usdinr.fees_micros == 0
    listed = await sync.stub.ListBrokerAccounts(sync_service_pb2.ListBrokerAccountsRequest(), metadata=user.metadata)
    assert listed.broker_accounts[0].last_sync_status == sync_log_pb2.SYNC_STATUS_SUCCEEDED
    assert listed.broker_accounts[0].last_sync_log_id == summary.id


async def test_second_sync_creates_nothing_and_amendments_update(
    mesh: Mesh, fake_kite: FakeKite, new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    user, app, sync, account = await linked_kite(mesh, fake_kite, new_user, 30)
    first = summary_of(await sync_now(sync, user, account.id))
    assert first.counters.created == 30

    second = await run_scheduled(sync, user, account.id, count=2)
    assert second.type == sync_log_pb2.SYNC_TYPE_SCHEDULED
    assert (second.counters.created, second.counters.unchanged, second.counters.updated) == (0, 30, 0)

    amended = app.trades[3]
    amended["average_price"] = 999.95
    amended["quantity"] = 42
    third = await run_scheduled(sync, user, account.id, count=3)
    assert (third.counters.created, third.counters.updated, third.counters.unchanged) == (0, 1, 29)

    trades = await journal(mesh, user, account.id)
    assert len(trades) == 30
    changed = next(t for t in trades if t.broker_trade_id == amended["trade_id"])
    assert changed.price_micros == 999_950_000
    assert changed.quantity_micros == 42_000_000
    assert changed.version == 2


async def test_outage_mid_sync_then_recovery_ends_with_each_trade_once(
    mesh: Mesh, fake_kite: FakeKite, new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    user = await new_user()
    book = sample_book(1500)
    app = kite_app(fake_kite, book[:700])
    sync = await mesh.start(reconcile_batch_size=250, broker_attempts=4)
    account = await link_kite(sync, user, app)
    # Blips inside one run (a 500, a timeout, a 429) are retried with backoff and do not fail it.
    app.faults.extend([Fault(FaultKind.STATUS, 500), Fault(FaultKind.SLOW, seconds=1.5), Fault(FaultKind.STATUS, 429)])
    first = summary_of(await sync_now(sync, user, account.id))
    assert first.status == sync_log_pb2.SYNC_STATUS_SUCCEEDED
    assert first.counters.created == 700

    # The broker's day goes on, then it goes down for longer than one run's retries.
    app.trades = book
    app.faults.extend([Fault(FaultKind.STATUS, 503, path="/orders")] * 4)
    failed = await run_scheduled(sync, user, account.id, count=2)
    assert failed.status == sync_log_pb2.SYNC_STATUS_FAILED
    assert failed.error.reason == "BROKER_UNAVAILABLE"
    assert failed.error.retryable
    assert failed.HasField("next_retry_time")

    recovered = await run_scheduled(sync, user, account.id, count=3)
    assert recovered.type == sync_log_pb2.SYNC_TYPE_RETRY
    assert recovered.attempt == 2
    assert recovered.retry_of_sync_log_id == failed.id
    assert recovered.status == sync_log_pb2.SYNC_STATUS_SUCCEEDED
    assert (recovered.counters.created, recovered.counters.unchanged) == (800, 700)
    trades = await journal(mesh, user, account.id)
    counts = Counter(t.broker_trade_id for t in trades)
    assert len(counts) == 1500
    assert set(counts.values()) == {1}


class DownAtSecondCall:
    """The trade service as seen through a network that fails the second ReconcileTrades call."""

    def __init__(self, real: TradeReconciler) -> None:
        self._real = real
        self.calls = 0

    async def reconcile(
        self, user_id: str, broker: Broker, account_id: str, log_id: str, trades: Sequence[NormalisedTrade]
    ) -> list[ReconcileResult]:
        self.calls += 1
        if self.calls == 2:
            raise TradeServiceUnavailable("ReconcileTrades failed: UNAVAILABLE")
        return await self._real.reconcile(user_id, broker, account_id, log_id, trades)


async def test_trade_service_outage_mid_reconcile_then_recovery(
    mesh: Mesh, fake_kite: FakeKite, new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    user = await new_user()
    app = kite_app(fake_kite, sample_book(600))
    sync = await mesh.start(reconcile_batch_size=200)
    account = await link_kite(sync, user, app)
    real = sync.runtime.reconciler
    sync.runtime.service.reconciler = DownAtSecondCall(real)
    failed = summary_of(await sync_now(sync, user, account.id))
    assert failed.status == sync_log_pb2.SYNC_STATUS_FAILED
    assert failed.error.reason == "DEPENDENCY_UNAVAILABLE"
    assert failed.counters.created == 200

    sync.runtime.service.reconciler = real
    retried = await run_scheduled(sync, user, account.id, count=2)
    assert retried.status == sync_log_pb2.SYNC_STATUS_SUCCEEDED
    assert (retried.counters.created, retried.counters.unchanged) == (400, 200)
    assert Counter(Counter(t.broker_trade_id for t in await journal(mesh, user, account.id)).values()) == {1: 600}


async def test_retries_exhausted_dead_letter_the_run(
    mesh: Mesh, fake_kite: FakeKite, new_user: Callable[[], Awaitable[MeshUser]], redis: Redis
) -> None:
    user = await new_user()
    app = kite_app(fake_kite, sample_book(5))
    sync = await mesh.start(broker_attempts=1)
    account = await link_kite(sync, user, app)
    app.faults.extend([Fault(FaultKind.STATUS, 502, path="/trades")] * 5)

    statuses = [summary_of(await sync_now(sync, user, account.id)).status]
    for attempt in range(2, 6):
        log = await run_scheduled(sync, user, account.id, count=attempt)
        assert log.attempt == attempt
        statuses.append(log.status)

    assert statuses == [sync_log_pb2.SYNC_STATUS_FAILED] * 4 + [sync_log_pb2.SYNC_STATUS_DEAD_LETTERED]
    dead = await sync.stub.ListSyncLogs(
        sync_service_pb2.ListSyncLogsRequest(status=sync_log_pb2.SYNC_STATUS_DEAD_LETTERED),
        metadata=user.metadata,
    )
    assert [log.error.reason for log in dead.sync_logs] == ["BROKER_UNAVAILABLE"]
    entries: Any = await redis.xrange(sync.runtime.queue.dead_letters)
    assert [fields[b"log_id"] for _, fields in entries] == [dead.sync_logs[0].id.encode()]
    # The regular schedule goes on afterwards, and the broker is back.
    after = await run_scheduled(sync, user, account.id, count=6)
    assert after.type == sync_log_pb2.SYNC_TYPE_SCHEDULED
    assert after.status == sync_log_pb2.SYNC_STATUS_SUCCEEDED


async def test_malformed_rows_are_recorded_per_row_and_the_rest_sync(
    mesh: Mesh, fake_kite: FakeKite, new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    user = await new_user()
    good = sample_book(6)
    missing_symbol = kite_trade(trade_id="bad-missing")
    del missing_symbol["tradingsymbol"]
    # 19 characters like a real timestamp: kiteconnect's own parser chokes on it for the whole list.
    bad_time = kite_trade(trade_id="bad-time") | {"fill_timestamp": "2021-13-45 99:99:99"}
    unknown_exchange = kite_trade(trade_id="bad-exchange") | {"exchange": "NYSE"}
    bad_quantity = kite_trade(trade_id="bad-quantity") | {"quantity": "lots"}
    rows: list[Any] = [*good[:3], missing_symbol, bad_time, unknown_exchange, bad_quantity, 12345, *good[3:]]
    app = kite_app(fake_kite, rows)
    sync = await mesh.start()
    account = await link_kite(sync, user, app)

    summary = summary_of(await sync_now(sync, user, account.id))

    assert summary.status == sync_log_pb2.SYNC_STATUS_PARTIAL
    assert (summary.counters.fetched, summary.counters.created, summary.counters.failed) == (len(rows), 6, 5)
    failures = {f.row_ref: f for f in summary.row_failures}
    assert set(failures) == {"bad-missing", "bad-time", "bad-exchange", "bad-quantity", "#7"}
    assert {f.reason for f in failures.values()} == {"UNMAPPABLE"}
    assert "exchange" in failures["bad-exchange"].message
    assert len(await journal(mesh, user, account.id)) == 6
    # The worker survived: the next run works and reports the same rows again.
    again = await run_scheduled(sync, user, account.id, count=2)
    assert (again.counters.unchanged, again.counters.failed) == (6, 5)


async def test_sync_now_reattaches_with_the_same_request_id(
    mesh: Mesh, fake_kite: FakeKite, new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    user, _, sync, account = await linked_kite(mesh, fake_kite, new_user, 3)
    rid = "0b0c5d1e-2f3a-4b5c-8d9e-0f1a2b3c4d5e"
    first = summary_of(await sync_now(sync, user, account.id, rid))
    again = await sync_now(sync, user, account.id, rid)
    assert [m.WhichOneof("item") for m in again] == ["summary"]
    assert again[0].summary.id == first.id
    assert again[0].summary.request_id == rid
    from tests.rpc import expect_failure

    limited = await expect_failure(sync_now(sync, user, account.id))
    assert limited.reason == "SYNC_RATE_LIMITED"
    assert limited.retry_delay_seconds is not None
    assert 0 < limited.retry_delay_seconds <= 60


async def test_unlink_keeps_trades_and_stops_syncing(
    mesh: Mesh, fake_kite: FakeKite, new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    user, app, sync, account = await linked_kite(mesh, fake_kite, new_user, 4)
    summary_of(await sync_now(sync, user, account.id))

    unlinked = await sync.stub.UnlinkBrokerAccount(
        sync_service_pb2.UnlinkBrokerAccountRequest(broker_account_id=account.id), metadata=user.metadata
    )

    assert unlinked.broker_account.status == broker_account_pb2.BROKER_ACCOUNT_STATUS_UNLINKED
    assert not app.access_tokens  # the session was revoked at the broker
    assert len(await journal(mesh, user, account.id)) == 4
    sync.shift_clock(timedelta(hours=1))
    assert await sync.runtime.service.schedule_due() == 0
    logs = await wait_for_log(sync, user, account.id, count=1)
    assert len(logs) == 1


async def test_sync_logs_are_kept_180_days_then_purged(
    mesh: Mesh, fake_kite: FakeKite, new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    user = await new_user()
    sync = await mesh.start()
    account = await link_kite(sync, user, kite_app(fake_kite, sample_book(2)))
    summary = summary_of(await sync_now(sync, user, account.id))
    start = summary.start_time.ToDatetime(tzinfo=UTC)

    async def listed() -> list[str]:
        response = await sync.stub.ListSyncLogs(
            sync_service_pb2.ListSyncLogsRequest(broker_account_id=account.id), metadata=user.metadata
        )
        return [log.id for log in response.sync_logs]

    logs = sync.runtime.service.logs
    assert isinstance(logs, MongoSyncLogStore)  # the store the server's purge loop runs
    assert summary.expire_time.ToDatetime(tzinfo=UTC) == start + timedelta(days=180)
    purged_early = await logs.purge_expired(start + timedelta(days=179))
    kept = await listed()
    purged_late = await logs.purge_expired(start + timedelta(days=181))

    assert (purged_early, kept) == (0, [summary.id])
    assert purged_late == 1
    assert await listed() == []
