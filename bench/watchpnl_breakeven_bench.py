"""WatchPnl with break-even and net figures vs the same stream gross only (main's path), side by side.

Issue 17: "WatchPnl with break-even for 200 open positions at 4 updates/s uses <= 10 % of one core". Both
variants run the real `PnlWatcher` in this process on the same journal (`--positions` open instruments, each
with partial exits, plus `--closed` closed round trips of history) and the same feed: every `1 / --rate` s a
batch moves every open instrument's mark (in-memory quote port, so the figure is the stream's own cost, not
gRPC's). Variants alternate round by round:

- **baseline**: `PnlWatcher(net=False)`: marks, gross unrealized, totals (main's computation);
- **net**: `PnlWatcher(net=True)`: plus, once per position change, open fees, net realized and every break-even
  (one vectorised bisection), and per update the exit orders re-priced in one vectorised charges call.

Reported per variant: CPU % of one core while streaming (process CPU time / wall time, feed included; the
feed is the same in both), the snapshot latency (watch() called -> first message, journal in memory), the
per-update latency (tick queued -> delta yielded; throttling included) and the per-update compute
(`pnl_state` on one tick, median/p99).

    flock /tmp/trademesh-bench.lock .venv/bin/python bench/watchpnl_breakeven_bench.py
    .venv/bin/python bench/watchpnl_breakeven_bench.py --positions 200 --rate 4 --seconds 10 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.analytics.fakes import (
    InMemoryAnalyticsCache,
    InMemoryQuotes,
    InMemorySettingsStore,
    InMemoryTradeSource,
    ManualClock,
)
from trademesh.services.analytics.model import (
    Category,
    Instrument,
    JournalFill,
    Mark,
    pnl_state,
)
from trademesh.services.analytics.service import AnalyticsService, now_micros
from trademesh.services.analytics.watch import PnlUpdate, PnlWatcher

MICROS = 1_000_000
USER = "bench-user"


def journal(positions: int, closed: int, now_us: int, seed: int = 17) -> list[JournalFill]:
    """Closed round trips over the instruments, then per instrument an entry and a partial exit (still open)."""
    rng = random.Random(seed)
    symbols = [f"SYM{i:03d}" for i in range(positions)]
    fills: list[JournalFill] = []
    start = now_us - 200 * 86_400 * MICROS
    step = max(1, (now_us - 86_400 * MICROS - start) // max(1, 2 * closed + 2 * positions))
    moment = start

    def add(symbol: str, buy: bool, units: int, price: int) -> None:
        nonlocal moment
        moment += step
        fees = rng.randint(0, 40 * MICROS)
        fills.append(
            JournalFill(
                f"t{len(fills):07d}", symbol, "NSE", buy, units * MICROS, price, fees, moment, moment, Category.SWING
            )
        )

    for _ in range(closed):
        symbol = rng.choice(symbols)
        units = rng.randint(1, 200)
        price = rng.randint(100, 5_000) * MICROS
        add(symbol, True, units, price)
        add(symbol, False, units, price + rng.randint(-50, 50) * MICROS)
    for symbol in symbols:
        units = rng.randint(10, 500)
        price = rng.randint(100, 5_000) * MICROS
        add(symbol, True, units, price)
        add(symbol, False, rng.randint(1, units - 1), price + rng.randint(-50, 50) * MICROS)
    return fills


@dataclass
class Result:
    cpu_percent: list[float] = field(default_factory=list)
    snapshot_ms: list[float] = field(default_factory=list)
    update_ms: list[float] = field(default_factory=list)
    compute_ms: list[float] = field(default_factory=list)
    updates: int = 0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


async def stream(
    service: AnalyticsService,
    quotes: InMemoryQuotes,
    instruments: list[Instrument],
    net: bool,
    args: argparse.Namespace,
) -> Result:
    result = Result()
    watcher = PnlWatcher(service, quotes, net=net, default_rate=args.rate, max_rate=args.rate, heartbeat_seconds=60)
    rng = random.Random(5)
    prices = {instrument: quotes.marks_of[instrument].last_price_micros for instrument in instruments}
    queued: list[float] = []
    started = time.perf_counter()
    messages: AsyncIterator[object] = watcher.watch(USER, "Bearer bench", args.rate, now_micros() + 3_600 * MICROS)
    first = await anext(messages)
    result.snapshot_ms.append((time.perf_counter() - started) * 1000)
    assert isinstance(first, PnlUpdate)
    assert len(first.positions) == len(instruments)

    async def feed() -> None:
        interval = 1.0 / args.rate
        next_at = time.perf_counter()
        while True:
            for instrument in instruments:
                prices[instrument] = max(MICROS, prices[instrument] + rng.randint(-200, 200) * 10_000)
            queued.append(time.perf_counter())
            quotes.ticks.put_nowait({i: Mark(prices[i], prices[i], None, False) for i in instruments})
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

    feeder = asyncio.create_task(feed())
    wall, cpu = time.perf_counter(), time.process_time()
    deadline = wall + args.seconds
    try:
        while time.perf_counter() < deadline:
            message = await asyncio.wait_for(anext(messages), timeout=5)
            if isinstance(message, PnlUpdate) and not message.snapshot:
                result.updates += 1
                if queued:
                    result.update_ms.append((time.perf_counter() - queued[-1]) * 1000)
    finally:
        elapsed_cpu, elapsed_wall = time.process_time() - cpu, time.perf_counter() - wall
        feeder.cancel()
        await asyncio.gather(feeder, return_exceptions=True)
        await messages.aclose()  # type: ignore[attr-defined]
    result.cpu_percent.append(100 * elapsed_cpu / elapsed_wall)
    # The per-update computation alone, on the same journal and marks.
    journal_now = await service.journal(USER)
    book = await service.net_book(USER, journal_now) if net else None
    marks = {i: Mark(prices[i], prices[i], None, False) for i in instruments}
    for _ in range(50):
        begin = time.perf_counter()
        pnl_state(journal_now, marks, service.now(), book)
        result.compute_ms.append((time.perf_counter() - begin) * 1000)
    return result


async def main(args: argparse.Namespace) -> None:
    now = now_micros()
    fills = journal(args.positions, args.closed, now)
    trades = InMemoryTradeSource()
    for fill in fills:
        trades.put(USER, fill)
    quotes = InMemoryQuotes()
    service = AnalyticsService(
        trades=trades,
        settings=InMemorySettingsStore(),
        cache=InMemoryAnalyticsCache(),
        quotes=quotes,
        clock=ManualClock(now),
    )
    journal_now = await service.journal(USER)
    instruments = [cycle.instrument for cycle in journal_now.open_cycles()]
    for cycle in journal_now.open_cycles():
        quotes.marks_of[cycle.instrument] = Mark(cycle.average_open_price_micros, 0, None, False)
    print(
        f"journal: {len(fills):,} fills, {journal_now.round_trip_count:,} closed round trips, "
        f"{len(instruments)} open positions; feed and stream at {args.rate} updates/s, {args.seconds:g} s per variant"
    )
    results = {"baseline": Result(), "net": Result()}
    for _ in range(args.rounds):
        for name in ("baseline", "net"):
            round_result = await stream(service, quotes, instruments, name == "net", args)
            total = results[name]
            total.cpu_percent += round_result.cpu_percent
            total.snapshot_ms += round_result.snapshot_ms
            total.update_ms += round_result.update_ms
            total.compute_ms += round_result.compute_ms
            total.updates += round_result.updates
    print()
    print("| variant | CPU % of a core | updates | snapshot ms | tick->update ms p50 / p99 | compute ms p50 / p99 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, r in results.items():
        print(
            f"| {name} | {statistics.median(r.cpu_percent):.1f} | {r.updates} | {statistics.median(r.snapshot_ms):.1f} "
            f"| {percentile(r.update_ms, 0.5):.2f} / {percentile(r.update_ms, 0.99):.2f} "
            f"| {percentile(r.compute_ms, 0.5):.2f} / {percentile(r.compute_ms, 0.99):.2f} |"
        )
    base, net = results["baseline"], results["net"]
    extra = statistics.median(net.cpu_percent) - statistics.median(base.cpu_percent)
    print(
        f"\nnet figures cost {extra:+.1f} points of a core over the gross stream; the issue's target is <= 10 % "
        f"of one core for the whole net stream ({statistics.median(net.cpu_percent):.1f} % measured)."
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--positions", type=int, default=200, help="open positions (one instrument each)")
    parser.add_argument("--closed", type=int, default=5_000, help="closed round trips of history")
    parser.add_argument("--rate", type=int, default=4, help="feed batches and stream updates per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="streaming seconds per variant and round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds (baseline then net each round)")
    asyncio.run(main(parser.parse_args()))
