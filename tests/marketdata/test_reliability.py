"""Reliability with real processes and real Redis: replicas, a dedicated ingest, outages, crashes."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc import aio

from tests.conftest import MeshUser
from tests.eventually import eventually
from tests.marketdata.helpers import subscribe_request
from tests.marketdata.processes import ServiceProcess
from tests.rpc import expect_failure
from trademesh.devstack.processes import RedisServer
from trademesh.marketdata.v1 import marketdata_service_pb2, marketdata_service_pb2_grpc, quote_pb2
from trademesh.services.marketdata.model import SymbolUniverse
from trademesh.services.marketdata.settings import DEFAULT_UNIVERSE

pytestmark = pytest.mark.slow
SYMBOLS = ("INFY", "TCS", "SBIN", "ITC", "RELIANCE", "HDFCBANK")


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test's own, so it can be killed and restarted without disturbing others."""
    with RedisServer(tmp_path / "redis") as server:
        yield server


@pytest.fixture
def mesh(
    own_redis: RedisServer, core_settings: Callable[..., dict[str, Any]], tmp_path: Path
) -> Iterator[Callable[..., ServiceProcess]]:
    """Start replicas (`python -m trademesh.services.marketdata`) and ingests as child processes."""
    started: list[ServiceProcess] = []

    def start(module: str = "trademesh.services.marketdata", **overrides: Any) -> ServiceProcess:
        settings = core_settings(
            redis_url=own_redis.url,
            session_policy="always_open",
            ingest_enabled=False,
            simulator_ticks_per_second=150,
            ingest_lock_ttl_seconds=1.5,
            backplane_retry_seconds=3.0,
            dependency_timeout_seconds=1.0,
            log_level="WARNING",
        )
        settings.update(overrides)
        process = ServiceProcess(module, settings, tmp_path / f"{module.rsplit('.', 1)[-1]}-{len(started)}.log")
        started.append(process.start())
        return process

    yield start
    for process in started:
        process.kill()


@pytest.fixture
async def channels() -> AsyncIterator[Callable[[ServiceProcess], Any]]:
    opened: list[aio.Channel] = []

    def stub(process: ServiceProcess) -> Any:
        channel = aio.insecure_channel(f"127.0.0.1:{process.port}")
        opened.append(channel)
        return marketdata_service_pb2_grpc.MarketDataServiceStub(channel)

    yield stub
    for channel in opened:
        await channel.close()


async def _collect(call: Any, seconds: float) -> tuple[dict[str, list[int]], list[Any]]:
    sequences: dict[str, list[int]] = {}
    messages = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        message = await asyncio.wait_for(call.read(), 5)
        messages.append(message)
        for quote in message.batch.quotes:
            sequences.setdefault(quote.instrument.symbol, []).append(quote.sequence)
    return sequences, messages


