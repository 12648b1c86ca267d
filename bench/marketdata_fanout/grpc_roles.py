# ruff: noqa: ASYNC240 - processes coordinate through small files polled every 50 ms; blocking is nil.
"""The gRPC roles: the streaming client (against the service or the bare server) and the bare grpc.aio server."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.marketdata_fanout.common import HOST, MAX_LATENCY_MS, METHOD, Tally, sleep_until, stream_symbols, wait_go


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
