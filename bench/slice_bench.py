"""Slice benchmark (decision 0250): GetAnalytics of a slice beside the unsliced report, cold and cached, one run.

On generated fills (one user, 500 symbols, 1,000 trading days; `bench.analytics_bench.generate`), each trade
labelled with a strategy, tags, an account and a segment:

* cold: `build_report` over the already built journal (what a cache miss costs: the service keeps the journal
  per user) for the unsliced all-time report (the baseline) and for two slices — one strategy with any of two
  tags, and the complement of it ("the rest") — p50/p99 of `--repeat` runs each, after one untimed warm-up;
* cached: a running service (private Redis, FerretDB, auth, market data, analytics on free ports) holding the
  same journal; GetAnalytics p50/p99 from the Redis cache for the unsliced and the sliced request, and the
  cache hit rate of a mixed workload (the unsliced report and five slices requested round robin, a new trade
  applied every `--change-every` requests, which makes every cached slice unreachable).

    .venv/bin/python -m bench.slice_bench                        # 100,000 fills
    .venv/bin/python -m bench.slice_bench --fills 10000 --samples 200 --skip-service
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import time
from dataclasses import replace
from typing import Any

from bench.analytics_bench import analytics_mesh, generate, percentile
from trademesh.services.analytics.model import (
    ChangeKind,
    FillColumns,
    Journal,
    JournalChange,
    JournalFill,
    Period,
    UserSettings,
    build_query,
    build_report,
)
from trademesh.services.analytics.model.fills import profile_of
from trademesh.services.analytics.model.slices import Slice

MICROS = 1_000_000
STRATEGIES = ("Breakout", "Reversal", "Momentum", "Scalp", "")
TAGS = ("fomo", "late", "a+", "revenge", "plan", "news")
ACCOUNTS = (("ZERODHA", "Z1"), ("ZERODHA", "Z2"), ("UPSTOX", "U1"), ("MANUAL", ""))
CHOSEN = Slice(strategies=frozenset({"breakout"}), tags=frozenset({"fomo", "late"}))


def labelled(count: int) -> list[JournalFill]:
    """Return `count` generated fills, each with a strategy, 0-2 tags, an account and the equity segment."""
    rng = random.Random(11)
    fills = []
    for fill in generate(count, 500):
        broker, account = ACCOUNTS[rng.randrange(len(ACCOUNTS))]
        tags = tuple(rng.sample(TAGS, rng.randint(0, 2)))
        profile = profile_of(broker, account, "EQUITY", STRATEGIES[rng.randrange(len(STRATEGIES))], tags)
        fills.append(replace(fill, profile=profile))
    return fills


def cold(journal: Journal, chosen: Slice | None, repeat: int) -> tuple[float, float, int]:
    """Return p50 and p99 (seconds) of the all-time report of a slice over a built journal, and its round trips."""
    now_us = int(journal.fill_columns()["time"][-1]) + 1
    query = replace(
        build_query(Period.ALL_TIME, now_us=now_us, include_equity_curve=True, include_daily_pnl=True), slice=chosen
    )
    settings = UserSettings(capital_base_micros=1_000_000 * MICROS)
    build_report(journal, query, settings, now_us, {})  # warm-up (the process's first report pays NumPy's set-up)
    samples = []
    count = 0
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        report = build_report(journal, query, settings, now_us, {})
        samples.append(time.perf_counter() - started)
        count = report.performance.round_trip_count
    return percentile(samples, 0.5), percentile(samples, 0.99), count


async def cached(fills: list[JournalFill], samples: int, change_every: int) -> dict[str, Any]:
    """Start the stack privately; time cached GetAnalytics (unsliced and sliced) and a mixed workload's hit rate."""
    from trademesh.analytics.v1 import analytics_service_pb2, period_pb2, slice_pb2

    def request(**fields: Any) -> analytics_service_pb2.GetAnalyticsRequest:
        return analytics_service_pb2.GetAnalyticsRequest(
            period=period_pb2.PERIOD_ALL_TIME, slice=slice_pb2.AnalyticsSlice(**fields) if fields else None
        )

    unsliced = request()
    sliced = request(strategies=["Breakout"], tags=["fomo", "late"])
    workload = [
        unsliced,
        sliced,
        request(strategies=["Reversal"]),
        request(accounts=[slice_pb2.SliceAccount(broker=2, broker_account_id="Z1")]),  # type: ignore[arg-type]
        request(tags=["revenge", "fomo"], tag_match=slice_pb2.TAG_MATCH_ALL),
        request(side=slice_pb2.OPENING_SIDE_SELL, hours=slice_pb2.HourRange(start_hour=9, end_hour=11)),
    ]
    async with analytics_mesh(fills) as mesh:
        user, stub, metadata = mesh.user_id, mesh.stub, mesh.metadata
        await stub.GetAnalytics(unsliced, metadata=metadata)  # loads the journal, fills the cache
        await stub.GetAnalytics(sliced, metadata=metadata)
        figures: dict[str, Any] = {}
        for label, message in (("unsliced", unsliced), ("sliced", sliced)):
            durations = []
            for _ in range(samples):
                started = time.perf_counter()
                await stub.GetAnalytics(message, metadata=metadata)
                durations.append(time.perf_counter() - started)
            figures[label] = (percentile(durations, 0.5), percentile(durations, 0.99))
        hits_before, misses_before = await mesh.runtime.cache.hit_rate()
        version = await mesh.runtime.service.applied_version(user)
        last = int(fills[-1].time_us)
        for index in range(samples):
            if index and index % change_every == 0:
                # A new trade tagged "fomo" (matches several slices): every cached report is unreachable.
                version += 1
                when = last + version * MICROS
                fill = replace(
                    fills[0],
                    trade_id=f"new{version}",
                    time_us=when,
                    create_time_us=when,
                    profile=profile_of("MANUAL", "", "EQUITY", "Breakout", ("fomo",)),
                )
                await mesh.runtime.service.apply_change(
                    JournalChange(user, version, ChangeKind.UPSERT, fill.trade_id, 1, fill)
                )
            await stub.GetAnalytics(workload[index % len(workload)], metadata=metadata)
        hits, misses = await mesh.runtime.cache.hit_rate()
        figures["hits"], figures["misses"] = hits - hits_before, misses - misses_before
        return figures


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fills", type=int, default=100_000, help="journal size")
    parser.add_argument("--repeat", type=int, default=31, help="cold report computations per row")
    parser.add_argument("--samples", type=int, default=2_000, help="cached GetAnalytics calls per row")
    parser.add_argument("--change-every", type=int, default=200, help="mixed workload: requests per journal change")
    parser.add_argument("--skip-service", action="store_true", help="skip the cached part (no servers)")
    args = parser.parse_args()
    fills = labelled(args.fills)
    journal = Journal(FillColumns.of(fills))
    print(f"{args.fills:,} fills, {journal.round_trip_count:,} round trips")
    print(f"  {'cold build_report (all time)':<46} {'p50':>9} {'p99':>9} {'round trips':>12}")
    for label, chosen in (
        ("unsliced (baseline)", None),
        ("slice: strategy Breakout, tag fomo|late", CHOSEN),
        ("the rest of that slice", CHOSEN.complement()),
    ):
        p50, p99, count = cold(journal, chosen, args.repeat)
        print(f"  {label:<46} {p50 * 1000:7.2f}ms {p99 * 1000:7.2f}ms {count:>12,}", flush=True)
    if args.skip_service:
        return
    figures = asyncio.run(cached(fills, args.samples, args.change_every))
    print(f"  {'GetAnalytics from the Redis cache':<46} {'p50':>9} {'p99':>9}")
    for label in ("unsliced", "sliced"):
        p50, p99 = figures[label]
        print(f"  {label + (' (baseline)' if label == 'unsliced' else ''):<46} {p50 * 1000:7.2f}ms {p99 * 1000:7.2f}ms")
    hits, misses = figures["hits"], figures["misses"]
    print(
        f"  mixed workload: {args.samples:,} requests over 6 reports, a new trade every {args.change_every}: "
        f"{hits:,} hits, {misses:,} misses, hit rate {hits * 100 / max(1, hits + misses):.1f} %"
    )


if __name__ == "__main__":
    main()