async def test_two_replicas_one_ingest_deliver_the_same_ticks_in_order(
    mesh: Callable[..., ServiceProcess],
    channels: Callable[[ServiceProcess], Any],
    new_user: Callable[[], Awaitable[MeshUser]],
) -> None:
    ingest = mesh("trademesh.services.marketdata.ingest", simulator_ticks_per_second=200, simulator_burstiness=0)
    first = mesh(batch_interval_seconds=0.02, heartbeat_seconds=0.3)
    second = mesh(batch_interval_seconds=0.02, heartbeat_seconds=0.3)
    await first.wait_serving()
    await second.wait_serving()
    user = await new_user()
    # QUOTE mode: every tick changes the volume, so no tick is skipped as "unchanged for the mode".
    request = subscribe_request(*SYMBOLS, mode=quote_pb2.QUOTE_MODE_QUOTE, rate=10)
    a = channels(first).SubscribeQuotes(request, metadata=user.metadata)
    b = channels(second).SubscribeQuotes(request, metadata=user.metadata)

    async def stop_ingest_later() -> None:
        await asyncio.sleep(3.0)
        await asyncio.to_thread(ingest.stop)

    (got_a, messages_a), (got_b, messages_b), _ = await asyncio.gather(
        _collect(a, 4.5), _collect(b, 4.5), stop_ingest_later()
    )
    a.cancel()
    b.cancel()
    assert messages_a[0].batch.snapshot
    assert messages_b[0].batch.snapshot
    conflated = {
        "a": max(m.batch.conflated_update_count for m in messages_a if m.HasField("batch")),
        "b": max(m.batch.conflated_update_count for m in messages_b if m.HasField("batch")),
    }
    matched = total = 0
    for symbol in SYMBOLS:
        seq_a, seq_b = got_a[symbol][1:], got_b[symbol][1:]  # after the snapshot
        # In order per instrument, no duplicates, and both end on the same (latest) tick.
        assert seq_a == sorted(set(seq_a))
        assert seq_b == sorted(set(seq_b))
        assert seq_a[-1] == seq_b[-1]
        low = max(seq_a[0], seq_b[0])
        common_a = [s for s in seq_a if s >= low]
        common_b = [s for s in seq_b if s >= low]
        matched += len(set(common_a) & set(common_b))
        total += len(set(common_a) | set(common_b))
        # Every gap is a tick conflated within one batching window, and counted.
        assert (seq_a[-1] - low + 1) - len(common_a) <= conflated["a"]
        assert (seq_b[-1] - low + 1) - len(common_b) <= conflated["b"]
    assert total > 40
    assert matched / total > 0.8


async def test_redis_restart_resumes_or_ends_streams_cleanly(
    own_redis: RedisServer,
    mesh: Callable[..., ServiceProcess],
    channels: Callable[[ServiceProcess], Any],
    new_user: Callable[[], Awaitable[MeshUser]],
) -> None:
    mesh("trademesh.services.marketdata.ingest")
    replica = mesh(backplane_retry_seconds=3.0)
    await replica.wait_serving()
    user = await new_user()
    stub = channels(replica)
    call = stub.SubscribeQuotes(subscribe_request(*SYMBOLS, rate=10), metadata=user.metadata)
    await _collect(call, 1.0)

    # A short outage (shorter than the retry window): the stream resumes with a fresh snapshot.
    own_redis.kill()
    await asyncio.sleep(0.5)
    own_redis.restart()
    resnapshots: list[marketdata_service_pb2.SubscribeQuotesResponse] = []
    after: list[int] = []

    async def resumed() -> bool:
        message = await asyncio.wait_for(call.read(), 10)
        if message.batch.snapshot:
            resnapshots.append(message)
        elif resnapshots:
            after.extend(q.sequence for q in message.batch.quotes)
        return len(after) >= 5

    await eventually(resumed, within=15, interval=0, what="a fresh snapshot, then 5 live updates")
    assert resnapshots
    assert len(after) >= 5

    # A long outage: the stream ends with UNAVAILABLE (no hang), and the replica survives.
    own_redis.kill()

    async def drain() -> None:
        while True:
            await asyncio.wait_for(call.read(), 10)

    failure = await expect_failure(drain())
    assert failure.code == grpc.StatusCode.UNAVAILABLE
    own_redis.restart()
    assert replica.process is not None
    assert replica.process.poll() is None

    # New streams work again once Redis is back (a fresh snapshot first).
    async def first_message() -> marketdata_service_pb2.SubscribeQuotesResponse:
        retry = stub.SubscribeQuotes(subscribe_request("INFY"), metadata=user.metadata)
        try:
            return await asyncio.wait_for(retry.read(), 5)
        finally:
            retry.cancel()

    first = await eventually(
        first_message, within=30, interval=0.2, ignoring=(grpc.aio.AioRpcError,), what="a stream after Redis came back"
    )
    assert first.batch.snapshot


