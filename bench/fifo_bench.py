"""The one FIFO engine (decision 0380) against the three engines it replaced, side by side in one run.

On the same generated fills (random walks through zero: shorts, partial closes, crossings, fees):

* lean replay: ListPositions' `replay_fills` (now `PositionBook(record_matches=False).extend`) vs the old
  integer replay of decision 0370;
* book with matches: `PositionBook` (ListPositions' whole-trade path, tax lots) vs the old `Fraction` book;
* round trips: `InstrumentCycle.apply` over `--instruments` instruments (analytics' fill-by-fill engine) vs
  the old one.

The old engines are the test oracles in `tests/kernel/fifo_oracles.py` (verbatim copies). Each figure is the
best of `--repeat` runs; every pair is checked equal before it is printed.

    .venv/bin/python -m bench.fifo_bench                  # 100,000 fills
    .venv/bin/python -m bench.fifo_bench --fills 20000 --repeat 3
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from tests.kernel.fifo_oracles import OldFill, OldInstrumentCycle, OldPositionBook, old_replay_fills
from trademesh.kernel.instruments import Exchange, Side
from trademesh.kernel.lots import Fill, InstrumentCycle, PositionBook
from trademesh.services.trade.model.position_fills import PositionFill
from trademesh.services.trade.service.position_replay import replay_fills

MICROS = 1_000_000
Row = tuple[int, bool, int, int, int]  # instrument, buy, quantity, price, fees


def generate(count: int, instruments: int, seed: int = 7) -> list[Row]:
    """Random walks per instrument, leaning back towards flat so positions cross zero often."""
    rnd = random.Random(seed)
    positions = [0] * instruments
    rows: list[Row] = []
    for _ in range(count):
        key = rnd.randrange(instruments)
        buy = rnd.random() < (0.6 if positions[key] <= 0 else 0.4)
        quantity = rnd.randint(1, 20) * MICROS
        positions[key] += quantity if buy else -quantity
        rows.append((key, buy, quantity, rnd.randint(100, 200) * MICROS, rnd.randint(0, 50 * MICROS)))
    return rows


def best(repeat: int, run: Callable[[], object]) -> tuple[float, object]:
    """Return the fastest of `repeat` runs and the last result."""
    fastest, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        fastest = min(fastest, time.perf_counter() - start)
    return fastest, result


def main() -> None:
    """Run the three pairs and print them side by side."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fills", type=int, default=100_000)
    parser.add_argument("--instruments", type=int, default=200, help="for the round-trip pair")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    epoch = datetime(2026, 1, 1, tzinfo=UTC)
    one = generate(args.fills, 1)
    lean = [
        PositionFill(epoch + timedelta(seconds=i), epoch, 0, f"t{i}", Exchange.NSE, "X", None,
                     Side.BUY if buy else Side.SELL, quantity, price, fees, 1)
        for i, (_, buy, quantity, price, fees) in enumerate(one)
    ]  # fmt: skip
    old_fills = [
        OldFill(f.trade_id, f.side, f.quantity_micros, f.price_micros, f.fees_micros, f.trade_time) for f in lean
    ]
    fills = [Fill(f.trade_id, f.side, f.quantity_micros, f.price_micros, f.fees_micros, f.trade_time) for f in lean]

    def book(cls: type[PositionBook] | type[OldPositionBook], items: list[Fill] | list[OldFill]) -> object:
        positions = cls()
        for fill in items:
            positions.apply(fill)  # type: ignore[arg-type]
        return (positions.realized, [dataclasses.astuple(m) for m in positions.matches])

    many = generate(args.fills, args.instruments)

    def cycles(cls: type[InstrumentCycle[int]] | type[OldInstrumentCycle[int]]) -> object:
        engines = [cls(key) for key in range(args.instruments)]
        trips = [
            engines[key].apply(buy, quantity, price, fees, i, i, "t", "INTRADAY")
            for i, (key, buy, quantity, price, fees) in enumerate(many)
        ]
        return [None if trip is None else tuple(trip) for trip in trips]

    pairs: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
        (
            "lean replay",
            lambda: dataclasses.astuple(replay_fills(lean)),
            lambda: dataclasses.astuple(old_replay_fills(old_fills)),
        ),
        ("book with matches", lambda: book(PositionBook, fills), lambda: book(OldPositionBook, old_fills)),
        ("round trips", lambda: cycles(InstrumentCycle), lambda: cycles(OldInstrumentCycle)),
    ]
    print(f"{args.fills:,} fills, best of {args.repeat}")
    print(f"    {'':20} {'one engine':>11} {'old':>11} {'new/old':>8}")
    for name, new, old in pairs:
        new_time, new_result = best(args.repeat, new)
        old_time, old_result = best(args.repeat, old)
        assert new_result == old_result, name
        print(f"    {name:20} {new_time:10.3f}s {old_time:10.3f}s {new_time / old_time:7.2f}x")


if __name__ == "__main__":
    main()
