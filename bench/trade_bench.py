"""Trade service benchmark: CreateTrade throughput and ListTrades first/deep page latency.

Each figure is measured side by side, in the same run, with the same operation issued directly
through the database driver (PyMongo), so the service's own overhead is visible apart from the
database's. Starts private Redis, the database (FerretDB on SQLite or on PostgreSQL) and the
auth/trade services on free ports.

    .venv/bin/python bench/trade_bench.py                                   # 1,000,000 trades, 100 users, local engine
    .venv/bin/python bench/trade_bench.py --backend sqlite --users 1 --trades-per-user 100000

Bulk data is loaded with insert_many of documents built by the trade store's own
`trade_to_document` (the stored shape cannot drift), then the store's `ensure_indexes` runs.
The benchmarked user is the first of `--users`, with `--trades-per-user` trades like every other.

On the local engine (FerretDB on SQLite with our patches, decision 0025) the queries are served by
the store's indexes; the target (issue 15) is ListTrades first and deep page p99 <= 50 ms and
<= 1.5x the driver's, and CreateTrade >= 300/s with 8 callers. `--backend postgresql` is decision
0016's earlier experiment (FerretDB's own PostgreSQL backend), kept for comparison: it also prints
what FerretDB pushes down there and PostgreSQL's own time for the first page's SQL (EXPLAIN ANALYZE).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
from grpc import aio
from grpc_health.v1 import health_pb2
from pymongo import DESCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

from trademesh.analytics.v1 import analytics_service_pb2, analytics_service_pb2_grpc, period_pb2
from trademesh.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from trademesh.common.v1 import instrument_pb2
from trademesh.devstack.journal import load_journals, synthetic_trade
from trademesh.devstack.processes import (
    FerretDBPostgreSQLServer,
    FerretDBServer,
    PostgreSQLServer,
    RedisServer,
    repo_root,
)
from trademesh.services.analytics.server import build_analytics_server
from trademesh.services.analytics.settings import AnalyticsSettings
from trademesh.services.analytics.store import MongoTradeSource
from trademesh.services.auth.keys import write_new_key
from trademesh.services.auth.server import build_auth_server
from trademesh.services.auth.settings import AuthSettings
from trademesh.services.core.page_tokens import Codec
from trademesh.services.trade.model import (
    TradeFilter,
    content_hash,
    user_tag,
)
from trademesh.services.trade.server import build_trade_server
from trademesh.services.trade.settings import TradeSettings
from trademesh.services.trade.store import ensure_indexes, trade_to_document
from trademesh.trade.v1 import trade_pb2, trade_service_pb2, trade_service_pb2_grpc

Document = dict[str, Any]
SECRET = "bench-token-secret-0123456789abcdef"
PASSWORD = "Correct-Horse-42"
DATABASE = "bench_trade"
PAGE = 50
# PostgreSQL settings for the benchmark's private cluster (the rest are PostgreSQL's defaults,
# fsync and synchronous_commit included): a quarter of a small server's memory for the buffer
# cache, and WAL room so the bulk load does not checkpoint every few seconds.
PG_SETTINGS = {"shared_buffers": "1GB", "max_wal_size": "4GB", "checkpoint_timeout": "15min"}


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


async def _wait_idle(pid: int, limit_seconds: float = 3600.0) -> float:
    """Wait until the database process has used < 5% of a core for 3 s in a row; return the wait.

    The trade service starts with an outbox-relay sweep and a purge pass (both served by indexes
    now: the wait says what a restart costs), which would otherwise run under the figures.
    """
    started = time.perf_counter()
    quiet = 0
    last = _cpu_seconds(pid)
    while quiet < 3 and time.perf_counter() - started < limit_seconds:
        await asyncio.sleep(1.0)
        now = _cpu_seconds(pid)
        quiet = quiet + 1 if now - last < 0.05 else 0
        last = now
    return time.perf_counter() - started


async def _timed(call: Callable[[], Awaitable[Any]], samples: int) -> list[float]:
    durations = []
    for _ in range(samples):
        started = time.perf_counter()
        await call()
        durations.append((time.perf_counter() - started) * 1000)
    return durations


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _row(name: str, service: list[float], direct: list[float]) -> str:
    s50, s99 = statistics.median(service), _percentile(service, 0.99)
    d50, d99 = statistics.median(direct), _percentile(direct, 0.99)
    # issue 15's target: service p99 <= 50 ms and <= 1.5x the same query through the driver
    verdict = "PASS" if s99 <= 50 and s99 <= 1.5 * d99 else "FAIL"
    return f"{name:<30} {s50:>10.1f} {s99:>10.1f} {d50:>10.1f} {d99:>10.1f} {s99 / d99:>9.2f}x {verdict:>6}"


async def _throughput(operation: Callable[[int], Awaitable[Any]], total: int, concurrency: int) -> float:
    counter = iter(range(total))

    async def worker() -> None:
        for index in counter:
            await operation(index)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - started)


def _ensure_postgres() -> None:
    """Install PostgreSQL with the project's script when its binaries are missing."""
    try:
        PostgreSQLServer.bindir()
    except FileNotFoundError:
        subprocess.run(["bash", str(repo_root() / "scripts" / "install-postgres.sh")], check=True)


