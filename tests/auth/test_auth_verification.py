"""The auth service end to end (real gRPC, Redis and MongoDB-wire database): verification and reset mail."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from pymongo import AsyncMongoClient

from tests.rpc import bearer, expect_failure
from trademesh.auth.v1 import auth_service_pb2

if TYPE_CHECKING:
    pass
from tests.auth.helpers import PASSWORD, _outbox_token, _register
from trademesh.services.auth.settings import AuthSettings


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
