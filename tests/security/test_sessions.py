"""Sessions end when they should, straight at auth and through the gateway: refresh reuse, logout."""

from __future__ import annotations

import grpc
import pytest

from tests.eventually import eventually
from tests.security.calls import call
from tests.security.conftest import ROUTES, World, register
from trademesh.auth.v1 import auth_service_pb2
from trademesh.trade.v1 import trade_service_pb2

REFRESH = "trademesh.auth.v1.AuthService/Refresh"
LOGOUT = "trademesh.auth.v1.AuthService/Logout"
ME = "trademesh.auth.v1.AuthService/GetMe"
LIST_TRADES = "trademesh.trade.v1.TradeService/ListTrades"


@pytest.mark.parametrize("route", ROUTES)
async def test_a_reused_refresh_token_revokes_the_whole_family(world: World, route: str) -> None:
    person = await register(world.channel("direct", "auth"))
    channel = world.channel(route, "auth")

    first = await call(channel, REFRESH, auth_service_pb2.RefreshRequest(refresh_token=person.refresh_token))
    reused = await call(channel, REFRESH, auth_service_pb2.RefreshRequest(refresh_token=person.refresh_token))

    assert first.code == grpc.StatusCode.OK
    assert (reused.code, reused.reason) == (grpc.StatusCode.UNAUTHENTICATED, "REFRESH_TOKEN_REUSED")
    (rotated,) = first.responses
    assert isinstance(rotated, auth_service_pb2.RefreshResponse)
    # The legitimate holder's rotated tokens die with the family too.
    after = await call(channel, REFRESH, auth_service_pb2.RefreshRequest(refresh_token=rotated.tokens.refresh_token))
    assert after.code == grpc.StatusCode.UNAUTHENTICATED
    denied = await call(channel, ME, auth_service_pb2.GetMeRequest(), token=rotated.tokens.access_token)
    assert denied.code == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("route", ROUTES)
async def test_logout_ends_the_access_and_refresh_tokens_everywhere(world: World, route: str) -> None:
    person = await register(world.channel("direct", "auth"))
    auth = world.channel(route, "auth")
    assert (await call(auth, ME, auth_service_pb2.GetMeRequest(), token=person.access_token)).code == grpc.StatusCode.OK

    logout = await call(
        auth, LOGOUT, auth_service_pb2.LogoutRequest(refresh_token=person.refresh_token), token=person.access_token
    )
    assert logout.code == grpc.StatusCode.OK

    async def me_denied() -> bool:
        outcome = await call(auth, ME, auth_service_pb2.GetMeRequest(), token=person.access_token)
        return outcome.code == grpc.StatusCode.UNAUTHENTICATED

    # Revocations reach other processes over Redis pub/sub: poll (milliseconds) rather than assume.
    async def trade_denied() -> bool:
        outcome = await call(
            world.channel(route, "trade"), LIST_TRADES, trade_service_pb2.ListTradesRequest(), token=person.access_token
        )
        return outcome.code == grpc.StatusCode.UNAUTHENTICATED

    assert await me_denied()
    await eventually(trade_denied, within=10)
    refreshed = await call(auth, REFRESH, auth_service_pb2.RefreshRequest(refresh_token=person.refresh_token))
    assert refreshed.code == grpc.StatusCode.UNAUTHENTICATED
