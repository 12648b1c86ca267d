"""Analytics benchmark: the service's computation vs a straightforward port of the seed's algorithm.

Side by side in one run, on the same generated fills (one user, 500 symbols):

* (a) the service: `Journal(columns)` (FIFO round trips vectorized with NumPy, trademesh.kernel.lots.columnar)
  plus `build_report` for PERIOD_ALL_TIME with every breakdown, the equity curve and daily P&L, from the
  fills as columns (`+columns`: the time to build those columns from fill objects, shown apart), and the
  same with the fill-by-fill engine (`(a) python`, trademesh.kernel.lots.roundtrips: the fallback and the
  incremental path);
* (b) the seed's algorithm: a per-symbol buy queue (and, so shorts count too, a sell queue) drained with
  `list.pop(0)`, one dict per matched trade, datetimes converted to IST per trade, then the metrics;
* the incremental update after one new fill (`Journal.upsert`), and
* GetAnalytics p99 served from the Redis cache by a running service (private Redis, FerretDB, auth and
  analytics on free ports).

    .venv/bin/python bench/analytics_bench.py                      # 10,000 and 1,000,000 fills
    .venv/bin/python bench/analytics_bench.py --fills 10000 100000 --skip-service

Both implementations must agree on the total realized gross P&L (checked; exact integers).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import random
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trademesh.kernel.lots import divide_half_away
from trademesh.services.analytics.model import (
    Category,
    FillColumns,
    Journal,
    JournalFill,
    Period,
    UserSettings,
    build_query,
    build_report,
)

if TYPE_CHECKING:  # the servers' modules are imported where the stack starts (`analytics_mesh`)
    from trademesh.analytics.v1.analytics_service_pb2_grpc import AnalyticsServiceAsyncStub
    from trademesh.services.analytics.server import AnalyticsRuntime

MICROS = 1_000_000

IST = timezone(timedelta(hours=5, minutes=30))
START_US = 1_577_836_800 * MICROS  # 2020-01-01 00:00 UTC
SESSION_START_US = (3 * 3600 + 45 * 60) * MICROS  # 09:15 IST
SESSION_US = (6 * 3600 + 15 * 60) * MICROS
CATEGORIES = (Category.INTRADAY, Category.SWING, Category.LONG_TERM, Category.UNCATEGORIZED)


def generate(count: int, symbols: int, seed: int = 7) -> list[JournalFill]:
    """Return `count` fills over `symbols` NSE symbols: cycles of entries, partial exits, flips, shorts."""
    rng = random.Random(seed)
    positions = [0] * symbols
    prices = [rng.randint(100, 5_000) * MICROS for _ in range(symbols)]
    per_day = max(1, count // 1_000)
    fills = []
    for index in range(count):
        symbol = rng.randrange(symbols)
        position = positions[symbol]
        # Mostly trade toward flat once a position exists, so cycles close (with occasional flips).
        buy = rng.random() < 0.5 if position == 0 else (position < 0) == (rng.random() < 0.7)
        units = rng.randint(1, 50)
        quantity = units * MICROS
        prices[symbol] = max(MICROS, prices[symbol] + rng.randint(-20, 20) * 50_000)
        day, slot = divmod(index, per_day)
        time_us = START_US + day * 86_400 * MICROS + SESSION_START_US + slot * SESSION_US // per_day
        fills.append(
            JournalFill(
                trade_id=f"t{index:08d}",
                symbol=f"SYM{symbol:03d}",
                exchange="NSE",
                buy=buy,
                quantity_micros=quantity,
                price_micros=prices[symbol],
                fees_micros=rng.randint(0, 40) * MICROS // 2,
                time_us=time_us,
                create_time_us=time_us,
                category=CATEGORIES[symbol % 4],
            )
        )
        positions[symbol] += quantity if buy else -quantity
    return fills


def service_computation(fills: FillColumns, now_us: int, vectorized: bool = True) -> tuple[Journal, int]:
    """Run the service's computation; return the journal and the total realized gross P&L (micros)."""
    journal = Journal(fills, vectorized=vectorized)
    query = build_query(
        Period.ALL_TIME, now_us=now_us, include_equity_curve=True, include_daily_pnl=True, instrument_limit=10
    )
    report = build_report(journal, query, UserSettings(capital_base_micros=1_000_000 * MICROS), now_us, {})
    partial = sum(position.realized_pnl_micros for position in report.open_positions)
    return journal, report.performance.realized_pnl_micros + partial


