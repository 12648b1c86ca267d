"""The auth service end to end (real gRPC, Redis and MongoDB-wire database): throttling and outages."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc

from tests.eventually import eventually
from tests.rpc import bearer, expect_failure
from trademesh.auth.v1 import auth_service_pb2

if TYPE_CHECKING:
    from trademesh.auth.v1.auth_service_pb2_grpc import AuthServiceAsyncStub as AuthServiceStub
from tests.auth.helpers import PASSWORD, _register
from trademesh.devstack.processes import FerretDBServer, RedisServer


async def test_login_throttling_kicks_in_and_lifts(start_auth: Callable[..., Any]) -> None:
    _, auth = await start_auth(login_max_failures_per_account=3, login_throttle_window_seconds=2)
    registered = await _register(auth)
    wrong = auth_service_pb2.LoginRequest(login=registered.user.username, password="Wrong-Password-1")

    for _ in range(3):
        assert (await expect_failure(auth.Login(wrong))).code == grpc.StatusCode.UNAUTHENTICATED
    throttled = await expect_failure(
        auth.Login(auth_service_pb2.LoginRequest(login=registered.user.username, password=PASSWORD))
    )
    assert (throttled.code, throttled.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "LOGIN_THROTTLED")
    assert throttled.retry_delay_seconds is not None
    assert 0 < throttled.retry_delay_seconds <= 2

    await asyncio.sleep(throttled.retry_delay_seconds + 0.2)
    lifted = await auth.Login(auth_service_pb2.LoginRequest(login=registered.user.username, password=PASSWORD))
    assert lifted.user.id == registered.user.id


async def test_redis_outage_is_unavailable_and_service_recovers(
    auth: AuthServiceStub, redis_server: RedisServer
) -> None:
    registered = await _register(auth)
    login = auth_service_pb2.LoginRequest(login=registered.user.username, password=PASSWORD)

    redis_server.kill()
    try:
        down = await expect_failure(auth.Login(login, timeout=10))
        refresh = await expect_failure(
            auth.Refresh(auth_service_pb2.RefreshRequest(refresh_token=registered.tokens.refresh_token), timeout=10)
        )
    finally:
        redis_server.restart()

    assert down.code == refresh.code == grpc.StatusCode.UNAVAILABLE
    assert down.reason == "DEPENDENCY_UNAVAILABLE"
    codes_while_recovering: set[grpc.StatusCode] = set()

    async def log_in() -> auth_service_pb2.LoginResponse | None:
        try:
            return await auth.Login(login)
        except grpc.aio.AioRpcError as error:
            codes_while_recovering.add(error.code())
            return None

    recovered = await eventually(log_in, within=10, interval=0.2, what="auth recovers after Redis came back")
    assert codes_while_recovering <= {grpc.StatusCode.UNAVAILABLE}
    assert recovered.user.id == registered.user.id


async def test_database_outage_is_unavailable_and_service_recovers(
    restartable_database: FerretDBServer, start_auth: Callable[..., Any]
) -> None:
    _, auth = await start_auth(mongo_url=restartable_database.url)
    registered = await _register(auth)
    credentials = bearer(registered.tokens.access_token)

    restartable_database.kill()
    try:
        down = await expect_failure(auth.GetMe(auth_service_pb2.GetMeRequest(), metadata=credentials, timeout=10))
        register = await expect_failure(
            auth.Register(
                auth_service_pb2.RegisterRequest(email="late@example.com", username="late_one", password=PASSWORD),
                timeout=10,
            )
        )
    finally:
        restartable_database.restart()

    assert down.code == register.code == grpc.StatusCode.UNAVAILABLE
    me = await auth.GetMe(auth_service_pb2.GetMeRequest(), metadata=credentials, timeout=10)
    assert me.user.id == registered.user.id
