"""The scenarios measured: the sync service's run vs the seed's per-trade reconcile loop."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kiteconnect import KiteConnect

from bench.sync_bench.common import SECRET
from bench.sync_bench.fake import _fake_stats
from trademesh.services.brokers.sessions import KiteLogin
from trademesh.services.sync.jobs import RedisJobQueue
from trademesh.services.sync.model import Broker, NormalisedTrade, SyncType
from trademesh.services.sync.ports import ReconcileResult, TradeReconciler
from trademesh.services.sync.server import SyncRuntime
from trademesh.services.sync.service import normalise_rows
from trademesh.services.sync.trades import GrpcTradeReconciler


@dataclass
class Figure:
    """One measured row."""

    label: str
    trades: int
    seconds: float
    broker_requests: int
    note: str = ""

    @property
    def trades_per_second(self) -> float:
        """Return the journal's intake rate."""
        return self.trades / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        """Return the printed row."""
        requests_per_second = self.broker_requests / self.seconds if self.seconds else 0.0
        return (
            f"  {self.label:<22} {self.trades:>8,} trades {self.seconds:>9.1f} s "
            f"{self.trades_per_second:>8.0f} trades/s {requests_per_second:>7.1f} broker req/s  {self.note}"
        )


async def _wait_finished(
    database: Any, queue: RedisJobQueue, log_ids: set[str], deadline: float
) -> list[dict[str, Any]]:
    """Wait until every run has finished, then return their logs.

    Watches the job queue's backlog in Redis (a worker acknowledges a job only after its run's log
    is finished) instead of polling the logs, which would cost the measured database a decode of
    every unfinished log several times a second; the logs are read once at the end.
    """
    while (backlog := await queue.backlog()) != 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{backlog} runs still queued or running")
        await asyncio.sleep(0.05)
    ids = sorted(log_ids)
    finished: list[dict[str, Any]] = []
    for start in range(0, len(ids), 1000):
        query = {"_id": {"$in": ids[start : start + 1000]}, "status": {"$ne": "RUNNING"}}
        finished += [log async for log in database.sync_logs.find(query, {"row_failures": 0})]
    if len(finished) != len(log_ids):
        raise RuntimeError(f"{len(log_ids) - len(finished)} runs acknowledged but not finished")
    return finished


class TimedReconciler:
    """The real ReconcileTrades client, timing its calls (how much of a run the trade service takes)."""

    def __init__(self, real: TradeReconciler) -> None:
        self._real = real
        self.seconds = 0.0
        self.calls = 0

    async def reconcile(
        self, user_id: str, broker: Broker, account_id: str, log_id: str, trades: Sequence[NormalisedTrade]
    ) -> list[ReconcileResult]:
        """Call ReconcileTrades and add its duration."""
        started = time.perf_counter()
        try:
            return await self._real.reconcile(user_id, broker, account_id, log_id, trades)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1


class InstantReconciler:
    """ReconcileTrades answered at once (CREATED for every trade): the sync service's own capacity."""

    async def reconcile(
        self, user_id: str, broker: Broker, account_id: str, log_id: str, trades: Sequence[NormalisedTrade]
    ) -> list[ReconcileResult]:
        """Return CREATED for every trade without calling anything."""
        return [ReconcileResult("CREATED") for _ in trades]


async def _link(runtime: SyncRuntime, user_id: str, api_key: str) -> str:
    account, _ = await runtime.service.link(
        user_id, str(uuid.uuid4()), KiteLogin(api_key, SECRET, f"rt-{uuid.uuid4().hex}"), "", ""
    )
    return account.id


async def service_scenario(
    runtime: SyncRuntime,
    database: Any,
    fake_url: str,
    label: str,
    keys: list[str],
    per_user: int,
    reconciler: TimedReconciler | InstantReconciler,
) -> Figure:
    """(a): link the accounts, then start a scheduled run of each and let the workers sync them all."""
    runtime.service.reconciler = reconciler
    tag = uuid.uuid4().hex[:8]
    semaphore = asyncio.Semaphore(32)

    async def link(index: int, key: str) -> str:
        async with semaphore:
            return await _link(runtime, f"bench-{tag}-user-{index // per_user}", key)

    account_ids = await asyncio.gather(*(link(i, key) for i, key in enumerate(keys)))
    before = _fake_stats(fake_url)["requests"]
    started = time.perf_counter()
    log_ids: set[str] = set()
    for account_id in account_ids:
        account = await runtime.service.accounts.get(account_id)
        assert account is not None
        log = await runtime.service.start_run(account, SyncType.SCHEDULED)
        assert log is not None
        log_ids.add(log.id)
    logs = await _wait_finished(database, runtime.queue, log_ids, time.monotonic() + 3600)
    seconds = time.perf_counter() - started
    requests = _fake_stats(fake_url)["requests"] - before
    created = sum(log["counters"]["created"] for log in logs)
    bad = [log for log in logs if log["status"] != "SUCCEEDED"]
    note = f"{len(logs)} runs, {len(bad)} not SUCCEEDED" if bad else f"{len(logs)} runs, all SUCCEEDED"
    if isinstance(reconciler, TimedReconciler) and reconciler.calls:
        note += f"; {reconciler.calls} ReconcileTrades calls, {reconciler.seconds / reconciler.calls:.2f} s each"
        reconciler.seconds, reconciler.calls = 0.0, 0
    name = "service" if isinstance(reconciler, TimedReconciler) else "service*"
    return Figure(f"{label} (a) {name}", created, seconds, requests, note)


async def baseline_scenario(
    reconciler: GrpcTradeReconciler, fake_url: str, label: str, keys: list[str], sample_trades: int | None
) -> tuple[Figure, int]:
    """(b): the seed's loop over `keys`, one ReconcileTrades call per trade; return it and the trades fetched.

    With `sample_trades`, only that many of each account's trades are reconciled.
    """
    tag = uuid.uuid4().hex[:8]
    requests = 0
    reconciled = 0
    total = 0
    started = time.perf_counter()
    for index, key in enumerate(keys):

        def fetch(api_key: str = key) -> list[Any]:
            client = KiteConnect(api_key, root=fake_url + "/")
            session = client.generate_session(f"rt-{uuid.uuid4().hex}", SECRET)
            client.set_access_token(session["access_token"])
            rows: list[Any] = client.trades()
            return rows

        rows = await asyncio.to_thread(fetch)
        requests += 2
        trades, _ = normalise_rows(Broker.ZERODHA, rows)
        total += len(trades)
        if sample_trades is not None:
            trades = trades[:sample_trades]
        for trade in trades:
            await reconciler.reconcile(f"baseline-{tag}-{index}", Broker.ZERODHA, f"acct-{tag}-{index}", "", [trade])
            reconciled += 1
    seconds = time.perf_counter() - started
    note = f"measured {reconciled:,} trades in {seconds:.1f} s"
    return Figure(f"{label} (b) baseline", reconciled, seconds, requests, note), total


def _extrapolate(figure: Figure, total: int, broker_requests: int) -> Figure:
    if figure.trades >= total or figure.trades == 0:
        return figure
    scale = total / figure.trades
    note = figure.note + f"; extrapolated x{scale:.1f}"
    return Figure(figure.label, total, figure.seconds * scale, broker_requests, note)
