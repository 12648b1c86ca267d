"""Issue 18's benchmark end to end: ticks on the Redis backplane → alerts evaluated → notifications stored.

    flock /tmp/trademesh-bench.lock .venv/bin/python -m bench.notifications_e2e_bench           # full size
    .venv/bin/python -m bench.notifications_e2e_bench --small                                  # quick check

A private Redis and FerretDB (SQLite) are started. `--alerts` one-shot alerts (a third each PRICE_ABOVE 0.2..5 %
over the start price, PRICE_BELOW 0.2..5 % under it, PRICE_CROSSING within ±5 %) over `--instruments`
instruments for `--users` users are written to the database, three times (one database per evaluator). Each
evaluator then runs the service's real path in this process — `bootstrap` (Mongo stores, the Redis backplane,
the `Notifier`), `AlertEvaluator.load`, the pub/sub reader, the firing task — while a publisher *process* sends a
seeded random walk (±0.2 % per tick) at `--rate` ticks/s for `--seconds` seconds on `md:tick:<instrument>` in
market data's payload layout, each payload stamped with its publish time. The evaluators differ only in the
in-memory index and in how firings are written:

- **sorted levels, batched**: `AlertIndex` (the service's); the tick handler queues what a tick reached and the
  firing task fires the queue in batches (decision 0330);
- **sorted levels, unbatched**: the same index, each firing awaited by the tick handler one at a time (the
  firing path before decision 0330: the baseline of batching, like for like);
- **scan, batched**: a drop-in that checks every armed alert of the tick's instrument on each tick (the naive
  evaluator of issue 18's baseline), firing batched as in the first.

Reported per evaluator: tick-to-notification latency (the publish stamp in the payload → the notification is
stored and the inbox signalled, p50/p99/max), the process CPU per 1,000 ticks (the whole notifications side:
pub/sub, decoding, evaluation, database writes; the publisher is another process), the part spent in the index's
`on_tick` (evaluation only) and the firing batches' own CPU. All must fire the same set of alerts (asserted: the
tick sequence is the same and the alerts are one-shot, so the fired set depends only on it).

How evaluation is measured: each `on_tick` call is timed with the event-loop thread's CPU clock
(`time.thread_time`, two reads per tick). A tick that reaches nothing costs the sorted levels a few µs, and the
timer itself adds about 1 µs per call (the end of one clock read, the wrapper's call, the start of the next), so
before each evaluator's feed starts `timer_overhead` times the same wrapper around an `on_tick` that does nothing
(the median of 7 blocks of 10,000 calls, in this process) and that cost times the ticks evaluated is subtracted:
`eval` is the evaluation less the timer, `(raw)` as timed. The scan and the sorted levels are measured alike.
The timer's cost stays in the whole-process CPU and so in `rest`. Note that `eval` is still above
`notifications_index_bench.py`'s figure for the same index: it includes the run's first ticks (every crossing
alert learns its side, the alerts nearest the start price fire), which that bench leaves out as warm-up, and
between two ticks this process does other work (pub/sub, pymongo), so each tick finds the index out of the CPU
caches — a real cost of the service, not of the measurement.

The garbage collector is set as the service's entry point sets it (`core.server.tune_gc`: what exists is frozen
— here after the bench built its alert and tick lists — and young collections happen every 50,000 container
allocations instead of 700); `--default-gc` keeps CPython's defaults (until session 15 the bench ran with them; at
full size the difference in the feed's CPU is small, a few ms per 1,000 ticks).
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import multiprocessing
import os
import random
import statistics
import tempfile
import time
from collections.abc import Coroutine, Generator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pymongo import AsyncMongoClient

from bench.notifications_index_bench import alert_levels
from trademesh.devstack.processes import FerretDBServer, RedisServer
from trademesh.kernel.ticks import TICK_CHANNEL_PREFIX, encode_tick_payload
from trademesh.marketdata.v1 import quote_pb2
from trademesh.services.core.server import tune_gc
from trademesh.services.notifications.alert_index import AlertIndex, Firing
from trademesh.services.notifications.model import Alert, AlertCondition, AlertState, InstrumentRef, Tick
from trademesh.services.notifications.server import bootstrap
from trademesh.services.notifications.service import AlertEvaluator
from trademesh.services.notifications.service.evaluation import _price_outcome, _Queued
from trademesh.services.notifications.settings import NotificationsSettings
from trademesh.services.notifications.store import COLLECTIONS, _alert_document, ensure_indexes

NOW = datetime(2024, 7, 1, tzinfo=UTC)
CONDITIONS = (AlertCondition.PRICE_ABOVE, AlertCondition.PRICE_BELOW, AlertCondition.PRICE_CROSSING)
MICROS = 1_000_000


def make_alerts(count: int, instruments: int, users: int, rng: random.Random) -> tuple[list[Alert], dict[str, int]]:
    """Return one-shot alerts placed where people put them, and each instrument's start price."""
    levels, starts = alert_levels(count, instruments, rng)
    alerts = [
        Alert(
            f"al{number:08d}",
            f"u{number % users:05d}",
            InstrumentRef.parse(key),
            condition,
            level,
            0,
            False,
            None,
            None,
            "",
            AlertState.ARMED,
            NOW,
            NOW,
            request_id=f"r{number}",
        )
        for number, key, condition, level in levels
    ]
    return alerts, starts


