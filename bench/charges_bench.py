"""Charges engine: 1,000,000 mixed fills through the vectorised path vs a per-fill Python loop.

Both paths charge the same fills with the same packaged schedules and the contract-note policy; the run
checks they agree to the micro, then prints each one's seconds and the ratio. `--repeat N` times both
paths N times in the same process (interleaved) and reports every round and the best.

    .venv/bin/python bench/charges_bench.py                   # 1,000,000 fills, 3 rounds
    .venv/bin/python bench/charges_bench.py --fills 100000 --repeat 1
"""

from __future__ import annotations

import argparse
import gc
import time
from datetime import date, timedelta

import numpy as np

from trademesh.kernel.charges import (
    COMPONENTS,
    Broker,
    Exchange,
    Fill,
    Segment,
    Side,
    charge_fills,
    load_schedule,
)
from trademesh.kernel.charges.schedule import SEGMENTS_OF
from trademesh.kernel.charges.vectorised import FillColumns, charge_columns

TARGET_SECONDS = 2.0
TARGET_RATIO = 10.0


def build_fills(count: int, seed: int) -> list[Fill]:
    """Return `count` fills in orders of 1-3 fills: NSE/BSE equity and F&O, MCX, both brokers, 2023-2026."""
    random = np.random.default_rng(seed)
    venues = [(exchange, segment) for exchange, segments in SEGMENTS_OF.items() for segment in segments]
    first_day = date(2023, 1, 2)
    fills: list[Fill] = []
    order = 0
    while len(fills) < count:
        exchange, segment = venues[int(random.integers(len(venues)))]
        side = Side.BUY if random.random() < 0.5 else Side.SELL
        broker = Broker.ZERODHA if random.random() < 0.8 else Broker.UPSTOX
        day = first_day + timedelta(days=int(random.integers(0, 1400)))
        instrument = f"S{int(random.integers(200))}"
        price = int(random.integers(1, 400_000)) * 50_000  # 5-paise ticks up to Rs 20,000
        account = f"A{int(random.integers(50))}"
        for part in range(min(int(random.integers(1, 4)), count - len(fills))):
            fills.append(
                Fill(
                    fill_id=f"{order}.{part}",
                    order_id=str(order),
                    broker=broker,
                    exchange=exchange,
                    segment=segment,
                    side=side,
                    instrument=instrument,
                    quantity=int(random.integers(1, 2_000)),
                    price_micros=price + int(random.integers(0, 3)) * 50_000,
                    trade_date=day,
                    account=account,
                )
            )
        order += 1
    return fills


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fills", type=int, default=1_000_000, help="fills to charge (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of both paths in this run (default 3)")
    parser.add_argument("--seed", type=int, default=17)
    arguments = parser.parse_args()

    schedule = load_schedule()
    policy = schedule.policy("contract_note")
    started = time.perf_counter()
    fills = build_fills(arguments.fills, arguments.seed)
    built = time.perf_counter() - started
    exchanges = {exchange: sum(1 for each in fills if each.exchange is exchange) for exchange in Exchange}
    segments = {segment: sum(1 for each in fills if each.segment is segment) for segment in Segment}
    print(f"{len(fills):,} fills built in {built:.1f} s; by exchange {exchanges}; by segment {segments}")

    rounds = []
    for round_number in range(1, arguments.repeat + 1):
        gc.collect()
        started = time.perf_counter()
        columns = FillColumns.from_fills(fills)
        encoded = time.perf_counter() - started
        started = time.perf_counter()
        vectorised = charge_columns(schedule, policy, columns)
        vector_seconds = time.perf_counter() - started
        gc.collect()
        started = time.perf_counter()
        reference = charge_fills(schedule, policy, fills)
        loop_seconds = time.perf_counter() - started
        for name in COMPONENTS:
            if vectorised.components[name].tolist() != [getattr(result.charges, name) for result in reference]:
                raise SystemExit(f"round {round_number}: the paths disagree on {name}")
        total_rupees = int(vectorised.total().sum()) / 1_000_000
        ratio = loop_seconds / vector_seconds
        rounds.append((vector_seconds, encoded, loop_seconds, ratio))
        print(
            f"round {round_number}: vectorised {vector_seconds:.3f} s (+ {encoded:.2f} s encoding Fill objects "
            f"as columns) | per-fill loop {loop_seconds:.2f} s | ratio {ratio:.1f}x "
            f"(with encoding {loop_seconds / (vector_seconds + encoded):.1f}x) | identical to the micro, "
            f"total charges Rs {total_rupees:,.2f}"
        )
        del reference, vectorised

    best = min(rounds)
    print(
        f"best round: vectorised {best[0]:.3f} s (target <= {TARGET_SECONDS:.0f} s: "
        f"{'met' if best[0] <= TARGET_SECONDS else 'MISSED'}), loop {best[2]:.2f} s, ratio {best[3]:.1f}x "
        f"(target >= {TARGET_RATIO:.0f}x: {'met' if best[3] >= TARGET_RATIO else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