def _plan_nodes(plan: Document) -> Iterator[Document]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _plan_nodes(child)


def _describe_plan(plan: Document) -> str:
    parts = []
    for node in _plan_nodes(plan):
        text = str(node.get("Node Type", "?"))
        if node.get("Index Name"):
            text += f" using {node['Index Name']}"
        if node.get("Filter"):
            text += f" filter {node['Filter']}"
        parts.append(text)
    return " <- ".join(parts)


async def _explain(database: AsyncDatabase[Document], query: Document, order: list[tuple[str, int]]) -> str:
    """FerretDB's explain of a ListTrades find: what is pushed down, and the backend's plan."""
    command = {"find": "trades", "filter": query, "sort": dict(order), "limit": PAGE + 1, "projection": {"outbox": 0}}
    result = await database.command({"explain": command, "verbosity": "queryPlanner"})
    pushed = ", ".join(
        f"{name}={result.get(f'{name}Pushdown')}" for name in ("filter", "sort", "limit") if f"{name}Pushdown" in result
    )
    planner = result.get("queryPlanner") or {}
    plan = planner.get("Plan") if isinstance(planner, dict) else None
    return f"pushdown: {pushed or 'n/a'}" + (f"; plan: {_describe_plan(plan)}" if isinstance(plan, dict) else "")


def _pg_table(pg: PostgreSQLServer, collection: str) -> str:
    """The PostgreSQL table FerretDB keeps a collection in."""
    # The interpolated values are this script's constants, FerretDB's table names and an auth-issued id.
    metadata = f"{DATABASE}._ferretdb_database_metadata"
    return pg.psql(f"SELECT _jsonb->>'table' FROM {metadata} WHERE _jsonb->>'_id' = '{collection}'").strip()  # noqa: S608


def _pg_gin_indexes(pg: PostgreSQLServer) -> list[str]:
    """GIN expression indexes that can serve FerretDB's pushed-down `->'field' @> value` equalities.

    FerretDB's own indexes are btree on `(_jsonb->'field')`, which PostgreSQL cannot use for `@>`,
    so without these every pushed-down equality, `_id` lookups included, is a sequential scan.
    """
    made = []
    for collection, fields in {"trades": ["_id", "user_id"], "trade_quotas": ["_id"]}.items():
        table = _pg_table(pg, collection)
        if not table:
            continue
        for field in fields:
            name = f"bench_gin_{table}_{field.strip('_')}"
            pg.psql(f"CREATE INDEX IF NOT EXISTS {name} ON {DATABASE}.\"{table}\" USING gin ((_jsonb->'{field}'))")
            made.append(f"{collection}.{field}")
    pg.psql("ANALYZE")
    return made


