# ruff: noqa: ASYNC110, ASYNC240 - processes coordinate through small files polled every 50 ms; blocking is nil.
"""The Socket.IO design's roles: its server and its client."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

from bench.marketdata_fanout.common import HOST, MAX_LATENCY_MS, Tally, sleep_until, stream_symbols, wait_go


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
