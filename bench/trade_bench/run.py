"""The run: load the trades, then time CreateTrade, ListTrades and GetAnalytics through the service vs the driver."""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from grpc import aio
from pymongo import DESCENDING, AsyncMongoClient
from redis.asyncio import Redis

from bench.stack import auth_service, trade_settings
from bench.trade_bench.common import DATABASE, PAGE, PG_SETTINGS, SECRET, Document
from bench.trade_bench.floor import _floor, _print_floor
from bench.trade_bench.listing import (
    Figure,
    GcWatch,
    ListingPlan,
    apply_gc,
    print_listing,
    time_listing,
    time_listing_apart,
)
from bench.trade_bench.measure import CpuMeter, _throughput, _wait_idle
from bench.trade_bench.plans import _ensure_postgres, _explain, _pg_analyze, _pg_gin_indexes
from trademesh.analytics.v1 import analytics_service_pb2, analytics_service_pb2_grpc, period_pb2
from trademesh.common.v1 import instrument_pb2
from trademesh.devstack.journal import load_journals, synthetic_trade
from trademesh.devstack.processes import (
    FerretDBPostgreSQLServer,
    FerretDBServer,
    PostgreSQLServer,
    RedisServer,
)
from trademesh.services.analytics.server import build_analytics_server
from trademesh.services.analytics.settings import AnalyticsSettings
from trademesh.services.analytics.store import MongoTradeSource
from trademesh.services.core.page_tokens import Codec
from trademesh.services.trade.model import (
    TradeFilter,
    content_hash,
    user_tag,
)
from trademesh.services.trade.server import build_trade_server
from trademesh.services.trade.store import ensure_indexes, trade_to_document
from trademesh.trade.v1 import trade_pb2, trade_service_pb2, trade_service_pb2_grpc


