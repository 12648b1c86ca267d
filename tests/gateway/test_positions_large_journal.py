"""ListPositions of a large journal through the real Envoy, at the gateway's default unary timeout (15 s).

20,000 fills of one trader over 40 instruments (equity, futures, options; trademesh.devstack.
position_journal), written straight into the trade store with its own document writer, beside another
trader's: the positions come back within the route timeout (decision 0370), equal to main's replay of
whole trades, and only to their owner. The 100,000-fill figures are bench/positions_bench.py's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from pymongo import AsyncMongoClient

from tests.gateway.conftest import Gateway
from tests.gateway.trade_gateway import NewUser, trade_gateway, trade_host
from tests.rpc import bearer, expect_failure
from tests.trade.fakes import CountingRateLimiter, RecordingEventSink
from trademesh.devstack.position_journal import load_positions_journal
from trademesh.gateway.mesh.limits import DEFAULT_UNARY_TIMEOUT_SECONDS
from trademesh.services.trade.mapping import position_to_proto
from trademesh.services.trade.model import PositionFilter
from trademesh.services.trade.server import bootstrap
from trademesh.services.trade.settings import TradeSettings
from trademesh.services.trade.store import MongoTradeStore
from trademesh.trade.v1 import trade_service_pb2, trade_service_pb2_grpc

__all__ = ["trade_gateway", "trade_host"]

FILLS = 20_000
INSTRUMENTS = 40


@pytest.mark.timeout(300)
async def test_a_20000_fill_journal_lists_its_positions_through_the_gateway_within_the_route_timeout(
    trade_gateway: Gateway, core_settings: Callable[..., dict[str, Any]], new_user: NewUser
) -> None:
    trader, other = await new_user(), await new_user()
    settings = TradeSettings(**core_settings())
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongo_url, tz_aware=True)
    try:
        database = client[settings.mongo_database]
        assert await load_positions_journal(database.trades, "large", trader.user_id, FILLS, INSTRUMENTS) == FILLS
        await load_positions_journal(database.trades, "large", other.user_id, 2_000, 7)
        reference = bootstrap(
            settings, store=MongoTradeStore(database), events=RecordingEventSink(), limiter=CountingRateLimiter()
        )
        expected, _ = await reference.positions_from_trades(trader.user_id, PositionFilter(), 1000, "")
    finally:
        await client.close()

    async with trade_gateway.channel() as channel:
        stub = trade_service_pb2_grpc.TradeServiceStub(channel)
        # The client's deadline is the route's: a gateway cut would be DEADLINE_EXCEEDED, not a pass.
        response = await stub.ListPositions(
            trade_service_pb2.ListPositionsRequest(page_size=1000),
            metadata=bearer(trader.access_token),
            timeout=DEFAULT_UNARY_TIMEOUT_SECONDS,
        )
        assert len(response.positions) == INSTRUMENTS
        assert sum(p.trade_count for p in response.positions) == FILLS
        assert list(response.positions) == [position_to_proto(p) for p in expected]
        assert any(p.net_quantity_micros < 0 for p in response.positions)
        assert any(p.break_even_price_micros for p in response.positions)

        # Pages of 7 walk the same positions; a filter narrows the read.
        walked: list[Any] = []
        token = ""
        while True:
            page = await stub.ListPositions(
                trade_service_pb2.ListPositionsRequest(page_size=7, page_token=token),
                metadata=bearer(trader.access_token),
                timeout=DEFAULT_UNARY_TIMEOUT_SECONDS,
            )
            walked.extend(page.positions)
            token = page.next_page_token
            if not token:
                break
        assert walked == list(response.positions)
        filtered = await stub.ListPositions(
            trade_service_pb2.ListPositionsRequest(symbol="INFY"),
            metadata=bearer(trader.access_token),
            timeout=DEFAULT_UNARY_TIMEOUT_SECONDS,
        )
        infy = [position for position in response.positions if position.instrument.symbol == "INFY"]
        assert len(infy) == 1
        assert list(filtered.positions) == infy

        # Each trader sees only their own journal, and a page token does not cross users.
        theirs = await stub.ListPositions(
            trade_service_pb2.ListPositionsRequest(page_size=1000),
            metadata=bearer(other.access_token),
            timeout=DEFAULT_UNARY_TIMEOUT_SECONDS,
        )
        assert len(theirs.positions) == 7
        assert sum(p.trade_count for p in theirs.positions) == 2_000
        first = await stub.ListPositions(
            trade_service_pb2.ListPositionsRequest(page_size=2),
            metadata=bearer(trader.access_token),
            timeout=DEFAULT_UNARY_TIMEOUT_SECONDS,
        )
        failure = await expect_failure(
            stub.ListPositions(
                trade_service_pb2.ListPositionsRequest(page_size=2, page_token=first.next_page_token),
                metadata=bearer(other.access_token),
                timeout=DEFAULT_UNARY_TIMEOUT_SECONDS,
            )
        )
        assert (failure.code, failure.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "PAGE_TOKEN_INVALID")
