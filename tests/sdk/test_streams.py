"""Resumable streams: an ``async for`` over WatchTrades and SubscribeQuotes survives a gateway restart."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.client_mesh import PASSWORD, RestartableGateway, RunningMesh, new_username
from tests.sdk.test_sdk import manual_trade, registered
from trademesh.marketdata.v1 import quote_stream_pb2
from trademesh.sdk import ClientOptions, connect, connect_sync
from trademesh.trade.v1 import trade_event_pb2, trade_service_pb2

T = TypeVar("T")
WAIT = 20.0


async def next_item(items: AsyncIterator[T]) -> T:
    return await asyncio.wait_for(anext(items), WAIT)


@pytest.fixture
def gateway(mesh: RunningMesh, tmp_path: Path) -> Iterator[RestartableGateway]:
    gateway = RestartableGateway(mesh, tmp_path)
    gateway.start()
    yield gateway
    gateway.stop()


async def test_streams_survive_a_gateway_restart_without_losing_their_place(
    mesh: RunningMesh, gateway: RestartableGateway
) -> None:
    client = await registered(gateway.address, options=ClientOptions(stream_max_backoff_seconds=1.0))
    async with client, connect(mesh.trade, tokens=client.tokens) as direct:
        watch = client.watch_trades()
        trades = aiter(watch)
        quotes_stream = client.subscribe_quotes(["INFY", "TCS"], max_updates_per_second=10)
        quotes = aiter(quotes_stream)

        assert (await next_item(trades)).WhichOneof("item") == "snapshot_begin"
        assert (await next_item(trades)).WhichOneof("item") == "snapshot_end"
        before = await client.trade.CreateTrade(
            trade_service_pb2.CreateTradeRequest(request_id=str(uuid.uuid4()), trade=manual_trade("INFY"))
        )
        event = (await next_item(trades)).event
        assert (event.type, event.trade.id) == (trade_event_pb2.TRADE_EVENT_TYPE_CREATED, before.trade.id)

        seen: list[quote_stream_pb2.QuoteBatch] = [await next_item(quotes)]
        assert seen[0].snapshot

        await asyncio.to_thread(gateway.stop)
        # A change while the client cannot reach the mesh: it must arrive after the restart, by replay.
        during = await direct.trade.CreateTrade(
            trade_service_pb2.CreateTradeRequest(request_id=str(uuid.uuid4()), trade=manual_trade("TCS"))
        )
        await asyncio.to_thread(gateway.start)

        replayed = await next_item(trades)
        assert replayed.WhichOneof("item") == "event", "a resume must replay, not start a new snapshot"
        assert (replayed.event.type, replayed.event.trade.id) == (
            trade_event_pb2.TRADE_EVENT_TYPE_CREATED,
            during.trade.id,
        )
        assert replayed.event.sequence > event.sequence
        assert watch.reconnects >= 1
        assert watch.tracker.resume_token == replayed.event.resume_token

        # Quotes: the reopened stream starts with a snapshot again, and no instrument goes back in time.
        resnapshot = None
        while resnapshot is None or len(seen) < resnapshot + 2:
            seen.append(await next_item(quotes))
            if resnapshot is None and seen[-1].snapshot:
                resnapshot = len(seen) - 1
        assert quotes_stream.reconnects >= 1
        latest: dict[str, int] = {}
        for batch in seen:
            for quote in batch.quotes:
                assert quote.sequence >= latest.get(quote.instrument.symbol, 0)
                latest[quote.instrument.symbol] = quote.sequence
        assert set(latest) == {"INFY", "TCS"}


def test_the_blocking_client_resumes_a_trade_watch_after_a_gateway_restart(
    mesh: RunningMesh, gateway: RestartableGateway
) -> None:
    options = ClientOptions(stream_max_backoff_seconds=1.0)
    with connect_sync(gateway.address, options=options) as client:
        name = new_username()
        client.register(email=f"{name}@example.com", username=name, password=PASSWORD)
        watch = client.watch_trades()
        items = iter(watch)
        assert next(items).WhichOneof("item") == "snapshot_begin"
        assert next(items).WhichOneof("item") == "snapshot_end"
        before = client.trade.CreateTrade(
            trade_service_pb2.CreateTradeRequest(request_id=str(uuid.uuid4()), trade=manual_trade())
        )
        assert next(items).event.trade.id == before.trade.id

        gateway.stop()
        with connect_sync(mesh.trade, tokens=client.tokens) as direct:
            during = direct.trade.CreateTrade(
                trade_service_pb2.CreateTradeRequest(request_id=str(uuid.uuid4()), trade=manual_trade())
            )
        gateway.start()

        replayed = next(items)
        assert replayed.WhichOneof("item") == "event"
        assert replayed.event.trade.id == during.trade.id
        assert watch.reconnects >= 1
