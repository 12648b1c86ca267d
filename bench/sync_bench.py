"""Sync benchmark: the sync service as built vs the seed's per-trade loop, side by side in one run.

Against a fake Kite Connect (its own process, 10 requests/s per app like the real API) and a real trade
service (its own process) on private Redis and FerretDB, two scenarios:

* **solo** — one account with `--solo-trades` (10,000) fills today;
* **sweep** — `--accounts` (1,000) accounts x `--trades-per-account` (20) fills, i.e. one schedule period.

and for each, two ways to get the broker's trades into the journal:

* **(a) service** — the sync service as built: the scheduler queues one run per account on the Redis job
  stream, 64 concurrent worker runs per replica, kiteconnect in a bounded thread pool, requests paced per
  API key, ReconcileTrades in batches of 1,000;
* **(b) baseline** — the seed's loop: accounts one after the other, kiteconnect's `trades()`, then one
  ReconcileTrades call per trade. It is slow, so by default it runs on a sample (`--baseline-solo-trades`,
  `--baseline-accounts`) and its wall time is extrapolated linearly — generous to the baseline, whose
  per-call cost grows with the journal's size.

(a) also runs the sweep with ReconcileTrades answered at once — **(a*)**, the sync service's own share:
scheduling, queue, workers, kiteconnect, pacing, its own database writes. `--sweep-real-accounts`
(default: all) limits how many sweep accounts go into the real trade service; with fewer, the full
sweep's duration is projected from them.

Each measurement starts the trade service on an empty journal and uses fresh users, so every way
creates every trade. Printed per row: wall time, trades/s, broker requests/s; then the speed-up of (a)
over (b) in trades/s, the busiest second of any one app at the fake Kite and the 429s it served.

    .venv/bin/python bench/sync_bench.py                      # the full run (a few minutes)
    .venv/bin/python bench/sync_bench.py --small              # 1 x 1,000 and 100 x 20, for a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc import aio
from grpc_health.v1 import health_pb2
from kiteconnect import KiteConnect
from pymongo import AsyncMongoClient

from trademesh.devstack.processes import FerretDBServer, RedisServer
from trademesh.services.auth.admin import issue_service_token
from trademesh.services.auth.keys import KeyRing, write_new_key
from trademesh.services.auth.server import build_auth_server
from trademesh.services.auth.settings import AuthSettings
from trademesh.services.brokers.sessions import KiteLogin
from trademesh.services.core.server import termination_requested
from trademesh.services.sync.credentials import new_key_text
from trademesh.services.sync.jobs import RedisJobQueue
from trademesh.services.sync.model import Broker, NormalisedTrade, SyncType
from trademesh.services.sync.ports import ReconcileResult, TradeReconciler
from trademesh.services.sync.server import SyncRuntime, build_sync_server
from trademesh.services.sync.service import normalise_rows
from trademesh.services.sync.settings import SyncSettings
from trademesh.services.sync.trades import GrpcTradeReconciler, ServiceToken

SOLO_KEY = "bench-solo"
SECRET = "bench-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sweep_key(index: int) -> str:
    return f"bench-{index:05d}"


# ------------------------------------------------------------------------------ the fake Kite process


async def _serve_fake(port: int, solo_trades: int, accounts: int, per_account: int) -> None:
    from aiohttp import web

    from trademesh.services.brokers.fakes import sample_book
    from trademesh.services.brokers.zerodha.fake import FakeKite

    kite = FakeKite()
    kite.add_app(SOLO_KEY, SECRET, "SOLO01", "Solo Trader").trades = sample_book(solo_trades)
    for index in range(accounts):
        kite.add_app(_sweep_key(index), SECRET, f"SW{index:05d}", "Sweep Trader").trades = sample_book(per_account)

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "requests": kite.total_requests,
                "rate_limited": kite.total_rate_limited,
                "peak_per_second": max((app.peak_per_second for app in kite.apps.values()), default=0),
            }
        )

    original = kite.routes
    kite.routes = lambda: [*original(), web.get("/__bench/stats", stats)]  # type: ignore[method-assign]
    await kite.start(port=port)
    print("ready", flush=True)
    await termination_requested().wait()
    await kite.stop()


def _fake_stats(base_url: str) -> dict[str, int]:
    with urllib.request.urlopen(base_url + "/__bench/stats", timeout=10) as response:  # noqa: S310 - loopback
        data: dict[str, int] = json.load(response)
        return data


# ------------------------------------------------------------------------------ measuring


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


# ------------------------------------------------------------------------------ orchestration


class TradeProcess:
    """The trade service in its own process, restarted on an empty database for every measurement.

    FerretDB scans a collection for most trade-service reads (docs/decisions/0015), so a journal
    left by one measurement would slow the next one down; each starts from an empty journal instead.
    """

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self._env = env
        self.port = port
        self._log = log
        self._process: subprocess.Popen[bytes] | None = None

    async def restart(self, database: str) -> None:
        """Stop the running trade service, if any, and start one on `database`."""
        self.stop()
        env = self._env | {
            "TRADEMESH_GRPC_PORT": str(self.port),
            "TRADEMESH_SERVICE_NAME": "trade",
            "TRADEMESH_MONGO_DATABASE": database,
        }
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: ASYNC220 - between measurements
                [sys.executable, "-m", "trademesh.services.trade"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        await _wait_serving(f"127.0.0.1:{self.port}")

    def stop(self) -> None:
        """Stop the process."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


