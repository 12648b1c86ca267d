"""SubscribeQuotes, GetQuote and GetQuotes over real gRPC with real Redis and the simulated feed."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from grpc import aio

from tests.conftest import MeshUser
from tests.eventually import eventually
from tests.marketdata.helpers import nse, subscribe_request
from tests.rpc import expect_failure
from trademesh.marketdata.v1 import marketdata_service_pb2, marketdata_service_pb2_grpc, quote_pb2
from trademesh.services.marketdata.model import SymbolUniverse
from trademesh.services.marketdata.settings import DEFAULT_UNIVERSE


async def test_stream_starts_with_a_snapshot_then_live_batches(
    start_marketdata: Callable[..., Any], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    _, stub = await start_marketdata()
    user = await new_user()
    call = stub.SubscribeQuotes(subscribe_request("INFY", "TCS", "INFY", "SBIN"), metadata=user.metadata)
    first = await call.read()
    assert first.WhichOneof("event") == "batch"
    assert first.batch.snapshot
    assert [q.instrument.symbol for q in first.batch.quotes] == ["INFY", "TCS", "SBIN"]
    assert first.batch.effective_max_updates_per_second == 8  # the default (decision 0022)
    seen: dict[str, int] = {q.instrument.symbol: q.sequence for q in first.batch.quotes}
    live = 0
    while live < 5:
        message = await asyncio.wait_for(call.read(), 5)
        assert not message.batch.snapshot
        for quote in message.batch.quotes:
            assert quote.sequence > seen[quote.instrument.symbol]
            assert quote.mode == quote_pb2.QUOTE_MODE_QUOTE
            assert quote.last_price_micros % 50_000 == 0
            assert quote.bid_price_micros < quote.last_price_micros < quote.ask_price_micros
            assert not quote.HasField("depth")
            seen[quote.instrument.symbol] = quote.sequence
            live += 1
    call.cancel()


async def test_get_quote_and_get_quotes(
    start_marketdata: Callable[..., Any], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    _, stub = await start_marketdata()
    user = await new_user()

    async def has_data() -> bool:
        response = await stub.GetQuote(
            marketdata_service_pb2.GetQuoteRequest(instrument=nse("RELIANCE")[0]), metadata=user.metadata
        )
        return bool(response.quote.sequence > 0)

    await eventually(has_data)
    response = await stub.GetQuotes(
        marketdata_service_pb2.GetQuotesRequest(
            instruments=nse("INFY", "NOPE", "INFY", "TCS"), mode=quote_pb2.QUOTE_MODE_FULL
        ),
        metadata=user.metadata,
    )
    assert [q.instrument.symbol for q in response.quotes] == ["INFY", "TCS"]
    assert [i.symbol for i in response.not_found_instruments] == ["NOPE"]
    failure = await expect_failure(
        stub.GetQuote(marketdata_service_pb2.GetQuoteRequest(instrument=nse("NOPE")[0]), metadata=user.metadata)
    )
    assert failure.code == grpc.StatusCode.NOT_FOUND
    assert failure.reason == "INSTRUMENT_NOT_FOUND"


async def _first(call: Any) -> Any:
    return await asyncio.wait_for(call.read(), 5)


async def test_stream_limits_and_unknown_instruments(
    start_marketdata: Callable[..., Any], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    _, stub = await start_marketdata(max_instruments_per_stream=3)
    user = await new_user()

    too_many = await expect_failure(
        _first(stub.SubscribeQuotes(subscribe_request("INFY", "TCS", "SBIN", "ITC"), metadata=user.metadata))
    )
    assert too_many.code == grpc.StatusCode.INVALID_ARGUMENT
    assert too_many.reason == "TOO_MANY_INSTRUMENTS"

    unknown = await expect_failure(
        _first(stub.SubscribeQuotes(subscribe_request("INFY", "NOPE", "ZZZ", "NOPE"), metadata=user.metadata))
    )
    assert unknown.code == grpc.StatusCode.INVALID_ARGUMENT
    assert unknown.reason == "UNKNOWN_INSTRUMENTS"
    assert unknown.violations == {
        "instruments[1]": "unknown instrument NSE:NOPE",
        "instruments[2]": "unknown instrument NSE:ZZZ",
    }

    malformed = await expect_failure(_first(stub.SubscribeQuotes(subscribe_request("infy"), metadata=user.metadata)))
    assert malformed.reason == "INVALID_INSTRUMENT"
    assert "instruments[0].symbol" in malformed.violations

    empty = await expect_failure(_first(stub.SubscribeQuotes(subscribe_request(), metadata=user.metadata)))
    assert empty.reason == "NO_INSTRUMENTS"

    anonymous = await expect_failure(_first(stub.SubscribeQuotes(subscribe_request("INFY"))))
    assert anonymous.code == grpc.StatusCode.UNAUTHENTICATED


async def test_streams_per_user_are_counted_across_replicas(
    start_marketdata: Callable[..., Any], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    _, first = await start_marketdata(max_streams_per_user=2)
    _, second = await start_marketdata(max_streams_per_user=2)
    user = await new_user()
    other = await new_user()
    a = first.SubscribeQuotes(subscribe_request("INFY"), metadata=user.metadata)
    b = second.SubscribeQuotes(subscribe_request("TCS"), metadata=user.metadata)
    await _first(a)
    await _first(b)

    failure = await expect_failure(_first(first.SubscribeQuotes(subscribe_request("SBIN"), metadata=user.metadata)))
    assert failure.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert failure.reason == "TOO_MANY_STREAMS"
    assert failure.retry_delay_seconds is not None
    # Another user is not affected.
    c = second.SubscribeQuotes(subscribe_request("SBIN"), metadata=other.metadata)
    assert (await _first(c)).batch.snapshot

    a.cancel()

    async def can_open() -> bool:
        call = second.SubscribeQuotes(subscribe_request("ITC"), metadata=user.metadata)
        try:
            await _first(call)
            return True
        except grpc.aio.AioRpcError:
            return False
        finally:
            call.cancel()

    await eventually(can_open)
    b.cancel()
    c.cancel()


async def test_modes_fill_their_fields(
    start_marketdata: Callable[..., Any], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    _, stub = await start_marketdata()
    user = await new_user()
    ltp = stub.SubscribeQuotes(subscribe_request("INFY", "TCS", mode=quote_pb2.QUOTE_MODE_LTP), metadata=user.metadata)
    full = stub.SubscribeQuotes(
        subscribe_request("INFY", "TCS", mode=quote_pb2.QUOTE_MODE_FULL), metadata=user.metadata
    )
    await _first(ltp)
    await _first(full)
    ltp_quote = (await _first(ltp)).batch.quotes[0]
    full_quote = (await _first(full)).batch.quotes[0]
    assert ltp_quote.mode == quote_pb2.QUOTE_MODE_LTP
    assert ltp_quote.last_price_micros > 0
    assert ltp_quote.HasField("exchange_time")
    assert ltp_quote.volume == ltp_quote.bid_price_micros == ltp_quote.close_micros == 0
    assert not ltp_quote.HasField("depth")
    assert full_quote.mode == quote_pb2.QUOTE_MODE_FULL
    assert len(full_quote.depth.bids) == len(full_quote.depth.asks) == 5
    assert full_quote.depth.bids[0].price_micros == full_quote.bid_price_micros
    assert full_quote.change_micros == full_quote.last_price_micros - full_quote.close_micros
    assert full_quote.source == quote_pb2.QUOTE_SOURCE_SIMULATED
    ltp.cancel()
    full.cancel()


async def test_rate_cap_and_conflation_are_visible(
    start_marketdata: Callable[..., Any], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    _, stub = await start_marketdata(simulator_ticks_per_second=600.0)
    user = await new_user()
    symbols = ("INFY", "TCS", "SBIN")
    call = stub.SubscribeQuotes(subscribe_request(*symbols, rate=1), metadata=user.metadata)
    snapshot = await _first(call)
    sent: dict[str, list[float]] = {s: [] for s in symbols}
    loop = asyncio.get_running_loop()
    started = loop.time()
    last_count = 0
    while loop.time() - started < 3.2:
        message = await _first(call)
        assert message.batch.effective_max_updates_per_second == 1
        assert message.batch.conflated_update_count >= last_count
        last_count = message.batch.conflated_update_count
        for quote in message.batch.quotes:
            sent[quote.instrument.symbol].append(loop.time())
    call.cancel()
    assert snapshot.batch.conflated_update_count == 0
    assert last_count > 0  # ~35 ticks/s for 3 symbols at 1 update/s each
    for times in sent.values():
        assert 2 <= len(times) <= 5
        assert all(b - a > 0.85 for a, b in itertools.pairwise(times))


async def test_heartbeat_on_an_idle_stream(
    start_marketdata: Callable[..., Any], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    _, stub = await start_marketdata(session_policy="always_closed", heartbeat_seconds=0.3)
    user = await new_user()
    call = stub.SubscribeQuotes(subscribe_request("INFY"), metadata=user.metadata)
    snapshot = await _first(call)
    assert snapshot.batch.quotes[0].sequence == 0  # no ticks outside the session
    assert not snapshot.batch.quotes[0].stale  # a closed market is not stale
    assert (await _first(call)).WhichOneof("event") == "heartbeat"
    assert (await _first(call)).WhichOneof("event") == "heartbeat"
    call.cancel()


async def test_shutdown_ends_streams_with_unavailable(
    start_marketdata: Callable[..., Any], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    host, stub = await start_marketdata()
    user = await new_user()
    call = stub.SubscribeQuotes(subscribe_request("INFY"), metadata=user.metadata)
    await _first(call)
    stopping = asyncio.create_task(host.stop(5))

    async def drain() -> None:
        while True:
            await _first(call)

    failure = await expect_failure(drain())
    await asyncio.wait_for(stopping, 5)
    assert failure.code == grpc.StatusCode.UNAVAILABLE
    assert failure.reason == "SERVER_DRAINING"


async def test_replica_subscribes_only_to_wanted_instruments(
    start_marketdata: Callable[..., Any], new_user: Callable[[], Awaitable[MeshUser]], redis: Any
) -> None:
    host, stub = await start_marketdata()
    hub = host.hub
    user = await new_user()
    a = stub.SubscribeQuotes(subscribe_request("INFY", "TCS"), metadata=user.metadata)
    b = stub.SubscribeQuotes(subscribe_request("TCS", "SBIN"), metadata=user.metadata)
    await _first(a)
    await _first(b)
    assert hub.subscribed == {"NSE:INFY", "NSE:TCS", "NSE:SBIN"}
    channels = {c.decode() for c in await redis.pubsub_channels("md:tick:*")}
    assert channels == {"md:tick:NSE:INFY", "md:tick:NSE:TCS", "md:tick:NSE:SBIN"}
    a.cancel()

    async def only_b() -> bool:
        return bool(hub.subscribed == {"NSE:TCS", "NSE:SBIN"})

    await eventually(only_b)

    async def redis_follows() -> bool:
        return {c.decode() for c in await redis.pubsub_channels("md:tick:*")} == {"md:tick:NSE:TCS", "md:tick:NSE:SBIN"}

    await eventually(redis_follows)
    b.cancel()
    await eventually(lambda: _async(not hub.subscribed))


async def _async(value: bool) -> bool:
    return value


async def test_get_quotes_limits(
    start_marketdata: Callable[..., Any], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    _, stub = await start_marketdata(max_instruments_per_request=2)
    user = await new_user()
    failure = await expect_failure(
        stub.GetQuotes(marketdata_service_pb2.GetQuotesRequest(instruments=nse("A", "B", "C")), metadata=user.metadata)
    )
    assert failure.reason == "TOO_MANY_INSTRUMENTS"
    bad_mode = await expect_failure(
        stub.GetQuote(
            marketdata_service_pb2.GetQuoteRequest(instrument=nse("INFY")[0], mode=9),  # type: ignore[arg-type]
            metadata=user.metadata,
        )
    )
    assert bad_mode.code == grpc.StatusCode.INVALID_ARGUMENT
    missing = await expect_failure(stub.GetQuote(marketdata_service_pb2.GetQuoteRequest(), metadata=user.metadata))
    assert missing.reason == "INVALID_INSTRUMENT"


async def test_a_feed_that_goes_quiet_in_session_is_flagged_stale_on_open_streams(
    start_marketdata: Callable[..., Any], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    ingest_host, _ = await start_marketdata(stale_after_seconds=0.8)
    _, stub = await start_marketdata(ingest_enabled=False, stale_after_seconds=0.8)
    user = await new_user()
    call = stub.SubscribeQuotes(subscribe_request("INFY", "TCS"), metadata=user.metadata)
    held: dict[str, quote_pb2.Quote] = {q.instrument.symbol: q for q in (await _first(call)).batch.quotes}

    async def both_live() -> bool:
        if any(quote.sequence == 0 or quote.stale for quote in held.values()):
            held.update({q.instrument.symbol: q for q in (await _first(call)).batch.quotes})
        return not any(quote.sequence == 0 or quote.stale for quote in held.values())

    await eventually(both_live, interval=0, what="live ticks of both symbols")

    await ingest_host.stop(0)  # the only ingest: the feed goes quiet while the session is open
    flagged: dict[str, quote_pb2.Quote] = {}
    messages: list[marketdata_service_pb2.SubscribeQuotesResponse] = []

    async def both_flagged() -> bool:
        messages.append(await _first(call))
        for quote in messages[-1].batch.quotes:
            if quote.stale:
                flagged[quote.instrument.symbol] = quote
            else:
                held[quote.instrument.symbol] = quote  # a tick still in flight when the feed stopped
        return len(flagged) >= 2

    await eventually(both_flagged, interval=0, what="both quotes flagged stale")
    call.cancel()

    assert not messages[-1].batch.snapshot
    for symbol, quote in flagged.items():
        # The same tick re-sent with the flag flipped: equal sequence, same price.
        assert quote.sequence == held[symbol].sequence
        assert quote.last_price_micros == held[symbol].last_price_micros


async def test_a_client_that_stops_reading_is_ended_with_slow_consumer(
    start_marketdata: Callable[..., Any], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    host, _ = await start_marketdata(simulator_ticks_per_second=1000.0, slow_consumer_seconds=1.0)
    user = await new_user()
    every_symbol = [str(item.key.symbol) for item in SymbolUniverse.from_csv(DEFAULT_UNIVERSE)]
    # No BDP probing: the HTTP/2 window stays small, so a client that stops reading holds back the
    # server's writes within a second or two instead of after megabytes.
    async with aio.insecure_channel(f"127.0.0.1:{host.port}", options=[("grpc.http2.bdp_probe", 0)]) as channel:
        stub: Any = marketdata_service_pb2_grpc.MarketDataServiceStub(channel)
        call = stub.SubscribeQuotes(
            subscribe_request(*every_symbol, mode=quote_pb2.QUOTE_MODE_FULL, rate=10), metadata=user.metadata
        )
        await call.read()  # the snapshot; then the client stops reading
        await asyncio.sleep(6)

        async def drain() -> None:
            while (await asyncio.wait_for(call.read(), 5)) is not aio.EOF:
                pass

        failure = await expect_failure(drain())
    assert failure.code == grpc.StatusCode.UNAVAILABLE
    assert failure.reason == "SLOW_CONSUMER"
