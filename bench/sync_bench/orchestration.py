"""The orchestration: the fake Kite and the trade service as processes, then every scenario in turn."""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from bench.stack import TradeProcess, auth_service, trade_env
from bench.sync_bench.common import SOLO_KEY, _free_port, _sweep_key
from bench.sync_bench.fake import _fake_stats
from bench.sync_bench.scenarios import (
    Figure,
    InstantReconciler,
    TimedReconciler,
    _extrapolate,
    baseline_scenario,
    service_scenario,
)
from trademesh.devstack.processes import FerretDBServer, RedisServer
from trademesh.services.auth.admin import issue_service_token
from trademesh.services.auth.keys import KeyRing
from trademesh.services.sync.credentials import new_key_text
from trademesh.services.sync.server import build_sync_server
from trademesh.services.sync.settings import SyncSettings
from trademesh.services.sync.trades import GrpcTradeReconciler, ServiceToken


async def run(args: argparse.Namespace) -> None:
    """Start everything, run both scenarios both ways, print the figures."""
    workdir = Path(tempfile.mkdtemp(prefix="sync-bench-"))
    fake_port = _free_port()
    fake_url = f"http://127.0.0.1:{fake_port}"
    fake = subprocess.Popen(  # noqa: ASYNC220 - started once, before anything is measured
        [sys.executable, "-m", "bench.sync_bench", "--role", "fake", "--fake-port", str(fake_port), "--solo-trades",
         str(args.solo_trades), "--accounts", str(args.accounts), "--trades-per-account", str(args.trades_per_account)],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    trade: TradeProcess | None = None
    try:
        assert fake.stdout is not None
        if fake.stdout.readline().strip() != b"ready":
            raise RuntimeError("the fake Kite did not start")
        with RedisServer(workdir / "redis") as redis_server, FerretDBServer(workdir / "db") as database_server:
            auth_exit = contextlib.AsyncExitStack()
            auth = await auth_exit.enter_async_context(auth_service(workdir, database_server.url, redis_server.url))
            trade_port = _free_port()
            env = trade_env(
                auth.target,
                database_server.url,
                redis_server.url,
                TRADEMESH_MONGO_DATABASE="bench",
                TRADEMESH_DEPENDENCY_TIMEOUT_SECONDS="30",
                TRADEMESH_QUERY_TIMEOUT_SECONDS="600",
                # The trade service signs page tokens with a shared secret (32+ characters); any fixed one will do.
                TRADEMESH_TOKEN_SECRET="bench-sync-token-secret-0123456789abcdef",
            )
            trade = TradeProcess(env, trade_port, workdir / "trade.log")
            await trade.restart("bench_trade_solo_a")
            token = issue_service_token(KeyRing.from_files([auth.key_file]), "sync", 1, "trademesh-auth", "trademesh")
            runtime = await build_sync_server(
                SyncSettings(
                    grpc_host="127.0.0.1", grpc_port=0, mongo_url=database_server.url, mongo_database="bench_sync",
                    redis_url=redis_server.url, auth_target=auth.target, log_format="text",
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
                await auth_exit.aclose()
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
