"""Market-data fixtures: services started per test against the session's real Redis and database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import pytest
from grpc import aio
from redis.asyncio import Redis

from trademesh.marketdata.v1 import marketdata_service_pb2_grpc
from trademesh.services.core.server import ServiceHost
from trademesh.services.marketdata.server import build_marketdata_server
from trademesh.services.marketdata.settings import MarketDataSettings

if TYPE_CHECKING:
    from trademesh.marketdata.v1.marketdata_service_pb2_grpc import MarketDataServiceAsyncStub


@pytest.fixture
def make_marketdata_settings(core_settings: Callable[..., dict[str, Any]]) -> Callable[..., MarketDataSettings]:
    """Build settings for a test: market always open, a fast feed, short lease; keywords override."""

    def make(**overrides: Any) -> MarketDataSettings:
        values = core_settings(
            session_policy="always_open",
            simulator_ticks_per_second=200.0,
            ingest_lock_ttl_seconds=1.5,
            bar_flush_seconds=0.5,
            backplane_retry_seconds=1.0,
        )
        values.update(overrides)
        return MarketDataSettings(**values)

    return make


@pytest.fixture
async def start_marketdata(
    redis: Redis, make_marketdata_settings: Callable[..., MarketDataSettings]
) -> AsyncIterator[Callable[..., Any]]:
    """Start market-data servers (stopped after the test); returns (host, stub)."""
    hosts: list[ServiceHost] = []
    channels: list[aio.Channel] = []

    async def start(**overrides: Any) -> tuple[ServiceHost, MarketDataServiceAsyncStub]:
        host = await build_marketdata_server(make_marketdata_settings(**overrides))
        hosts.append(host)
        channel = aio.insecure_channel(f"127.0.0.1:{host.port}")
        channels.append(channel)
        return host, marketdata_service_pb2_grpc.MarketDataServiceStub(channel)

    yield start
    for channel in channels:
        await channel.close()
    for host in hosts:
        await host.stop(0)
