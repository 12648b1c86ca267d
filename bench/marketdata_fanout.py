# ruff: noqa: ASYNC110, ASYNC240 - processes coordinate through small files polled every 50 ms; blocking is nil.
"""Quote fan-out, side by side: the market-data service vs a bare grpc.aio server vs the Socket.IO design.

Run `.venv/bin/python bench/marketdata_fanout.py` (`--help` for the knobs). The script orchestrates
itself: it starts a private Redis and FerretDB, the auth service (in this process, for tokens), then,
one variant at a time, the server side as child processes and the load as client processes (this
same script with `--role ...`), and prints one table. It is a report, not a test: exit code 0.

Every variant gets the same tick sequence: the simulated NSE market (`SimulatedMarket`, same seed,
rate and burstiness, 10 ms emission batches) over a generated universe of `--symbols` instruments.
Each of `--streams` streams watches `--symbols-per-stream` instruments (a seeded random sample per
stream, the same for every variant). Ticks before the window are warm-up; the feed stops at the end
of the window; clients then drain for `--drain` seconds and report their final state.

Variants:
- `service`: the market-data service as deployed: one replica process
  (`python -m trademesh.services.marketdata`, interceptors, auth with a real token) plus the
  dedicated ingest process (`python -m trademesh.services.marketdata.ingest`), through Redis. Its
  defaults: QUOTE mode, 8 updates/s per instrument, batches every 125 ms with per-instrument
  conflation.
- `bare`: the limit: `grpc.aio.server()` without interceptors, auth or Redis; the feed in-process;
  the same stream code (`QuoteStream`), so the same messages and framing.
- `socketio`: the seed's design: python-socketio (aiohttp) with `AsyncRedisManager`, one room per
  symbol, a 200 ms per-symbol server-side throttle (trailing edge, so the last price is always sent),
  one JSON message per symbol update per client; clients join their symbols' rooms.

Tick-to-client latency = client receive wall time - the tick's exchange timestamp (set by the feed
when it generated the tick), over every quote in a sample of messages (1 in `--sample-every`).
"Latest" = every stream ends holding the last tick (sequence and price) of each of its symbols.
CPU is user+system of the server-side processes (replica + ingest + Redis for `service`; server +
Redis for `socketio`; the server for `bare`) over the window, in % of one core; RSS at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
MAX_LATENCY_MS = 60_000
METHOD = "/trademesh.marketdata.v1.MarketDataService/SubscribeQuotes"


# ----------------------------------------------------------------------------------------- common


def write_universe(path: Path, count: int) -> None:
    """Write a universe of `count` NSE instruments with tokens 1..count."""
    rng = random.Random(2024)
    lines = ["exchange,symbol,instrument_token,tick_size,previous_close"]
    for index in range(1, count + 1):
        price = rng.randint(100, 5000) * 20  # whole multiples of 0.05 INR, in paise / 5
        lines.append(f"NSE,SIM{index:04d},{index},0.05,{price // 20}.{(price % 20) * 5:02d}")
    path.write_text("\n".join(lines) + "\n")


def stream_symbols(stream: int, symbols: int, per_stream: int) -> list[int]:
    """Return the tokens (1-based) stream `stream` watches."""
    return sorted(token + 1 for token in random.Random(stream).sample(range(symbols), per_stream))


def cpu_seconds(pid: int) -> float:
    """Return user+system CPU seconds of a process (0 when gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    """Return the resident set size of a process in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def percentile(histogram: Sequence[int], fraction: float) -> float:
    """Return the percentile (ms) of a 1-ms-bucket histogram."""
    total = sum(histogram)
    if not total:
        return float("nan")
    threshold = fraction * total
    running = 0
    for bucket, count in enumerate(histogram):
        running += count
        if running >= threshold:
            return float(bucket)
    return float(len(histogram))


async def sleep_until(wall: float) -> None:
    """Sleep until the wall-clock time `wall`."""
    delay = wall - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


async def wait_go(truth: str) -> None:
    """Wait for the orchestrator's `<truth>.go` file: the feed starts after the idle-memory check."""
    while not Path(truth + ".go").exists():
        await asyncio.sleep(0.05)


class Tally:
    """What one client process measured."""

    def __init__(self, start: float, end: float) -> None:
        self.start, self.end = start, end
        self.updates = 0
        self.messages = 0
        self.errors = 0
        self.first_error = ""
        self.histogram = [0] * (MAX_LATENCY_MS + 1)
        self.sampled = 0
        self.opened = 0

    def as_dict(self, final: dict[int, dict[int, list[int]]]) -> dict[str, Any]:
        return {
            "updates": self.updates,
            "messages": self.messages,
            "errors": self.errors,
            "first_error": self.first_error,
            "histogram": self.histogram,
            "opened": self.opened,
            "final": {str(stream): {str(k): v for k, v in state.items()} for stream, state in final.items()},
        }


# ----------------------------------------------------------------------------------- gRPC clients


async def grpc_client(args: argparse.Namespace) -> None:
    """Open streams [first, last), record until the window ends plus the drain, dump JSON."""
    from grpc import aio

    from trademesh.common.v1 import instrument_pb2
    from trademesh.marketdata.v1 import marketdata_service_pb2

    tally = Tally(args.start, args.start + args.seconds)
    final: dict[int, dict[int, list[int]]] = {}
    metadata = (("authorization", f"Bearer {args.token}"),) if args.token else ()
    channels = [
        aio.insecure_channel(args.target, options=[("grpc.use_local_subchannel_pool", 1)]) for _ in range(args.channels)
    ]
    stop_at = args.start + args.seconds + args.drain
    sample_every = args.sample_every

    async def one(stream: int) -> None:
        tokens = stream_symbols(stream, args.symbols, args.per_stream)
        request = marketdata_service_pb2.SubscribeQuotesRequest(
            instruments=[
                instrument_pb2.Instrument(symbol=f"SIM{t:04d}", exchange=instrument_pb2.EXCHANGE_NSE) for t in tokens
            ],
            max_updates_per_second=args.rate,
        )
        channel = channels[stream % len(channels)]
        call = channel.unary_stream(
            METHOD,
            request_serializer=marketdata_service_pb2.SubscribeQuotesRequest.SerializeToString,
            response_deserializer=marketdata_service_pb2.SubscribeQuotesResponse.FromString,
        )(request, metadata=metadata)
        state: dict[int, list[int]] = {}
        final[stream] = state
        counter = stream
        try:
            first = True
            async for response in call:
                if first:
                    tally.opened += 1
                    first = False
                if not response.HasField("batch"):
                    continue
                quotes = response.batch.quotes
                now = time.time_ns()
                if tally.start * 1e9 <= now < tally.end * 1e9 and not response.batch.snapshot:
                    tally.updates += len(quotes)
                    tally.messages += 1
                    counter += 1
                    if counter % sample_every == 0:
                        histogram = tally.histogram
                        for quote in quotes:
                            ms = (now - quote.exchange_time.ToNanoseconds()) // 1_000_000
                            histogram[min(max(ms, 0), MAX_LATENCY_MS)] += 1
                            tally.sampled += 1
                for quote in quotes:
                    state[quote.instrument_token] = [quote.sequence, quote.last_price_micros]
        except aio.AioRpcError as error:
            if error.code().name != "CANCELLED":
                tally.errors += 1
                tally.first_error = tally.first_error or f"{error.code().name}: {error.details()}"

    tasks = []
    for stream in range(args.first, args.last):
        tasks.append(asyncio.create_task(one(stream)))
        if len(tasks) % 50 == 0:
            await asyncio.sleep(0.05)  # open gradually
    await sleep_until(stop_at)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    Path(args.out).write_text(json.dumps(tally.as_dict(final)))
    for channel in channels:
        await channel.close(None)


# ------------------------------------------------------------------------------ bare gRPC server


async def bare_server(args: argparse.Namespace) -> None:
    """Serve SubscribeQuotes from memory with the service's stream code: no Redis, no interceptors."""
    import grpc
    from grpc import aio

    from trademesh.marketdata.v1 import marketdata_service_pb2
    from trademesh.services.marketdata.feeds import SimulatedFeed
    from trademesh.services.marketdata.mapping import EXCHANGE_FROM_PROTO, MODES, EncodedQuote, serialize_response
    from trademesh.services.marketdata.model import (
        InstrumentKey,
        Mode,
        Normaliser,
        Quote,
        SessionPolicy,
        SimulationParameters,
        Source,
        StreamPolicy,
        SymbolUniverse,
    )
    from trademesh.services.marketdata.ports import WireQuote
    from trademesh.services.marketdata.streams import QuoteStream

    universe = SymbolUniverse.from_csv(Path(args.universe))
    policy = StreamPolicy(
        universe,
        batch_interval=0.1,
        heartbeat=15.0,
        session_policy=SessionPolicy.ALWAYS_OPEN,
        stale_after=30.0,
        source=Source.SIMULATED,
    )
    latest: dict[str, EncodedQuote] = {}
    audiences: dict[str, set[QuoteStream]] = {}

    async def read(names: Sequence[str]) -> dict[str, WireQuote]:
        return {name: latest[name] for name in names if name in latest}

    async def subscribe(request: Any, context: Any) -> Any:
        names = [f"{EXCHANGE_FROM_PROTO[i.exchange]}:{i.symbol}" for i in request.instruments]
        rate = request.max_updates_per_second or 4
        stream = QuoteStream(names, Mode.QUOTE, min(rate, 10), policy)
        for name in names:
            audiences.setdefault(name, set()).add(stream)
        try:
            async for message in stream.messages(read):
                yield message
        finally:
            for name in names:
                audiences[name].discard(stream)

    server = aio.server()
    handler = grpc.unary_stream_rpc_method_handler(
        subscribe,
        request_deserializer=marketdata_service_pb2.SubscribeQuotesRequest.FromString,
        response_serializer=serialize_response,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(METHOD.split("/")[1], {"SubscribeQuotes": handler}),)
    )
    server.add_insecure_port(f"{HOST}:{args.port}")
    await server.start()
    await wait_go(args.truth)
    feed = SimulatedFeed(
        universe,
        SimulationParameters(seed=args.seed, ticks_per_second=args.ticks_per_second, burstiness=args.burstiness),
        SessionPolicy.ALWAYS_OPEN,
    )
    normaliser = Normaliser(universe, Source.SIMULATED)
    previous: dict[InstrumentKey, Quote] = {}
    async for batch in feed.batches():
        if time.time() >= args.stop_at:
            break
        now = time.time_ns()
        for tick in batch:
            quote = normaliser.normalise(tick, now)
            if quote is None:
                continue
            before = previous.get(quote.key)
            previous[quote.key] = quote
            changed = [m for m in MODES if before is None or before.mode_view(m) != quote.mode_view(m)]
            update = EncodedQuote.encode(quote, changed)
            latest[update.key] = update
            for stream in audiences.get(update.key, ()):
                stream.deliver(update)
    truth = {str(q.token): [q.sequence, q.last_price_micros] for q in previous.values()}
    Path(args.truth).write_text(json.dumps({"truth": truth, "ticks": feed.ticks_emitted}))
    await asyncio.Event().wait()