def _pg_analyze(pg: PostgreSQLServer, user_id: str) -> str:
    """PostgreSQL's own time for the SQL FerretDB sends for the first page (user_id and status pushed down)."""
    table = _pg_table(pg, "trades")
    sql = (
        f'SELECT _jsonb FROM {DATABASE}."{table}" '  # noqa: S608
        f"WHERE _jsonb->'user_id' @> '{json.dumps(user_id)}' AND _jsonb->'status' @> '\"ACTIVE\"'"
    )
    analyzed = json.loads(pg.psql(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}"))[0]
    plan = analyzed["Plan"]
    size = pg.psql(f"SELECT pg_size_pretty(pg_total_relation_size('{DATABASE}.\"{table}\"'))").strip()
    return (
        f"{analyzed['Execution Time']:.0f} ms, {plan['Actual Rows']:,} rows returned; "
        f"plan: {_describe_plan(plan)}; table {table} with its indexes: {size}"
    )


async def _floor(
    channel: aio.Channel, metadata: list[tuple[str, str]], samples: int, query: Callable[[], Awaitable[Any]]
) -> tuple[list[float], list[float], list[float]]:
    """Time what gRPC in Python costs with none of the service's work.

    Our stack: grpc.health.v1.Health/Check on the trade server, with the bench's bearer token (the
    same interceptors as ListTrades: access log, errors, token check). Bare: `grpc.aio.server()`
    without interceptors echoing an empty message, in this process like the trade server. Bare +
    query: the same bare server whose handler runs the driver's first-page query and answers an empty
    message (no mapping, no interceptors): gRPC's own share of the gap. All from this process's event
    loop, as ListTrades and the driver's query are.
    """
    health_check: aio.UnaryUnaryMultiCallable[health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse] = (
        channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
    )
    check = health_pb2.HealthCheckRequest(service="")
    bare = aio.server()

    async def echo(request: bytes, context: object) -> bytes:
        return request

    async def find(request: bytes, context: object) -> bytes:
        await query()
        return b""

    handlers: dict[str, grpc.RpcMethodHandler[bytes, bytes]] = {
        "Echo": grpc.unary_unary_rpc_method_handler(echo),
        "Find": grpc.unary_unary_rpc_method_handler(find),
    }
    bare.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("bench.Echo", handlers),))
    port = bare.add_insecure_port("127.0.0.1:0")
    await bare.start()
    bare_channel = aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        call: aio.UnaryUnaryMultiCallable[bytes, bytes] = bare_channel.unary_unary("/bench.Echo/Echo")
        call_find: aio.UnaryUnaryMultiCallable[bytes, bytes] = bare_channel.unary_unary("/bench.Echo/Find")

        async def ours() -> None:
            await health_check(check, metadata=metadata)

        async def plain() -> None:
            await call(b"")

        async def wrapped() -> None:
            await call_find(b"")

        for _ in range(50):  # warm-up
            await ours()
            await plain()
            await wrapped()
        return await _timed(ours, samples), await _timed(plain, samples), await _timed(wrapped, samples)
    finally:
        await bare_channel.close()
        await bare.stop(0)


def _print_floor(floor: tuple[list[float], list[float], list[float]], driver: list[float]) -> None:
    ours, bare, wrapped = floor
    d50, d99 = statistics.median(driver), _percentile(driver, 0.99)
    for name, values in (
        ("no-op RPC, our stack", ours),
        ("no-op RPC, bare grpc.aio", bare),
        ("bare grpc.aio + driver query", wrapped),
    ):
        p50, p99 = statistics.median(values), _percentile(values, 0.99)
        print(
            f"{name:<30} {p50:>10.2f} {p99:>10.2f}   "
            f"(vs the driver's first page: p50 {p50 - d50:+.2f} ms, p99 {p99 / d99:.2f}x)"
        )


