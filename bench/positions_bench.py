"""ListPositions of a trader with years of data: the lean read (decision 0370) against the whole-trade baseline.

Starts private Redis and FerretDB (SQLite, as ``make up``), the auth service and the trade service in this
process, and loads, with the store's own ``trade_to_document``, one journal per ``--sizes`` entry (each its
own registered user, so every journal has the others' beside it) plus ``--others`` fills of an unrelated
user, over ``--instruments`` instruments (NSE stocks, NFO futures and options; ``trademesh.devstack.
position_journal``). Then, per journal, straight to the trade service over gRPC:

* new: ListPositions as served — the first call ("cold": lean read of the fills, integer replay, latest
  trades by id) and ``--repeats`` more (p50, p99: the replay cached under the journal revision), the same
  with a symbol filter (pushed into the query), and with the cache switched off (every call a lean read);
* baseline: the same calls answered by ``PositionUseCases.positions_from_trades`` — main's code path,
  every ACTIVE trade read whole and rebuilt as a ``Trade`` — ``--baseline-repeats`` times.

Both answers are compared: the figures only count if the positions are equal.

    .venv/bin/python -m bench.positions_bench                               # 10,000 / 50,000 / 100,000
    .venv/bin/python -m bench.positions_bench --sizes 2000 --others 1000 --repeats 3 --baseline-repeats 1
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from grpc import aio
from pymongo import AsyncMongoClient

from bench.stack import private_stack, trade_settings
from trademesh.devstack.position_journal import load_positions_journal
from trademesh.services.trade.server import build_trade_server
from trademesh.services.trade.service.position_cache import PositionCache
from trademesh.services.trade.service.positions import PositionUseCases
from trademesh.services.trade.store import ensure_indexes
from trademesh.trade.v1 import trade_service_pb2, trade_service_pb2_grpc

Document = dict[str, Any]
DATABASE = "bench_positions"
LEAN = PositionUseCases.positions
HIT = PositionCache.get


def never_held(*_: object) -> None:
    """A cache that never holds anything."""


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def _timed(call: Callable[[], Awaitable[trade_service_pb2.ListPositionsResponse]]) -> tuple[float, Any]:
    started = time.perf_counter()
    response = await call()
    return time.perf_counter() - started, response


async def _measure(
    label: str, call: Callable[[], Awaitable[trade_service_pb2.ListPositionsResponse]], repeats: int
) -> tuple[Any, list[float]]:
    cold, response = await _timed(call)
    times = [(await _timed(call))[0] for _ in range(repeats)]
    p50 = statistics.median(times) if times else float("nan")
    p99 = _percentile(times, 0.99) if times else float("nan")
    print(f"    {label:<28} cold {cold:8.3f}s  p50 {p50:8.3f}s  p99 {p99:8.3f}s  (n={len(times)})", flush=True)
    return response, [cold, *times]


async def run(args: argparse.Namespace) -> int:
    async with private_stack("positions-bench-") as stack:
        database_url = stack.database.url
        client: AsyncMongoClient[Document] = AsyncMongoClient(database_url, tz_aware=True)
        trade_host = None
        try:
            users: list[tuple[int, str, str]] = []
            trades = client[DATABASE].trades
            started = time.perf_counter()
            for size in args.sizes:
                registered = await stack.auth.register()
                user_id = registered.user.id
                await load_positions_journal(trades, "bench", user_id, size, args.instruments)
                users.append((size, user_id, registered.user.username))
            await load_positions_journal(trades, "bench", "someone-else", args.others, args.instruments)
            await ensure_indexes(client[DATABASE])
            total = sum(args.sizes) + args.others
            print(
                f"FerretDB on SQLite: {total:,} trades loaded in {time.perf_counter() - started:.0f}s; "
                f"journals of {', '.join(f'{s:,}' for s in args.sizes)} fills and {args.others:,} of another user, "
                f"{args.instruments} instruments each"
            )
            trade_host = await build_trade_server(
                trade_settings(stack.auth, database_url, stack.redis.url, DATABASE, query_timeout_seconds=600.0)
            )
            failures = 0
            async with aio.insecure_channel(f"127.0.0.1:{trade_host.port}") as channel:
                stub = trade_service_pb2_grpc.TradeServiceStub(channel)
                for size, _, name in users:
                    metadata = await stack.auth.bearer(name)
                    print(f"  {size:,} fills")
                    every = trade_service_pb2.ListPositionsRequest(page_size=1000)
                    one = trade_service_pb2.ListPositionsRequest(symbol="INFY")

                    def call(
                        request: trade_service_pb2.ListPositionsRequest,
                        metadata: tuple[tuple[str, str], ...] = metadata,
                    ) -> Callable[[], Awaitable[trade_service_pb2.ListPositionsResponse]]:
                        return lambda: stub.ListPositions(request, metadata=metadata, timeout=600)

                    setattr(PositionUseCases, "positions", LEAN)  # noqa: B010 - the served path
                    lean, _ = await _measure("new (cold, then cached)", call(every), args.repeats)
                    lean_one, _ = await _measure("new, symbol=INFY", call(one), args.repeats)
                    setattr(PositionCache, "get", never_held)  # noqa: B010 - every call a lean read and replay
                    try:
                        uncached, _ = await _measure("new, cache off", call(every), args.repeats)
                    finally:
                        setattr(PositionCache, "get", HIT)  # noqa: B010
                    setattr(PositionUseCases, "positions", PositionUseCases.positions_from_trades)  # noqa: B010
                    try:
                        base, _ = await _measure("baseline", call(every), args.baseline_repeats)
                        base_one, _ = await _measure("baseline, symbol=INFY", call(one), args.baseline_repeats)
                    finally:
                        setattr(PositionUseCases, "positions", LEAN)  # noqa: B010
                    same = lean == base == uncached and lean_one == base_one
                    failures += not same
                    print(f"    {len(lean.positions)} positions; new == baseline: {same}")
        finally:
            if trade_host is not None:
                await trade_host.stop(0)
            await client.close()
    return 1 if failures else 0


def main() -> None:
    """Parse the flags and run."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000], help="fills per journal")
    parser.add_argument("--instruments", type=int, default=40, help="instruments per journal")
    parser.add_argument("--others", type=int, default=20_000, help="fills of an unrelated user")
    parser.add_argument("--repeats", type=int, default=10, help="calls after the first, new path")
    parser.add_argument("--baseline-repeats", type=int, default=3, help="calls after the first, baseline")
    args = parser.parse_args()
    if min(args.sizes) < 1 or args.instruments < 1 or args.repeats < 1 or args.baseline_repeats < 0:
        parser.error("sizes, instruments and repeats must be positive")
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
