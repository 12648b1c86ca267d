"""Global rate limits through the real Envoy and the real rate-limit service (envoyproxy/ratelimit on Redis).

Limits are per client address on public routes (credential calls and the rest) and per user (the token's
``sub``) on the others, counted in Redis by one service that every gateway replica asks. The limits here
are per *day*, so no window boundary falls inside a test (the service's windows are aligned to the unit).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import aiohttp
import grpc

from tests.conftest import MeshUser
from tests.gateway import grpcweb
from tests.gateway.conftest import RateLimitService, StartGateway, grpc_endpoint, jwks_endpoint
from tests.rpc import bearer, expect_failure
from trademesh.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from trademesh.gateway.mesh import DEFAULT_GLOBAL_LIMITS, GlobalLimit, LimitClass
from trademesh.services.core.server import ServiceHost

NewUser = Callable[[], Awaitable[MeshUser]]
GET_JWKS = "/trademesh.auth.v1.AuthService/GetJwks"


def _limits(credential: int = 1000, public: int = 1000, user: int = 1000) -> dict[LimitClass, GlobalLimit]:
    return {
        LimitClass.CREDENTIAL: GlobalLimit(credential, "day"),
        LimitClass.PUBLIC: GlobalLimit(public, "day"),
        LimitClass.USER: GlobalLimit(user, "day"),
    }


def _client(address: str) -> tuple[tuple[str, str], ...]:
    # One trusted hop in front of Envoy (an Ingress) says who the client is.
    return (("x-forwarded-for", address),)


async def test_one_clients_login_flood_does_not_limit_another_client(
    mesh_auth: ServiceHost, start_gateway: StartGateway
) -> None:
    gateway = await start_gateway(
        {"auth": [grpc_endpoint(mesh_auth)]},
        [jwks_endpoint(mesh_auth)],
        global_limits=_limits(credential=4),
        xff_num_trusted_hops=1,
    )
    flooder, other = _client("203.0.113.10"), _client("198.51.100.10")
    async with gateway.channel() as channel:
        stub = auth_service_pb2_grpc.AuthServiceStub(channel)

        async def login(client: tuple[tuple[str, str], ...]) -> grpc.StatusCode:
            request = auth_service_pb2.LoginRequest(login=f"nobody_{uuid.uuid4().hex[:8]}", password="Wrong-1234-x")
            return (await expect_failure(stub.Login(request, metadata=client))).code

        flood = [await login(flooder) for _ in range(6)]
        assert flood == [grpc.StatusCode.UNAUTHENTICATED] * 4 + [grpc.StatusCode.RESOURCE_EXHAUSTED] * 2
        # The other client's calls reach the service (which answers for the wrong password).
        assert [await login(other) for _ in range(3)] == [grpc.StatusCode.UNAUTHENTICATED] * 3
        # Other routes of the flooder are limited by their own class: GetJwks is not a credential call.
        await stub.GetJwks(auth_service_pb2.GetJwksRequest(), metadata=flooder)
    # grpc-web callers see RESOURCE_EXHAUSTED too (not HTTP 429 → UNAVAILABLE).
    async with aiohttp.ClientSession() as session:
        web = await grpcweb.call(
            session,
            gateway.url,
            "/trademesh.auth.v1.AuthService/Login",
            auth_service_pb2.LoginRequest(login="nobody", password="Wrong-1234-x").SerializeToString(),
            headers=dict(flooder),
        )
    assert web.grpc_status == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert gateway.envoy.stat("cluster.svc-auth.ratelimit.global.over_limit") == 3


async def test_authenticated_calls_are_limited_per_user(
    mesh_auth: ServiceHost, start_gateway: StartGateway, new_user: NewUser
) -> None:
    gateway = await start_gateway(
        {"auth": [grpc_endpoint(mesh_auth)]}, [jwks_endpoint(mesh_auth)], global_limits=_limits(user=3)
    )
    busy, quiet = await new_user(), await new_user()
    async with gateway.channel() as channel:
        stub = auth_service_pb2_grpc.AuthServiceStub(channel)
        for _ in range(3):
            await stub.GetMe(auth_service_pb2.GetMeRequest(), metadata=bearer(busy.access_token))
        limited = await expect_failure(stub.GetMe(auth_service_pb2.GetMeRequest(), metadata=bearer(busy.access_token)))
        # Same client address, another user: not limited.
        me = await stub.GetMe(auth_service_pb2.GetMeRequest(), metadata=bearer(quiet.access_token))
    assert limited.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert me.user.id == quiet.user_id


async def test_limits_hold_across_two_gateways_sharing_one_ratelimit_service(
    mesh_auth: ServiceHost, start_gateway: StartGateway
) -> None:
    upstreams, jwks = {"auth": [grpc_endpoint(mesh_auth)]}, [jwks_endpoint(mesh_auth)]
    first = await start_gateway(upstreams, jwks, global_limits=_limits(public=6))
    second = await start_gateway(upstreams, jwks, global_limits=_limits(public=6))
    assert first.envoy.pid != second.envoy.pid
    async with first.channel() as one, second.channel() as two:
        stubs = [auth_service_pb2_grpc.AuthServiceStub(one), auth_service_pb2_grpc.AuthServiceStub(two)]
        for index in range(6):
            await stubs[index % 2].GetJwks(auth_service_pb2.GetJwksRequest())
        # The client has spent its budget through both: each gateway now refuses it.
        refused = [await expect_failure(stub.GetJwks(auth_service_pb2.GetJwksRequest())) for stub in stubs]
    assert [failure.code for failure in refused] == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 2


async def test_calls_pass_while_the_ratelimit_service_is_down(
    mesh_auth: ServiceHost, start_gateway: StartGateway, ratelimit_service: RateLimitService
) -> None:
    gateway = await start_gateway(
        {"auth": [grpc_endpoint(mesh_auth)]}, [jwks_endpoint(mesh_auth)], global_limits=_limits(public=2)
    )
    assert ratelimit_service.server is not None
    ratelimit_service.server.stop()
    async with gateway.channel() as channel:
        stub = auth_service_pb2_grpc.AuthServiceStub(channel)
        # Over the limit of 2, yet allowed: the gateway fails open (decision 0031) ...
        for _ in range(4):
            await stub.GetJwks(auth_service_pb2.GetJwksRequest())
    # ... and counts each call it could not check.
    assert gateway.envoy.stat("cluster.svc-auth.ratelimit.global.error") >= 4
    assert gateway.envoy.stat("cluster.svc-auth.ratelimit.global.failure_mode_allowed") >= 4


def test_default_limits_cover_every_class() -> None:
    assert set(DEFAULT_GLOBAL_LIMITS) == set(LimitClass)
    # The credential budget per address stays above auth's own failed-login throttle (20 per 15 min).
    assert DEFAULT_GLOBAL_LIMITS[LimitClass.CREDENTIAL].requests >= 20