# -------------------------------------------------------------------------- Socket.IO server/client


async def socketio_server(args: argparse.Namespace) -> None:
    """The seed's design: rooms per symbol, a 200 ms per-symbol throttle, the Redis manager."""
    import socketio  # type: ignore[import-untyped]
    from aiohttp import web

    from trademesh.services.marketdata.feeds import SimulatedFeed
    from trademesh.services.marketdata.model import (
        Normaliser,
        SessionPolicy,
        SimulationParameters,
        Source,
        SymbolUniverse,
    )

    manager = socketio.AsyncRedisManager(args.redis_url)
    sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=manager, cors_allowed_origins="*")
    app = web.Application()
    sio.attach(app)

    @sio.on("subscribe")  # type: ignore[untyped-decorator]
    async def on_subscribe(sid: str, symbols: list[str]) -> None:
        for symbol in symbols:
            await sio.enter_room(sid, symbol)

    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, HOST, args.port).start()

    universe = SymbolUniverse.from_csv(Path(args.universe))
    await wait_go(args.truth)
    feed = SimulatedFeed(
        universe,
        SimulationParameters(seed=args.seed, ticks_per_second=args.ticks_per_second, burstiness=args.burstiness),
        SessionPolicy.ALWAYS_OPEN,
    )
    normaliser = Normaliser(universe, Source.SIMULATED)
    throttle = 0.2
    next_allowed: dict[str, float] = {}
    dirty: dict[str, dict[str, Any]] = {}
    truth: dict[str, list[int]] = {}

    async def emit(symbol: str, payload: dict[str, Any]) -> None:
        next_allowed[symbol] = time.monotonic() + throttle
        await sio.emit("quote", payload, room=symbol)

    async def flush_trailing() -> None:
        while True:
            await asyncio.sleep(0.02)
            now = time.monotonic()
            for symbol in [s for s in dirty if next_allowed.get(s, 0) <= now]:
                await emit(symbol, dirty.pop(symbol))

    flusher = asyncio.create_task(flush_trailing())
    async for batch in feed.batches():
        if time.time() >= args.stop_at:
            break
        now_ns = time.time_ns()
        for tick in batch:
            quote = normaliser.normalise(tick, now_ns)
            if quote is None:
                continue
            symbol = quote.key.symbol
            payload = {
                "symbol": symbol,
                "token": quote.token,
                "sequence": quote.sequence,
                "last_price_micros": quote.last_price_micros,
                "exchange_time_ns": quote.exchange_time_ns,
                "volume": quote.volume,
                "bid_price_micros": quote.bid_price_micros,
                "ask_price_micros": quote.ask_price_micros,
                "open_micros": quote.open_micros,
                "high_micros": quote.high_micros,
                "low_micros": quote.low_micros,
                "close_micros": quote.close_micros,
                "change_micros": quote.change_micros,
            }
            truth[str(quote.token)] = [quote.sequence, quote.last_price_micros]
            if next_allowed.get(symbol, 0) <= time.monotonic():
                dirty.pop(symbol, None)
                await emit(symbol, payload)
            else:
                dirty[symbol] = payload
    while dirty:
        await asyncio.sleep(0.05)
    flusher.cancel()
    Path(args.truth).write_text(json.dumps({"truth": truth, "ticks": feed.ticks_emitted}))
    await asyncio.Event().wait()


