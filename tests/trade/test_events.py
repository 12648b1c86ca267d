"""Events without loss: the outbox, the `trade-events` stream, a crash between write and publish, WatchTrades."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from tests.conftest import MeshUser
from tests.eventually import eventually
from tests.rpc import bearer, expect_failure
from tests.trade.conftest import RunningTrade, broker_trade, create, equity_trade, new_request_id, reconcile_request
from tests.trade.watch_streams import collect
from trademesh.devstack.processes import find_free_port
from trademesh.services.trade.events import OutboxRelay, RedisEventPublisher
from trademesh.services.trade.store import PENDING_FLAG, MongoTradeStore
from trademesh.trade.v1 import trade_event_pb2, trade_pb2, trade_service_pb2, trade_service_pb2_grpc

NewUser = Callable[[], Awaitable[MeshUser]]
GROUP = "analytics"


async def _all_delivered(redis: Redis, settings: Any, at_least: int) -> list[dict[bytes, bytes]]:
    """Drain the group until `at_least` events came and the database holds no unpublished event (no
    trade with a non-empty outbox, no batch record); then drain once more. A relay publishes before
    it clears, so once nothing is pending nothing more can come: a duplicate would be in the list."""
    events: list[dict[bytes, bytes]] = []
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongo_url, tz_aware=True)
    database = client[settings.mongo_database]

    async def delivered() -> bool:
        events.extend(await _drain_group(redis))
        unpublished = await database.trades.count_documents({PENDING_FLAG: True, "outbox": {"$ne": {}}})
        batches = await database.trade_batches.count_documents({})
        return len(events) >= at_least and unpublished == 0 and batches == 0

    try:
        await eventually(delivered, interval=0.1, what=f"{at_least} event(s) delivered and none pending")
    finally:
        await client.close()
    events.extend(await _drain_group(redis))
    return events


async def _drain_group(redis: Redis, consumer: str = "c1") -> list[dict[bytes, bytes]]:
    """Read (and ack) everything the consumer group has not seen yet."""
    seen: list[dict[bytes, bytes]] = []
    while True:
        response: Any = await redis.xreadgroup(GROUP, consumer, {"trade-events": ">"}, count=100, block=200)
        if not response:
            return seen
        for _, entries in response:
            for entry_id, values in entries:
                seen.append(values)
                await redis.xack("trade-events", GROUP, entry_id)


async def test_every_write_reaches_the_stream_once_in_version_order(
    trade: RunningTrade, new_user: NewUser, redis: Redis, trade_db: Any
) -> None:
    await redis.xgroup_create("trade-events", GROUP, id="$", mkstream=True)
    user = await new_user()
    message = equity_trade()
    created = await create(trade.stub, user.metadata, message)
    updated = await trade.stub.UpdateTrade(
        trade_service_pb2.UpdateTradeRequest(
            trade=trade_pb2.Trade(id=created.id, notes="n"), update_mask=FieldMask(paths=["notes"]), etag=created.etag
        ),
        metadata=user.metadata,
    )
    await trade.stub.DeleteTrade(trade_service_pb2.DeleteTradeRequest(id=created.id), metadata=user.metadata)
    await trade.stub.UndeleteTrade(trade_service_pb2.UndeleteTradeRequest(id=created.id), metadata=user.metadata)
    # A retry re-publishes nothing.
    await create(trade.stub, user.metadata, message, request_id=created.request_id)

    events = await _drain_group(redis)
    stored = await eventually(
        lambda: trade_db.trades.find_one({"_id": created.id}),
        until=lambda document: document["outbox"] == {},
        what="every published event is removed from the document",
    )

    assert [(e[b"type"], int(e[b"version"])) for e in events] == [
        (b"CREATED", 1),
        (b"UPDATED", 2),
        (b"DELETED", 3),
        (b"RESTORED", 4),
    ]
    payload = trade_event_pb2.TradeEvent.FromString(events[1][b"payload"])
    assert payload.event_id == f"{created.id}:2"
    assert payload.trade == updated.trade
    assert {e[b"user_id"] for e in events} == {user.user_id.encode()}
    assert stored["outbox"] == {}  # published events are removed from the document


async def test_the_relay_clears_the_flag_a_publishing_request_leaves(
    trade: RunningTrade, new_user: NewUser, redis: Redis, trade_db: Any
) -> None:
    """A create clears its trade's pending flag with its event (at version 1 the outbox holds that event
    alone); a later write's request publishes its own event and leaves the flag to the relay (one write
    fewer per call): the relay's sweep must clear it, or every sweep reads every such trade again and the
    flagged set grows with each trade ever written."""
    await redis.xgroup_create("trade-events", GROUP, id="$", mkstream=True)
    user = await new_user()
    created = await create(trade.stub, user.metadata, equity_trade())
    await eventually(
        lambda: trade_db.trades.find_one({"_id": created.id, "outbox": {}, PENDING_FLAG: {"$exists": False}}),
        what="the create's own clearing removes its event and the pending flag",
    )
    await trade.stub.UpdateTrade(
        trade_service_pb2.UpdateTradeRequest(
            trade=trade_pb2.Trade(id=created.id, notes="n"), update_mask=FieldMask(paths=["notes"]), etag=created.etag
        ),
        metadata=user.metadata,
    )
    assert await trade_db.trades.find_one({"_id": created.id, PENDING_FLAG: True, "outbox": {}}) is not None

    relay = OutboxRelay(MongoTradeStore(trade_db), RedisEventPublisher(redis), scan_interval=30.0)
    await relay.sweep()

    stored = await trade_db.trades.find_one({"_id": created.id})
    assert PENDING_FLAG not in stored
    assert stored["outbox"] == {}
    events = await _drain_group(redis)
    assert [(e[b"type"], int(e[b"version"])) for e in events] == [(b"CREATED", 1), (b"UPDATED", 2)]


def _service_env(settings: Any, port: int, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "TRADEMESH_GRPC_HOST": "127.0.0.1",
            "TRADEMESH_GRPC_PORT": str(port),
            "TRADEMESH_MONGO_URL": settings.mongo_url,
            "TRADEMESH_MONGO_DATABASE": settings.mongo_database,
            "TRADEMESH_REDIS_URL": settings.redis_url,
            "TRADEMESH_AUTH_TARGET": settings.auth_target,
            "TRADEMESH_LOG_FORMAT": "text",
            "TRADEMESH_LOG_LEVEL": "WARNING",
            "TRADEMESH_RELAY_SCAN_INTERVAL_SECONDS": "0.5",
            "TRADEMESH_TOKEN_SECRET": settings.token_secret.get_secret_value(),
        }
    )
    env.update(extra)
    return env


async def _wait_serving(port: int, process: subprocess.Popen[bytes]) -> None:
    async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        health: Any = health_pb2_grpc.HealthStub(channel)

        async def serving() -> bool:
            assert process.poll() is None, "the trade service exited during start-up"
            response = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
            return bool(response.status == health_pb2.HealthCheckResponse.SERVING)

        await eventually(
            serving, within=30, interval=0.2, ignoring=(grpc.aio.AioRpcError,), what="the trade service serving"
        )


@pytest.fixture
def spawn_trade(tmp_path: Path) -> Any:
    processes: list[subprocess.Popen[bytes]] = []

    async def spawn(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"trade-{len(processes)}.log").open("wb")
        process = subprocess.Popen(  # noqa: ASYNC220 - a short, non-blocking spawn
            [sys.executable, "-m", "trademesh.services.trade"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        processes.append(process)
        await _wait_serving(port, process)
        return process

    yield spawn
    for process in processes:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


async def _crash_after_write_then_restart(
    spawn_trade: Any, redis: Redis, settings: Any, port: int, call: Callable[[Any], Awaitable[Any]]
) -> None:
    """Make `call` against a trade service that exits right after its database write; check that it
    died with nothing published; then start a healthy one on the same port."""
    doomed = await spawn_trade(_service_env(settings, port, TRADEMESH_FAULT_EXIT_AFTER_WRITE="true"), port)
    async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        failure = await expect_failure(call(trade_service_pb2_grpc.TradeServiceStub(channel)))
    assert failure.code == grpc.StatusCode.UNAVAILABLE
    assert doomed.wait(10) == 86
    assert await _drain_group(redis) == []  # written, not published
    await spawn_trade(_service_env(settings, port), port)


@pytest.mark.slow
async def test_crash_after_write_before_publish_loses_nothing_and_duplicates_nothing(
    core_settings: Callable[..., dict[str, Any]], new_user: NewUser, redis: Redis, spawn_trade: Any
) -> None:
    from trademesh.services.trade.settings import TradeSettings

    settings = TradeSettings(**core_settings())
    port = find_free_port()
    await redis.xgroup_create("trade-events", GROUP, id="$", mkstream=True)
    user = await new_user()
    request_id = new_request_id()
    message = equity_trade(broker_trade_id="CRASH-1")

    await _crash_after_write_then_restart(
        spawn_trade,
        redis,
        settings,
        port,
        lambda stub: stub.CreateTrade(
            trade_service_pb2.CreateTradeRequest(request_id=request_id, trade=message),
            metadata=user.metadata,
            timeout=10,
        ),
    )
    async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = trade_service_pb2_grpc.TradeServiceStub(channel)
        retried = await stub.CreateTrade(
            trade_service_pb2.CreateTradeRequest(request_id=request_id, trade=message), metadata=user.metadata
        )
        listed = await stub.ListTrades(trade_service_pb2.ListTradesRequest(), metadata=user.metadata)
    events = await _all_delivered(redis, settings, at_least=1)

    assert [t.id for t in listed.trades] == [retried.trade.id]
    assert retried.trade.version == 1
    assert [(e[b"event_id"].decode(), e[b"type"]) for e in events] == [(f"{retried.trade.id}:1", b"CREATED")]


@pytest.mark.slow
async def test_crash_after_a_reconcile_batch_is_written_publishes_each_created_trade_once(
    core_settings: Callable[..., dict[str, Any]],
    new_user: NewUser,
    redis: Redis,
    spawn_trade: Any,
    service_token: Callable[..., str],
) -> None:
    from trademesh.services.trade.settings import TradeSettings

    settings = TradeSettings(**core_settings())
    port = find_free_port()
    await redis.xgroup_create("trade-events", GROUP, id="$", mkstream=True)
    user = await new_user()
    batch = reconcile_request(user.user_id, *(broker_trade(f"B{n}") for n in range(30)))
    service = bearer(service_token())

    await _crash_after_write_then_restart(
        spawn_trade, redis, settings, port, lambda stub: stub.ReconcileTrades(batch, metadata=service, timeout=10)
    )
    async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = trade_service_pb2_grpc.TradeServiceStub(channel)
        resent = await stub.ReconcileTrades(batch, metadata=service)
        listed = await stub.ListTrades(trade_service_pb2.ListTradesRequest(page_size=100), metadata=user.metadata)
    events = await _all_delivered(redis, settings, at_least=30)

    assert (resent.unchanged_count, resent.created_count) == (30, 0)
    assert sorted(t.broker_trade_id for t in listed.trades) == sorted(f"B{n}" for n in range(30))
    assert sorted((e[b"event_id"].decode(), e[b"type"]) for e in events) == sorted(
        (f"{t.id}:1", b"CREATED") for t in listed.trades
    )


async def test_watch_snapshot_then_live_then_resume_misses_nothing(trade: RunningTrade, new_user: NewUser) -> None:
    user = await new_user()
    first = await create(trade.stub, user.metadata, equity_trade("INFY"))
    await create(trade.stub, user.metadata, equity_trade("TCS"))

    call = trade.stub.WatchTrades(trade_service_pb2.WatchTradesRequest(), metadata=user.metadata)
    snapshot = await collect(call, 4)
    third = await create(trade.stub, user.metadata, equity_trade("WIPRO"))
    live = await collect(call, 1)
    call.cancel()
    # Changes while disconnected are replayed after the last token, exactly once.
    deleted = await trade.stub.DeleteTrade(trade_service_pb2.DeleteTradeRequest(id=first.id), metadata=user.metadata)
    fourth = await create(trade.stub, user.metadata, equity_trade("HDFCBANK"))
    resumed_call = trade.stub.WatchTrades(
        trade_service_pb2.WatchTradesRequest(resume_token=live[0].event.resume_token), metadata=user.metadata
    )
    resumed = await collect(resumed_call, 2)
    resumed_call.cancel()

    assert snapshot[0].snapshot_begin.reason == trade_event_pb2.SNAPSHOT_REASON_NO_RESUME_TOKEN
    assert snapshot[0].snapshot_begin.trade_count == 2
    assert {s.event.type for s in snapshot[1:3]} == {trade_event_pb2.TRADE_EVENT_TYPE_SNAPSHOT}
    assert snapshot[3].snapshot_end.resume_token
    assert live[0].event.type == trade_event_pb2.TRADE_EVENT_TYPE_CREATED
    assert live[0].event.trade == third
    assert live[0].event.sequence > snapshot[3].snapshot_end.sequence
    assert [(r.event.type, r.event.trade.id) for r in resumed] == [
        (trade_event_pb2.TRADE_EVENT_TYPE_DELETED, first.id),
        (trade_event_pb2.TRADE_EVENT_TYPE_CREATED, fourth.id),
    ]
    assert resumed[0].event.trade == deleted.trade
    assert resumed[0].event.sequence < resumed[1].event.sequence


async def test_resuming_from_an_empty_journals_snapshot_replays_instead_of_a_new_snapshot(
    trade: RunningTrade, new_user: NewUser
) -> None:
    user = await new_user()
    call = trade.stub.WatchTrades(trade_service_pb2.WatchTradesRequest(), metadata=user.metadata)
    snapshot = await collect(call, 2)  # begin (0 trades) and end
    call.cancel()
    created = await create(trade.stub, user.metadata, equity_trade("INFY"))
    resumed_call = trade.stub.WatchTrades(
        trade_service_pb2.WatchTradesRequest(resume_token=snapshot[1].snapshot_end.resume_token), metadata=user.metadata
    )
    resumed = await collect(resumed_call, 1)
    resumed_call.cancel()

    assert snapshot[0].snapshot_begin.trade_count == 0
    assert resumed[0].WhichOneof("item") == "event"
    assert (resumed[0].event.type, resumed[0].event.trade.id) == (trade_event_pb2.TRADE_EVENT_TYPE_CREATED, created.id)
    assert resumed[0].event.sequence > snapshot[1].snapshot_end.sequence


async def test_watch_rejects_bad_tokens_and_sends_heartbeats(trade: RunningTrade, new_user: NewUser) -> None:
    alice, bob = await new_user(), await new_user()
    await create(trade.stub, alice.metadata, equity_trade())
    call = trade.stub.WatchTrades(trade_service_pb2.WatchTradesRequest(), metadata=alice.metadata)
    snapshot = await collect(call, 3)
    token = snapshot[-1].snapshot_end.resume_token
    call.cancel()

    stolen = await expect_failure(
        _first(trade.stub.WatchTrades(trade_service_pb2.WatchTradesRequest(resume_token=token), metadata=bob.metadata))
    )
    garbage = await expect_failure(
        _first(trade.stub.WatchTrades(trade_service_pb2.WatchTradesRequest(resume_token="xyz"), metadata=bob.metadata))
    )
    quiet = trade.stub.WatchTrades(
        trade_service_pb2.WatchTradesRequest(resume_token=token, heartbeat_interval=Duration(seconds=1)),
        metadata=alice.metadata,
    )
    started = time.monotonic()
    heartbeat = await asyncio.wait_for(_first(quiet), timeout=15)
    quiet.cancel()

    assert (stolen.code, stolen.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "RESUME_TOKEN_INVALID")
    assert garbage.reason == "RESUME_TOKEN_INVALID"
    assert heartbeat.WhichOneof("item") == "heartbeat"
    assert heartbeat.heartbeat.resume_token == token
    assert time.monotonic() - started >= 4.5  # clamped to the 5 s minimum


async def _first(stream: Any) -> Any:
    async for item in stream:
        return item
    raise AssertionError("stream ended without a message")


async def test_watch_ends_cleanly_when_the_server_stops(
    start_trade: Callable[..., Awaitable[RunningTrade]], new_user: NewUser
) -> None:
    running = await start_trade()
    user = await new_user()
    call = running.stub.WatchTrades(trade_service_pb2.WatchTradesRequest(), metadata=user.metadata)
    await collect(call, 2)

    stop = asyncio.create_task(running.host.stop(5))
    started = time.monotonic()
    rest = [item async for item in call]
    await stop

    assert rest == [] or all(item.WhichOneof("item") == "heartbeat" for item in rest)
    assert await call.code() == grpc.StatusCode.OK
    assert time.monotonic() - started < 4


def test_retention_window_is_seven_days() -> None:
    from trademesh.services.trade.events import RETENTION

    assert timedelta(days=7) == RETENTION