async def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="trade-bench-"))
    pg: PostgreSQLServer | None = None
    with contextlib.ExitStack() as servers:  # left in reverse: FerretDB stops before PostgreSQL
        redis_server = servers.enter_context(RedisServer(workdir / "redis"))
        database_server: FerretDBServer
        if args.backend == "postgresql":
            _ensure_postgres()
            pg = servers.enter_context(PostgreSQLServer(workdir / "postgresql", settings=PG_SETTINGS))
            database_server = servers.enter_context(
                FerretDBPostgreSQLServer(workdir / "db", pg.socket_url, startup_timeout=60.0)
            )
            backend = f"FerretDB on {pg.psql('SHOW server_version').strip().split()[0]} PostgreSQL"
        else:
            database_server = servers.enter_context(FerretDBServer(workdir / "db"))
            backend = "FerretDB on SQLite"
        auth_exit = contextlib.AsyncExitStack()
        auth = await auth_exit.enter_async_context(auth_service(workdir, database_server.url, redis_server.url))
        client: AsyncMongoClient[Document] = AsyncMongoClient(database_server.url, tz_aware=True)
        database = client[DATABASE]
        trade_host = None
        channel = None
        try:
            registered = await auth.register("bench_user", email="bench@example.com")
            user_id = registered.user.id
            metadata = [("authorization", f"Bearer {registered.tokens.access_token}")]

            async def fresh_token() -> None:
                # Access tokens live 15 minutes and a 1M-trade run takes longer: log in before each phase.
                metadata[:] = await auth.bearer("bench_user")

            trades = database.trades

            # ---- bulk load in the store's document shape, then the store's indexes
            per_user = args.trades_per_user
            user_ids = [user_id] + [f"bench-user-{number:03d}" for number in range(1, args.users)]
            total = per_user * len(user_ids)
            print(f"{backend}: loading {total:,} trades, {len(user_ids)} users x {per_user:,}")
            started = time.perf_counter()
            loaded = await load_journals(trades, "bench", user_ids, per_user, args.load_workers)
            load_seconds = time.perf_counter() - started
            started = time.perf_counter()
            await ensure_indexes(database)
            if pg is not None and args.pg_gin_indexes:
                print(f"  extra GIN indexes (not FerretDB's): {', '.join(_pg_gin_indexes(pg))}")
            index_seconds = time.perf_counter() - started
            print(
                f"  loaded in {load_seconds:.1f}s ({total / load_seconds:,.0f} docs/s), "
                f"indexes in {index_seconds:.1f}s; {loaded:,} inserted"
            )

            settings = trade_settings(
                auth, database_server.url, redis_server.url, DATABASE, query_timeout_seconds=1800.0, token_secret=SECRET
            )
            trade_host = await build_trade_server(settings)
            channel = aio.insecure_channel(f"127.0.0.1:{trade_host.port}")
            stub = trade_service_pb2_grpc.TradeServiceStub(channel)
            assert database_server.pid is not None
            waited = await _wait_idle(database_server.pid)
            print(f"  trade service up; its start-up sweeps kept the database busy for {waited - 3:.0f}s")

            # ---- ListTrades: first page and a deep page (keyset), service vs the same driver query
            query = {"user_id": user_id, "status": "ACTIVE"}
            deep_index = int(per_user * 0.1)  # the 90%-deep page: trades are numbered oldest first
            anchor = synthetic_trade("bench", user_id, deep_index)
            assert anchor.fields.trade_time is not None
            micros = (anchor.fields.trade_time - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
            token = Codec(SECRET.encode()).encode(
                {
                    "k": "trades",
                    "u": user_tag(user_id),
                    "f": content_hash(TradeFilter())[:16],
                    "t": micros,
                    "i": anchor.id,
                }
            )
            after = [
                {"trade_time": {"$lt": anchor.fields.trade_time}},
                {"trade_time": anchor.fields.trade_time, "_id": {"$lt": anchor.id}},
            ]
            # exactly what store.list_trades sends
            deep_query = query | {"trade_time": {"$lte": anchor.fields.trade_time}, "$or": after}
            order = [("trade_time", DESCENDING), ("_id", DESCENDING)]

            async def direct_first() -> None:
                found = await trades.find(query, {"outbox": 0}).sort(order).limit(PAGE + 1).to_list()
                assert len(found) == PAGE + 1

            if pg is not None:
                print("what FerretDB pushes down to PostgreSQL:")
                print(f"  first page  {await _explain(database, query, order)}")
                print(f"  deep page   {await _explain(database, deep_query, order)}")
                print(f"  PostgreSQL alone, first page's SQL: {_pg_analyze(pg, user_id)}")

            gc_note = apply_gc(args.gc, settings.gc_young_threshold)
            deep_samples = args.deep_samples
            print(f"measuring ListTrades ({args.samples} first-page and {deep_samples} deep-page samples, size {PAGE})")
            print(f"  the bench process's collector: {gc_note}")
            heads = ["svc p50", "svc p99", "drv p50", "drv p99", "p99 ratio", "target"]
            header = f"{'ListTrades (ms)':<30} " + " ".join(f"{head:>10}" for head in heads[:-1]) + f" {heads[-1]:>6}"
            print(header)
            plan = ListingPlan(
                trade_target=f"127.0.0.1:{trade_host.port}",
                mongo_url=database_server.url,
                database=DATABASE,
                metadata=(),
                first_query=query,
                deep_query=deep_query,
                deep_token=token,
                samples=args.samples,
                deep_samples=deep_samples,
                watched=(("database", database_server.pid),),
            )
            deep_name = f"deep page (~{per_user - deep_index:,} in)"
            listings: list[tuple[str, dict[str, Figure]]] = []
            if args.client != "process":
                await fresh_token()
                plan = replace(plan, metadata=tuple(metadata))
                listings.append(("in-process", await time_listing(stub, trades, plan, fresh_token)))
                print_listing(*listings[-1], deep_name)
            if args.client != "in-process":
                await fresh_token()
                plan = replace(plan, metadata=tuple(metadata), watched=(("server", os.getpid()), *plan.watched))
                profile = cProfile.Profile() if args.profile else None
                with GcWatch() as server_gc:
                    if profile is not None:
                        profile.enable()
                    apart = await time_listing_apart(plan)
                    if profile is not None:
                        profile.disable()
                        profile.dump_stats(args.profile)
                listings.append(("client process", apart))
                print_listing(*listings[-1], deep_name, server_gc)
            results = listings[0][1]

            # ---- the floor: a no-op unary RPC, through the trade server's own stack and through a bare server
            floor = None
            if args.floor_samples:
                floor = await _floor(channel, metadata, args.floor_samples, direct_first)
                _print_floor(floor, results["first"][1].durations)

            # ---- CreateTrade throughput vs a direct insert of the same document
            def message(index: int) -> trade_pb2.Trade:
                item = trade_pb2.Trade(
                    instrument=instrument_pb2.Instrument(symbol="BENCH", exchange=instrument_pb2.EXCHANGE_NSE),
                    side=trade_pb2.SIDE_BUY,
                    quantity_micros=1_000_000,
                    price_micros=100_000_000 + index,
                    category=trade_pb2.TRADE_CATEGORY_SWING,
                )
                item.trade_time.FromDatetime(datetime.now(UTC) - timedelta(days=1))
                return item

            async def service_create(index: int) -> None:
                await stub.CreateTrade(
                    trade_service_pb2.CreateTradeRequest(request_id=str(uuid.uuid4()), trade=message(index)),
                    metadata=metadata,
                )

            async def direct_create(index: int) -> None:
                trade = synthetic_trade("bench", user_id, 10_000_000 + index)
                await trades.insert_one(trade_to_document(replace(trade, id=uuid.uuid4().hex)))

            print(f"measuring CreateTrade ({args.creates} calls, concurrency {args.concurrency})")
            await fresh_token()
            # CPU per call beside the rates: steadier than a rate on a shared machine (this process runs the
            # callers and the services; the database and Redis are processes of their own).
            watched = {"database": database_server.pid, "redis": redis_server.pid}
            service_cpu = CpuMeter(watched)
            service_rate = await _throughput(service_create, args.creates, args.concurrency)
            service_cpu.stop(args.creates)
            direct_cpu = CpuMeter(watched)
            direct_rate = await _throughput(direct_create, args.creates, args.concurrency)
            direct_cpu.stop(args.creates)

            # ---- GetAnalytics cold: a fresh analytics service (empty cache) reads the user's journal
            cold: list[float] = []
            direct_load: list[float] = []
            if args.analytics_samples:
                print(f"measuring GetAnalytics cold ({args.analytics_samples} fresh services, {per_user:,} fills)")
                redis = Redis.from_url(redis_server.url)
                source = MongoTradeSource(database, timeout_seconds=600.0)
                try:
                    for _ in range(args.analytics_samples):
                        await redis.flushall()
                        analytics = await build_analytics_server(
                            AnalyticsSettings(
                                grpc_host="127.0.0.1",
                                grpc_port=0,
                                mongo_url=database_server.url,
                                mongo_database=DATABASE,
                                redis_url=redis_server.url,
                                auth_target=auth.target,
                                marketdata_target="127.0.0.1:1",  # no live marks: not part of the figure
                                query_timeout_seconds=600.0,
                                log_format="text",
                                log_level="WARNING",
                            )
                        )
                        analytics_channel = aio.insecure_channel(f"127.0.0.1:{analytics.port}")
                        try:
                            analytics_stub = analytics_service_pb2_grpc.AnalyticsServiceStub(analytics_channel)
                            await fresh_token()
                            started = time.perf_counter()
                            await analytics_stub.GetAnalytics(
                                analytics_service_pb2.GetAnalyticsRequest(period=period_pb2.PERIOD_ALL_TIME),
                                metadata=metadata,
                            )
                            cold.append((time.perf_counter() - started) * 1000)
                        finally:
                            await analytics_channel.close()
                            await analytics.stop(0)
                        started = time.perf_counter()
                        await source.load_fills(user_id)  # the same read, through the driver alone
                        direct_load.append((time.perf_counter() - started) * 1000)
                finally:
                    await redis.aclose()

            count = loaded + 2 * args.creates
            print()
            print(f"{backend}; trades in collection: {count:,}; benchmarked user: {per_user:,} of them")
            print(header)
            for name, figures in listings:
                print_listing(name, figures, deep_name)
            if floor is not None:
                _print_floor(floor, results["first"][1].durations)
            if deep_samples:
                ratio = statistics.median(results["deep"][0].durations) / statistics.median(
                    results["first"][0].durations
                )
                print(f"{'deep / first (service p50)':<30} {ratio:>10.2f}x")
            print(f"{'CreateTrade':<30} service {service_rate:,.1f}/s   direct insert_one {direct_rate:,.1f}/s")
            print(f"    CPU ms a call: service {service_cpu}; direct insert_one {direct_cpu}")
            if cold:
                print(
                    f"{'GetAnalytics cold (ms)':<30} p50 {statistics.median(cold):,.0f}  max {max(cold):,.0f}   "
                    f"the journal's read alone (driver) p50 {statistics.median(direct_load):,.0f}  "
                    f"max {max(direct_load):,.0f}   target <= 1,000: {'PASS' if max(cold) <= 1000 else 'FAIL'}"
                )
        finally:
            if channel is not None:
                await channel.close()
            if trade_host is not None:
                await trade_host.stop(0)
            await auth_exit.aclose()
            await client.close()
