"""Server streams through the real Envoy: the streaming route (no timeout, idle timeout instead).

The first tests' upstream is a stand-in that implements only ``MarketDataService.SubscribeQuotes``
by sending a numbered heartbeat every half second, so the timing is exact: messages are delivered
one by one over grpc-web and native gRPC, and a stream lives longer than the unary timeout. The last
test runs the real market-data service (simulated feed) behind Envoy: snapshot, then live ticks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import grpc
import pytest
from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from tests.conftest import MeshUser
from tests.gateway import grpcweb
from tests.gateway.conftest import StartGateway, grpc_endpoint, jwks_endpoint
from tests.marketdata.helpers import subscribe_request
from tests.rpc import bearer, expect_failure
from trademesh.gateway.mesh import Endpoint
from trademesh.marketdata.v1 import marketdata_service_pb2, marketdata_service_pb2_grpc, quote_stream_pb2
from trademesh.services.core.server import ServiceHost
from trademesh.services.marketdata.server import build_marketdata_server
from trademesh.services.marketdata.settings import MarketDataSettings

SUBSCRIBE = "/trademesh.marketdata.v1.MarketDataService/SubscribeQuotes"
MESSAGES = 4
GAP_SECONDS = 0.5
#: Shorter than the stream (MESSAGES - 1) * GAP_SECONDS: a unary route would cut the stream off.
UNARY_TIMEOUT_SECONDS = 1.0


async def _subscribe_quotes(
    request: marketdata_service_pb2.SubscribeQuotesRequest, context: Any
) -> AsyncIterator[marketdata_service_pb2.SubscribeQuotesResponse]:
    for number in range(MESSAGES):
        if number:
            await asyncio.sleep(GAP_SECONDS)
        heartbeat = quote_stream_pb2.Heartbeat(conflated_update_count=number)
        yield marketdata_service_pb2.SubscribeQuotesResponse(heartbeat=heartbeat)


@pytest.fixture
async def stand_in() -> AsyncIterator[Endpoint]:
    """A gRPC server with health and the stand-in SubscribeQuotes."""
    name = marketdata_service_pb2.DESCRIPTOR.services_by_name["MarketDataService"].full_name
    server = aio.server()
    handler = grpc.unary_stream_rpc_method_handler(
        _subscribe_quotes,
        request_deserializer=marketdata_service_pb2.SubscribeQuotesRequest.FromString,
        response_serializer=marketdata_service_pb2.SubscribeQuotesResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(name, {"SubscribeQuotes": handler}),))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    yield Endpoint("127.0.0.1", port)
    await server.stop(0)


@pytest.fixture
async def gateway_url_and_address(
    mesh_auth: ServiceHost, stand_in: Endpoint, start_gateway: StartGateway
) -> tuple[str, str]:
    gateway = await start_gateway(
        {"auth": [grpc_endpoint(mesh_auth)], "marketdata": [stand_in]},
        [jwks_endpoint(mesh_auth)],
        unary_timeout_seconds=UNARY_TIMEOUT_SECONDS,
    )
    await gateway.wait_healthy("svc-marketdata", 1)
    return gateway.url, gateway.address


async def test_a_server_stream_over_grpc_web_arrives_message_by_message(
    gateway_url_and_address: tuple[str, str], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    url, _ = gateway_url_and_address
    user = await new_user()
    request = marketdata_service_pb2.SubscribeQuotesRequest().SerializeToString()
    headers = {
        "content-type": grpcweb.CONTENT_TYPE,
        "x-grpc-web": "1",
        "authorization": f"Bearer {user.access_token}",
    }
    arrivals: list[tuple[float, int, bytes]] = []
    started = time.monotonic()
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + SUBSCRIBE, data=grpcweb.frame(request), headers=headers) as response,
    ):
        assert response.status == 200
        while True:
            try:
                head = await response.content.readexactly(5)
            except asyncio.IncompleteReadError as error:
                if error.partial:
                    raise AssertionError("the stream ended inside a frame header") from error
                break
            flag, length = int(head[0]), int.from_bytes(head[1:], "big")
            arrivals.append((time.monotonic() - started, flag, await response.content.readexactly(length)))
    data = [(at, payload) for at, flag, payload in arrivals if flag == grpcweb.DATA_FRAME]
    numbers = [
        marketdata_service_pb2.SubscribeQuotesResponse.FromString(payload).heartbeat.conflated_update_count
        for _, payload in data
    ]
    assert numbers == list(range(MESSAGES))
    assert arrivals[-1][1] == grpcweb.TRAILER_FRAME
    assert grpcweb.parse_trailers(arrivals[-1][2])["grpc-status"] == "0"
    # Delivered as they were sent, not buffered to the end; and longer than any unary call may last.
    assert data[-1][0] - data[0][0] >= (MESSAGES - 1) * GAP_SECONDS * 0.8
    assert arrivals[-1][0] > UNARY_TIMEOUT_SECONDS


async def test_a_server_stream_over_native_grpc(
    gateway_url_and_address: tuple[str, str], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    _, address = gateway_url_and_address
    user = await new_user()
    async with aio.insecure_channel(address) as channel:
        stub = marketdata_service_pb2_grpc.MarketDataServiceStub(channel)
        call = stub.SubscribeQuotes(marketdata_service_pb2.SubscribeQuotesRequest(), metadata=bearer(user.access_token))
        numbers = [message.heartbeat.conflated_update_count async for message in call]
        assert numbers == list(range(MESSAGES))
        assert await call.code() == grpc.StatusCode.OK

        # Without a token the stream is refused at the edge.
        async def first_message() -> None:
            async for _ in stub.SubscribeQuotes(marketdata_service_pb2.SubscribeQuotesRequest()):
                raise AssertionError("a message arrived without a token")

        failure = await expect_failure(first_message())
    assert failure.code == grpc.StatusCode.UNAUTHENTICATED


@pytest.fixture
async def real_marketdata(core_settings: Callable[..., dict[str, Any]]) -> AsyncIterator[ServiceHost]:
    """The real market-data service: simulated feed, market always open, on the session's Redis."""
    settings = MarketDataSettings(**core_settings(session_policy="always_open", simulator_ticks_per_second=200.0))
    host = await build_marketdata_server(settings)
    yield host
    await host.stop(0)