async def socketio_client(args: argparse.Namespace) -> None:
    """One Socket.IO client (websocket transport) per stream, joined to its symbols' rooms."""
    import socketio

    tally = Tally(args.start, args.start + args.seconds)
    final: dict[int, dict[int, list[int]]] = {}
    stop_at = args.start + args.seconds + args.drain
    clients: list[Any] = []

    async def one(stream: int) -> None:
        tokens = stream_symbols(stream, args.symbols, args.per_stream)
        state: dict[int, list[int]] = {}
        final[stream] = state
        client = socketio.AsyncClient(reconnection=False)
        clients.append(client)
        counter = [stream]

        @client.on("quote")  # type: ignore[untyped-decorator]
        async def on_quote(data: dict[str, Any]) -> None:
            now = time.time_ns()
            if tally.start * 1e9 <= now < tally.end * 1e9:
                tally.updates += 1
                tally.messages += 1
                counter[0] += 1
                if counter[0] % args.sample_every == 0:
                    ms = (now - data["exchange_time_ns"]) // 1_000_000
                    tally.histogram[min(max(ms, 0), MAX_LATENCY_MS)] += 1
            state[data["token"]] = [data["sequence"], data["last_price_micros"]]

        try:
            await client.connect(f"http://{HOST}:{args.port}", transports=["websocket"])
            await client.emit("subscribe", [f"SIM{t:04d}" for t in tokens])
            tally.opened += 1
        except Exception as error:
            tally.errors += 1
            tally.first_error = tally.first_error or repr(error)

    tasks = []
    for stream in range(args.first, args.last):
        tasks.append(asyncio.create_task(one(stream)))
        if len(tasks) % 25 == 0:
            await asyncio.sleep(0.05)
    await asyncio.gather(*tasks, return_exceptions=True)
    await sleep_until(stop_at)
    Path(args.out).write_text(json.dumps(tally.as_dict(final)))
    os._exit(0)  # closing 500 clients politely takes longer than the measurement


