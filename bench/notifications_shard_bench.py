"""Sharded tick evaluation (decision 0340): two notification replicas in two processes, each evaluating its share,
against two that each evaluate everything (the baseline, decision 0130) and against one.

    flock /tmp/trademesh-bench.lock .venv/bin/python -m bench.notifications_shard_bench        # full size
    .venv/bin/python -m bench.notifications_shard_bench --small                               # quick check

A private Redis and FerretDB (SQLite). `--alerts` one-shot alerts (as in `notifications_e2e_bench.py`: above and
below on the not-yet-reached side, crossings either side) over `--instruments` instruments are written to a fresh
database per setup. Each replica is its own *process* running the service's real path — `bootstrap` (Mongo stores,
the Redis backplane, with or without the `Shard` and its Redis membership), `AlertEvaluator.load`, the pub/sub
reader, the membership beats — and a publisher process sends the same seeded random walk (±0.2 % per tick) at
`--rate` ticks/s for `--seconds` s on `md:tick:<instrument>` in market data's payload layout. Setups:

- **one replica** (sharding on, alone: it owns everything);
- **two replicas, unsharded** (`TRADEMESH_NOTIFICATIONS_SHARDING=false`: each subscribes and evaluates every
  instrument and both race to fire each alert; the baseline);
- **two replicas, sharded** (rendezvous hashing over the two live members).

`--far` puts every level far outside the walk (nothing fires): the cost of the ticks alone, without the firing
writes and the announcements they cause.

Reported per replica and in total: ticks received, the replica process's CPU (time.process_time over the feed plus
the drain; the publisher, Redis and FerretDB are other processes), CPU per 1,000 ticks *published* (comparable
across setups: the work the feed costs the deployment) and per 1,000 ticks received, and the alerts the replica
fired (won the commit) and re-read (following the other replica's announcements). Every setup must fire the same
number of alerts (asserted).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import multiprocessing
import random
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bench.notifications_e2e_bench import load, make_alerts, make_ticks, publish
from trademesh.devstack.processes import FerretDBServer, RedisServer
from trademesh.services.notifications.model import AlertCondition
from trademesh.services.notifications.server import bootstrap
from trademesh.services.notifications.settings import NotificationsSettings
from trademesh.services.notifications.sharding import join


def replica_main(url: str, redis_url: str, database: str, sharding: bool, replicas: int, conn: Connection) -> None:
    """One replica's process: run the evaluation until told to stop, then send its figures."""
    asyncio.run(_replica(url, redis_url, database, sharding, replicas, conn))


async def _replica(url: str, redis_url: str, database: str, sharding: bool, replicas: int, conn: Connection) -> None:
    settings = NotificationsSettings(
        mongo_url=url,
        redis_url=redis_url,
        mongo_database=database,
        token_secret=SecretStr("b" * 32),
        notifications_sharding=sharding,
    )
    app = bootstrap(settings)
    backplane, evaluator, shard = app.backplane, app.evaluator, app.shard
    assert backplane is not None
    assert app.mongo is not None
    assert app.redis is not None
    backplane.on_tick = evaluator.on_tick
    backplane.on_alert_change = evaluator.announced
    backplane.on_connect = evaluator.load
    tasks = []
    if shard is not None:
        await join(shard)
        tasks.append(asyncio.create_task(shard.run(settings.notifications_member_timeout_seconds / 3)))
    tasks.append(asyncio.create_task(backplane.run()))
    await asyncio.wait_for(backplane.connected.wait(), 300)

    def settled() -> bool:
        if not backplane.watched:
            return False
        if shard is None or app.sharded_ticks is None:
            return len(backplane.watched) == len(evaluator.index.instruments())
        return len(shard.members) == replicas and backplane.watched == app.sharded_ticks.subscribed

    while not settled():  # noqa: ASYNC110 (a bench: no event to wait on)
        await asyncio.sleep(0.1)
    conn.send(("ready", len(backplane.watched)))
    assert await asyncio.to_thread(conn.recv) == "go"
    cpu_before, received_before, fired_before = time.process_time(), backplane.ticks_received, evaluator.fired
    reloads_before, watched = evaluator.reloads, len(backplane.watched)
    assert await asyncio.to_thread(conn.recv) == "stop"
    seen = -1
    while seen != backplane.ticks_received:  # drain: until a second passes without a tick
        seen = backplane.ticks_received
        await asyncio.sleep(1.0)
    await evaluator.settled()  # the firing task fired what the last ticks queued (decision 0330)
    cpu = time.process_time() - cpu_before  # the drain's idle seconds cost (next to) no CPU
    figures = {
        "received": backplane.ticks_received - received_before,
        "cpu": cpu,
        "fired": evaluator.fired - fired_before,
        "reloads": evaluator.reloads - reloads_before,
        "watched": watched,
    }
    if shard is not None:
        await shard.leave()
    backplane.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await app.mongo.close()
    await app.redis.aclose()
    conn.send(("figures", figures))