def seed_algorithm(fills: list[JournalFill]) -> int:
    """The seed document's algorithm, ported as written: per-symbol queues drained with list.pop(0).

    Returns the total realized gross P&L in micros (to check both agree).
    """
    buy_queues: dict[str, list[dict[str, Any]]] = defaultdict(list)
    sell_queues: dict[str, list[dict[str, Any]]] = defaultdict(list)
    closed: list[dict[str, Any]] = []
    for fill in sorted(fills, key=lambda f: (f.time_us, f.create_time_us, f.trade_id)):
        key = f"{fill.symbol}:{fill.exchange}"
        when = datetime.fromtimestamp(fill.time_us / MICROS, UTC).astimezone(IST)
        own, other = (buy_queues, sell_queues) if fill.buy else (sell_queues, buy_queues)
        remaining = fill.quantity_micros
        queue = other[key]
        while remaining > 0 and queue:
            entry = queue[0]
            matched = min(remaining, entry["quantity"])
            direction = 1 if fill.buy is False else -1
            gross = (fill.price_micros - entry["price"]) * matched * direction
            closed.append(
                {
                    "symbol": key,
                    "quantity": matched,
                    "gross": gross,
                    "fees": fill.fees_micros * matched / fill.quantity_micros
                    + entry["fees"] * matched / entry["original"],
                    "opened": entry["time"],
                    "closed": when,
                    "category": entry["category"],
                }
            )
            entry["quantity"] -= matched
            remaining -= matched
            if entry["quantity"] == 0:
                queue.pop(0)
        if remaining > 0:
            own[key].append(
                {
                    "quantity": remaining,
                    "original": fill.quantity_micros,
                    "price": fill.price_micros,
                    "fees": fill.fees_micros,
                    "time": when,
                    "category": fill.category,
                }
            )
    # The metrics, as the seed computes them: one pass per figure and a dict per breakdown.
    nets = [trade["gross"] / MICROS - trade["fees"] for trade in closed]
    wins = [n for n in nets if n > 0]
    losses = [n for n in nets if n < 0]
    _ = len(wins) / max(1, len(wins) + len(losses)) * 100
    _ = sum(wins) / abs(sum(losses)) if losses else float("inf")
    equity, peak, drawdown = 0.0, 0.0, 0.0
    for net in nets:
        equity += net
        peak = max(peak, equity)
        drawdown = max(drawdown, peak - equity)
    breakdowns: dict[str, dict[Any, list[float]]] = defaultdict(lambda: defaultdict(list))
    for trade, net in zip(closed, nets, strict=True):
        breakdowns["symbol"][trade["symbol"]].append(net)
        breakdowns["category"][trade["category"]].append(net)
        breakdowns["hour"][trade["closed"].hour].append(net)
        breakdowns["weekday"][trade["closed"].weekday()].append(net)
        breakdowns["month"][trade["closed"].month].append(net)
        breakdowns["day"][trade["closed"].date()].append(net)
        breakdowns["hold"][trade["category"]].append((trade["closed"] - trade["opened"]).total_seconds())
    for groups in breakdowns.values():
        for values in groups.values():
            _ = (sum(values), len(values), sum(1 for v in values if v > 0))
    daily = [sum(values) for values in breakdowns["day"].values()]
    if len(daily) >= 2:
        _ = statistics.mean(daily) / (statistics.stdev(daily) or 1)
    return divide_half_away(sum(trade["gross"] for trade in closed), MICROS)


REPEAT = 1


def timed(function: Any, *args: Any) -> tuple[float, Any]:
    """Return (seconds, result): the fastest of REPEAT calls, the garbage collector settled before each."""
    best = float("inf")
    result: Any = None
    for _ in range(REPEAT):
        gc.collect()
        start = time.perf_counter()
        result = function(*args)
        best = min(best, time.perf_counter() - start)
    return best, result


def incremental(journal: Journal, samples: int = 200) -> list[float]:
    """Time `Journal.upsert` of one new fill at the end of the journal, `samples` times."""
    durations = []
    last_time = int(journal.fill_columns()["time"][-1])
    rng = random.Random(3)
    for index in range(samples):
        time_us = last_time + (index + 1) * MICROS
        fill = JournalFill(
            trade_id=f"new{index}",
            symbol=f"SYM{rng.randrange(500):03d}",
            exchange="NSE",
            buy=rng.random() < 0.5,
            quantity_micros=rng.randint(1, 50) * MICROS,
            price_micros=1_000 * MICROS,
            fees_micros=10 * MICROS,
            time_us=time_us,
            create_time_us=time_us,
            category=Category.INTRADAY,
        )
        start = time.perf_counter()
        journal.upsert(fill)
        durations.append(time.perf_counter() - start)
    return durations


