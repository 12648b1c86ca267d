"""Trade-test fixtures: trade services started per test, stubs, users and service tokens."""

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
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from trademesh.common.v1 import instrument_pb2
from trademesh.services.auth.keys import KeyRing
from trademesh.services.core.identity import ROLE_SERVICE
from trademesh.services.core.server import ServiceHost
from trademesh.services.trade.server import build_trade_server
from trademesh.services.trade.settings import TradeSettings
from trademesh.trade.v1 import import_pb2, trade_pb2, trade_service_pb2, trade_service_pb2_grpc

if TYPE_CHECKING:
    from trademesh.trade.v1.trade_service_pb2_grpc import TradeServiceAsyncStub

Metadata = tuple[tuple[str, str], ...]


@dataclass
class RunningTrade:
    """A started trade service: its host, a stub and its settings."""

    host: ServiceHost
    stub: TradeServiceAsyncStub
    settings: TradeSettings


@pytest.fixture
async def start_trade(
    redis: Redis, core_settings: Callable[..., dict[str, Any]]
) -> AsyncIterator[Callable[..., Awaitable[RunningTrade]]]:
    """Start trade services (stopped after the test); keyword arguments override settings."""
    started: list[RunningTrade] = []
    channels: list[aio.Channel] = []

    async def start(**overrides: Any) -> RunningTrade:
        settings = TradeSettings(**core_settings(**({"relay_scan_interval_seconds": 30.0} | overrides)))
        host = await build_trade_server(settings)
        channel = aio.insecure_channel(
            f"127.0.0.1:{host.port}", options=[("grpc.max_send_message_length", 16 * 1024 * 1024)]
        )
        channels.append(channel)
        running = RunningTrade(host, trade_service_pb2_grpc.TradeServiceStub(channel), settings)
        started.append(running)
        return running

    yield start
    for channel in channels:
        await channel.close()
    for running in started:
        await running.host.stop(0)


@pytest.fixture
async def trade(start_trade: Callable[..., Awaitable[RunningTrade]]) -> RunningTrade:
    """A running trade service with test defaults."""
    return await start_trade()


@pytest.fixture
def service_token(key_dir: Path) -> Callable[..., str]:
    """Mint access tokens signed like the auth service's (roles chosen by the test)."""
    keys = KeyRing.from_files([key_dir / "active.pem"])

    def mint(subject: str = "sync-service", roles: tuple[str, ...] = (ROLE_SERVICE,)) -> str:
        now = int(time.time())
        return keys.sign(
            {
                "iss": "trademesh-auth",
                "aud": "trademesh",
                "sub": subject,
                "iat": now,
                "nbf": now,
                "exp": now + 600,
                "jti": str(uuid.uuid4()),
                "sid": str(uuid.uuid4()),
                "roles": list(roles),
            }
        )

    return mint


@pytest.fixture
async def trade_db(trade: RunningTrade) -> AsyncIterator[Any]:
    """The trade service's database, for asserting on what was stored."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(trade.settings.mongo_url, tz_aware=True)
    yield client[trade.settings.mongo_database]
    await client.close()


def new_request_id() -> str:
    """Return a fresh idempotency key."""
    return str(uuid.uuid4())


def equity_trade(
    symbol: str = "INFY",
    side: int = trade_pb2.SIDE_BUY,
    quantity: int = 10,
    price: str = "1500.5",
    when: datetime | None = None,
    **extra: Any,
) -> trade_pb2.Trade:
    """Build a valid NSE equity trade message (quantity in units, price in rupees)."""
    message = trade_pb2.Trade(
        instrument=instrument_pb2.Instrument(symbol=symbol, exchange=instrument_pb2.EXCHANGE_NSE),
        side=side,  # type: ignore[arg-type]
        quantity_micros=quantity * 1_000_000,
        price_micros=int(float(price) * 1_000_000),
        **extra,
    )
    message.trade_time.FromDatetime(when or datetime.now(UTC) - timedelta(hours=1))
    return message


async def create(
    stub: TradeServiceAsyncStub, metadata: Metadata, trade: trade_pb2.Trade, request_id: str | None = None
) -> trade_pb2.Trade:
    """Create a trade and return it."""
    response = await stub.CreateTrade(
        trade_service_pb2.CreateTradeRequest(request_id=request_id or new_request_id(), trade=trade),
        metadata=metadata,
    )
    return response.trade


DAY = datetime(2024, 3, 15, 4, 0, tzinfo=UTC)


def broker_trade(
    trade_id: str, side: int = trade_pb2.SIDE_BUY, price: int = 100_000_000, **extra: object
) -> import_pb2.BrokerTrade:
    """Build a Kite-like broker fill of 10 SBIN at `price` micros on DAY."""
    item = import_pb2.BrokerTrade(
        broker_trade_id=trade_id,
        broker_order_id="O-" + trade_id,
        instrument=instrument_pb2.Instrument(symbol="SBIN", exchange=instrument_pb2.EXCHANGE_NSE),
        side=side,  # type: ignore[arg-type]
        quantity_micros=10_000_000,
        price_micros=price,
        **extra,  # type: ignore[arg-type]
    )
    item.trade_time.FromDatetime(DAY)
    return item


def reconcile_request(user_id: str, *items: import_pb2.BrokerTrade) -> trade_service_pb2.ReconcileTradesRequest:
    """Build a ReconcileTradesRequest of Zerodha account acct-1 for the user."""
    return trade_service_pb2.ReconcileTradesRequest(
        user_id=user_id, broker=instrument_pb2.BROKER_ZERODHA, broker_account_id="acct-1", trades=list(items)
    )
