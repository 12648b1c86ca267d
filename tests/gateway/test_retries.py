"""The gateway's retries through the real Envoy: an idempotent read that a service answered is not sent again.

Two stand-in market-data replicas implement only ``GetQuote`` (an idempotent read, so its route has a
retry policy) and answer with the status code named by the requested symbol, counting the calls they
get. A service's UNAVAILABLE or CANCELLED goes back to the caller as it is, after one attempt: retrying
it would run the read again on a database that may still be working on the first. (A replica that dies
mid-call is retried: test_replicas.py.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import pytest
from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from tests.conftest import MeshUser
from tests.gateway.conftest import Gateway, StartGateway, grpc_endpoint, jwks_endpoint
from tests.rpc import bearer, expect_failure
from trademesh.common.v1 import instrument_pb2
from trademesh.gateway.mesh import Endpoint
from trademesh.marketdata.v1 import marketdata_service_pb2, marketdata_service_pb2_grpc
from trademesh.services.core.interceptors import metadata_value
from trademesh.services.core.server import ServiceHost

SERVICE = marketdata_service_pb2.DESCRIPTOR.services_by_name["MarketDataService"].full_name


async def _stand_in(calls: Counter[str]) -> tuple[aio.Server, Endpoint]:
    async def get_quote(
        request: marketdata_service_pb2.GetQuoteRequest, context: aio.ServicerContext[Any, Any]
    ) -> marketdata_service_pb2.GetQuoteResponse:
        calls[metadata_value(context, "x-request-id") or ""] += 1
        await context.abort(grpc.StatusCode[request.instrument.symbol], "the stand-in's answer")
        raise AssertionError("abort returned")

    server = aio.server()
    handler = grpc.unary_unary_rpc_method_handler(
        get_quote,
        request_deserializer=marketdata_service_pb2.GetQuoteRequest.FromString,
        response_serializer=marketdata_service_pb2.GetQuoteResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {"GetQuote": handler}),))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await health_servicer.set(SERVICE, health_pb2.HealthCheckResponse.SERVING)
    return server, Endpoint("127.0.0.1", port)


@pytest.fixture
async def replicas() -> AsyncIterator[tuple[Counter[str], list[Endpoint]]]:
    """Two stand-in replicas sharing one call counter (calls by x-request-id)."""
    calls: Counter[str] = Counter()
    started = [await _stand_in(calls) for _ in range(2)]
    yield calls, [endpoint for _, endpoint in started]
    for server, _ in started:
        await server.stop(0)


@pytest.fixture
async def gateway(
    mesh_auth: ServiceHost, replicas: tuple[Counter[str], list[Endpoint]], start_gateway: StartGateway
) -> Gateway:
    """Envoy in front of auth and the two stand-in market-data replicas."""
    _, endpoints = replicas
    gateway = await start_gateway(
        {"auth": [grpc_endpoint(mesh_auth)], "marketdata": endpoints}, [jwks_endpoint(mesh_auth)]
    )
    await gateway.wait_healthy("svc-marketdata", 2)
    return gateway


@pytest.mark.parametrize("code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED])
async def test_an_idempotent_read_the_service_answered_is_not_retried(
    gateway: Gateway,
    replicas: tuple[Counter[str], list[Endpoint]],
    new_user: Callable[[], Awaitable[MeshUser]],
    code: grpc.StatusCode,
) -> None:
    calls, _ = replicas
    user = await new_user()
    request_id = f"no-retry-{code.name.lower()}"
    request = marketdata_service_pb2.GetQuoteRequest(
        instrument=instrument_pb2.Instrument(symbol=code.name, exchange=instrument_pb2.EXCHANGE_NSE)
    )

    async with gateway.channel() as channel:
        stub = marketdata_service_pb2_grpc.MarketDataServiceStub(channel)
        failure = await expect_failure(
            stub.GetQuote(request, metadata=(*bearer(user.access_token), ("x-request-id", request_id)), timeout=10)
        )

    assert failure.code == code
    [entry] = await gateway.access_log(request_id, 1)
    assert entry["attempts"] == 1
    assert calls[request_id] == 1
