"""Through the real Envoy: grpc-web and native gRPC, CORS, JWT at the edge, rate limits, static files."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.conftest import MeshUser
from tests.gateway import grpcweb
from tests.gateway.conftest import ORIGIN, Gateway, ServiceCalls, StartGateway, grpc_endpoint, jwks_endpoint
from tests.rpc import bearer, expect_failure
from trademesh.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from trademesh.gateway.envoy_config import CORS_EXPOSE_HEADERS
from trademesh.gateway.mesh import RateLimit
from trademesh.services.core.server import ServiceHost
from trademesh.trade.v1 import trade_service_pb2, trade_service_pb2_grpc

GET_JWKS = "/trademesh.auth.v1.AuthService/GetJwks"
GET_ME = "/trademesh.auth.v1.AuthService/GetMe"
NewUser = Callable[[], Awaitable[MeshUser]]


async def test_grpc_web_unary_call_with_a_plain_http_client(mesh_gateway: Gateway) -> None:
    async with aiohttp.ClientSession() as session:
        response = await grpcweb.call(
            session, mesh_gateway.url, GET_JWKS, auth_service_pb2.GetJwksRequest().SerializeToString()
        )
    assert response.http_status == 200
    assert response.headers["content-type"].startswith("application/grpc-web")
    assert not response.trailers_only
    # One data frame with the message, then the trailer frame carrying the status.
    assert [flag for flag, _ in response.frames] == [grpcweb.DATA_FRAME, grpcweb.TRAILER_FRAME]
    assert response.grpc_status == 0
    jwks = auth_service_pb2.GetJwksResponse.FromString(response.messages[0])
    assert jwks.keys
    assert all(key.kty == "OKP" and key.crv == "Ed25519" for key in jwks.keys)


async def test_grpc_web_over_http2_cleartext(mesh_gateway: Gateway) -> None:
    listen = mesh_gateway.mesh.listen
    request = auth_service_pb2.GetJwksRequest().SerializeToString()
    response = await asyncio.to_thread(grpcweb.call_h2c, listen.host, listen.port, GET_JWKS, request)
    assert response.http_status == 200
    assert [flag for flag, _ in response.frames] == [grpcweb.DATA_FRAME, grpcweb.TRAILER_FRAME]
    assert response.grpc_status == 0
    assert auth_service_pb2.GetJwksResponse.FromString(response.messages[0]).keys


async def test_grpc_web_authenticated_call(mesh_gateway: Gateway, new_user: NewUser) -> None:
    user = await new_user()
    async with aiohttp.ClientSession() as session:
        response = await grpcweb.call(
            session,
            mesh_gateway.url,
            GET_ME,
            auth_service_pb2.GetMeRequest().SerializeToString(),
            headers={"authorization": f"Bearer {user.access_token}", "origin": ORIGIN},
        )
    assert response.grpc_status == 0, response.trailers
    me = auth_service_pb2.GetMeResponse.FromString(response.messages[0])
    assert me.user.username == user.username
    # A cross-origin browser may read the status headers.
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "grpc-status" in response.headers["access-control-expose-headers"]


async def test_native_grpc_through_envoy(mesh_gateway: Gateway) -> None:
    async with mesh_gateway.channel() as channel:
        stub = auth_service_pb2_grpc.AuthServiceStub(channel)
        name = f"user_{uuid.uuid4().hex[:10]}"
        registered = await stub.Register(
            auth_service_pb2.RegisterRequest(email=f"{name}@example.com", username=name, password="Correct-Horse-42")
        )
        me = await stub.GetMe(auth_service_pb2.GetMeRequest(), metadata=bearer(registered.tokens.access_token))
        assert me.user.id == registered.user.id
        # A service error keeps its code, message and details through Envoy.
        failure = await expect_failure(
            stub.Register(
                auth_service_pb2.RegisterRequest(
                    email=f"{name}@example.com", username=name, password="Correct-Horse-42"
                )
            )
        )
        assert failure.code == grpc.StatusCode.ALREADY_EXISTS
        assert failure.reason in {"EMAIL_TAKEN", "USERNAME_TAKEN"}


async def test_envoy_gives_each_call_a_request_id_that_the_service_logs(
    mesh_gateway: Gateway, service_calls: ServiceCalls
) -> None:
    async with mesh_gateway.channel() as channel:
        call = auth_service_pb2_grpc.AuthServiceStub(channel).GetJwks(auth_service_pb2.GetJwksRequest())
        await call
        metadata = dict(await call.initial_metadata())
    request_id = str(metadata["x-request-id"])
    assert [record.method for record in service_calls.with_request_id(request_id)] == [GET_JWKS]
    [entry] = await mesh_gateway.access_log(request_id, 1)
    assert entry["path"] == GET_JWKS
    assert entry["grpc_status"] == "OK"
    assert entry["upstream"] == str(mesh_gateway.mesh.services[0].endpoints[0])


async def test_cors_preflight(mesh_gateway: Gateway) -> None:
    headers = {
        "origin": ORIGIN,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,x-grpc-web,x-user-agent,authorization",
    }
    async with aiohttp.ClientSession() as session:
        async with session.options(mesh_gateway.url + GET_ME, headers=headers) as response:
            assert response.status == 200
            assert response.headers["access-control-allow-origin"] == ORIGIN
            assert "POST" in response.headers["access-control-allow-methods"]
            allowed = response.headers["access-control-allow-headers"].lower()
            assert {"content-type", "x-grpc-web", "authorization"} <= set(allowed.split(","))
            exposed = set(response.headers["access-control-expose-headers"].split(","))
            assert {"grpc-status", "grpc-message", "grpc-status-details-bin"} <= exposed
        # An origin that is not configured gets no CORS grant.
        async with session.options(
            mesh_gateway.url + GET_ME, headers={**headers, "origin": "http://evil.example"}
        ) as response:
            assert "access-control-allow-origin" not in response.headers
    assert set(CORS_EXPOSE_HEADERS.split(",")) >= exposed


@pytest.mark.parametrize("token", [None, "garbage", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."])
async def test_protected_calls_without_a_valid_token_are_rejected_at_the_edge(
    mesh_gateway: Gateway, service_calls: ServiceCalls, new_user: NewUser, token: str | None
) -> None:
    request_id = uuid.uuid4().hex
    metadata = [("x-request-id", request_id)]
    if token is not None:
        metadata.append(("authorization", f"Bearer {token}"))
    async with mesh_gateway.channel() as channel:
        stub = auth_service_pb2_grpc.AuthServiceStub(channel)
        failure = await expect_failure(stub.GetMe(auth_service_pb2.GetMeRequest(), metadata=metadata))
        assert failure.code == grpc.StatusCode.UNAUTHENTICATED
        # grpc-web gets the same status.
        async with aiohttp.ClientSession() as session:
            web = await grpcweb.call(
                session,
                mesh_gateway.url,
                GET_ME,
                b"",
                headers={"x-request-id": request_id, **({"authorization": f"Bearer {token}"} if token else {})},
            )
        assert web.grpc_status == grpc.StatusCode.UNAUTHENTICATED.value[0]
        # Control: the same path with a valid token does reach the service and is logged with its id.
        user = await new_user()
        allowed_id = uuid.uuid4().hex
        await stub.GetMe(
            auth_service_pb2.GetMeRequest(),
            metadata=[("x-request-id", allowed_id), ("authorization", f"Bearer {user.access_token}")],
        )
    assert [record.method for record in service_calls.with_request_id(allowed_id)] == [GET_ME]
    # The rejected calls never reached the service ...
    assert service_calls.with_request_id(request_id) == []
    # ... Envoy answered them itself, from jwt_authn.
    rejected = await mesh_gateway.access_log(request_id, 2)
    assert len(rejected) == 2
    assert all(entry["upstream"] is None and "jwt" in entry["details"].lower() for entry in rejected), rejected


async def test_a_service_without_replicas_is_routed_but_unavailable(mesh_gateway: Gateway, new_user: NewUser) -> None:
    user = await new_user()
    async with mesh_gateway.channel() as channel:
        stub = trade_service_pb2_grpc.TradeServiceStub(channel)
        # The token is checked first, at the edge ...
        anonymous = await expect_failure(stub.ListTrades(trade_service_pb2.ListTradesRequest()))
        assert anonymous.code == grpc.StatusCode.UNAUTHENTICATED
        # ... then there is no replica to serve the call.
        failure = await expect_failure(
            stub.ListTrades(trade_service_pb2.ListTradesRequest(), metadata=bearer(user.access_token))
        )
    assert failure.code == grpc.StatusCode.UNAVAILABLE


async def test_public_methods_need_no_token_at_the_edge(mesh_gateway: Gateway) -> None:
    async with mesh_gateway.channel() as channel:
        stub = auth_service_pb2_grpc.AuthServiceStub(channel)
        # Login is public: the wrong password reaches the service, which answers for itself.
        failure = await expect_failure(
            stub.Login(auth_service_pb2.LoginRequest(login=f"nobody_{uuid.uuid4().hex[:8]}", password="x" * 12))
        )
    assert failure.code == grpc.StatusCode.UNAUTHENTICATED
    assert failure.reason == "INVALID_CREDENTIALS"


async def test_local_rate_limit_gives_resource_exhausted(mesh_auth: ServiceHost, start_gateway: StartGateway) -> None:
    gateway = await start_gateway(
        {"auth": [grpc_endpoint(mesh_auth)]},
        [jwks_endpoint(mesh_auth)],
        rate_limits={("auth", "GetJwks"): RateLimit(burst=3, per_fill=1, fill_seconds=3600)},
    )
    async with gateway.channel() as channel:
        stub = auth_service_pb2_grpc.AuthServiceStub(channel)
        for _ in range(3):
            await stub.GetJwks(auth_service_pb2.GetJwksRequest())
        failure = await expect_failure(stub.GetJwks(auth_service_pb2.GetJwksRequest()))
        assert failure.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        # The bucket is per route: another method is not affected.
        other = await expect_failure(
            stub.Login(auth_service_pb2.LoginRequest(login=f"nobody_{uuid.uuid4().hex[:8]}", password="y" * 12))
        )
        assert other.code == grpc.StatusCode.UNAUTHENTICATED
    async with aiohttp.ClientSession() as session:
        web = await grpcweb.call(session, gateway.url, GET_JWKS, b"")
    assert web.grpc_status == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert web.headers.get("x-local-rate-limit") == "true"


async def test_static_files_are_served_at_the_root(
    mesh_auth: ServiceHost, start_gateway: StartGateway, tmp_path: Path
) -> None:
    site = tmp_path / "dist"
    (site / "assets").mkdir(parents=True)
    (site / "index.html").write_text("<!doctype html><title>trademesh</title>")
    (site / "assets" / "app.js").write_text("console.log('hi')")
    gateway = await start_gateway({"auth": [grpc_endpoint(mesh_auth)]}, [jwks_endpoint(mesh_auth)], static_dir=site)
    async with aiohttp.ClientSession() as session:
        async with session.get(gateway.url + "/") as response:
            assert response.status == 200
            assert response.headers["content-type"].startswith("text/html")
            assert "<title>trademesh</title>" in await response.text()
        async with session.get(gateway.url + "/assets/app.js") as response:
            assert response.status == 200
            assert response.headers["content-type"].startswith("text/javascript")
        async with session.get(gateway.url + "/missing.js") as response:
            assert response.status == 404
        # gRPC still goes to the services.
        web = await grpcweb.call(session, gateway.url, GET_JWKS, b"")
        assert web.grpc_status == 0


async def test_each_services_health_is_public_through_the_gateway(mesh_gateway: Gateway) -> None:
    async with mesh_gateway.channel() as channel:
        stub: Any = health_pb2_grpc.HealthStub(channel)
        check = stub.Check
        auth_overall = await check(health_pb2.HealthCheckRequest(), metadata=(("x-trademesh-service", "auth"),))
        auth_named = await check(
            health_pb2.HealthCheckRequest(service="trademesh.auth.v1.AuthService"),
            metadata=(("x-trademesh-service", "auth"),),
        )
        # trade has no replica behind this gateway: the check reports it instead of passing.
        no_replica = await expect_failure(
            check(health_pb2.HealthCheckRequest(), metadata=(("x-trademesh-service", "trade"),))
        )
        unnamed = await expect_failure(check(health_pb2.HealthCheckRequest()))

    assert auth_overall.status == health_pb2.HealthCheckResponse.SERVING
    assert auth_named.status == health_pb2.HealthCheckResponse.SERVING
    assert no_replica.code == grpc.StatusCode.UNAVAILABLE
    assert unnamed.code == grpc.StatusCode.UNIMPLEMENTED  # no route without the header: nothing leaks
