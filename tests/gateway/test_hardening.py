"""The edge's answers to issue 20's probe, through the real Envoy: preflights, token checks, client addresses.

* a CORS preflight from an origin that is not listed, and any other OPTIONS, is answered by Envoy and
  never reaches a service (which failed it INTERNAL "Error parsing ':method' metadata");
* a token for another audience is UNAUTHENTICATED at the edge, as at the services; a token expired (or
  not yet valid) by 3 s is refused (the gateway's leeway is 1 s, Envoy's default 60 s);
* auth throttles failed logins per client address as Envoy establishes it: one client's failures behind
  the gateway do not lock another's login, and a client cannot pick its address with a header, neither
  through the gateway (Envoy overwrites it) nor directly (auth believes it only from the gateway).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import grpc
import pytest
from grpc import aio
from redis.asyncio import Redis

from tests.conftest import MeshUser
from tests.gateway import grpcweb
from tests.gateway.conftest import (
    GATEWAY_SOURCE_ADDRESS,
    ORIGIN,
    Gateway,
    ServiceCalls,
    StartGateway,
    StartReplica,
    grpc_endpoint,
    jwks_endpoint,
)
from tests.rpc import bearer, expect_failure
from trademesh.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from trademesh.services.auth.keys import KeyRing
from trademesh.services.core.server import ServiceHost

if TYPE_CHECKING:
    from trademesh.auth.v1.auth_service_pb2_grpc import AuthServiceAsyncStub

GET_ME = "/trademesh.auth.v1.AuthService/GetMe"
NewUser = Callable[[], Awaitable[MeshUser]]
PASSWORD = "Correct-Horse-42"


# ------------------------------------------------------------------ preflights


@pytest.mark.parametrize("origins", [(ORIGIN,), ()], ids=["with-cors-origins", "without-cors-origins"])
async def test_every_preflight_and_options_is_answered_by_envoy(
    mesh_auth: ServiceHost, start_gateway: StartGateway, service_calls: ServiceCalls, origins: tuple[str, ...]
) -> None:
    gateway = await start_gateway(
        {"auth": [grpc_endpoint(mesh_auth)]}, [jwks_endpoint(mesh_auth)], cors_origins=origins
    )
    request_id = uuid.uuid4().hex
    preflight = {
        "origin": "http://evil.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,x-grpc-web",
        "x-request-id": request_id,
    }
    async with aiohttp.ClientSession() as session:
        async with session.options(gateway.url + GET_ME, headers=preflight) as response:
            assert response.status == 200
            assert "access-control-allow-origin" not in response.headers
        # An OPTIONS that is no preflight at all (no Access-Control-Request-Method): also Envoy's.
        async with session.options(gateway.url + GET_ME, headers={"x-request-id": request_id}) as response:
            assert response.status == 204
        if origins:
            # The listed origin still gets its grant.
            async with session.options(gateway.url + GET_ME, headers={**preflight, "origin": ORIGIN}) as response:
                assert response.status == 200
                assert response.headers["access-control-allow-origin"] == ORIGIN
    entries = await gateway.access_log(request_id, 3 if origins else 2)
    assert {entry["upstream"] for entry in entries} == {None}, entries
    assert service_calls.with_request_id(request_id) == []


# ---------------------------------------------------------------- token checks


def _token(key_dir: Path, *, audience: str = "trademesh", expires_in: int = 600, not_before: int = 0) -> str:
    now = int(time.time())
    return KeyRing.from_files([key_dir / "active.pem"]).sign(
        {
            "iss": "trademesh-auth",
            "aud": audience,
            "sub": str(uuid.uuid4()),
            "iat": now,
            "nbf": now + not_before,
            "exp": now + expires_in,
            "jti": str(uuid.uuid4()),
            "sid": str(uuid.uuid4()),
            "roles": ["user"],
        }
    )


@pytest.mark.parametrize(
    "claims",
    [{"audience": "someone-else"}, {"expires_in": -3}, {"not_before": 3}],
    ids=["wrong-audience", "expired-3s-ago", "valid-in-3s"],
)
async def test_a_token_the_services_refuse_is_unauthenticated_at_the_edge(
    mesh_gateway: Gateway,
    service_calls: ServiceCalls,
    key_dir: Path,
    claims: dict[str, object],
) -> None:
    token = _token(key_dir, **claims)  # type: ignore[arg-type]
    request_id = uuid.uuid4().hex
    metadata = (("authorization", f"Bearer {token}"), ("x-request-id", request_id))
    async with mesh_gateway.channel() as channel:
        through = await expect_failure(
            auth_service_pb2_grpc.AuthServiceStub(channel).GetMe(auth_service_pb2.GetMeRequest(), metadata=metadata)
        )
    async with aiohttp.ClientSession() as session:
        web = await grpcweb.call(session, mesh_gateway.url, GET_ME, b"", headers=dict(metadata))
    assert through.code == grpc.StatusCode.UNAUTHENTICATED, through
    assert web.grpc_status == grpc.StatusCode.UNAUTHENTICATED.value[0]
    # Refused at the edge: the service never saw the gateway's calls.
    assert service_calls.with_request_id(request_id) == []


async def test_a_token_for_another_audience_is_unauthenticated_directly_too(
    mesh_auth: ServiceHost, key_dir: Path
) -> None:
    token = _token(key_dir, audience="someone-else")
    async with aio.insecure_channel(f"127.0.0.1:{mesh_auth.port}") as channel:
        direct = await expect_failure(
            auth_service_pb2_grpc.AuthServiceStub(channel).GetMe(
                auth_service_pb2.GetMeRequest(), metadata=bearer(token)
            )
        )
    assert direct.code == grpc.StatusCode.UNAUTHENTICATED


async def test_a_token_within_the_leeway_passes_the_edge(mesh_gateway: Gateway, new_user: NewUser) -> None:
    user = await new_user()
    async with mesh_gateway.channel() as channel:
        me = await auth_service_pb2_grpc.AuthServiceStub(channel).GetMe(
            auth_service_pb2.GetMeRequest(), metadata=bearer(user.access_token)
        )
    assert me.user.id == user.user_id


# ----------------------------------------------------------- client addresses
# These tests take the ``redis`` fixture (an emptied Redis): every other test's failed logins count against
# 127.0.0.1 too.


async def _failed_logins(stub: AuthServiceAsyncStub, login: str, count: int, **kwargs: object) -> None:
    for _ in range(count):
        failure = await expect_failure(
            stub.Login(auth_service_pb2.LoginRequest(login=login, password="wrong-" * 3), **kwargs)  # type: ignore[arg-type]
        )
        assert failure.code == grpc.StatusCode.UNAUTHENTICATED, failure


async def _register(stub: AuthServiceAsyncStub) -> str:
    name = f"user_{uuid.uuid4().hex[:10]}"
    await stub.Register(auth_service_pb2.RegisterRequest(email=f"{name}@example.com", username=name, password=PASSWORD))
    return name


async def test_one_clients_failed_logins_through_the_gateway_do_not_lock_another(
    redis: Redis, auth_replicas: StartReplica, start_gateway: StartGateway
) -> None:
    replica = await auth_replicas(
        "previous.pem", trusted_proxies=GATEWAY_SOURCE_ADDRESS, login_max_failures_per_address=3
    )
    # Two clients: an edge proxy would see them as two addresses; here one says so with x-forwarded-for
    # through one trusted hop (what an Ingress in front of Envoy does).
    gateway = await start_gateway({"auth": [replica.endpoint]}, [replica.jwks], xff_num_trusted_hops=1)
    attacker = (("x-forwarded-for", "203.0.113.7"),)
    victim = (("x-forwarded-for", "198.51.100.20"),)
    async with gateway.channel() as channel:
        stub = auth_service_pb2_grpc.AuthServiceStub(channel)
        name = await _register(stub)
        await _failed_logins(stub, f"nobody_{uuid.uuid4().hex[:8]}", 3, metadata=attacker)
        # The attacker's address is now throttled ...
        throttled = await expect_failure(
            stub.Login(auth_service_pb2.LoginRequest(login=name, password=PASSWORD), metadata=attacker)
        )
        assert (throttled.code, throttled.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "LOGIN_THROTTLED")
        # ... and a client-supplied x-envoy-external-address does not move it elsewhere (Envoy overwrites it).
        spoofed = await expect_failure(
            stub.Login(
                auth_service_pb2.LoginRequest(login=name, password=PASSWORD),
                metadata=(*attacker, ("x-envoy-external-address", "192.0.2.99")),
            )
        )
        assert spoofed.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        # The other client logs in.
        answer = await stub.Login(auth_service_pb2.LoginRequest(login=name, password=PASSWORD), metadata=victim)
    assert answer.user.username == name


async def test_without_trusted_hops_the_peer_is_the_client(
    redis: Redis, auth_replicas: StartReplica, start_gateway: StartGateway
) -> None:
    replica = await auth_replicas(
        "previous.pem", trusted_proxies=GATEWAY_SOURCE_ADDRESS, login_max_failures_per_address=2
    )
    gateway = await start_gateway({"auth": [replica.endpoint]}, [replica.jwks])
    async with gateway.channel() as channel:
        stub = auth_service_pb2_grpc.AuthServiceStub(channel)
        name = await _register(stub)
        # x-forwarded-for from the client is not believed at the edge: every call is 127.0.0.1's.
        await _failed_logins(stub, f"nobody_{uuid.uuid4().hex[:8]}", 2, metadata=(("x-forwarded-for", "203.0.113.1"),))
        throttled = await expect_failure(
            stub.Login(
                auth_service_pb2.LoginRequest(login=name, password=PASSWORD),
                metadata=(("x-forwarded-for", "198.51.100.2"),),
            )
        )
    assert throttled.code == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_a_direct_caller_cannot_name_its_own_address(redis: Redis, auth_replicas: StartReplica) -> None:
    replica = await auth_replicas(
        "previous.pem", trusted_proxies=GATEWAY_SOURCE_ADDRESS, login_max_failures_per_address=2
    )
    async with aio.insecure_channel(str(replica.endpoint)) as channel:
        stub = auth_service_pb2_grpc.AuthServiceStub(channel)
        name = await _register(stub)
        # Each failure claims another address; the service counts them all against the real peer.
        for index in range(2):
            await _failed_logins(
                stub,
                f"nobody_{uuid.uuid4().hex[:8]}",
                1,
                metadata=(("x-envoy-external-address", f"192.0.2.{index + 1}"),),
            )
        throttled = await expect_failure(
            stub.Login(
                auth_service_pb2.LoginRequest(login=name, password=PASSWORD),
                metadata=(("x-envoy-external-address", "192.0.2.200"),),
            )
        )
    assert (throttled.code, throttled.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "LOGIN_THROTTLED")


@pytest.mark.parametrize(("trusted", "separate"), [(("127.0.0.0/8",), True), (("10.0.0.0/8",), False)])
async def test_x_forwarded_for_is_believed_only_from_trusted_proxy_cidrs(
    redis: Redis,
    auth_replicas: StartReplica,
    start_gateway: StartGateway,
    trusted: tuple[str, ...],
    separate: bool,
) -> None:
    replica = await auth_replicas(
        "previous.pem", trusted_proxies=GATEWAY_SOURCE_ADDRESS, login_max_failures_per_address=2
    )
    gateway = await start_gateway({"auth": [replica.endpoint]}, [replica.jwks], xff_trusted_cidrs=trusted)
    async with gateway.channel() as channel:
        stub = auth_service_pb2_grpc.AuthServiceStub(channel)
        name = await _register(stub)
        await _failed_logins(stub, f"nobody_{uuid.uuid4().hex[:8]}", 2, metadata=(("x-forwarded-for", "203.0.113.30"),))
        call = stub.Login(
            auth_service_pb2.LoginRequest(login=name, password=PASSWORD),
            metadata=(("x-forwarded-for", "198.51.100.30"),),
        )
        if separate:
            # This test's client (127.0.0.1) is a trusted proxy: the addresses it forwards are two clients.
            assert (await call).user.username == name
        else:
            # An untrusted peer's x-forwarded-for is not believed: both calls are 127.0.0.1's.
            assert (await expect_failure(call)).code == grpc.StatusCode.RESOURCE_EXHAUSTED
