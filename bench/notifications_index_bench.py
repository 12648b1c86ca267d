"""Alert evaluation, side by side: the sorted-level index vs checking every alert of the instrument per tick.

Run `.venv/bin/python bench/notifications_index_bench.py` (`--help` for the knobs). Pure CPU, in process:
`--alerts` alerts (a third each PRICE_ABOVE 0.2..5 % over the start price, PRICE_BELOW 0.2..5 % under it,
PRICE_CROSSING within ±5 %; re-arming: a fired alert is armed again `--rearm-after` ticks later, as a cool-down
ending would) over `--instruments` instruments, then `--ticks` ticks of a seeded random walk (±0.2 % per tick;
the first `--warmup` are not timed: crossing alerts learn their side, the index merges them). Both evaluators
see the same ticks and must fire the same alerts at the same ticks (checked); the table reports CPU per 1,000 ticks.

This is only the evaluator's share of issue 18's benchmark: no Redis, database, notification writes or
tick-to-notification latency (that end-to-end run is `bench/notifications_e2e_bench.py`).
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime

from trademesh.services.notifications.alert_index import AlertIndex
from trademesh.services.notifications.model import Alert, AlertCondition, AlertState, InstrumentRef, Tick

NOW = datetime(2024, 7, 1, tzinfo=UTC)
CONDITIONS = (AlertCondition.PRICE_ABOVE, AlertCondition.PRICE_BELOW, AlertCondition.PRICE_CROSSING)


def alert_levels(
    count: int, instruments: int, rng: random.Random
) -> tuple[list[tuple[int, str, AlertCondition, int]], dict[str, int]]:
    """Each instrument's start price, and `count` alerts placed where people put them ("above" over the price,
    "below" under it, crossings either side), a third of each condition: (number, instrument, condition, level).
    Shared with `bench.notifications_e2e_bench`."""
    starts = {f"NSE:S{number:04d}": rng.randrange(100, 5000) * 1_000_000 for number in range(instruments)}
    keys = list(starts)
    levels = []
    for number in range(count):
        key = keys[number % instruments]
        condition = CONDITIONS[number % 3]
        if condition is AlertCondition.PRICE_ABOVE:
            level = int(starts[key] * rng.uniform(1.002, 1.05))
        elif condition is AlertCondition.PRICE_BELOW:
            level = int(starts[key] * rng.uniform(0.95, 0.998))
        else:
            level = int(starts[key] * rng.uniform(0.95, 1.05))
        levels.append((number, key, condition, level))
    return levels, starts


def make_alerts(count: int, instruments: int, rng: random.Random) -> tuple[list[Alert], dict[str, int]]:
    levels, starts = alert_levels(count, instruments, rng)
    alerts = [
        Alert(
            f"a{number:07d}",
            f"u{number % 10_000}",
            InstrumentRef.parse(key),
            condition,
            level,
            0,
            True,
            None,
            None,
            "",
            AlertState.ARMED,
            NOW,
            NOW,
        )
        for number, key, condition, level in levels
    ]
    return alerts, starts


class NaiveEvaluator:
    """Check every armed alert of the tick's instrument."""

    def __init__(self) -> None:
        self.by_instrument: dict[str, dict[str, Alert]] = {}
        self.side: dict[str, int] = {}

    def add(self, alert: Alert) -> None:
        self.by_instrument.setdefault(alert.instrument.key, {})[alert.id] = alert
        self.side.pop(alert.id, None)

    def on_tick(self, tick: Tick) -> list[str]:
        fired = []
        armed = self.by_instrument.get(tick.instrument, {})
        price = tick.price_micros
        for alert_id, alert in list(armed.items()):
            level = alert.level_micros
            if alert.condition is AlertCondition.PRICE_ABOVE:
                hit = price >= level
            elif alert.condition is AlertCondition.PRICE_BELOW:
                hit = price <= level
            else:
                previous = self.side.get(alert_id)
                hit = previous is not None and (previous < level <= price or price <= level < previous)
                self.side[alert_id] = price
            if hit:
                fired.append(alert_id)
                del armed[alert_id]
        return fired