async def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="trade-bench-"))
    write_new_key(workdir / "key.pem")
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
        auth = await build_auth_server(
            AuthSettings(
                grpc_host="127.0.0.1",
                grpc_port=0,
                mongo_url=database_server.url,
                mongo_database="bench_auth",
                redis_url=redis_server.url,
                signing_key_files=str(workdir / "key.pem"),
                jwks_http_host="127.0.0.1",
                jwks_http_port=0,
                log_format="text",
                log_level="WARNING",
            )
        )
        client: AsyncMongoClient[Document] = AsyncMongoClient(database_server.url, tz_aware=True)
        database = client[DATABASE]
        auth_channel = aio.insecure_channel(f"127.0.0.1:{auth.port}")
        trade_host = None
        channel = None
        try:
            auth_stub = auth_service_pb2_grpc.AuthServiceStub(auth_channel)
            registered = await auth_stub.Register(
                auth_service_pb2.RegisterRequest(email="bench@example.com", username="bench_user", password=PASSWORD)
            )
            user_id = registered.user.id
            metadata = [("authorization", f"Bearer {registered.tokens.access_token}")]

            async def fresh_token() -> None:
                # Access tokens live 15 minutes and a 1M-trade run takes longer: log in before each phase.
                login = await auth_stub.Login(auth_service_pb2.LoginRequest(login="bench_user", password=PASSWORD))
                metadata[:] = [("authorization", f"Bearer {login.tokens.access_token}")]

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

            settings = TradeSettings(
                grpc_host="127.0.0.1",
                grpc_port=0,
                mongo_url=database_server.url,
                mongo_database=DATABASE,
                redis_url=redis_server.url,
                auth_target=f"127.0.0.1:{auth.port}",
                dependency_timeout_seconds=60.0,
                query_timeout_seconds=1800.0,
                token_secret=SECRET,
                log_format="text",
                log_level="WARNING",
                relay_scan_interval_seconds=3600.0,
            )
            trade_host = await build_trade_server(settings)
            channel = aio.insecure_channel(f"127.0.0.1:{trade_host.port}")
            stub = trade_service_pb2_grpc.TradeServiceStub(channel)
            assert database_server.pid is not None
            waited = await _wait_idle(database_server.pid)
            print(f"  trade service up; its start-up sweeps kept the database busy for {waited - 3:.0f}s")

            # ---- ListTrades: first page and a deep page (keyset), service vs the same driver query
            query = {"user_id": user_id, "status": "ACTIVE"}
            order = [("trade_time", DESCENDING), ("_id", DESCENDING)]

            async def service_first() -> None:
                response = await stub.ListTrades(trade_service_pb2.ListTradesRequest(page_size=PAGE), metadata=metadata)
                assert len(response.trades) == PAGE

            async def direct_first() -> None:
                found = await trades.find(query, {"outbox": 0}).sort(order).limit(PAGE + 1).to_list()
                assert len(found) == PAGE + 1

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

            async def service_deep() -> None:
                response = await stub.ListTrades(
                    trade_service_pb2.ListTradesRequest(page_size=PAGE, page_token=token), metadata=metadata
                )
                assert len(response.trades) == PAGE

            async def direct_deep() -> None:
                found = await trades.find(deep_query, {"outbox": 0}).sort(order).limit(PAGE + 1).to_list()
                assert len(found) == PAGE + 1

            if pg is not None:
                print("what FerretDB pushes down to PostgreSQL:")
                print(f"  first page  {await _explain(database, query, order)}")
                print(f"  deep page   {await _explain(database, deep_query, order)}")
                print(f"  PostgreSQL alone, first page's SQL: {_pg_analyze(pg, user_id)}")

            deep_samples = args.deep_samples
            print(f"measuring ListTrades ({args.samples} first-page and {deep_samples} deep-page samples, size {PAGE})")
            heads = ["svc p50", "svc p99", "drv p50", "drv p99", "p99 ratio", "target"]
            header = f"{'ListTrades (ms)':<30} " + " ".join(f"{head:>10}" for head in heads[:-1]) + f" {heads[-1]:>6}"
            print(header)
            await fresh_token()
            await service_first()  # warm-up (token verification, connections, caches)
            await direct_first()
            results = {"first": (await _timed(service_first, args.samples), await _timed(direct_first, args.samples))}
            print(_row("first page", *results["first"]), flush=True)
            if deep_samples:
                await fresh_token()
                results["deep"] = (await _timed(service_deep, deep_samples), await _timed(direct_deep, deep_samples))
                print(_row(f"deep page (~{per_user - deep_index:,} in)", *results["deep"]), flush=True)

            # ---- the floor: a no-op unary RPC, through the trade server's own stack and through a bare server
            floor = None
            if args.floor_samples:
                floor = await _floor(channel, metadata, args.floor_samples, direct_first)
                _print_floor(floor, results["first"][1])

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
            service_rate = await _throughput(service_create, args.creates, args.concurrency)
            direct_rate = await _throughput(direct_create, args.creates, args.concurrency)

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
                                auth_target=f"127.0.0.1:{auth.port}",
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
            print(_row("first page", *results["first"]))
            if deep_samples:
                print(_row(f"deep page (~{per_user - deep_index:,} in)", *results["deep"]))
            if floor is not None:
                _print_floor(floor, results["first"][1])
            if deep_samples:
                ratio = statistics.median(results["deep"][0]) / statistics.median(results["first"][0])
                print(f"{'deep / first (service p50)':<30} {ratio:>10.2f}x")
            print(f"{'CreateTrade':<30} service {service_rate:,.1f}/s   direct insert_one {direct_rate:,.1f}/s")
            if cold:
                print(
                    f"{'GetAnalytics cold (ms)':<30} p50 {statistics.median(cold):,.0f}  max {max(cold):,.0f}   "
                    f"the journal's read alone (driver) p50 {statistics.median(direct_load):,.0f}  "
                    f"max {max(direct_load):,.0f}   target <= 1,000: {'PASS' if max(cold) <= 1000 else 'FAIL'}"
                )
        finally:
            if channel is not None:
                await channel.close()
            await auth_channel.close()
            if trade_host is not None:
                await trade_host.stop(0)
            await auth.stop(0)
            await client.close()


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--backend",
        choices=["postgresql", "sqlite"],
        default="sqlite",
        help="FerretDB's backend: sqlite is the local engine (make up, tests; decision 0025); postgresql "
        "(installed by scripts/install-postgres.sh when missing) is the earlier experiment of decision 0016",
    )
    parser.add_argument("--users", type=int, default=100, help="users loaded; the first is the benchmarked one")
    parser.add_argument("--trades-per-user", "--trades", type=int, default=10_000, help="trades loaded for every user")
    parser.add_argument(
        "--pg-gin-indexes",
        action="store_true",
        help="postgresql only: also create GIN indexes on trades._id/user_id, trade_quotas._id "
        "directly in PostgreSQL (an experiment: FerretDB's btree indexes cannot serve its own `@>` filters)",
    )
    parser.add_argument("--load-workers", type=int, default=2, help="concurrent insert_many calls while loading")
    parser.add_argument("--samples", type=int, default=200, help="timed calls per first-page figure")
    parser.add_argument(
        "--deep-samples",
        type=int,
        default=200,
        help="timed calls per deep-page figure (0 skips)",
    )
    parser.add_argument(
        "--floor-samples",
        type=int,
        default=1000,
        help="timed no-op calls (Health/Check through the trade server's stack, and a bare grpc.aio Echo); 0 skips",
    )
    parser.add_argument("--creates", type=int, default=800, help="CreateTrade calls for the throughput figure")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent CreateTrade callers")
    parser.add_argument(
        "--analytics-samples", type=int, default=5, help="fresh analytics services timed on a cold GetAnalytics"
    )
    args = parser.parse_args()
    if args.users < 1 or args.trades_per_user < 20 * PAGE:
        parser.error(f"need at least 1 user and {20 * PAGE:,} trades per user (the deep page is 90% in)")
    # SIGTERM ends like Ctrl-C: the with-blocks and atexit stop every server this run started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
