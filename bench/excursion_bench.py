"""MAE/MFE recording cost on the local engine (FerretDB on SQLite, decision 0270): batched flushes vs a write per tick.

``--positions`` open positions (users x instruments) over ``--instruments`` instruments in
`analytics_excursions`; ``--seconds`` simulated seconds of ``--ticks`` ticks per instrument per second.
Batched (what `ExcursionRecorder` does): per second, one `record` (one $min/$max UpdateMany per instrument, in
one bulk write) plus one `confirm`. Baseline: one `record` per tick. Each variant has its own database.
Prints the database time per simulated second and the writes issued; the recorder keeps up while that time
stays under a second.

    .venv/bin/python bench/excursion_bench.py
    .venv/bin/python bench/excursion_bench.py --positions 200 --instruments 20 --seconds 3
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from trademesh.devstack.processes import FerretDBServer
from trademesh.services.analytics.excursion_ports import TickBatch
from trademesh.services.analytics.excursion_store import COLLECTION, MongoExcursionStore, ensure_excursion_indexes

MICROS = 1_000_000
START_US = 1_800_000_000 * MICROS


async def _positions(store: MongoExcursionStore, positions: int, instruments: list[tuple[str, str]]) -> None:
    per_user = min(len(instruments), 10)
    users = max(1, positions // per_user)
    for user in range(users):
        held = [(instruments[(user + k) % len(instruments)], START_US - MICROS) for k in range(per_user)]
        await store.track(f"user-{user}", held, START_US - MICROS, 5 * MICROS)


def _ticks(instruments: list[tuple[str, str]], per_second: int, second: int, rng: random.Random) -> list[TickBatch]:
    ticks = []
    for instrument in instruments:
        for k in range(per_second):
            price = (1000 + rng.randint(-50, 50)) * MICROS
            at = START_US + second * MICROS + k * (MICROS // per_second)
            ticks.append(TickBatch(instrument, price, price, at, at))
    return ticks


async def _batched(store: MongoExcursionStore, ticks: list[TickBatch], instruments: list[tuple[str, str]]) -> int:
    merged: dict[tuple[str, str], list[int]] = {}
    for tick in ticks:
        held = merged.setdefault(tick.instrument, [tick.low_micros, tick.high_micros, tick.first_us, tick.last_us])
        held[0], held[1] = min(held[0], tick.low_micros), max(held[1], tick.high_micros)
        held[2], held[3] = min(held[2], tick.first_us), max(held[3], tick.last_us)
    await store.record([TickBatch(instrument, *values) for instrument, values in merged.items()])
    await store.confirm(instruments, ticks[-1].last_us, 5 * MICROS)
    return len(merged) + 2


async def _per_tick(store: MongoExcursionStore, ticks: list[TickBatch]) -> int:
    for tick in ticks:
        await store.record([tick])
    return len(ticks)


async def run(positions: int, instrument_count: int, per_second: int, seconds: int) -> None:
    instruments = [(f"SYM{index:03d}", "NSE") for index in range(instrument_count)]
    with tempfile.TemporaryDirectory() as workdir, FerretDBServer(Path(workdir) / "db") as server:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(server.url, tz_aware=True)
        # One database per variant: each widens its own ranges (a write that changes nothing is cheaper).
        stores = {}
        for name in ("batched (1 s flush)", "write per tick"):
            database = client["bench_" + name.split()[0]]
            await ensure_excursion_indexes(database)
            stores[name] = MongoExcursionStore(database)
            await _positions(stores[name], positions, instruments)
        count = await database[COLLECTION].count_documents({})
        print(
            f"{count} open positions over {instrument_count} instruments, {per_second} ticks/instrument/s, "
            f"{seconds} simulated s"
        )
        rng = random.Random(7)
        results: dict[str, tuple[list[float], int]] = {"batched (1 s flush)": ([], 0), "write per tick": ([], 0)}
        for second in range(seconds):
            ticks = _ticks(instruments, per_second, second, rng)
            # Interleaved, so both see the same database state and machine load.
            for name in results:
                started = time.perf_counter()
                if name.startswith("batched"):
                    writes = await _batched(stores[name], ticks, instruments)
                else:
                    writes = await _per_tick(stores[name], ticks)
                samples, total = results[name]
                samples.append(time.perf_counter() - started)
                results[name] = (samples, total + writes)
        print(f"{'variant':<22}{'db s per simulated s (median)':>32}{'max':>10}{'writes/s':>12}")
        for name, (samples, total) in results.items():
            print(f"{name:<22}{statistics.median(samples):>32.3f}{max(samples):>10.3f}{total / seconds:>12.0f}")
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--positions", type=int, default=2_000, help="open positions (10 per user)")
    parser.add_argument("--instruments", type=int, default=100, help="instruments they are spread over")
    parser.add_argument("--ticks", type=int, default=2, help="ticks per instrument per second")
    parser.add_argument("--seconds", type=int, default=5, help="simulated seconds")
    arguments = parser.parse_args()
    asyncio.run(run(arguments.positions, arguments.instruments, arguments.ticks, arguments.seconds))


if __name__ == "__main__":
    main()
