"""The ListTrades figures: first and deep page through the service beside the same `find` through the driver.

The timed calls run either in the benchmark's own process (the trade server shares its event loop with
the callers, as before) or, with `--client-process`, in a process of their own, as any real client is:
the service's calls and the driver's, so both sides pay for the same process boundary.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

from grpc import aio
from pymongo import DESCENDING, AsyncMongoClient

from bench.trade_bench.common import PAGE, Document
from bench.trade_bench.measure import _cpu_seconds as _cpu_of
from bench.trade_bench.measure import _row
from trademesh.trade.v1 import trade_service_pb2, trade_service_pb2_grpc

ORDER = [("trade_time", DESCENDING), ("_id", DESCENDING)]
Call = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ListingPlan:
    """What the timed callers need, picklable for the client process."""

    trade_target: str
    mongo_url: str
    database: str
    metadata: tuple[tuple[str, str], ...]
    first_query: Document
    deep_query: Document
    deep_token: str
    samples: int
    deep_samples: int
    #: Other processes whose CPU time each phase records (name, pid): the database, the server if apart.
    watched: tuple[tuple[str, int], ...] = ()


@dataclass(slots=True)
class GcPauses:
    """The cyclic collector's runs during a timed phase: count per generation and pause times (ms)."""

    counts: list[int]
    pauses: list[float]

    def describe(self) -> str:
        total = sum(self.pauses)
        longest = max(self.pauses, default=0.0)
        return f"gc gen0/1/2 {self.counts[0]}/{self.counts[1]}/{self.counts[2]}, {total:.1f} ms, max {longest:.2f} ms"


class GcWatch:
    """Record the collector's runs in this process while the block runs (gc.callbacks)."""

    def __init__(self) -> None:
        self.pauses = GcPauses([0, 0, 0], [])
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.counts[info["generation"]] += 1
            self.pauses.pauses.append((time.perf_counter() - self._started) * 1000)

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self._callback)
        return self.pauses

    def __exit__(self, *_: object) -> None:
        gc.callbacks.remove(self._callback)


@dataclass(slots=True)
class Phase:
    """One timed phase: each call's duration (ms), the collector's runs, and CPU ms a call per process."""

    durations: list[float]
    gc: GcPauses
    cpu: dict[str, float]

    def describe_cpu(self) -> str:
        return ", ".join(f"{name} {ms:.2f}" for name, ms in self.cpu.items())


#: One figure: the service's phase and the driver's.
Figure = tuple[Phase, Phase]


def _cpu_seconds(watched: tuple[tuple[str, int], ...]) -> dict[str, float]:
    # The callers' own process by process_time (precise), the others by /proc (clock ticks).
    return {"callers": time.process_time()} | {name: _cpu_of(pid) for name, pid in watched}


async def _timed(call: Call, samples: int, watched: tuple[tuple[str, int], ...]) -> Phase:
    durations = []
    before = _cpu_seconds(watched)
    with GcWatch() as pauses:
        for _ in range(samples):
            started = time.perf_counter()
            await call()
            durations.append((time.perf_counter() - started) * 1000)
    after = _cpu_seconds(watched)
    return Phase(durations, pauses, {name: (after[name] - before[name]) * 1000 / samples for name in before})


async def time_listing(
    stub: trade_service_pb2_grpc.TradeServiceAsyncStub, trades: Any, plan: ListingPlan, fresh_token: Call
) -> dict[str, Figure]:
    """Time the first page (and the deep page) through `stub` and through the driver's `trades` collection."""
    metadata = plan.metadata

    async def service_first() -> None:
        response = await stub.ListTrades(trade_service_pb2.ListTradesRequest(page_size=PAGE), metadata=metadata)
        assert len(response.trades) == PAGE

    async def direct_first() -> None:
        found = await trades.find(plan.first_query, {"outbox": 0}).sort(ORDER).limit(PAGE + 1).to_list()
        assert len(found) == PAGE + 1

    async def service_deep() -> None:
        response = await stub.ListTrades(
            trade_service_pb2.ListTradesRequest(page_size=PAGE, page_token=plan.deep_token), metadata=metadata
        )
        assert len(response.trades) == PAGE

    async def direct_deep() -> None:
        found = await trades.find(plan.deep_query, {"outbox": 0}).sort(ORDER).limit(PAGE + 1).to_list()
        assert len(found) == PAGE + 1

    await fresh_token()
    await service_first()  # warm-up (token verification, connections, caches)
    await direct_first()
    results: dict[str, Figure] = {}
    watched = plan.watched
    results["first"] = (
        await _timed(service_first, plan.samples, watched),
        await _timed(direct_first, plan.samples, watched),
    )
    if plan.deep_samples:
        await fresh_token()
        results["deep"] = (
            await _timed(service_deep, plan.deep_samples, watched),
            await _timed(direct_deep, plan.deep_samples, watched),
        )
    return results


async def _time_apart(plan: ListingPlan) -> dict[str, Figure]:
    client: AsyncMongoClient[Document] = AsyncMongoClient(plan.mongo_url, tz_aware=True)
    channel = aio.insecure_channel(plan.trade_target)
    try:

        async def same_token() -> None:
            return None  # the parent logged in just before: the token outlives the run

        stub = trade_service_pb2_grpc.TradeServiceStub(channel)
        return await time_listing(stub, client[plan.database].trades, plan, same_token)
    finally:
        await channel.close()
        await client.close()


def _run_apart(plan: ListingPlan) -> dict[str, Figure]:
    return asyncio.run(_time_apart(plan))


async def time_listing_apart(plan: ListingPlan) -> dict[str, Figure]:
    """Run `time_listing` in a fresh process (spawned: nothing inherited) and return its figures."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return await asyncio.get_running_loop().run_in_executor(pool, _run_apart, plan)


def print_listing(name: str, figures: dict[str, Figure], deep_name: str, server_gc: GcPauses | None = None) -> None:
    """Print one caller mode's rows, with the collector's runs during each timed phase."""
    print(f"callers {name}:")
    for key, label in (("first", "first page"), ("deep", deep_name)):
        if key in figures:
            service, direct = figures[key]
            print(_row(f"  {label}", service.durations, direct.durations))
            print(f"    CPU ms a call: service phase {service.describe_cpu()}; driver phase {direct.describe_cpu()}")
            print(f"    callers' process: service phase {service.gc.describe()}; driver phase {direct.gc.describe()}")
    if server_gc is not None:
        print(f"    server's process, all phases: {server_gc.describe()}")


def apply_gc(mode: str, young_threshold: int) -> str:
    """Set up the bench process's collector (it hosts the trade server) and say how.

    `runtime`: what every service process does (`trademesh.services.core.server`), now that start-up is
    over; `threshold`: only the young threshold; `cpython`: CPython's defaults, as the benchmark ran before.
    """
    if mode == "runtime":
        runtime = importlib.import_module("trademesh.services.core.server")
        if hasattr(runtime, "tune_gc_after_start"):  # this branch's runtime: freeze once start-up is over
            runtime.tune_gc(young_threshold)
            runtime.tune_gc_after_start(young_threshold)
        else:
            runtime.tune_gc(young_threshold)
    elif mode == "threshold":
        gc.set_threshold(young_threshold, *gc.get_threshold()[1:])
    return f"{mode}: thresholds {gc.get_threshold()}, {gc.get_freeze_count():,} objects frozen"