async def _wait_serving(address: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    async with aio.insecure_channel(address) as channel:
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        while True:
            try:
                response = await check(health_pb2.HealthCheckRequest(), timeout=1)
                if response.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{address} did not become SERVING")
            await asyncio.sleep(0.2)


async def run(args: argparse.Namespace) -> None:
    """Start everything, run both scenarios both ways, print the figures."""
    workdir = Path(tempfile.mkdtemp(prefix="sync-bench-"))
    key_file = workdir / "signing.pem"
    write_new_key(key_file)
    fake_port = _free_port()
    fake_url = f"http://127.0.0.1:{fake_port}"
    fake = subprocess.Popen(  # noqa: ASYNC220 - started once, before anything is measured
        [sys.executable, __file__, "--role", "fake", "--fake-port", str(fake_port), "--solo-trades",
         str(args.solo_trades), "--accounts", str(args.accounts), "--trades-per-account", str(args.trades_per_account)],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    trade: TradeProcess | None = None
    try:
        assert fake.stdout is not None
        if fake.stdout.readline().strip() != b"ready":
            raise RuntimeError("the fake Kite did not start")
        with RedisServer(workdir / "redis") as redis_server, FerretDBServer(workdir / "db") as database_server:
            auth = await build_auth_server(
                AuthSettings(
                    grpc_host="127.0.0.1", grpc_port=0, jwks_http_host="127.0.0.1", jwks_http_port=0,
                    mongo_url=database_server.url, mongo_database="bench_auth", redis_url=redis_server.url,
                    signing_key_files=str(key_file), log_format="text", log_level="WARNING",
                )
            )  # fmt: skip
            trade_port = _free_port()
            env = {
                **os.environ,
                "TRADEMESH_GRPC_HOST": "127.0.0.1",
                "TRADEMESH_MONGO_URL": database_server.url,
                "TRADEMESH_MONGO_DATABASE": "bench",
                "TRADEMESH_REDIS_URL": redis_server.url,
                "TRADEMESH_AUTH_TARGET": f"127.0.0.1:{auth.port}",
                "TRADEMESH_LOG_LEVEL": "WARNING",
                "TRADEMESH_DEPENDENCY_TIMEOUT_SECONDS": "30",
                "TRADEMESH_QUERY_TIMEOUT_SECONDS": "600",
                "TRADEMESH_RELAY_SCAN_INTERVAL_SECONDS": "3600",
            }
            trade = TradeProcess(env, trade_port, workdir / "trade.log")
            await trade.restart("bench_trade_solo_a")
            token = issue_service_token(KeyRing.from_files([key_file]), "sync", 1, "trademesh-auth", "trademesh")
            runtime = await build_sync_server(
                SyncSettings(
                    grpc_host="127.0.0.1", grpc_port=0, mongo_url=database_server.url, mongo_database="bench_sync",
                    redis_url=redis_server.url, auth_target=f"127.0.0.1:{auth.port}", log_format="text",
                    log_level="WARNING", dependency_timeout_seconds=30.0, trade_target=f"127.0.0.1:{trade_port}",
                    broker_credentials_key=new_key_text("bench"), service_token=token, kite_base_url=fake_url,
                    scheduler_enabled=False, reconcile_timeout_seconds=600.0,
                )
            )  # fmt: skip
            baseline = GrpcTradeReconciler(f"127.0.0.1:{trade_port}", ServiceToken(token), 600.0)
            client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(database_server.url, tz_aware=True)
            database = client["bench_sync"]
            figures: list[tuple[Figure, Figure]] = []
            try:
                print(f"solo: 1 account x {args.solo_trades:,} trades")
                timed = TimedReconciler(runtime.reconciler)
                solo_a = await service_scenario(runtime, database, fake_url, "solo", [SOLO_KEY], 1, timed)
                print(solo_a.line(), flush=True)
                sample = min(args.baseline_solo_trades, args.solo_trades)
                await trade.restart("bench_trade_solo_b")
                solo_b, solo_total = await baseline_scenario(baseline, fake_url, "solo", [SOLO_KEY], sample)
                solo_b = _extrapolate(solo_b, solo_total, solo_b.broker_requests)
                print(solo_b.line(), flush=True)
                figures.append((solo_a, solo_b))

                keys = [_sweep_key(i) for i in range(args.accounts)]
                print(f"sweep: {args.accounts:,} accounts x {args.trades_per_account} trades")
                # Every account, ReconcileTrades answered at once: the sync service's own share of a sweep.
                own = await service_scenario(runtime, database, fake_url, "sweep", keys, 10, InstantReconciler())
                print(own.line(), flush=True)
                # The real trade service, on a fresh journal, for the first --sweep-real-accounts accounts.
                real_keys = keys[: min(args.sweep_real_accounts, len(keys))]
                await trade.restart("bench_trade_sweep_a")
                sweep_a = await service_scenario(runtime, database, fake_url, "sweep", real_keys, 10, timed)
                print(sweep_a.line(), flush=True)
                sample_keys = keys[: min(args.baseline_accounts, len(keys))]
                await trade.restart("bench_trade_sweep_b")
                sweep_b, _ = await baseline_scenario(baseline, fake_url, "sweep", sample_keys, None)
                if len(sample_keys) < len(keys):
                    scale = len(keys) / len(sample_keys)
                    sweep_b = Figure(
                        sweep_b.label, int(sweep_b.trades * scale), sweep_b.seconds * scale,
                        int(sweep_b.broker_requests * scale), sweep_b.note + f"; extrapolated x{scale:.1f}",
                    )  # fmt: skip
                print(sweep_b.line(), flush=True)
                figures.append((sweep_a, sweep_b))
            finally:
                await baseline.close()
                await runtime.host.stop(0)
                await auth.stop(0)
                await client.close()
            stats = _fake_stats(fake_url)
            print()
            for service, seed in figures:
                speedup = service.trades_per_second / seed.trades_per_second if seed.trades_per_second else 0
                print(f"{service.label.split()[0]}: (a) is {speedup:.1f}x faster than (b) in trades/s")
            real = figures[1][0]
            runs = min(args.sweep_real_accounts, args.accounts)
            print(
                f"sweep (a*) {args.accounts:,} accounts in {own.seconds:.1f} s (schedule period 300 s) with "
                "ReconcileTrades answered at once: the sync service's own share"
            )
            if runs < args.accounts:
                projected = real.seconds * args.accounts / runs
                print(
                    f"sweep (a) with the real trade service: {runs:,} accounts in {real.seconds:.1f} s; "
                    f"{args.accounts:,} would take at least {projected:.0f} s at that rate on this database"
                )
            else:
                print(
                    f"sweep (a) with the real trade service: all {runs:,} accounts in {real.seconds:.1f} s "
                    "(schedule period 300 s)"
                )
            print(
                f"fake Kite: busiest second of any one app {stats['peak_per_second']} requests (limit 10); "
                f"429s served {stats['rate_limited']}"
            )
    finally:
        if trade is not None:
            trade.stop()
        if fake.poll() is None:
            fake.terminate()
            try:
                fake.wait(timeout=15)
            except subprocess.TimeoutExpired:
                fake.kill()


def main() -> None:
    """Parse flags and run the benchmark (or, with --role fake, serve the fake Kite)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--solo-trades", type=int, default=10_000, help="trades of the single account")
    parser.add_argument("--accounts", type=int, default=1_000, help="accounts of the sweep")
    parser.add_argument("--trades-per-account", type=int, default=20, help="trades per sweep account")
    parser.add_argument(
        "--baseline-solo-trades", type=int, default=1000, help="trades the baseline reconciles in solo (sample)"
    )
    parser.add_argument(
        "--baseline-accounts", type=int, default=50, help="accounts the baseline runs in the sweep (sample)"
    )
    parser.add_argument(
        "--sweep-real-accounts",
        type=int,
        default=1_000_000,
        help="at most this many sweep accounts go into the real trade service (default: all)",
    )
    parser.add_argument("--small", action="store_true", help="quick run: 1 x 1,000 and 100 x 20")
    parser.add_argument("--role", choices=["bench", "fake"], default="bench", help=argparse.SUPPRESS)
    parser.add_argument("--fake-port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.small:
        args.solo_trades, args.accounts = min(args.solo_trades, 1_000), min(args.accounts, 100)
        args.baseline_solo_trades, args.baseline_accounts = min(args.baseline_solo_trades, 100), 5
        args.sweep_real_accounts = min(args.sweep_real_accounts, 50)
    if args.role == "fake":
        asyncio.run(_serve_fake(args.fake_port, args.solo_trades, args.accounts, args.trades_per_account))
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