# ------------------------------------------------------------------------------------ orchestrator


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
    argv = [sys.executable, str(Path(__file__).resolve()), "--role", role]
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
    from trademesh.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
    from trademesh.devstack.processes import FerretDBServer, RedisServer, find_free_port
    from trademesh.marketdata.v1 import quote_pb2
    from trademesh.services.auth.keys import write_new_key
    from trademesh.services.auth.server import build_auth_server
    from trademesh.services.auth.settings import AuthSettings
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
        write_new_key(work / "key.pem")
        auth = await build_auth_server(
            AuthSettings(
                grpc_host=HOST,
                grpc_port=0,
                mongo_url=database.url,
                mongo_database="bench_auth",
                redis_url=redis_server.url,
                signing_key_files=str(work / "key.pem"),
                log_level="WARNING",
                access_token_ttl_seconds=3600,
            )
        )
        from grpc import aio

        async with aio.insecure_channel(f"{HOST}:{auth.port}") as channel:
            response = await auth_service_pb2_grpc.AuthServiceStub(channel).Register(
                auth_service_pb2.RegisterRequest(
                    email="trader@example.com", username="fanout_trader", password="Correct-Horse-42"
                )
            )
        token = response.tokens.access_token
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
        await auth.stop(0)

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


# ------------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", default="orchestrate")
    parser.add_argument("--streams", type=int, default=1000, help="concurrent streams (default 1000)")
    parser.add_argument("--symbols-per-stream", dest="symbols_per_stream", type=int, default=50)
    parser.add_argument("--symbols", type=int, default=500, help="instruments in the universe (default 500)")
    parser.add_argument("--ticks-per-second", type=float, default=2000.0)
    parser.add_argument("--burstiness", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=30.0, help="measured window (default 30)")
    parser.add_argument("--setup", type=float, default=15.0, help="seconds to open streams before the window")
    parser.add_argument("--drain", type=float, default=5.0, help="seconds after the feed stops before the check")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--channels", type=int, default=8, help="gRPC channels per client process")
    parser.add_argument("--sample-every", type=int, default=4, help="latency from 1 message in N")
    parser.add_argument("--idle-streams", type=int, default=1000)
    parser.add_argument("--idle-setup", type=float, default=8.0)
    parser.add_argument("--variants", nargs="+", default=["service", "bare", "socketio"])
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--replicas", type=int, default=1, help="market-data replica processes sharing the port (default 1)"
    )
    # Child-role options.
    for name in ("target", "token", "out", "universe", "truth", "redis-url"):
        parser.add_argument(f"--{name}", default="")
    parser.add_argument(
        "--rate", type=int, default=0, help="max_updates_per_second asked by gRPC streams (0 = server default 8)"
    )
    for name in ("port", "first", "last", "per-stream"):
        parser.add_argument(f"--{name}", type=int, default=0)
    for name in ("start", "stop-at"):
        parser.add_argument(f"--{name}", type=float, default=0.0)
    args = parser.parse_args()
    if args.role == "orchestrate":
        try:
            asyncio.run(orchestrate(args))
        except BaseException:
            import traceback

            traceback.print_exc()
            sys.stderr.flush()
            os._exit(1)
        return
    if args.role in ("bare-server", "socketio-server"):
        # The feed runs until `<truth>.stop` appears (the orchestrator's window end).
        stop_file = Path(args.truth + ".stop")
        args.stop_at = float("inf")

        async def watch() -> None:
            while not stop_file.exists():
                await asyncio.sleep(0.05)
            args.stop_at = 0.0

        async def run() -> None:
            watcher = asyncio.create_task(watch())
            await (bare_server(args) if args.role == "bare-server" else socketio_server(args))
            watcher.cancel()

        asyncio.run(run())
        return
    if args.role == "grpc-client":
        asyncio.run(grpc_client(args))
    elif args.role == "socketio-client":
        asyncio.run(socketio_client(args))


if __name__ == "__main__":
    main()