def run_setup(
    name: str, url: str, redis_url: str, database: str, sharding: bool, replicas: int, ticks: Any, rate: int
) -> dict[str, Any]:
    """Start the replicas, feed the ticks, collect each replica's figures."""
    context = multiprocessing.get_context("spawn")
    pipes, processes = [], []
    for _ in range(replicas):
        parent, child = context.Pipe()
        process = context.Process(target=replica_main, args=(url, redis_url, database, sharding, replicas, child))
        process.start()
        pipes.append(parent)
        processes.append(process)
    try:
        for pipe in pipes:
            if not pipe.poll(300):
                raise RuntimeError(f"{name}: a replica did not settle")
            assert pipe.recv()[0] == "ready"
        ready = context.Event()
        feed = context.Process(target=publish, args=(redis_url, ticks, rate, ready))
        feed.start()
        time.sleep(2)  # the feed encodes its bodies
        for pipe in pipes:
            pipe.send("go")
        ready.set()
        feed.join()
        for pipe in pipes:
            pipe.send("stop")
        figures = []
        for pipe in pipes:
            if not pipe.poll(600):
                raise RuntimeError(f"{name}: a replica did not report")
            kind, values = pipe.recv()
            assert kind == "figures"
            figures.append(values)
    finally:
        for process in processes:
            process.join(30)
            if process.is_alive():
                process.kill()
    return {"name": name, "replicas": figures}


async def _load_all(url: str, databases: list[str], alerts: Any) -> None:
    for database in databases:
        await load(url, database, alerts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=20_000)
    parser.add_argument("--instruments", type=int, default=500)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--rate", type=int, default=1_000, help="ticks per second")
    parser.add_argument("--seconds", type=int, default=20, help="how long the feed runs per setup")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument(
        "--far", action="store_true", help="levels far from the walk (start x3 or /3): nothing fires, ticks only"
    )
    parser.add_argument("--small", action="store_true", help="1,000 alerts, 50 instruments, 300/s, 5 s")
    args = parser.parse_args()
    if args.small:
        args.alerts, args.instruments, args.users, args.rate, args.seconds = 1_000, 50, 100, 300, 5
    rng = random.Random(args.seed)
    alerts, starts = make_alerts(args.alerts, args.instruments, args.users, rng)
    if args.far:
        alerts = [
            dataclasses.replace(
                alert,
                level_micros=starts[alert.instrument.key] // 3
                if alert.condition is AlertCondition.PRICE_BELOW
                else starts[alert.instrument.key] * 3,
            )
            for alert in alerts
        ]
    ticks = make_ticks(starts, args.rate * args.seconds, args.seed + 1)
    setups = [
        ("one replica", "shard_one", True, 1),
        ("two replicas, unsharded (baseline)", "shard_off", False, 2),
        ("two replicas, sharded", "shard_two", True, 2),
    ]
    with (
        tempfile.TemporaryDirectory() as workdir,
        RedisServer(Path(workdir) / "redis") as redis_server,
        FerretDBServer(Path(workdir) / "db") as ferret,
    ):
        asyncio.run(_load_all(ferret.url, [database for _, database, _, _ in setups], alerts))
        results = [
            run_setup(name, ferret.url, redis_server.url, database, sharding, replicas, ticks, args.rate)
            for name, database, sharding, replicas in setups
        ]
    published = len(ticks)
    fired = {sum(r["fired"] for r in result["replicas"]) for result in results}
    assert len(fired) == 1, f"the setups fired different numbers of alerts: {fired}"
    assert not args.far or fired == {0}
    print(
        f"{args.alerts:,} alerts over {args.instruments:,} instruments; {published:,} ticks at {args.rate:,}/s; "
        f"{fired.pop():,} alerts fired in each setup"
    )
    print(
        f"{'setup':<38}{'replica':>8}{'instruments':>12}{'ticks recv':>11}{'CPU s':>8}"
        f"{'ms/1k published':>17}{'ms/1k recv':>11}{'fired':>7}{'reloads':>9}"
    )
    for result in results:
        replicas = result["replicas"]
        for number, r in enumerate(replicas, 1):
            print(
                f"{result['name']:<38}{number:>8}{r['watched']:>12,}{r['received']:>11,}{r['cpu']:>8.2f}"
                f"{r['cpu'] * 1e6 / published:>17.1f}{r['cpu'] * 1e6 / max(1, r['received']):>11.1f}{r['fired']:>7,}"
                f"{r['reloads']:>9,}"
            )
        cpu = sum(r["cpu"] for r in replicas)
        received = sum(r["received"] for r in replicas)
        print(
            f"{result['name']:<38}{'total':>8}{'':>12}{received:>11,}{cpu:>8.2f}{cpu * 1e6 / published:>17.1f}"
            f"{cpu * 1e6 / max(1, received):>11.1f}{sum(r['fired'] for r in replicas):>7,}"
            f"{sum(r['reloads'] for r in replicas):>9,}"
        )
    print(
        "instruments: subscribed when the feed started; reloads: alerts re-read to follow another replica's "
        "announcement (each firing is announced; every replica indexes every alert, decision 0130)"
    )


if __name__ == "__main__":
    main()
