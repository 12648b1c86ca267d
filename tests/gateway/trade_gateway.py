"""What the gateway's trade tests share: the real trade service, Envoy in front of it, ImportTrades requests.

Fixtures (import them into a test module to use them): `trade_host`, the real trade service on a fresh database;
`import_gateway`, Envoy in front of auth and trade with every unary route but the catalog's long ones at 0.1 s;
`trade_gateway`, the same with the catalog's default unary timeout. Helpers: `import_request` and
`web_import` (an ImportTrades call over grpc-web, as the browser sends it).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from tests.conftest import MeshUser
from tests.gateway import grpcweb
from tests.gateway.conftest import Gateway, StartGateway, grpc_endpoint, jwks_endpoint
from trademesh.services.core.server import ServiceHost
from trademesh.services.trade.server import build_trade_server
from trademesh.services.trade.settings import TradeSettings
from trademesh.trade.v1 import import_pb2, trade_service_pb2

NewUser = Callable[[], Awaitable[MeshUser]]
IMPORT = "/trademesh.trade.v1.TradeService/ImportTrades"
#: Every other unary route of the import gateway ends a call after this: far less than an import takes.
SHORT_UNARY_TIMEOUT_SECONDS = 0.1


def import_request(content: bytes) -> trade_service_pb2.ImportTradesRequest:
    """An ImportTrades request for a Zerodha tradebook, with a fresh request id."""
    return trade_service_pb2.ImportTradesRequest(
        request_id=str(uuid.uuid4()),
        format=import_pb2.IMPORT_FORMAT_ZERODHA_TRADEBOOK_CSV,
        content=content,
        file_name="tradebook.csv",
    )


async def web_import(gateway: Gateway, access_token: str, content: bytes) -> grpcweb.GrpcWebResponse:
    """Import ``content`` over grpc-web through ``gateway``, as the browser sends it (uncompressed, timeoutMs
    120000 as grpc-timeout)."""
    async with aiohttp.ClientSession() as session:
        return await grpcweb.call(
            session,
            gateway.url,
            IMPORT,
            import_request(content).SerializeToString(),
            headers={"authorization": f"Bearer {access_token}", "grpc-timeout": "120000m"},
        )


@pytest.fixture
async def trade_host(core_settings: Callable[..., dict[str, Any]]) -> AsyncIterator[ServiceHost]:
    """The real trade service on a fresh database."""
    host = await build_trade_server(TradeSettings(**core_settings(relay_scan_interval_seconds=3600.0)))
    yield host
    await host.stop(0)


async def _gateway(start_gateway: StartGateway, auth: ServiceHost, trade: ServiceHost, **options: Any) -> Gateway:
    gateway = await start_gateway(
        {"auth": [grpc_endpoint(auth)], "trade": [grpc_endpoint(trade)]}, [jwks_endpoint(auth)], **options
    )
    await gateway.wait_healthy("svc-trade", 1)
    return gateway


@pytest.fixture
async def import_gateway(mesh_auth: ServiceHost, trade_host: ServiceHost, start_gateway: StartGateway) -> Gateway:
    """Envoy in front of auth and trade, every unary route but the catalog's long ones at a 0.1 s timeout."""
    return await _gateway(start_gateway, mesh_auth, trade_host, unary_timeout_seconds=SHORT_UNARY_TIMEOUT_SECONDS)


@pytest.fixture
async def trade_gateway(mesh_auth: ServiceHost, trade_host: ServiceHost, start_gateway: StartGateway) -> Gateway:
    """Envoy in front of auth and trade with the catalog's default unary route timeout."""
    return await _gateway(start_gateway, mesh_auth, trade_host)
