"""Analytics-test fixtures: real trade, market-data and analytics services on the session's Redis/FerretDB."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from grpc import aio
from redis.asyncio import Redis

from trademesh.analytics.v1 import analytics_service_pb2_grpc
from trademesh.common.v1 import instrument_pb2
from trademesh.services.analytics.server import AnalyticsRuntime, build_analytics_runtime
from trademesh.services.analytics.settings import AnalyticsSettings
from trademesh.services.auth.keys import KeyRing
from trademesh.services.core.identity import ROLE_SERVICE
from trademesh.services.core.server import ServiceHost
from trademesh.services.marketdata.server import build_marketdata_server
from trademesh.services.marketdata.settings import MarketDataSettings
from trademesh.services.trade.server import build_trade_server
from trademesh.services.trade.settings import TradeSettings
from trademesh.trade.v1 import trade_pb2, trade_service_pb2, trade_service_pb2_grpc

if TYPE_CHECKING:
    from trademesh.analytics.v1.analytics_service_pb2_grpc import AnalyticsServiceAsyncStub
    from trademesh.trade.v1.trade_service_pb2_grpc import TradeServiceAsyncStub

Metadata = tuple[tuple[str, str], ...]


@dataclass
class Mesh:
    """The services of one test: trade, market data (optional) and analytics, with stubs."""

    trade: TradeServiceAsyncStub
    analytics: AnalyticsServiceAsyncStub
    runtime: AnalyticsRuntime
    settings: AnalyticsSettings


@pytest.fixture
async def start_mesh(
    redis: Redis, core_settings: Callable[..., dict[str, Any]]
) -> AsyncIterator[Callable[..., Awaitable[Mesh]]]:
    """Start trade, market data (simulated feed, always open) and analytics; keywords override analytics settings."""
    hosts: list[ServiceHost] = []
    channels: list[aio.Channel] = []

    async def start(*, marketdata: bool = True, **overrides: Any) -> Mesh:
        trade_host = await build_trade_server(TradeSettings(**core_settings()))
        hosts.append(trade_host)
        marketdata_target = "127.0.0.1:1"  # nothing listens: quotes are unavailable
        if marketdata:
            marketdata_host = await build_marketdata_server(
                MarketDataSettings(**core_settings(session_policy="always_open", simulator_ticks_per_second=400.0))
            )
            hosts.append(marketdata_host)
            marketdata_target = f"127.0.0.1:{marketdata_host.port}"
        settings = AnalyticsSettings(
            **core_settings(marketdata_target=marketdata_target, event_block_seconds=0.2, **overrides)
        )
        runtime = await build_analytics_runtime(settings)
        hosts.append(runtime.host)
        trade_channel = aio.insecure_channel(f"127.0.0.1:{trade_host.port}")
        analytics_channel = aio.insecure_channel(f"127.0.0.1:{runtime.host.port}")
        channels.extend((trade_channel, analytics_channel))
        return Mesh(
            trade_service_pb2_grpc.TradeServiceStub(trade_channel),
            analytics_service_pb2_grpc.AnalyticsServiceStub(analytics_channel),
            runtime,
            settings,
        )

    yield start
    for channel in channels:
        await channel.close()
    for host in reversed(hosts):
        await host.stop(0)


@pytest.fixture
def mint_token(key_dir: Path) -> Callable[..., str]:
    """Mint access tokens signed like the auth service's (subject and roles chosen by the test)."""
    keys = KeyRing.from_files([key_dir / "active.pem"])

    def mint(subject: str = "ops-service", roles: tuple[str, ...] = (ROLE_SERVICE,), ttl: int = 600) -> str:
        now = int(time.time())
        return keys.sign(
            {
                "iss": "trademesh-auth",
                "aud": "trademesh",
                "sub": subject,
                "iat": now,
                "nbf": now,
                "exp": now + ttl,
                "jti": str(uuid.uuid4()),
                "sid": str(uuid.uuid4()),
                "roles": list(roles),
            }
        )

    return mint


def bearer(token: str) -> Metadata:
    """Return call metadata carrying a token."""
    return (("authorization", f"Bearer {token}"),)


def equity_trade(
    symbol: str,
    side: int,
    units: int,
    rupees: int,
    when: datetime | None = None,
    fees_micros: int = 0,
    quantity_micros: int | None = None,
    price_micros: int | None = None,
    charges_source: int = trade_pb2.CHARGES_SOURCE_UNSPECIFIED,
) -> trade_pb2.Trade:
    """Build an NSE equity trade (no fees and no source: the trade service computes its charges)."""
    message = trade_pb2.Trade(
        instrument=instrument_pb2.Instrument(symbol=symbol, exchange=instrument_pb2.EXCHANGE_NSE),
        side=side,  # type: ignore[arg-type]
        quantity_micros=quantity_micros if quantity_micros is not None else units * 1_000_000,
        price_micros=price_micros if price_micros is not None else rupees * 1_000_000,
        fees_micros=fees_micros,
        charges_source=charges_source,  # type: ignore[arg-type]
    )
    message.trade_time.FromDatetime(when or datetime.now(UTC) - timedelta(minutes=30))
    return message


async def create_trade(stub: TradeServiceAsyncStub, metadata: Metadata, trade: trade_pb2.Trade) -> trade_pb2.Trade:
    """Create a trade through the real trade service and return it."""
    response = await stub.CreateTrade(
        trade_service_pb2.CreateTradeRequest(request_id=str(uuid.uuid4()), trade=trade), metadata=metadata
    )
    return response.trade