async def test_subscribe_quotes_over_grpc_web_from_the_real_market_data_service(
    mesh_auth: ServiceHost,
    real_marketdata: ServiceHost,
    start_gateway: StartGateway,
    new_user: Callable[[], Awaitable[MeshUser]],
) -> None:
    gateway = await start_gateway(
        {"auth": [grpc_endpoint(mesh_auth)], "marketdata": [grpc_endpoint(real_marketdata)]},
        [jwks_endpoint(mesh_auth)],
    )
    await gateway.wait_healthy("svc-marketdata", 1)
    user = await new_user()
    symbols = ("RELIANCE", "INFY", "TCS")
    request = subscribe_request(*symbols).SerializeToString()
    headers = {
        "content-type": grpcweb.CONTENT_TYPE,
        "x-grpc-web": "1",
        "authorization": f"Bearer {user.access_token}",
    }
    batches: list[marketdata_service_pb2.SubscribeQuotesResponse] = []
    async with (
        aiohttp.ClientSession() as session,
        session.post(gateway.url + SUBSCRIBE, data=grpcweb.frame(request), headers=headers) as response,
    ):
        assert response.status == 200
        assert response.headers["content-type"].startswith(grpcweb.CONTENT_TYPE)
        # The snapshot, then live batches: read until three live batches arrived, then hang up.
        while sum(1 for batch in batches if not batch.batch.snapshot) < 3:
            head = await asyncio.wait_for(response.content.readexactly(5), 10)
            assert head[0] == grpcweb.DATA_FRAME, "the stream ended early"
            payload = await response.content.readexactly(int.from_bytes(head[1:], "big"))
            message = marketdata_service_pb2.SubscribeQuotesResponse.FromString(payload)
            if message.HasField("batch"):
                batches.append(message)

    snapshot = batches[0].batch
    assert snapshot.snapshot
    assert sorted(quote.instrument.symbol for quote in snapshot.quotes) == sorted(symbols)
    live = [quote for batch in batches[1:] for quote in batch.batch.quotes]
    assert live
    assert all(quote.last_price_micros > 0 for quote in live)
    assert {quote.instrument.symbol for quote in live} <= set(symbols)
