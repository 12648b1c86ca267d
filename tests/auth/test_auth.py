"""The auth service end to end over real gRPC, with real Redis and a real MongoDB-wire database."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import jwt
import pytest
from pymongo import AsyncMongoClient

from tests.eventually import eventually
from tests.rpc import bearer, expect_failure
from trademesh.auth.v1 import auth_pb2, auth_service_pb2

if TYPE_CHECKING:
    from trademesh.auth.v1.auth_service_pb2_grpc import AuthServiceAsyncStub as AuthServiceStub
from trademesh.devstack.processes import FerretDBServer, RedisServer
from trademesh.services.auth.keys import KeyRing
from trademesh.services.auth.settings import AuthSettings

PASSWORD = "Correct-Horse-42"


def _new_user() -> tuple[str, str]:
    name = f"trader_{uuid.uuid4().hex[:8]}"
    return f"{name}@Example.com", name


async def _register(stub: AuthServiceStub) -> auth_service_pb2.RegisterResponse:
    email, username = _new_user()
    return await stub.Register(auth_service_pb2.RegisterRequest(email=email, username=username, password=PASSWORD))


async def _outbox_token(settings: AuthSettings, email: str, kind: str) -> str:
    """Return the code of the newest `kind` mail to `email`, as the recipient reads it (the mail drop)."""
    assert settings.mail_drop_dir is not None
    texts = [(path.stat().st_mtime_ns, path.read_text()) for path in settings.mail_drop_dir.glob(f"{kind}-*.txt")]
    mine = sorted((stamp, text) for stamp, text in texts if f"To: {email}\n" in text)
    assert mine, f"no {kind} mail for {email}"
    match = re.search(r": (\S+)\n$", mine[-1][1])
    assert match
    return match.group(1)


async def test_register_then_get_me(auth: AuthServiceStub) -> None:
    registered = await _register(auth)

    assert registered.user.username.startswith("trader_")
    assert list(registered.user.roles) == [auth_pb2.ROLE_USER]
    assert registered.tokens.token_type == "Bearer"
    me = await auth.GetMe(auth_service_pb2.GetMeRequest(), metadata=bearer(registered.tokens.access_token))
    assert me.user.id == registered.user.id
    assert me.user.email == registered.user.email
    assert not me.user.email_verified


async def test_duplicate_email_and_username_are_already_exists(auth: AuthServiceStub) -> None:
    registered = await _register(auth)

    same_email = await expect_failure(
        auth.Register(
            auth_service_pb2.RegisterRequest(
                email=registered.user.email.upper(), username="someone_else", password=PASSWORD
            )
        )
    )
    same_username = await expect_failure(
        auth.Register(
            auth_service_pb2.RegisterRequest(
                email="other@example.com", username=registered.user.username.upper(), password=PASSWORD
            )
        )
    )

    assert (same_email.code, same_email.reason) == (grpc.StatusCode.ALREADY_EXISTS, "EMAIL_TAKEN")
    assert (same_username.code, same_username.reason) == (grpc.StatusCode.ALREADY_EXISTS, "USERNAME_TAKEN")


@pytest.mark.parametrize(
    ("email", "username", "password", "bad_fields"),
    [
        ("not-an-email", "ok_name", PASSWORD, {"email"}),
        ("a@example.com", "no", PASSWORD, {"username"}),
        ("a@example.com", "Bad Name!", PASSWORD, {"username"}),
        ("a@example.com", "ok_name", "short", {"password"}),
        ("a@example.com", "ok_name", "password123", {"password"}),
        ("a@example.com", "ok_name", "aaaaaaaaaaaa", {"password"}),
        ("a@example.com", "ok_name", "xx-ok_name-xx", {"password"}),
        ("", "", "", {"email", "username", "password"}),
    ],
)
async def test_invalid_registration_lists_each_bad_field(
    auth: AuthServiceStub, email: str, username: str, password: str, bad_fields: set[str]
) -> None:
    failure = await expect_failure(
        auth.Register(auth_service_pb2.RegisterRequest(email=email, username=username, password=password))
    )

    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(failure.violations) == bad_fields
    assert all(failure.violations.values())


async def test_login_by_email_or_username(auth: AuthServiceStub) -> None:
    registered = await _register(auth)

    by_email = await auth.Login(auth_service_pb2.LoginRequest(login=registered.user.email.upper(), password=PASSWORD))
    by_username = await auth.Login(auth_service_pb2.LoginRequest(login=registered.user.username, password=PASSWORD))

    assert by_email.user.id == by_username.user.id == registered.user.id
    assert by_email.tokens.refresh_token != by_username.tokens.refresh_token


async def test_wrong_password_and_unknown_user_look_the_same(auth: AuthServiceStub) -> None:
    registered = await _register(auth)

    wrong = await expect_failure(
        auth.Login(auth_service_pb2.LoginRequest(login=registered.user.username, password="Wrong-Password-1"))
    )
    unknown = await expect_failure(auth.Login(auth_service_pb2.LoginRequest(login="nobody_here", password=PASSWORD)))

    assert wrong.code == unknown.code == grpc.StatusCode.UNAUTHENTICATED
    assert (wrong.message, wrong.reason) == (unknown.message, unknown.reason)


def _get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a local test URL
        assert response.headers["Content-Type"].startswith("application/json")
        return json.load(response)  # type: ignore[no-any-return]


def _claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forged_tokens(valid: str, key_dir: Path, settings: AuthSettings) -> dict[str, str]:
    claims = _claims_of(valid)
    active = KeyRing.from_files([key_dir / "active.pem"])
    stranger = KeyRing.from_files([key_dir / "stranger.pem"]).private_keys[0]
    header, payload, signature = valid.split(".")
    tampered_payload = _b64(json.dumps({**claims, "roles": ["admin"]}).encode())
    none_header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": active.active_kid}).encode())
    now = int(time.time())
    return {
        "expired": active.sign({**claims, "iat": now - 3600, "nbf": now - 3600, "exp": now - 1800}),
        "tampered": f"{header}.{tampered_payload}.{signature}",
        "alg_none": f"{none_header}.{payload}.",
        "unknown_kid": jwt.encode(claims, stranger, algorithm="EdDSA", headers={"kid": "not-a-known-key"}),
        "wrong_key_same_kid": jwt.encode(claims, stranger, algorithm="EdDSA", headers={"kid": active.active_kid}),
        "wrong_audience": active.sign({**claims, "aud": "someone-else"}),
        "wrong_issuer": active.sign({**claims, "iss": "evil"}),
        "garbage": "not.a.jwt",
    }


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


async def test_email_verification_flow(
    start_auth: Callable[..., Any], make_auth_settings: Callable[..., AuthSettings]
) -> None:
    _, auth = await start_auth()
    registered = await _register(auth)
    credentials = bearer(registered.tokens.access_token)

    requested = await auth.RequestEmailVerification(
        auth_service_pb2.RequestEmailVerificationRequest(), metadata=credentials
    )
    token = await _outbox_token(make_auth_settings(), registered.user.email, "verify_email")
    verified = await auth.VerifyEmail(auth_service_pb2.VerifyEmailRequest(token=token))
    reused = await expect_failure(auth.VerifyEmail(auth_service_pb2.VerifyEmailRequest(token=token)))
    again = await expect_failure(
        auth.RequestEmailVerification(auth_service_pb2.RequestEmailVerificationRequest(), metadata=credentials)
    )
    bogus = await expect_failure(auth.VerifyEmail(auth_service_pb2.VerifyEmailRequest(token="bogus")))

    assert requested.expire_time.ToSeconds() > time.time()
    assert verified.user.email_verified
    assert (reused.code, reused.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "TOKEN_INVALID")
    assert (again.code, again.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "EMAIL_ALREADY_VERIFIED")
    assert bogus.code == grpc.StatusCode.INVALID_ARGUMENT
    me = await auth.GetMe(auth_service_pb2.GetMeRequest(), metadata=credentials)
    assert me.user.email_verified


async def test_codes_are_stored_only_hashed_and_never_logged(
    start_auth: Callable[..., Any], make_auth_settings: Callable[..., AuthSettings], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _, auth = await start_auth()
    registered = await _register(auth)
    await auth.RequestEmailVerification(
        auth_service_pb2.RequestEmailVerificationRequest(), metadata=bearer(registered.tokens.access_token)
    )
    await auth.RequestPasswordReset(auth_service_pb2.RequestPasswordResetRequest(email=registered.user.email))
    codes = {
        kind: await _outbox_token(make_auth_settings(), registered.user.email, kind)
        for kind in ("verify_email", "reset_password")
    }
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(make_auth_settings().mongo_url)
    try:
        database = client[make_auth_settings().mongo_database]
        mails = [mail async for mail in database.outbox_mail.find({"to": registered.user.email})]
        stored = repr(mails) + repr([token async for token in database.auth_tokens.find({})])
    finally:
        await client.close()
    logged = "\n".join(record.getMessage() + repr(record.__dict__) for record in caplog.records)

    assert {mail["kind"]: mail["code_hash"] for mail in mails} == {
        kind: hashlib.sha256(code.encode()).hexdigest() for kind, code in codes.items()
    }
    assert all(mail["sent_at"] is not None for mail in mails)
    for code in codes.values():
        assert code not in stored
        assert code not in logged
    # The driver's own DEBUG command log shows documents (addresses included); the service's logs do not.
    assert not [
        record
        for record in caplog.records
        if record.name.startswith("trademesh") and registered.user.email in record.getMessage() + repr(record.__dict__)
    ]
    assert registered.tokens.refresh_token not in logged
    assert registered.tokens.access_token not in logged
    # The codes still work: the recipient got them from the transport.
    verified = await auth.VerifyEmail(auth_service_pb2.VerifyEmailRequest(token=codes["verify_email"]))
    assert verified.user.email_verified


async def test_expired_verification_token_is_rejected(
    start_auth: Callable[..., Any], make_auth_settings: Callable[..., AuthSettings]
) -> None:
    _, auth = await start_auth(email_verification_ttl_seconds=60)
    registered = await _register(auth)
    await auth.RequestEmailVerification(
        auth_service_pb2.RequestEmailVerificationRequest(), metadata=bearer(registered.tokens.access_token)
    )
    token = await _outbox_token(make_auth_settings(), registered.user.email, "verify_email")
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(make_auth_settings().mongo_url)
    database = client[make_auth_settings().mongo_database]
    # Age the stored token past its expiry instead of waiting a minute.
    await database.auth_tokens.update_many({}, {"$set": {"expires_at": datetime(2000, 1, 1, tzinfo=UTC)}})
    await client.close()

    expired = await expect_failure(auth.VerifyEmail(auth_service_pb2.VerifyEmailRequest(token=token)))

    assert (expired.code, expired.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "TOKEN_INVALID")


async def test_password_reset_flow(
    start_auth: Callable[..., Any], make_auth_settings: Callable[..., AuthSettings]
) -> None:
    _, auth = await start_auth()
    registered = await _register(auth)
    new_password = "Brand-New-Secret-7"

    unknown = await auth.RequestPasswordReset(auth_service_pb2.RequestPasswordResetRequest(email="ghost@example.com"))
    known = await auth.RequestPasswordReset(auth_service_pb2.RequestPasswordResetRequest(email=registered.user.email))
    token = await _outbox_token(make_auth_settings(), registered.user.email, "reset_password")
    weak = await expect_failure(
        auth.ResetPassword(auth_service_pb2.ResetPasswordRequest(token=token, new_password="x"))
    )
    await auth.ResetPassword(auth_service_pb2.ResetPasswordRequest(token=token, new_password=new_password))
    reused = await expect_failure(
        auth.ResetPassword(auth_service_pb2.ResetPasswordRequest(token=token, new_password=new_password))
    )

    assert unknown == known
    assert weak.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "new_password" in weak.violations
    assert reused.code == grpc.StatusCode.INVALID_ARGUMENT
    old = await expect_failure(
        auth.Login(auth_service_pb2.LoginRequest(login=registered.user.username, password=PASSWORD))
    )
    assert old.code == grpc.StatusCode.UNAUTHENTICATED
    await auth.Login(auth_service_pb2.LoginRequest(login=registered.user.username, password=new_password))
    # Every earlier session is revoked by the reset.
    stale = await expect_failure(
        auth.Refresh(auth_service_pb2.RefreshRequest(refresh_token=registered.tokens.refresh_token))
    )
    stale_access = await expect_failure(
        auth.GetMe(auth_service_pb2.GetMeRequest(), metadata=bearer(registered.tokens.access_token))
    )
    assert stale.code == stale_access.code == grpc.StatusCode.UNAUTHENTICATED


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


async def test_stale_token_does_not_block_public_calls(auth: AuthServiceStub) -> None:
    registered = await _register(auth)

    refreshed = await auth.Refresh(
        auth_service_pb2.RefreshRequest(refresh_token=registered.tokens.refresh_token),
        metadata=bearer("expired.or.garbage"),
    )

    assert refreshed.tokens.access_token


async def test_operator_grants_roles_that_appear_in_the_next_token(
    auth: AuthServiceStub, make_auth_settings: Callable[..., AuthSettings]
) -> None:
    registered = await _register(auth)
    settings = make_auth_settings()
    env = {"TRADEMESH_MONGO_URL": settings.mongo_url, "TRADEMESH_MONGO_DATABASE": settings.mongo_database}
    command = [sys.executable, "-m", "trademesh.services.auth.admin", "set-roles"]

    granted = await asyncio.to_thread(
        subprocess.run,
        [*command, registered.user.username, "user,admin"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    refused = await asyncio.to_thread(
        subprocess.run,
        [*command, registered.user.username, "root"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    login = await auth.Login(auth_service_pb2.LoginRequest(login=registered.user.username, password=PASSWORD))

    assert granted.returncode == 0, granted.stderr
    assert refused.returncode == 1
    assert "roles must be some of" in refused.stderr
    assert set(login.user.roles) == {auth_pb2.ROLE_USER, auth_pb2.ROLE_ADMIN}
    assert set(_claims_of(login.tokens.access_token)["roles"]) == {"user", "admin"}