class NoEvaluator:
    """Fire nothing: the harness's own cost (the loop, re-arming bookkeeping), subtracted from both."""

    def add(self, alert: Alert) -> None:
        pass

    def on_tick(self, tick: Tick) -> list[str]:
        return []


def run(
    evaluator: AlertIndex | NaiveEvaluator | NoEvaluator,
    alerts: list[Alert],
    ticks: list[Tick],
    rearm_after: int,
    warmup: int,
) -> tuple[float, list[list[str]]]:
    for alert in alerts:
        evaluator.add(alert)
    by_id = {alert.id: alert for alert in alerts}
    waiting: list[tuple[int, str]] = []
    fired_per_tick = []
    started = 0.0
    for number, tick in enumerate(ticks):
        if number == warmup:
            started = time.process_time()
        while waiting and waiting[0][0] <= number:
            evaluator.add(by_id[waiting.pop(0)[1]])
        result = evaluator.on_tick(tick)
        fired = sorted(item if isinstance(item, str) else item.alert_id for item in result)
        waiting.extend((number + rearm_after, alert_id) for alert_id in fired)
        fired_per_tick.append(fired)
    return time.process_time() - started, fired_per_tick


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--instruments", type=int, default=1_000)
    parser.add_argument("--ticks", type=int, default=20_000)
    parser.add_argument(
        "--rearm-after",
        type=int,
        default=100_000,
        help="ticks until a fired alert is armed again (100,000: 50 s at 2,000 ticks/s)",
    )
    parser.add_argument("--warmup", type=int, default=5_000, help="first ticks, not timed (crossings learn sides)")
    parser.add_argument("--seed", type=int, default=18)
    arguments = parser.parse_args()
    rng = random.Random(arguments.seed)
    alerts, starts = make_alerts(arguments.alerts, arguments.instruments, rng)
    prices = dict(starts)
    keys = list(prices)
    ticks = []
    for _ in range(arguments.ticks):
        key = rng.choice(keys)
        prices[key] = max(1_000_000, int(prices[key] * (1 + rng.uniform(-0.002, 0.002))))
        ticks.append(Tick(key, prices[key], 0, 0))
    index_cpu, index_fired = run(AlertIndex(), alerts, ticks, arguments.rearm_after, arguments.warmup)
    naive_cpu, naive_fired = run(NaiveEvaluator(), alerts, ticks, arguments.rearm_after, arguments.warmup)
    assert index_fired == naive_fired, "the evaluators disagree"
    harness_cpu, _ = run(NoEvaluator(), alerts, ticks, arguments.rearm_after, arguments.warmup)
    index_net, naive_net = index_cpu - harness_cpu, naive_cpu - harness_cpu
    total = sum(len(fired) for fired in index_fired)
    per_thousand = 1000 / (arguments.ticks - arguments.warmup)
    print(
        f"{arguments.alerts:,} alerts over {arguments.instruments:,} instruments, {arguments.ticks:,} ticks, "
        f"{total:,} firings (identical in both)"
    )
    print(f"{'evaluator':<28}{'CPU ms / 1,000 ticks':>22}{'less the harness':>18}")
    rows = (("sorted levels (AlertIndex)", index_cpu, index_net), ("scan every alert", naive_cpu, naive_net))
    for name, cpu, net in rows:
        print(f"{name:<28}{cpu * 1000 * per_thousand:>22.2f}{net * 1000 * per_thousand:>18.2f}")
    print(f"{'harness only':<28}{harness_cpu * 1000 * per_thousand:>22.2f}")
    ratio, net_ratio = naive_cpu / index_cpu, naive_net / index_net
    print(f"ratio (scan / index): {ratio:.1f}x with the harness, {net_ratio:.1f}x without")


if __name__ == "__main__":
    main()
