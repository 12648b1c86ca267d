"""Bar roll-ups on the local engine (FerretDB on SQLite, decision 0260): what they add to the ingest's flush.

The ingest writes its bars every `BAR_FLUSH_SECONDS` (5 s): for each instrument that ticked, the minute that
just completed and the running one. Measured on a private FerretDB, ``--instruments`` instruments (default 58,
the bundled universe) over ``--flushes`` flushes (default 75 = 375 minutes, an NSE session, at one flush per
minute of bars):

* the baseline, the 1-minute write alone as it was before (one `update_one` per instrument-day), against
* `MongoBarStore.save`, which also rewrites the touched 5-minute window and the IST day's bar;

then reads of one instrument's session through `range`: 1-minute, 5-minute and day bars. Prints p50/p99 ms.

    .venv/bin/python bench/bar_rollup_bench.py
    .venv/bin/python bench/bar_rollup_bench.py --instruments 10 --flushes 10
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from trademesh.devstack.processes import FerretDBServer
from trademesh.kernel.calendar import IST
from trademesh.kernel.instruments import Exchange
from trademesh.services.marketdata.bar_store import MongoBarStore
from trademesh.services.marketdata.model import (
    DAY_NANOS,
    MINUTE_NANOS,
    NANOS_PER_SECOND,
    Bar,
    BarInterval,
    InstrumentKey,
    utc_day,
)

SESSION_OPEN = int(datetime(2026, 11, 24, 9, 15, tzinfo=IST).timestamp()) * NANOS_PER_SECOND


async def save_minutes_only(database: AsyncDatabase[dict[str, Any]], bars: Sequence[Bar]) -> None:
    """Write 1-minute bars the way the store did before roll-ups (the baseline)."""
    grouped: dict[str, dict[str, Any]] = defaultdict(dict)
    for bar in bars:
        slot = datetime.fromtimestamp(bar.start_ns / NANOS_PER_SECOND, UTC).strftime("%H%M")
        grouped[f"{bar.key}:{utc_day(bar.start_ns)}"][f"bars.{slot}"] = {
            "o": bar.open_micros,
            "h": bar.high_micros,
            "l": bar.low_micros,
            "c": bar.close_micros,
            "v": bar.volume,
            "oi": bar.open_interest,
            "complete": bar.complete,
        }
    for doc_id, fields in grouped.items():
        await database["bars_baseline"].update_one({"_id": doc_id}, {"$set": fields}, upsert=True)


def flush(keys: Sequence[InstrumentKey], minute: int) -> list[Bar]:
    """The bars of one flush: each instrument's just-completed minute and its running one."""
    bars = []
    for index, key in enumerate(keys):
        for offset, complete in ((minute - 1, True), (minute, False)):
            if offset < 0:
                continue
            price = 1_000_000_000 + index * 1_000_000 + offset * 50_000
            start = SESSION_OPEN + offset * MINUTE_NANOS
            bars.append(Bar(key, start, price, price + 200_000, price - 150_000, price + 50_000, 100, 0, complete))
    return bars


def percentiles(samples: list[float]) -> tuple[float, float]:
    """Return the p50 and p99 of `samples`."""
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def timed(call: Callable[[], Awaitable[object]], rounds: int) -> tuple[float, float]:
    """Run `call` `rounds` times; return the p50 and p99 in ms."""
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1_000)
    return percentiles(samples)


async def run(instruments: int, flushes: int, reads: int) -> None:
    keys = [InstrumentKey(Exchange.NSE, f"SYM{index:03d}") for index in range(instruments)]
    with tempfile.TemporaryDirectory() as workdir, FerretDBServer(Path(workdir) / "db") as server:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(server.url, tz_aware=True)
        database = client["bench"]
        store = MongoBarStore(database)
        print(f"FerretDB on SQLite: {instruments} instruments, {flushes} flushes of 2 bars each")
        # Interleaved flush by flush, so both see the same machine load.
        base_ms: list[float] = []
        roll_ms: list[float] = []
        for minute in range(flushes):
            bars = flush(keys, minute)
            for samples, write in ((base_ms, save_minutes_only(database, bars)), (roll_ms, store.save(bars))):
                started = time.perf_counter()
                await write
                samples.append((time.perf_counter() - started) * 1_000)
        for label, samples in (
            ("1-minute write only (baseline)", base_ms),
            ("MongoBarStore.save + roll-ups ", roll_ms),
        ):
            p50, p99 = percentiles(samples)
            print(f"  flush: {label}  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms")
        key = keys[0]
        end = SESSION_OPEN + DAY_NANOS
        for label, interval in (
            ("1-minute", BarInterval.ONE_MINUTE),
            ("5-minute", BarInterval.FIVE_MINUTES),
            ("day     ", BarInterval.ONE_DAY),
        ):
            found, _ = await store.range(key, SESSION_OPEN - DAY_NANOS, end, 5000, interval)
            p50, p99 = await timed(
                lambda interval=interval: store.range(key, SESSION_OPEN - DAY_NANOS, end, 5000, interval),  # type: ignore[misc]
                reads,
            )
            print(f"  read one session, {label} bars ({len(found):3d})  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms")
        await client.close()


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--instruments", type=int, default=58)
    parser.add_argument("--flushes", type=int, default=75)
    parser.add_argument("--reads", type=int, default=30)
    arguments = parser.parse_args()
    asyncio.run(run(arguments.instruments, arguments.flushes, arguments.reads))


if __name__ == "__main__":
    main()
