"""The auth service end to end (real gRPC, Redis and MongoDB-wire database): tokens, refresh, logout, keys."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import jwt

from tests.eventually import eventually
from tests.rpc import bearer, expect_failure
from trademesh.auth.v1 import auth_service_pb2

if TYPE_CHECKING:
    from trademesh.auth.v1.auth_service_pb2_grpc import AuthServiceAsyncStub as AuthServiceStub
from tests.auth.helpers import PASSWORD, _claims_of, _forged_tokens, _get_json, _register
from trademesh.services.auth.settings import AuthSettings


async def test_bad_tokens_are_unauthenticated(
    auth: AuthServiceStub, key_dir: Path, make_auth_settings: Callable[..., AuthSettings]
) -> None:
    registered = await _register(auth)
    forged = _forged_tokens(registered.tokens.access_token, key_dir, make_auth_settings())

    results = {
        name: await expect_failure(auth.GetMe(auth_service_pb2.GetMeRequest(), metadata=bearer(token)))
        for name, token in forged.items()
    }
    missing = await expect_failure(auth.GetMe(auth_service_pb2.GetMeRequest()))

    assert {name: r.code for name, r in results.items()} == dict.fromkeys(forged, grpc.StatusCode.UNAUTHENTICATED)
    assert results["expired"].reason == "TOKEN_EXPIRED"
    assert results["unknown_kid"].reason == "TOKEN_UNKNOWN_KEY"
    assert missing.code == grpc.StatusCode.UNAUTHENTICATED
    assert missing.reason == "TOKEN_MISSING"


async def test_refresh_rotates_and_reuse_revokes_the_family(auth: AuthServiceStub) -> None:
    registered = await _register(auth)
    first = registered.tokens

    rotated = await auth.Refresh(auth_service_pb2.RefreshRequest(refresh_token=first.refresh_token))
    reuse = await expect_failure(auth.Refresh(auth_service_pb2.RefreshRequest(refresh_token=first.refresh_token)))
    after_reuse = await expect_failure(
        auth.Refresh(auth_service_pb2.RefreshRequest(refresh_token=rotated.tokens.refresh_token))
    )
    access_after_reuse = await expect_failure(
        auth.GetMe(auth_service_pb2.GetMeRequest(), metadata=bearer(rotated.tokens.access_token))
    )

    assert rotated.tokens.refresh_token != first.refresh_token
    assert _claims_of(rotated.tokens.access_token)["sid"] == _claims_of(first.access_token)["sid"]
    assert (reuse.code, reuse.reason) == (grpc.StatusCode.UNAUTHENTICATED, "REFRESH_TOKEN_REUSED")
    assert after_reuse.code == grpc.StatusCode.UNAUTHENTICATED
    assert access_after_reuse.code == grpc.StatusCode.UNAUTHENTICATED


async def test_concurrent_refreshes_exactly_one_wins_and_family_is_revoked(auth: AuthServiceStub) -> None:
    registered = await _register(auth)
    request = auth_service_pb2.RefreshRequest(refresh_token=registered.tokens.refresh_token)

    results = await asyncio.gather(auth.Refresh(request), auth.Refresh(request), return_exceptions=True)

    winners = [r for r in results if isinstance(r, auth_service_pb2.RefreshResponse)]
    losers = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(winners) == 1
    assert len(losers) == 1
    assert losers[0].code() == grpc.StatusCode.UNAUTHENTICATED
    follow_up = await expect_failure(
        auth.Refresh(auth_service_pb2.RefreshRequest(refresh_token=winners[0].tokens.refresh_token))
    )
    assert follow_up.code == grpc.StatusCode.UNAUTHENTICATED


async def test_logout_revokes_access_and_refresh_tokens(auth: AuthServiceStub) -> None:
    registered = await _register(auth)
    other_session = await auth.Login(auth_service_pb2.LoginRequest(login=registered.user.username, password=PASSWORD))
    token = registered.tokens.access_token

    await auth.Logout(auth_service_pb2.LogoutRequest(), metadata=bearer(token))

    denied = await expect_failure(auth.GetMe(auth_service_pb2.GetMeRequest(), metadata=bearer(token)))
    refresh = await expect_failure(
        auth.Refresh(auth_service_pb2.RefreshRequest(refresh_token=registered.tokens.refresh_token))
    )
    assert (denied.code, denied.reason) == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_REVOKED")
    assert refresh.code == grpc.StatusCode.UNAUTHENTICATED
    # Only the logged-out session ends; another login of the same user keeps working.
    me = await auth.GetMe(auth_service_pb2.GetMeRequest(), metadata=bearer(other_session.tokens.access_token))
    assert me.user.id == registered.user.id


async def test_logout_is_seen_by_another_replica(start_auth: Callable[..., Any]) -> None:
    _, first = await start_auth()
    _, second = await start_auth()
    registered = await _register(first)
    token = registered.tokens.access_token
    await second.GetMe(auth_service_pb2.GetMeRequest(), metadata=bearer(token))

    await first.Logout(auth_service_pb2.LogoutRequest(), metadata=bearer(token))

    async def refused_with() -> grpc.StatusCode | None:
        try:
            await second.GetMe(auth_service_pb2.GetMeRequest(), metadata=bearer(token))
        except grpc.aio.AioRpcError as error:
            return error.code()
        return None

    code = await eventually(
        refused_with,
        within=5,
        interval=0.02,
        until=lambda code: code is not None,
        what="the other replica refuses the revoked token",
    )
    assert code == grpc.StatusCode.UNAUTHENTICATED


async def test_jwks_and_key_rotation(start_auth: Callable[..., Any], key_dir: Path) -> None:
    _, before = await start_auth(signing_key_files=str(key_dir / "previous.pem"))
    registered = await _register(before)
    old_token = registered.tokens.access_token

    host, after = await start_auth(signing_key_files=f"{key_dir / 'active.pem'},{key_dir / 'previous.pem'}")
    jwks = await after.GetJwks(auth_service_pb2.GetJwksRequest())
    document = await asyncio.to_thread(
        _get_json, f"http://127.0.0.1:{host.extra_ports['jwks-http']}/.well-known/jwks.json"
    )
    new_login = await after.Login(auth_service_pb2.LoginRequest(login=registered.user.username, password=PASSWORD))

    kids = [key.kid for key in jwks.keys]
    assert len(kids) == 2
    assert [key["kid"] for key in document["keys"]] == kids
    # What Envoy gets over HTTP verifies the same tokens the services accept.
    assert (
        jwt.decode(old_token, jwt.PyJWK(document["keys"][1]).key, algorithms=["EdDSA"], audience="trademesh")["sub"]
        == registered.user.id
    )
    assert all(key.kty == "OKP" and key.crv == "Ed25519" and key.alg == "EdDSA" for key in jwks.keys)
    assert jwt.get_unverified_header(old_token)["kid"] == kids[1]
    assert jwt.get_unverified_header(new_login.tokens.access_token)["kid"] == kids[0]
    me = await after.GetMe(auth_service_pb2.GetMeRequest(), metadata=bearer(old_token))
    assert me.user.id == registered.user.id


async def test_stale_token_does_not_block_public_calls(auth: AuthServiceStub) -> None:
    registered = await _register(auth)

    refreshed = await auth.Refresh(
        auth_service_pb2.RefreshRequest(refresh_token=registered.tokens.refresh_token),
        metadata=bearer("expired.or.garbage"),
    )

    assert refreshed.tokens.access_token
