"""Limits and retention: concurrent watches, import rate limit, trade quota, purge after the retention window."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from tests.conftest import MeshUser
from tests.eventually import eventually
from tests.rpc import bearer, expect_failure
from tests.trade.conftest import RunningTrade, broker_trade, create, equity_trade, new_request_id, reconcile_request
from trademesh.trade.v1 import import_pb2, trade_service_pb2

NewUser = Callable[[], Awaitable[MeshUser]]


async def test_too_many_watches_is_resource_exhausted(
    start_trade: Callable[..., Awaitable[RunningTrade]], new_user: NewUser
) -> None:
    running = await start_trade(max_watches_per_user=1)
    user = await new_user()
    first = running.stub.WatchTrades(trade_service_pb2.WatchTradesRequest(), metadata=user.metadata)
    async for item in first:
        if item.WhichOneof("item") == "snapshot_end":
            break

    second = running.stub.WatchTrades(trade_service_pb2.WatchTradesRequest(), metadata=user.metadata)
    failure = await expect_failure(_first(second))
    first.cancel()

    assert (failure.code, failure.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "TOO_MANY_WATCHES")


async def _first(stream: Any) -> Any:
    async for item in stream:
        return item
    return None


async def test_imports_are_rate_limited_per_user(
    start_trade: Callable[..., Awaitable[RunningTrade]], new_user: NewUser
) -> None:
    running = await start_trade(import_limit_per_minute=1)
    user = await new_user()
    content = b"symbol,exchange,side,quantity,price,trade_time\nINFY,NSE,BUY,1,100,2024-03-15 10:00\n"

    def request() -> trade_service_pb2.ImportTradesRequest:
        return trade_service_pb2.ImportTradesRequest(
            request_id=new_request_id(), format=import_pb2.IMPORT_FORMAT_GENERIC_CSV, content=content
        )

    await running.stub.ImportTrades(request(), metadata=user.metadata)
    failure = await expect_failure(running.stub.ImportTrades(request(), metadata=user.metadata))

    assert (failure.code, failure.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "IMPORT_RATE_LIMITED")
    assert failure.retry_delay_seconds is not None


async def test_deleted_trades_are_purged_after_retention_with_an_event(
    start_trade: Callable[..., Awaitable[RunningTrade]], new_user: NewUser, redis: Redis
) -> None:
    running = await start_trade(purge_interval_seconds=0.2)
    user = await new_user()
    created = await create(running.stub, user.metadata, equity_trade())
    await running.stub.DeleteTrade(trade_service_pb2.DeleteTradeRequest(id=created.id), metadata=user.metadata)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(running.settings.mongo_url, tz_aware=True)
    trades = client[running.settings.mongo_database].trades
    await trades.update_one({"_id": created.id}, {"$set": {"purge_time": datetime.now(UTC) - timedelta(seconds=1)}})

    gone = await expect_failure(
        running.stub.GetTrade(trade_service_pb2.GetTradeRequest(id=created.id), metadata=user.metadata)
    )
    await eventually(
        lambda: trades.find_one({"_id": created.id}),
        interval=0.1,
        until=lambda document: document is None,
        what="the purge erases the trade",
    )
    await client.close()
    events: Any = await redis.xrange("trade-events")

    assert gone.code == grpc.StatusCode.NOT_FOUND
    assert [fields[b"type"] for _, fields in events] == [b"CREATED", b"DELETED", b"PURGED"]


async def test_a_journal_full_to_its_quota_refuses_new_trades_until_one_is_purged(
    start_trade: Callable[..., Awaitable[RunningTrade]], new_user: NewUser, service_token: Callable[..., str]
) -> None:
    running = await start_trade(trade_quota=2, purge_interval_seconds=0.2)
    user, other = await new_user(), await new_user()
    first_request, first_trade = new_request_id(), equity_trade()
    first = await create(running.stub, user.metadata, first_trade, request_id=first_request)
    await create(running.stub, user.metadata, equity_trade(symbol="TCS"))

    refused = await expect_failure(create(running.stub, user.metadata, equity_trade(symbol="SBIN")))
    replayed = await create(running.stub, user.metadata, first_trade, request_id=first_request)
    csv = b"symbol,exchange,side,quantity,price,trade_time\nINFY,NSE,BUY,1,100,2024-03-15 10:00\n"
    import_refused = await expect_failure(
        running.stub.ImportTrades(
            trade_service_pb2.ImportTradesRequest(
                request_id=new_request_id(), format=import_pb2.IMPORT_FORMAT_GENERIC_CSV, content=csv
            ),
            metadata=user.metadata,
        )
    )
    sync = await running.stub.ReconcileTrades(
        reconcile_request(user.user_id, broker_trade("Q1")), metadata=bearer(service_token())
    )
    others_trade = await create(running.stub, other.metadata, equity_trade())
    listed = await running.stub.ListTrades(trade_service_pb2.ListTradesRequest(), metadata=user.metadata)

    assert (refused.code, refused.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "TRADE_QUOTA_EXCEEDED")
    assert replayed.id == first.id
    assert (import_refused.code, import_refused.reason) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "TRADE_QUOTA_EXCEEDED",
    )
    assert (sync.failed_count, sync.results[0].error_reason) == (1, "TRADE_QUOTA_EXCEEDED")
    assert others_trade.id
    assert len(listed.trades) == 2

    # Deleting frees nothing until the purge erases the trade; then there is room for one more.
    await running.stub.DeleteTrade(trade_service_pb2.DeleteTradeRequest(id=first.id), metadata=user.metadata)
    still_full = await expect_failure(create(running.stub, user.metadata, equity_trade(symbol="SBIN")))
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(running.settings.mongo_url, tz_aware=True)
    trades = client[running.settings.mongo_database].trades
    await trades.update_one({"_id": first.id}, {"$set": {"purge_time": datetime.now(UTC) - timedelta(seconds=1)}})
    await eventually(
        lambda: trades.find_one({"_id": first.id}),
        interval=0.1,
        until=lambda document: document is None,
        what="the purge erases the trade",
    )
    await client.close()
    after_purge = await create(running.stub, user.metadata, equity_trade(symbol="SBIN"))

    assert still_full.reason == "TRADE_QUOTA_EXCEEDED"
    assert after_purge.id