async def test_a_slow_client_does_not_delay_a_fast_one(
    mesh: Callable[..., ServiceProcess],
    channels: Callable[[ServiceProcess], Any],
    new_user: Callable[[], Awaitable[MeshUser]],
) -> None:
    mesh("trademesh.services.marketdata.ingest", simulator_ticks_per_second=1000)
    replica = mesh()
    await replica.wait_serving()
    user = await new_user()
    every_symbol = [str(item.key.symbol) for item in SymbolUniverse.from_csv(DEFAULT_UNIVERSE)]
    request = subscribe_request(*every_symbol, mode=quote_pb2.QUOTE_MODE_FULL, rate=10)
    fast = channels(replica).SubscribeQuotes(request, metadata=user.metadata)
    slow_channel = aio.insecure_channel(f"127.0.0.1:{replica.port}", options=[("grpc.http2.bdp_probe", 0)])
    slow_stub: Any = marketdata_service_pb2_grpc.MarketDataServiceStub(slow_channel)
    slow = slow_stub.SubscribeQuotes(request, metadata=user.metadata)
    await slow.read()  # the snapshot; then the slow client stops reading for a while

    async def latencies(seconds: float) -> list[float]:
        values: list[float] = []
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while loop.time() < end:
            message = await asyncio.wait_for(fast.read(), 5)
            now = time.time_ns()
            values.extend(
                (now - q.receive_time.ToNanoseconds()) / 1e6 for q in message.batch.quotes if not message.batch.snapshot
            )
        return values

    stalled = await latencies(4.0)
    # The slow client resumes: it gets the newest prices (conflated), never a 4-second backlog.
    caught_up = None
    backlog = 0
    while backlog < 200:
        backlog += 1
        message = await asyncio.wait_for(slow.read(), 5)
        if (
            message.batch.quotes
            and max(time.time_ns() - q.receive_time.ToNanoseconds() for q in message.batch.quotes) < 1e9
        ):
            caught_up = message
            break
    slow.cancel()
    fast.cancel()
    await slow_channel.close()
    p50, p99 = statistics.median(stalled), statistics.quantiles(stalled, n=100)[98]
    print(
        f"fast client while the slow one stalled: {len(stalled)} updates, p50 {p50:.1f} ms, p99 {p99:.1f} ms;"
        f" slow client read {backlog} buffered messages before fresh prices"
    )
    assert len(stalled) > 500
    assert p99 < 400
    assert caught_up is not None
    assert caught_up.batch.conflated_update_count > 0
    assert backlog < 20  # 4 s at 10 batches/s would be 40: the stalled stream conflated instead of queueing


async def test_killing_a_replica_fails_its_clients_and_the_other_serves(
    mesh: Callable[..., ServiceProcess],
    channels: Callable[[ServiceProcess], Any],
    new_user: Callable[[], Awaitable[MeshUser]],
) -> None:
    mesh("trademesh.services.marketdata.ingest")
    doomed, survivor = mesh(), mesh()
    await doomed.wait_serving()
    await survivor.wait_serving()
    user = await new_user()
    call = channels(doomed).SubscribeQuotes(subscribe_request("INFY", "TCS"), metadata=user.metadata)
    # Wait until both symbols have ticked at least once, so the survivor's snapshot has real quotes.
    ticked: set[str] = set()

    async def both_ticked() -> set[str]:
        message = await asyncio.wait_for(call.read(), 5)
        ticked.update(q.instrument.symbol for q in message.batch.quotes if q.sequence > 0)
        return ticked

    await eventually(
        both_ticked, within=20, interval=0, until=lambda symbols: symbols == {"INFY", "TCS"}, what="INFY and TCS ticked"
    )
    doomed.kill()
    started = time.monotonic()

    async def drain() -> None:
        while True:
            await asyncio.wait_for(call.read(), 10)

    failure = await expect_failure(drain())
    assert failure.code == grpc.StatusCode.UNAVAILABLE
    assert time.monotonic() - started < 5
    # The client reconnects to the other replica and starts from a fresh snapshot.
    again = channels(survivor).SubscribeQuotes(subscribe_request("INFY", "TCS"), metadata=user.metadata)
    first = await asyncio.wait_for(again.read(), 5)
    assert first.batch.snapshot
    assert all(q.sequence > 0 for q in first.batch.quotes)
    again.cancel()
