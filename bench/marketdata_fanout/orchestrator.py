# ruff: noqa: ASYNC240 - processes coordinate through small files polled every 50 ms; blocking is nil.
"""The orchestrator: start each variant's processes, drive the run, summarise and print the table."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.marketdata_fanout.common import (
    HOST,
    MAX_LATENCY_MS,
    ROOT,
    cpu_seconds,
    percentile,
    rss_mib,
    sleep_until,
    stream_symbols,
    write_universe,
)


class Child:
    """A child process of this script or of a service module, logged to a file."""

    def __init__(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log
        with log.open("ab") as output:
            self.process = subprocess.Popen(argv, cwd=ROOT, stdout=output, stderr=output, env=env or os.environ.copy())

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, sig: int = signal.SIGTERM, wait: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(wait)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def self_argv(role: str, **options: Any) -> list[str]:
    argv = [sys.executable, "-m", "bench.marketdata_fanout", "--role", role]  # run in ROOT
    for key, value in options.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    return argv


async def wait_port(port: int, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection(HOST, port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.2)
    raise RuntimeError(f"nothing listens on port {port}")


def summarise(name: str, outs: list[Path], truth: dict[str, list[int]], args: argparse.Namespace) -> dict[str, Any]:
    seconds = args.seconds
    histogram = [0] * (MAX_LATENCY_MS + 1)
    updates = messages = errors = opened = 0
    first_error = ""
    streams_latest = streams_total = symbols_stale = 0
    for out in outs:
        if not out.exists():
            errors += 1
            first_error = first_error or f"{out.name} missing (client crashed?)"
            continue
        data = json.loads(out.read_text())
        updates += data["updates"]
        messages += data["messages"]
        errors += data["errors"]
        opened += data["opened"]
        first_error = first_error or data["first_error"]
        for bucket, count in enumerate(data["histogram"]):
            if count:
                histogram[bucket] += count
        for stream, state in data["final"].items():
            streams_total += 1
            # Every symbol the stream asked for, so a stream that never got one (not even its snapshot)
            # counts as behind on it.
            wanted = stream_symbols(int(stream), args.symbols, args.symbols_per_stream)
            behind = sum(1 for token in wanted if truth.get(str(token)) != state.get(str(token)))
            symbols_stale += behind
            streams_latest += behind == 0
    return {
        "variant": name,
        "streams_opened": opened,
        "updates_per_s": updates / seconds,
        "messages_per_s": messages / seconds,
        "p50_ms": percentile(histogram, 0.50),
        "p99_ms": percentile(histogram, 0.99),
        "latency_samples": sum(histogram),
        "streams_with_latest": streams_latest,
        "streams": streams_total,
        "symbols_behind": symbols_stale,
        "errors": errors,
        "first_error": first_error,
    }


async def orchestrate(args: argparse.Namespace) -> None:
    from bench.stack import auth_service
    from trademesh.devstack.processes import FerretDBServer, RedisServer, find_free_port
    from trademesh.marketdata.v1 import quote_pb2
    from trademesh.services.marketdata.backplane import RedisQuoteCache
    from trademesh.services.marketdata.model import Mode

    work = Path(tempfile.mkdtemp(prefix="md-bench-"))
    universe = work / "universe.csv"
    write_universe(universe, args.symbols)
    results: list[dict[str, Any]] = []
    idle: dict[str, float] = {}
    shards = [
        (args.streams * i // args.client_processes, args.streams * (i + 1) // args.client_processes)
        for i in range(args.client_processes)
    ]
    print(
        f"# {args.streams} streams x {args.symbols_per_stream} symbols, {args.ticks_per_second:.0f} ticks/s over "
        f"{args.symbols} symbols, {args.seconds:.0f} s window, {args.client_processes} client processes, "
        f"gRPC rate {args.rate or 'default (8)'}/s per instrument, {args.replicas} market-data replica(s), "
        f"{os.cpu_count()} CPUs; logs in {work}",
        flush=True,
    )
    with RedisServer(work / "redis") as redis_server, FerretDBServer(work / "ferretdb") as database:
        auth_exit = contextlib.AsyncExitStack()
        stack_auth = await auth_exit.enter_async_context(
            auth_service(work, database.url, redis_server.url, access_token_ttl_seconds=3600)
        )
        auth = stack_auth.host
        token = (await stack_auth.register("fanout_trader", email="trader@example.com")).tokens.access_token
        common = {
            "symbols": args.symbols,
            "per_stream": args.symbols_per_stream,
            "seconds": args.seconds,
            "drain": args.drain,
            "sample_every": args.sample_every,
            "rate": args.rate,
        }

        def service_env(**extra: Any) -> dict[str, str]:
            values = {
                "grpc_host": HOST,
                "redis_url": redis_server.url,
                "mongo_url": database.url,
                "mongo_database": "bench_md",
                # Every replica must share the page/resume-token secret (32+ characters); any fixed one will do here.
                "token_secret": "bench-md-token-secret-0123456789abcdef",
                "auth_target": f"{HOST}:{auth.port}",
                "universe_file": universe,
                "session_policy": "always_open",
                "ingest_enabled": "false",
                "max_streams_per_user": 100_000,
                "simulator_seed": args.seed,
                "simulator_ticks_per_second": args.ticks_per_second,
                "simulator_burstiness": args.burstiness,
                "log_level": "WARNING",
                **extra,
            }
            return {**os.environ, **{f"TRADEMESH_{k.upper()}": str(v) for k, v in values.items()}}

        async def run_clients(variant: str, role: str, port: int, server_pids: list[int]) -> list[Path]:
            start = time.time() + args.setup
            outs = [work / f"{variant}-client-{i}.json" for i in range(len(shards))]
            clients = [
                Child(
                    self_argv(
                        role,
                        target=f"{HOST}:{port}",
                        port=port,
                        token=token if variant == "service" else "",
                        first=first,
                        last=last,
                        start=start,
                        out=out,
                        channels=args.channels,
                        **common,
                    ),
                    work / f"{variant}-client-{i}.log",
                )
                for i, ((first, last), out) in enumerate(zip(shards, outs, strict=True))
            ]
            await sleep_until(start)
            before = sum(cpu_seconds(pid) for pid in server_pids)
            client_before = sum(cpu_seconds(c.pid) for c in clients)
            await sleep_until(start + args.seconds)
            used = sum(cpu_seconds(pid) for pid in server_pids) - before
            client_used = sum(cpu_seconds(c.pid) for c in clients) - client_before
            rss = sum(rss_mib(pid) for pid in server_pids)
            for client in clients:
                await asyncio.to_thread(client.process.wait, args.drain + 60)
            resources[variant] = {
                "server_cpu_percent": 100 * used / args.seconds,
                "client_cpu_percent": 100 * client_used / args.seconds,
                "server_rss_mib": rss,
            }
            return outs

        resources: dict[str, dict[str, float]] = {}

        async def idle_memory(variant: str, role: str, port: int, pids: list[int]) -> None:
            # Memory per idle stream: RSS with --idle-streams open streams (no ticks) minus RSS before.
            before = sum(rss_mib(pid) for pid in pids)
            start = time.time() + args.idle_setup
            out = work / f"{variant}-idle.json"
            client = Child(
                self_argv(
                    role,
                    target=f"{HOST}:{port}",
                    port=port,
                    token=token if variant == "service" else "",
                    first=0,
                    last=args.idle_streams,
                    start=start,
                    out=out,
                    channels=args.channels,
                    **{**common, "seconds": 2, "drain": 0},
                ),
                work / f"{variant}-idle.log",
            )
            await sleep_until(start + 1)
            after = sum(rss_mib(pid) for pid in pids)
            await asyncio.to_thread(client.process.wait, 60)
            opened = json.loads(out.read_text())["opened"] if out.exists() else 0
            idle[variant] = (after - before) * 1024 / max(opened, 1)

        # (a) the service: replica + dedicated ingest through Redis.
        if "service" in args.variants:
            port = find_free_port()
            # --replicas > 1: replica processes sharing the port (SO_REUSEPORT, gRPC's default on
            # Linux), the kernel spreading the client connections over them like a Service would.
            replicas = [
                Child(
                    [sys.executable, "-m", "trademesh.services.marketdata"],
                    work / f"service-replica-{index}.log",
                    service_env(grpc_port=port),
                )
                for index in range(args.replicas)
            ]
            await wait_port(port)
            await asyncio.sleep(1.0)
            await idle_memory("service", "grpc-client", port, [replica.pid for replica in replicas])
            ingest = Child(
                [sys.executable, "-m", "trademesh.services.marketdata.ingest"],
                work / "service-ingest.log",
                service_env(),
            )
            redis_pid = redis_server.pid or 0
            stopper = asyncio.create_task(_stop_later(ingest, args.setup + args.seconds))
            pids = [replica.pid for replica in replicas] + [ingest.pid, redis_pid]
            outs = await run_clients("service", "grpc-client", port, pids)
            await stopper
            from trademesh.services.core.connections import build_redis
            from trademesh.services.core.settings import CoreSettings

            redis = build_redis(CoreSettings(redis_url=redis_server.url))
            quotes = await RedisQuoteCache(redis).get_many([f"NSE:SIM{i:04d}" for i in range(1, args.symbols + 1)])
            await redis.aclose()
            truth = {}
            for quote in quotes.values():
                message = quote_pb2.Quote.FromString(quote.body(Mode.LTP))
                truth[str(message.instrument_token)] = [message.sequence, message.last_price_micros]
            results.append(summarise("service", outs, truth, args))
            for replica in replicas:
                replica.stop()
            await _flush_redis(redis_server.url)

        # (b) bare grpc.aio from memory; (c) Socket.IO with the Redis manager.
        for variant, server_role, client_role in (
            ("bare", "bare-server", "grpc-client"),
            ("socketio", "socketio-server", "socketio-client"),
        ):
            if variant not in args.variants:
                continue
            port = find_free_port()
            truth_file = work / f"{variant}-truth.json"
            server = Child(
                self_argv(
                    server_role,
                    port=port,
                    universe=universe,
                    seed=args.seed,
                    ticks_per_second=args.ticks_per_second,
                    burstiness=args.burstiness,
                    truth=truth_file,
                    redis_url=redis_server.url,
                ),
                work / f"{variant}-server.log",
            )
            await wait_port(port)
            if variant == "bare":
                await idle_memory(variant, client_role, port, [server.pid])
            Path(str(truth_file) + ".go").touch()
            pids = [server.pid] + ([redis_server.pid or 0] if variant == "socketio" else [])
            # The server's feed runs until it reads the stop file (the window's end).
            stop_file = Path(str(truth_file) + ".stop")
            stopper = asyncio.create_task(_touch_later(stop_file, args.setup + args.seconds))
            outs = await run_clients(variant, client_role, port, pids)
            await stopper
            for _ in range(100):
                if truth_file.exists():
                    break
                await asyncio.sleep(0.1)
            truth = json.loads(truth_file.read_text())["truth"] if truth_file.exists() else {}
            results.append(summarise(variant, outs, truth, args))
            server.stop(signal.SIGKILL)
            await _flush_redis(redis_server.url)
        await auth_exit.aclose()

    print_table(results, resources, idle, args)


async def _stop_later(child: Child, delay: float) -> None:
    await asyncio.sleep(delay)
    await asyncio.to_thread(child.stop)


async def _touch_later(path: Path, delay: float) -> None:
    await asyncio.sleep(delay)
    path.touch()


async def _flush_redis(url: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    await client.flushall()
    await client.aclose()


def print_table(
    results: list[dict[str, Any]], resources: dict[str, dict[str, float]], idle: dict[str, float], args: Any
) -> None:
    header = (
        f"{'variant':<9} {'streams':>7} {'updates/s':>10} {'msgs/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'latest':>11} {'srv CPU%':>8} {'cli CPU%':>8} {'srv RSS MiB':>11} {'idle KiB/stream':>15} errors"
    )
    print(header)
    print("-" * len(header))
    for row in results:
        res = resources.get(row["variant"], {})
        idle_kib = idle.get(row["variant"])
        print(
            f"{row['variant']:<9} {row['streams_opened']:>7} "
            f"{row['updates_per_s']:>10.0f} {row['messages_per_s']:>8.0f} "
            f"{row['p50_ms']:>7.0f} {row['p99_ms']:>7.0f} "
            f"{str(row['streams_with_latest']) + '/' + str(row['streams']):>11} "
            f"{res.get('server_cpu_percent', 0):>8.0f} {res.get('client_cpu_percent', 0):>8.0f} "
            f"{res.get('server_rss_mib', 0):>11.0f} {'' if idle_kib is None else f'{idle_kib:.1f}':>15} "
            f"{row['errors']} {row['first_error'][:60]}"
        )
    by = {row["variant"]: row for row in results}
    if "service" in by and "socketio" in by and by["socketio"]["updates_per_s"]:
        a, c = by["service"], by["socketio"]
        print(
            f"service / socketio updates/s: {a['updates_per_s'] / c['updates_per_s']:.2f}x (target >= 2x, "
            f"at p99 {a['p99_ms']:.0f} vs {c['p99_ms']:.0f} ms)"
        )
    if "service" in by and "bare" in by and by["bare"]["updates_per_s"]:
        a, b = by["service"], by["bare"]
        print(f"service / bare updates/s: {a['updates_per_s'] / b['updates_per_s']:.2f} (target >= 0.6)")
    if args.json:
        print(json.dumps({"results": results, "resources": resources, "idle_kib_per_stream": idle}, indent=2))
