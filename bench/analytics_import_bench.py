"""Analytics cost of an import: applying one big import's trade events, batched vs one at a time.

Issue 17: with the journal in memory, applying one 59,746-row import's events took the analytics service
1,505 s at ~93 % of a core, one event at a time — each imported fill came before a fill the journal already
held, so each upsert was a full rebuild (O(N) each, O(N^2) in all). Decision 0113 batches them: the event
consumer reads up to 5,000 entries, groups them per user and applies each user's as one journal merge.

Side by side in one run, from the same starting journal (`--existing` recent fills, in memory) and the
same events (an import of `--fills` older fills, in file order, one CREATED event each):

* **batched** (the consumer's path now): `AnalyticsService.apply_changes` per batch of `--batch` events;
* **one at a time** (the old path): `AnalyticsService.apply_change` per event. Its cost grows with the
  journal, so it runs on the first `--old-events` events (default 2,000) unless `--old-events 0` (all: that
  is the 1,505 s case); the batched path is timed on the same first events too, for a like-for-like ratio,
  and on the whole import. The old path's figure for the whole import is extrapolated linearly from its
  first events, a lower bound (later events rebuild a larger journal).

Wall time and process CPU time; both paths must end with the same round trips (checked).

    flock /tmp/trademesh-bench.lock .venv/bin/python bench/analytics_import_bench.py
    .venv/bin/python bench/analytics_import_bench.py --fills 50000 --existing 1000 --old-events 2000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.analytics_bench import generate
from tests.analytics.fakes import (
    InMemoryAnalyticsCache,
    InMemoryQuotes,
    InMemorySettingsStore,
    InMemoryTradeSource,
)
from trademesh.services.analytics.model import ChangeKind, JournalChange, JournalFill
from trademesh.services.analytics.service import AnalyticsService

USER = "bench-user"
MICROS = 1_000_000
YEAR_US = 365 * 86_400 * MICROS


def scenario(fills: int, existing: int) -> tuple[list[JournalFill], list[JournalChange]]:
    """Return the journal's recent fills and the events of an import of older fills (one import: one create time)."""
    generated = generate(fills + existing, symbols=500)
    imported, recent = generated[:fills], generated[fills:]
    # The recent fills were synced later, a year after the import's history; the import is recorded now.
    recent = [replace(f, time_us=f.time_us + YEAR_US, create_time_us=f.time_us + YEAR_US) for f in recent]
    created = max(f.create_time_us for f in recent) + MICROS
    rows = [
        replace(f, trade_id=f"import-{index:06d}", create_time_us=created, exec_seq=index + 1)
        for index, f in enumerate(imported)
    ]
    changes = [
        JournalChange(USER, existing + index + 1, ChangeKind.UPSERT, f.trade_id, 1, f) for index, f in enumerate(rows)
    ]
    return recent, changes


async def fresh_service(recent: list[JournalFill]) -> AnalyticsService:
    trades = InMemoryTradeSource()
    for fill in recent:
        trades.put(USER, fill)
    cache = InMemoryAnalyticsCache()
    await cache.advance_version(USER, len(recent))
    service = AnalyticsService(trades=trades, settings=InMemorySettingsStore(), cache=cache, quotes=InMemoryQuotes())
    await service.journal(USER)  # the journal is in memory, as in the issue
    return service


async def run_batched(service: AnalyticsService, changes: list[JournalChange], batch: int) -> tuple[float, float]:
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(changes), batch):
        await service.apply_changes(changes[start : start + batch])
    return time.perf_counter() - wall, time.process_time() - cpu


async def run_one_at_a_time(service: AnalyticsService, changes: list[JournalChange]) -> tuple[float, float]:
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    for change in changes:
        await service.apply_change(change)
    return time.perf_counter() - wall, time.process_time() - cpu


def trips(service: AnalyticsService) -> list[tuple[object, ...]]:
    journal = service._journals[USER]
    return [(t.instrument, t.close_time, t.gross_scaled, t.fees_micros, t.fill_count) for t in journal.round_trips]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fills", type=int, default=50_000, help="rows of the import (events)")
    parser.add_argument("--existing", type=int, default=1_000, help="recent fills already in the journal")
    parser.add_argument("--batch", type=int, default=5_000, help="events per batch (the consumer's XREADGROUP count)")
    parser.add_argument("--old-events", type=int, default=2_000, help="events the old path applies (0: all)")
    args = parser.parse_args()

    recent, changes = scenario(args.fills, args.existing)
    old_count = len(changes) if args.old_events <= 0 else min(args.old_events, len(changes))
    print(f"journal in memory: {len(recent):,} recent fills; import: {len(changes):,} older fills (events)")

    service = await fresh_service(recent)
    new_wall, new_cpu = await run_batched(service, changes, args.batch)
    full_trips = trips(service)
    expected = await fresh_service([*recent, *(c.fill for c in changes if c.fill)])
    assert full_trips == trips(expected), "the batched path must equal a rebuild from all the trades"
    print(
        f"batched, all {len(changes):,} events (batches of {args.batch:,}): "
        f"{new_wall:8.2f} s wall, {new_cpu:8.2f} s CPU"
    )

    first = changes[:old_count]
    service = await fresh_service(recent)
    same_wall, same_cpu = await run_batched(service, first, args.batch)
    batched_trips = trips(service)
    service = await fresh_service(recent)
    old_wall, old_cpu = await run_one_at_a_time(service, first)
    assert trips(service) == batched_trips, "both paths must give the same round trips"
    print(f"batched, first {old_count:,} events:           {same_wall:8.2f} s wall, {same_cpu:8.2f} s CPU")
    print(f"one at a time, first {old_count:,} events:     {old_wall:8.2f} s wall, {old_cpu:8.2f} s CPU")
    print(
        f"ratio on the same {old_count:,} events (one at a time / batched): "
        f"{old_wall / same_wall:,.0f}x wall, {old_cpu / max(same_cpu, 1e-9):,.0f}x CPU"
    )
    if old_count < len(changes):
        scale = len(changes) / old_count
        print(
            f"one at a time, all {len(changes):,} events, extrapolated linearly (a lower bound): "
            f">= {old_wall * scale:,.0f} s wall, >= {old_cpu * scale:,.0f} s CPU; "
            f"ratio to batched >= {old_wall * scale / new_wall:,.0f}x wall"
        )
    else:
        print(f"ratio on all events: {old_wall / new_wall:,.0f}x wall, {old_cpu / max(new_cpu, 1e-9):,.0f}x CPU")


if __name__ == "__main__":
    asyncio.run(main())