def percentile(values: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def store_trades(url: str, user_id: str, fills: list[JournalFill]) -> None:
    """Write fills as the trade service stores trades (the collection analytics reads, with the labels slices read)."""
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, tz_aware=True)
    documents = [
        {
            "_id": uuid.uuid4().hex,
            "user_id": user_id,
            "status": "ACTIVE",
            "symbol": fill.symbol,
            "exchange": fill.exchange,
            "segment": fill.profile.segment,
            "derivative": None,
            "exec_seq": 0,
            "stop_loss_price_micros": 0,
            "target_price_micros": 0,
            "planned_risk_micros": 0,
            "side": "BUY" if fill.buy else "SELL",
            "quantity_micros": fill.quantity_micros,
            "price_micros": fill.price_micros,
            "fees_micros": fill.fees_micros,
            "trade_time": datetime.fromtimestamp(fill.time_us / MICROS, UTC),
            "create_time": datetime.fromtimestamp(fill.time_us / MICROS, UTC),
            "category": fill.category.value,
            "version": 1,
            "broker": fill.profile.broker,
            "broker_account_id": fill.profile.account,
            "strategy_key": fill.profile.strategy,
            "tag_keys": sorted(fill.profile.tags),
        }
        for fill in fills
    ]
    try:
        for start in range(0, len(documents), 10_000):
            await client["analytics"].trades.insert_many(documents[start : start + 10_000])
    finally:
        await client.close()


@dataclass(frozen=True)
class AnalyticsMesh:
    """The private analytics stack of `analytics_mesh` and its registered user."""

    runtime: AnalyticsRuntime
    stub: AnalyticsServiceAsyncStub
    user_id: str
    metadata: tuple[tuple[str, str], ...]


@contextlib.asynccontextmanager
async def analytics_mesh(journal_fills: list[JournalFill]) -> AsyncIterator[AnalyticsMesh]:
    """Private Redis, FerretDB, auth, market data and analytics on free ports, and a registered user whose journal
    holds `journal_fills` (written where the trade service keeps trades); stopped when the block ends."""
    from grpc import aio

    from trademesh.analytics.v1 import analytics_service_pb2_grpc
    from trademesh.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
    from trademesh.devstack.processes import FerretDBServer, RedisServer
    from trademesh.services.analytics.server import build_analytics_runtime
    from trademesh.services.analytics.settings import AnalyticsSettings
    from trademesh.services.auth.keys import write_new_key
    from trademesh.services.auth.server import build_auth_server
    from trademesh.services.auth.settings import AuthSettings
    from trademesh.services.marketdata.server import build_marketdata_server
    from trademesh.services.marketdata.settings import MarketDataSettings

    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        write_new_key(workdir / "key.pem")
        with RedisServer(workdir / "redis") as redis_server, FerretDBServer(workdir / "db") as database_server:
            common: dict[str, Any] = {
                "grpc_host": "127.0.0.1",
                "grpc_port": 0,
                "mongo_url": database_server.url,
                "redis_url": redis_server.url,
                "log_level": "WARNING",
            }
            auth = await build_auth_server(
                AuthSettings(
                    **common, signing_key_files=str(workdir / "key.pem"), jwks_http_port=0, mongo_database="auth"
                )
            )
            marketdata = await build_marketdata_server(
                MarketDataSettings(
                    **common,
                    auth_target=f"127.0.0.1:{auth.port}",
                    mongo_database="marketdata",
                    token_secret=uuid.uuid4().hex + uuid.uuid4().hex,
                )
            )
            runtime = await build_analytics_runtime(
                AnalyticsSettings(
                    **common,
                    auth_target=f"127.0.0.1:{auth.port}",
                    mongo_database="analytics",
                    marketdata_target=f"127.0.0.1:{marketdata.port}",
                )
            )
            try:
                channel = aio.insecure_channel(f"127.0.0.1:{auth.port}")
                name = f"bench_{uuid.uuid4().hex[:8]}"
                registered = await auth_service_pb2_grpc.AuthServiceStub(channel).Register(
                    auth_service_pb2.RegisterRequest(
                        email=f"{name}@example.com", username=name, password="Bench-Pass-42"
                    )
                )
                metadata = (("authorization", f"Bearer {registered.tokens.access_token}"),)
                await store_trades(database_server.url, registered.user.id, journal_fills)
                stub = analytics_service_pb2_grpc.AnalyticsServiceStub(
                    aio.insecure_channel(f"127.0.0.1:{runtime.host.port}")
                )
                yield AnalyticsMesh(runtime, stub, registered.user.id, metadata)
            finally:
                await runtime.host.stop(0)
                await marketdata.stop(0)
                await auth.stop(0)