def make_ticks(starts: dict[str, int], count: int, seed: int) -> list[tuple[str, int, int]]:
    """Return (instrument, price, change vs the start price) of a seeded random walk."""
    rng = random.Random(seed)
    prices = dict(starts)
    keys = list(prices)
    ticks = []
    for _ in range(count):
        key = rng.choice(keys)
        prices[key] = max(MICROS, int(prices[key] * (1 + rng.uniform(-0.002, 0.002))))
        ticks.append((key, prices[key], prices[key] - starts[key]))
    return ticks


def publish(redis_url: str, ticks: list[tuple[str, int, int]], rate: int, ready: Any) -> None:
    """The feed (its own process): publish `ticks` at `rate` per second, 10 ms batches, each stamped at publish."""
    import redis

    client = redis.Redis.from_url(redis_url)
    bodies = [quote_pb2.Quote(last_price_micros=p, change_micros=c).SerializeToString() for _, p, c in ticks]
    ready.wait()
    per_batch = max(1, rate // 100)
    started = time.monotonic()
    for batch, first in enumerate(range(0, len(ticks), per_batch)):
        pause = started + batch * per_batch / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        pipe = client.pipeline(transaction=False)
        for number in range(first, min(first + per_batch, len(ticks))):
            body = bodies[number]
            pipe.publish(
                TICK_CHANNEL_PREFIX + ticks[number][0],
                encode_tick_payload(1, number, time.time_ns(), (body, body, body)),
            )
        pipe.execute()
    client.close()


class ScanIndex(AlertIndex):
    """The naive evaluator as a drop-in for the index: every armed alert of the instrument checked per tick."""

    def __init__(self) -> None:
        super().__init__()
        self._by_instrument: dict[str, dict[str, Alert]] = {}
        self._side: dict[str, int] = {}

    def add(self, alert: Alert) -> None:
        self.remove(alert.id)
        self._alerts[alert.id] = alert
        self._by_instrument.setdefault(alert.instrument.key, {})[alert.id] = alert

    def remove(self, alert_id: str) -> Alert | None:
        alert = self._alerts.pop(alert_id, None)
        if alert is not None:
            armed = self._by_instrument.get(alert.instrument.key, {})
            armed.pop(alert_id, None)
            if not armed:
                self._by_instrument.pop(alert.instrument.key, None)
            self._side.pop(alert_id, None)
        return alert

    def instruments(self) -> frozenset[str]:
        return frozenset(self._by_instrument)

    def on_tick(self, tick: Tick) -> list[Firing]:
        firings = []
        price = tick.price_micros
        for alert_id, alert in list(self._by_instrument.get(tick.instrument, {}).items()):
            level = alert.level_micros
            if alert.condition is AlertCondition.PRICE_ABOVE:
                hit = price >= level
            elif alert.condition is AlertCondition.PRICE_BELOW:
                hit = price <= level
            else:
                previous = self._side.get(alert_id)
                hit = previous is not None and (previous < level <= price or price <= level < previous)
                self._side[alert_id] = price
            if hit:
                self.remove(alert_id)
                firings.append(Firing(alert.id, alert.generation, price, tick.change_basis_points))
        return firings


class _Timed:
    """Wraps an index: CPU seconds spent in on_tick (the event loop's thread's CPU clock), and the publish stamp
    of the tick that reached each alert. `cpu` includes the timer's own cost (the ends of the two clock reads and
    the call): `calls` counts the ticks, and `timer_overhead` measures that cost per call to subtract."""

    def __init__(self, index: AlertIndex) -> None:
        self._on_tick = index.on_tick
        self.cpu = 0.0
        self.calls = 0
        self.stamps: dict[str, int] = {}

    def on_tick(self, tick: Tick) -> list[Firing]:
        self.calls += 1
        started = time.thread_time()
        try:
            firings = self._on_tick(tick)
        finally:
            self.cpu += time.thread_time() - started
        for firing in firings:
            self.stamps[firing.alert_id] = tick.received_ns
        return firings


class _NoIndex(AlertIndex):
    """Reaches nothing: what `_Timed` measures around it is the timer's own cost."""

    def on_tick(self, tick: Tick) -> list[Firing]:
        return []


def timer_overhead(calls: int = 10_000, blocks: int = 7) -> float:
    """Return the CPU seconds `_Timed` measures per call around an `on_tick` that does nothing (two reads of the
    thread's CPU clock, ~0.8 µs each here, and a call): the median of `blocks` blocks of `calls` calls."""
    tick = Tick("NSE:NONE", MICROS, 0, 0)
    per_call = []
    for _ in range(blocks):
        probe = _Timed(_NoIndex())
        for _ in range(calls):
            probe.on_tick(tick)
        per_call.append(probe.cpu / calls)
    return statistics.median(per_call)


class _StepTimed:
    """Await a coroutine, adding the CPU time of each of its own steps to `sink[0]` (not the other tasks' while it
    waits: the event loop runs them between the steps). The thread's CPU clock, not a wall clock: on a loaded
    machine a step's wall time also counts the time the process waited for a core."""

    def __init__(self, coroutine: Coroutine[Any, Any, Any], sink: list[float]) -> None:
        self._coroutine = coroutine
        self._sink = sink

    def __await__(self) -> Generator[Any, Any, Any]:
        steps = self._coroutine.__await__()
        send: Any = None
        error: BaseException | None = None
        while True:
            started = time.thread_time()
            try:
                yielded = steps.send(send) if error is None else steps.throw(error)
            except StopIteration as done:
                self._sink[0] += time.thread_time() - started
                return done.value
            self._sink[0] += time.thread_time() - started
            send, error = None, None
            try:
                send = yield yielded
            except BaseException as thrown:
                error = thrown


#: The sink of the firing being timed; tasks it starts (the Notifier writes its channels side by side) inherit it.
_FIRING: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar("firing", default=None)


async def _timed(coroutine: Coroutine[Any, Any, Any], sink: list[float]) -> Any:
    return await _StepTimed(coroutine, sink)


def _timed_task(loop: asyncio.AbstractEventLoop, coroutine: Any, **kwargs: Any) -> asyncio.Task[Any]:
    """The task factory while a bench runs: a task started inside a timed firing is timed into its sink too."""
    sink = _FIRING.get()
    return asyncio.Task(coroutine if sink is None else _timed(coroutine, sink), loop=loop, **kwargs)


class UnbatchedEvaluator(AlertEvaluator):
    """The firing path before decision 0330 (the baseline): each alert a tick reaches is fired by the tick handler
    itself, awaited one at a time (a batch of one: the alert read, the notification's preferences, existence
    check, sequence, insert, signal, webhooks and push reads, the commit, its announcement), so the pub/sub
    reader waits for every firing's round trips."""

    async def on_tick(self, tick: Tick) -> None:
        timers = self._timers
        if timers and timers[0][0] <= self._clock():
            await self.tend()
        for firing in self.index.on_tick(tick):
            await self._fire_or_put_back([_Queued(firing.alert_id, firing.generation, partial(_price_outcome, firing))])


async def run_one(
    name: str,
    index: AlertIndex,
    url: str,
    redis_url: str,
    database: str,
    ticks: list[tuple[str, int, int]],
    rate: int,
    *,
    batched: bool = True,
) -> dict[str, Any]:
    """Run one evaluator over the ticks; return its figures and the set of fired alert ids."""
    settings = NotificationsSettings(
        mongo_url=url, redis_url=redis_url, mongo_database=database, token_secret=SecretStr("b" * 32)
    )
    app = bootstrap(settings)
    assert app.backplane is not None
    assert app.mongo is not None
    assert app.redis is not None
    evaluator = app.evaluator
    if not batched:
        evaluator.__class__ = UnbatchedEvaluator
    evaluator.index = index
    timed = _Timed(index)
    index.on_tick = timed.on_tick  # type: ignore[method-assign]
    latencies: list[float] = []
    fired: set[str] = set()
    firing_cpu = [0.0]
    fire_batch = evaluator._fire_or_put_back

    async def timed_firing(batch: Any) -> None:
        token = _FIRING.set(firing_cpu)
        try:
            await _StepTimed(fire_batch(batch), firing_cpu)
        finally:
            _FIRING.reset(token)

    evaluator._fire_or_put_back = timed_firing  # type: ignore[method-assign]
    asyncio.get_running_loop().set_task_factory(_timed_task)
    notify_many = app.notifier.notify_many

    async def notified(batch: Any) -> Any:
        results = await notify_many(batch)
        now = time.time_ns()
        for notification, _ in batch:
            latencies.append((now - timed.stamps[notification.alert_id]) / 1e6)
            fired.add(notification.alert_id)
        return results

    app.notifier.notify_many = notified  # type: ignore[method-assign]
    backplane = app.backplane
    backplane.on_tick = evaluator.on_tick
    backplane.on_alert_change = evaluator.announced
    backplane.on_connect = evaluator.load
    reader = asyncio.create_task(backplane.run())
    await asyncio.wait_for(backplane.connected.wait(), 300)
    while len(backplane.watched) < len(index.instruments()):  # noqa: ASYNC110 (a bench: no event to wait on)
        await asyncio.sleep(0.1)
    ready = multiprocessing.Event()
    feed = multiprocessing.Process(target=publish, args=(redis_url, ticks, rate, ready))
    feed.start()
    await asyncio.sleep(2)  # the feed encodes its bodies
    cpu_before, wall_before, received_before = time.process_time(), time.monotonic(), backplane.ticks_received
    overhead = timer_overhead()  # measured here, in this process's state, for each evaluator alike
    firing_cpu[0] = timed.cpu = 0.0
    timed.calls = 0
    batches_before = evaluator.batches
    ready.set()
    while feed.is_alive() or backplane.ticks_received < len(ticks):
        await asyncio.sleep(0.2)
        if not feed.is_alive() and time.monotonic() - wall_before > len(ticks) / rate + 120:
            break
    await evaluator.settled()
    cpu, wall = time.process_time() - cpu_before, time.monotonic() - wall_before
    received = backplane.ticks_received - received_before
    backplane.close()
    reader.cancel()
    await asyncio.gather(reader, return_exceptions=True)
    await evaluator.close()
    asyncio.get_running_loop().set_task_factory(None)
    await app.mongo.close()
    await app.redis.aclose()
    ordered = sorted(latencies)
    per_1000 = 1000 / max(1, received) * 1000
    return {
        "name": name,
        "received": received,
        "wall": wall,
        "cpu_per_1000": cpu * per_1000,
        # The timer's own cost per call subtracted: a tick reaching nothing takes a few µs, the clock reads ~1.
        "index_cpu_per_1000": (timed.cpu - timed.calls * overhead) * per_1000,
        "index_cpu_raw_per_1000": timed.cpu * per_1000,
        "timer_us": overhead * 1e6,
        "firing_cpu_per_1000": firing_cpu[0] * per_1000,
        "firing_cpu_each": firing_cpu[0] * 1000 / max(1, len(latencies)),
        "batches": evaluator.batches - batches_before,
        "p50": statistics.median(ordered) if ordered else 0.0,
        "p99": ordered[int(len(ordered) * 0.99)] if ordered else 0.0,
        "max": ordered[-1] if ordered else 0.0,
        "fired": fired,
        "reloads": evaluator.reloads,
    }


async def load(url: str, database: str, alerts: list[Alert]) -> None:
    """Write the alerts (and the indexes) into a fresh database."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, tz_aware=True)
    db = client[database]
    for collection in COLLECTIONS:
        await db.create_collection(collection)
    await ensure_indexes(db)
    documents = [_alert_document(alert) for alert in alerts]
    for start in range(0, len(documents), 5000):
        await db.notification_alerts.insert_many(documents[start : start + 5000])
    await client.close()


async def main_async(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    alerts, starts = make_alerts(args.alerts, args.instruments, args.users, rng)
    ticks = make_ticks(starts, args.rate * args.seconds, args.seed + 1)
    if not args.default_gc:
        # As the service's entry point (`run_service`) does before serving: freeze what exists (here the bench's
        # own alert and tick lists, which the service does not have) and make young collections rare.
        tune_gc(NotificationsSettings.model_fields["gc_young_threshold"].default)
    with (
        tempfile.TemporaryDirectory() as workdir,
        RedisServer(Path(workdir) / "redis") as redis_server,
        FerretDBServer(Path(workdir) / "db") as ferret,
    ):
        started = time.monotonic()
        for database in ("bench_index", "bench_unbatched", "bench_scan"):
            await load(ferret.url, database, alerts)
        print(f"loaded {len(alerts):,} alerts three times in {time.monotonic() - started:.0f} s")
        results = []
        for name, index, database, batched in (
            ("sorted levels, batched", AlertIndex(), "bench_index", True),
            ("sorted levels, unbatched", AlertIndex(), "bench_unbatched", False),
            ("scan every alert, batched", ScanIndex(), "bench_scan", True),
        ):
            results.append(
                await run_one(name, index, ferret.url, redis_server.url, database, ticks, args.rate, batched=batched)
            )
    first, before, scan = results
    for other in (before, scan):
        assert first["fired"] == other["fired"], (
            f"the evaluators disagree: {len(first['fired'] ^ other['fired'])} alerts fired by one only"
        )
    print(
        f"{args.alerts:,} alerts over {args.instruments:,} instruments for {args.users:,} users; "
        f"{len(ticks):,} ticks at {args.rate:,}/s; {len(first['fired']):,} alerts fired (the same set in each); "
        f"load average {' '.join(f'{value:.2f}' for value in os.getloadavg())}"
    )
    header = f"{'evaluator':<28}{'ticks':>8}{'CPU ms/1k ticks':>17}{'eval':>7}{'(raw)':>7}{'firing':>8}{'rest':>7}"
    print(header + f"{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'wall s':>8}{'batches':>9}{'reloads':>9}")
    for r in results:
        rest = r["cpu_per_1000"] - r["index_cpu_per_1000"] - r["firing_cpu_per_1000"]
        print(
            f"{r['name']:<28}{r['received']:>8,}{r['cpu_per_1000']:>17.1f}{r['index_cpu_per_1000']:>7.1f}"
            f"{r['index_cpu_raw_per_1000']:>7.1f}{r['firing_cpu_per_1000']:>8.1f}{rest:>7.1f}"
            f"{r['p50']:>9.1f}{r['p99']:>9.1f}{r['max']:>9.1f}{r['wall']:>8.1f}{r['batches']:>9,}{r['reloads']:>9,}"
        )
    print(
        "eval = (raw) less the timer's own cost per tick, measured before each run: "
        + " / ".join(f"{r['timer_us']:.2f}" for r in results)
        + f" µs; garbage collector: {'CPython defaults' if args.default_gc else 'as the service (tune_gc)'}"
    )
    print(
        "eval: AlertIndex.on_tick / the scan; firing: the firing batches' own CPU (per alert fired "
        f"{first['firing_cpu_each']:.2f} / {before['firing_cpu_each']:.2f} / {scan['firing_cpu_each']:.2f} ms: "
        "alerts read, notifications, commits, signals); rest: pub/sub reading, tick decoding, the event loop, "
        "change announcements (reloads: alerts re-read to follow announcements and lost races)"
    )
    print(
        f"batching: {before['cpu_per_1000'] / first['cpu_per_1000']:.1f}x less CPU whole process, "
        f"{before['firing_cpu_each'] / max(1e-9, first['firing_cpu_each']):.1f}x less per firing"
    )
    fixed = first["cpu_per_1000"] - first["index_cpu_per_1000"]
    scan_fixed = scan["cpu_per_1000"] - scan["index_cpu_per_1000"]
    print(
        f"CPU ratio (scan / sorted levels): {scan['cpu_per_1000'] / first['cpu_per_1000']:.1f}x whole process, "
        f"{scan['index_cpu_per_1000'] / max(1e-9, first['index_cpu_per_1000']):.1f}x evaluation only; "
        f"the part both pay (whole - evaluation): {fixed:.1f} sorted, {scan_fixed:.1f} scan ms/1k ticks"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--instruments", type=int, default=1_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=2_000, help="ticks per second")
    parser.add_argument("--seconds", type=int, default=30, help="how long the feed runs per evaluator")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument(
        "--default-gc", action="store_true", help="keep CPython's garbage-collector settings (not the service's)"
    )
    parser.add_argument("--small", action="store_true", help="2,000 alerts, 100 instruments, 200 users, 500/s, 10 s")
    args = parser.parse_args()
    if args.small:
        args.alerts, args.instruments, args.users, args.rate, args.seconds = 2_000, 100, 200, 500, 10
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
