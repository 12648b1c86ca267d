"""Trade service benchmark: CreateTrade throughput and ListTrades first/deep page latency.

Each figure is measured side by side, in the same run, with the same operation issued directly
through the database driver (PyMongo), so the service's own overhead is visible apart from the
database's. Starts private Redis, FerretDB and auth/trade services on free ports.

    .venv/bin/python bench/trade_bench.py --trades 100000 --samples 10

FerretDB (the local database, decision 0002) scans the collection for every query that is not an
exact `_id` lookup, so absolute numbers here say little about MongoDB; the ratios do.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from grpc import aio
from pymongo import DESCENDING, AsyncMongoClient

from trademesh.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from trademesh.common.v1 import instrument_pb2
from trademesh.devstack.processes import FerretDBServer, RedisServer
from trademesh.lots import Side
from trademesh.services.auth.keys import write_new_key
from trademesh.services.auth.server import build_auth_server
from trademesh.services.auth.settings import AuthSettings
from trademesh.services.core.page_tokens import Codec
from trademesh.services.trade.domain import user_tag
from trademesh.services.trade.model import (
    Broker,
    Category,
    Exchange,
    Segment,
    Source,
    Status,
    Trade,
    TradeFields,
    TradeFilter,
    content_hash,
    derive_id,
)
from trademesh.services.trade.server import build_trade_server
from trademesh.services.trade.settings import TradeSettings
from trademesh.services.trade.store import ensure_indexes, trade_to_document
from trademesh.trade.v1 import trade_pb2, trade_service_pb2, trade_service_pb2_grpc

SECRET = "bench-token-secret-0123456789"
SYMBOLS = ["INFY", "TCS", "RELIANCE", "HDFCBANK", "ICICIBANK", "SBIN", "ITC", "LT", "WIPRO", "AXISBANK"]
START = datetime(2020, 1, 1, 3, 45, tzinfo=UTC)


def _trade(user_id: str, index: int) -> Trade:
    moment = START + timedelta(minutes=index)
    fields = TradeFields(
        symbol=SYMBOLS[index % len(SYMBOLS)],
        exchange=Exchange.NSE,
        segment=Segment.EQUITY,
        side=Side.BUY if index % 2 == 0 else Side.SELL,
        quantity_micros=(1 + index % 50) * 1_000_000,
        price_micros=(100 + index % 900) * 1_000_000 + 50_000,
        trade_time=moment,
        category=Category.SWING,
        broker=Broker.MANUAL,
    )
    return Trade(
        id=derive_id("bench", user_id, str(index)),
        user_id=user_id,
        fields=fields,
        category_inferred=False,
        source=Source.MANUAL,
        status=Status.ACTIVE,
        version=1,
        create_time=moment,
        update_time=moment,
    )


async def _load(collection: Any, user_id: str, count: int, offset: int = 0) -> None:
    batch: list[dict[str, Any]] = []
    for index in range(offset, offset + count):
        batch.append(trade_to_document(_trade(user_id, index)))
        if len(batch) == 5000:
            await collection.insert_many(batch, ordered=False)
            batch = []
    if batch:
        await collection.insert_many(batch, ordered=False)


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
    return f"{name:<28} {s50:>10.1f} {s99:>10.1f} {d50:>10.1f} {d99:>10.1f} {s99 / d99:>9.2f}x"


async def _throughput(operation: Callable[[int], Awaitable[Any]], total: int, concurrency: int) -> float:
    counter = iter(range(total))

    async def worker() -> None:
        for index in counter:
            await operation(index)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - started)


async def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="trade-bench-"))
    write_new_key(workdir / "key.pem")
    with RedisServer(workdir / "redis") as redis_server, FerretDBServer(workdir / "db") as database_server:
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
        settings = TradeSettings(
            grpc_host="127.0.0.1",
            grpc_port=0,
            mongo_url=database_server.url,
            mongo_database="bench_trade",
            redis_url=redis_server.url,
            auth_target=f"127.0.0.1:{auth.port}",
            dependency_timeout_seconds=60.0,
            query_timeout_seconds=600.0,
            token_secret=SECRET,
            log_format="text",
            log_level="WARNING",
            relay_scan_interval_seconds=3600.0,
        )
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(database_server.url, tz_aware=True)
        database = client["bench_trade"]
        await ensure_indexes(database)
        trade_host = await build_trade_server(settings)
        auth_channel = aio.insecure_channel(f"127.0.0.1:{auth.port}")
        channel = aio.insecure_channel(f"127.0.0.1:{trade_host.port}")
        try:
            registered = await auth_service_pb2_grpc.AuthServiceStub(auth_channel).Register(
                auth_service_pb2.RegisterRequest(
                    email="bench@example.com", username="bench_user", password="Correct-Horse-42"
                )
            )
            user_id = registered.user.id
            metadata = (("authorization", f"Bearer {registered.tokens.access_token}"),)
            stub = trade_service_pb2_grpc.TradeServiceStub(channel)
            trades = database.trades

            others = f"+{args.other_trades:,} across {args.other_users} users"
            print(f"loading {args.trades:,} trades for one user ({others})")
            started = time.perf_counter()
            await _load(trades, user_id, args.trades)
            per_user = args.other_trades // max(1, args.other_users)
            for other in range(args.other_users if args.other_trades else 0):
                await _load(trades, f"other-{other}", per_user)
            loaded = await trades.estimated_document_count()
            print(f"  loaded in {time.perf_counter() - started:.1f}s; collection has {loaded:,}")

            # ---- ListTrades: first page and a deep page (keyset), service vs the same driver query
            page = 50
            query = {"user_id": user_id, "status": "ACTIVE"}
            order = [("trade_time", DESCENDING), ("_id", DESCENDING)]

            async def service_first() -> None:
                response = await stub.ListTrades(trade_service_pb2.ListTradesRequest(page_size=page), metadata=metadata)
                assert len(response.trades) == page

            async def direct_first() -> None:
                found = await trades.find(query, {"outbox": 0}).sort(order).limit(page + 1).to_list()
                assert len(found) == page + 1

            deep_index = int(args.trades * 0.1)  # the 90%-deep page: trades are created oldest first
            anchor = _trade(user_id, deep_index)
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
            deep_query = {
                "$and": [
                    query,
                    {
                        "$or": [
                            {"trade_time": {"$lt": anchor.fields.trade_time}},
                            {"trade_time": anchor.fields.trade_time, "_id": {"$lt": anchor.id}},
                        ]
                    },
                ]
            }

            async def service_deep() -> None:
                response = await stub.ListTrades(
                    trade_service_pb2.ListTradesRequest(page_size=page, page_token=token), metadata=metadata
                )
                assert len(response.trades) == page

            async def direct_deep() -> None:
                found = await trades.find(deep_query, {"outbox": 0}).sort(order).limit(page + 1).to_list()
                assert len(found) == page + 1

            print(f"measuring ListTrades ({args.samples} samples each, page_size {page})")
            await service_first()  # warm-up (token verification, connections)
            await direct_first()
            results = {
                "first": (await _timed(service_first, args.samples), await _timed(direct_first, args.samples)),
                "deep": (await _timed(service_deep, args.samples), await _timed(direct_deep, args.samples)),
            }

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
                trade = _trade(user_id, 10_000_000 + index)
                await trades.insert_one(trade_to_document(replace(trade, id=uuid.uuid4().hex)))

            print(f"measuring CreateTrade ({args.creates} calls, concurrency {args.concurrency})")
            service_rate = await _throughput(service_create, args.creates, args.concurrency)
            direct_rate = await _throughput(direct_create, args.creates, args.concurrency)

            count = await trades.estimated_document_count()
            print()
            print(f"trades in collection: {count:,}; bench user: {args.trades:,}")
            heads = ["svc p50", "svc p99", "drv p50", "drv p99", "p99 ratio"]
            print(f"{'ListTrades (ms)':<28} " + " ".join(f"{head:>10}" for head in heads))
            print(_row("first page", *results["first"]))
            print(_row(f"deep page (~{args.trades - deep_index:,} in)", *results["deep"]))
            print(f"{'CreateTrade':<28} service {service_rate:,.1f}/s   direct insert_one {direct_rate:,.1f}/s")
        finally:
            await channel.close()
            await auth_channel.close()
            await trade_host.stop(0)
            await auth.stop(0)
            await client.close()


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trades", type=int, default=100_000, help="trades loaded for the benchmarked user")
    parser.add_argument("--other-trades", type=int, default=0, help="trades loaded for other users in total")
    parser.add_argument("--other-users", type=int, default=100, help="how many other users share them")
    parser.add_argument("--samples", type=int, default=10, help="timed calls per ListTrades figure")
    parser.add_argument("--creates", type=int, default=50, help="CreateTrade calls for the throughput figure")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent CreateTrade callers")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