async def cached_p99(samples: int, journal_fills: list[JournalFill]) -> tuple[float, float, int]:
    """Start the stack privately, then time GetAnalytics served from the cache; return p50, p99, hits.

    The user's journal holds `journal_fills` (written where the trade service keeps trades).
    """
    from trademesh.analytics.v1 import analytics_service_pb2, period_pb2

    async with analytics_mesh(journal_fills) as mesh:
        stub, metadata = mesh.stub, mesh.metadata
        request = analytics_service_pb2.GetAnalyticsRequest(period=period_pb2.PERIOD_ALL_TIME)
        await stub.GetAnalytics(request, metadata=metadata)  # fills the cache
        durations = []
        for _ in range(samples):
            start = time.perf_counter()
            await stub.GetAnalytics(request, metadata=metadata)
            durations.append(time.perf_counter() - start)
        hits, _misses = await mesh.runtime.cache.hit_rate()
        return percentile(durations, 0.5), percentile(durations, 0.99), hits


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fills", type=int, nargs="+", default=[10_000, 1_000_000], help="journal sizes")
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--skip-baseline-above", type=int, default=0, help="skip (b) for larger journals (0: never)")
    parser.add_argument("--skip-service", action="store_true", help="skip the cached GetAnalytics part")
    parser.add_argument("--skip-python-engine", action="store_true", help="skip the fill-by-fill engine column")
    parser.add_argument("--samples", type=int, default=2_000, help="cached GetAnalytics calls")
    parser.add_argument("--cached-fills", type=int, default=10_000, help="fills of the cached-read user")
    parser.add_argument("--repeat", type=int, default=1, help="time each computation N times, keep the fastest")
    args = parser.parse_args()
    global REPEAT
    REPEAT = max(1, args.repeat)
    now_us = time.time_ns() // 1000
    print(
        f"{'fills':>10} {'round trips':>12} {'service (a)':>12} {'objs→cols':>9} {'(a) python':>11} "
        f"{'seed (b)':>10} {'(b)/(a)':>8} {'incr p99':>9}"
    )
    for count in args.fills:
        fills = generate(count, args.symbols)
        convert_seconds, columns = timed(FillColumns.of, fills)
        service_seconds, (journal, service_gross) = timed(service_computation, columns, now_us)
        python_text = "skipped"
        if not args.skip_python_engine:
            python_seconds, (_, python_gross) = timed(service_computation, columns, now_us, False)
            if python_gross != service_gross:
                raise SystemExit(f"engines differ: vectorized {service_gross} vs python {python_gross}")
            python_text = f"{python_seconds:10.3f}s"
        if args.skip_baseline_above and count > args.skip_baseline_above:
            seed_text, ratio_text = "skipped", "-"
        else:
            seed_seconds, seed_gross = timed(seed_algorithm, fills)
            if seed_gross != service_gross:
                raise SystemExit(f"results differ: service {service_gross} vs seed {seed_gross}")
            seed_text, ratio_text = f"{seed_seconds:9.3f}s", f"{seed_seconds / service_seconds:7.1f}x"
        increments = incremental(journal)
        print(
            f"{count:>10,} {journal.round_trip_count:>12,} {service_seconds:11.3f}s {convert_seconds:8.3f}s "
            f"{python_text:>11} {seed_text:>10} {ratio_text:>8} {percentile(increments, 0.99) * 1000:7.3f}ms",
            flush=True,
        )
    if not args.skip_service:
        journal_fills = generate(args.cached_fills, 50)
        p50, p99, hits = asyncio.run(cached_p99(args.samples, journal_fills))
        print(
            f"GetAnalytics from cache (journal of {args.cached_fills:,} fills, all-time report): "
            f"p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms ({hits} cache hits)"
        )


if __name__ == "__main__":
    main()
