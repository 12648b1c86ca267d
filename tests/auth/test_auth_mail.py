"""Verification and reset mail really sent over SMTP (the local mail server of `make up`), and an SMTP outage."""

from __future__ import annotations

import logging
import mailbox
import re
import uuid
from collections.abc import Callable
from email.message import Message
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from pymongo import AsyncMongoClient

from tests.conftest import MailServer
from tests.rpc import bearer, expect_failure
from trademesh.auth.v1 import auth_service_pb2
from trademesh.devstack.processes import find_free_port
from trademesh.services.auth.settings import AuthSettings

if TYPE_CHECKING:
    from trademesh.auth.v1.auth_service_pb2_grpc import AuthServiceAsyncStub as AuthServiceStub

PASSWORD = "Correct-Horse-42"


async def _register(stub: AuthServiceStub) -> auth_service_pb2.RegisterResponse:
    name = f"trader_{uuid.uuid4().hex[:8]}"
    request = auth_service_pb2.RegisterRequest(email=f"{name}@example.com", username=name, password=PASSWORD)
    return await stub.Register(request)


def _smtp(server: MailServer) -> dict[str, Any]:
    return {"smtp_host": "127.0.0.1", "smtp_port": server.smtp_port, "smtp_security": "none", "mail_drop_dir": None}


def _received(server: MailServer, to: str) -> list[Message]:
    return [message for _, message in mailbox.Maildir(server.maildir).iteritems() if message["To"] == to]


def _code(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    match = re.search(r": (\S+)\n$", payload.decode())
    assert match, payload
    return match.group(1)


async def test_reset_and_verification_codes_arrive_by_smtp_and_work(
    start_auth: Callable[..., Any], mail_server: MailServer
) -> None:
    _, auth = await start_auth(**_smtp(mail_server))
    registered = await _register(auth)
    email = registered.user.email

    await auth.RequestEmailVerification(
        auth_service_pb2.RequestEmailVerificationRequest(), metadata=bearer(registered.tokens.access_token)
    )
    await auth.RequestPasswordReset(auth_service_pb2.RequestPasswordResetRequest(email=email))
    # The RPC returns once the SMTP server has taken the message (it is in the Maildir by then).
    verify, reset = sorted(_received(mail_server, email), key=lambda message: "reset" in message["Subject"].lower())

    assert verify["From"] == "trademesh <accounts@trademesh.local>"
    assert verify["Message-ID"]
    assert verify["Date"]
    verified = await auth.VerifyEmail(auth_service_pb2.VerifyEmailRequest(token=_code(verify)))
    assert verified.user.email_verified
    new_password = "Brand-New-Secret-7"
    await auth.ResetPassword(auth_service_pb2.ResetPasswordRequest(token=_code(reset), new_password=new_password))
    login = await auth.Login(auth_service_pb2.LoginRequest(login=registered.user.username, password=new_password))
    assert login.user.id == registered.user.id


async def test_smtp_outage_answers_as_usual_records_the_failure_and_keeps_the_code_out(
    start_auth: Callable[..., Any],
    make_auth_settings: Callable[..., AuthSettings],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    nobody_listens = find_free_port()
    _, auth = await start_auth(smtp_host="127.0.0.1", smtp_port=nobody_listens, smtp_security="none")
    registered = await _register(auth)

    known = await auth.RequestPasswordReset(auth_service_pb2.RequestPasswordResetRequest(email=registered.user.email))
    unknown = await auth.RequestPasswordReset(auth_service_pb2.RequestPasswordResetRequest(email="ghost@example.com"))

    assert known == unknown  # an outage does not tell whether the address exists
    settings = make_auth_settings()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongo_url)
    try:
        [record] = [
            mail async for mail in client[settings.mongo_database].outbox_mail.find({"to": registered.user.email})
        ]
    finally:
        await client.close()
    assert record["sent_at"] is None
    assert record["failed_at"] is not None
    assert "Connect" in record["error"] or "refused" in record["error"].lower()
    assert record["code_hash"] not in record["error"]
    # The failure is logged, without the message's text (which holds the code).
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert any("could not be sent" in message for message in warnings)
    ours = [record for record in caplog.records if record.name.startswith("trademesh")]
    logged = "\n".join(record.getMessage() + repr(record.__dict__) for record in ours)
    assert "Use this code" not in logged  # the message text (which holds the code) is never logged
    # The login still works: the account is untouched, and the mail can be asked for again later.
    await auth.Login(auth_service_pb2.LoginRequest(login=registered.user.username, password=PASSWORD))
    wrong = await expect_failure(
        auth.ResetPassword(auth_service_pb2.ResetPasswordRequest(token="not-a-code", new_password="Whatever-Secret-9"))
    )
    assert wrong.code == grpc.StatusCode.INVALID_ARGUMENT
