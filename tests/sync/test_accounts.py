"""Broker accounts: linking, secrets at rest, ownership, token expiry, idempotency."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, timedelta

import bson
import grpc
import pytest
from google.protobuf import field_mask_pb2

from tests.conftest import MeshUser
from tests.rpc import expect_failure
from tests.sync.conftest import (
    Mesh,
    journal,
    kite_app,
    link_kite,
    link_upstox,
    request_id,
    summary_of,
    sync_now,
    upstox_app,
    wait_for_log,
)
from tests.sync.linked import linked_kite
from trademesh.kernel.calendar import IST
from trademesh.services.brokers.fake_server import Fault, FaultKind
from trademesh.services.brokers.fakes import sample_book
from trademesh.services.brokers.upstox.fake import FakeUpstox, upstox_trade
from trademesh.services.brokers.zerodha.fake import FakeKite
from trademesh.services.sync.credentials import CredentialCipher, new_key_text, parse_keys
from trademesh.services.sync.model import secret_context
from trademesh.services.sync.store import MongoAccountStore, account_from_document
from trademesh.sync.v1 import broker_account_pb2, sync_log_pb2, sync_service_pb2


async def test_link_creates_an_active_account_without_secrets(
    mesh: Mesh, fake_kite: FakeKite, new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    user = await new_user()
    app = kite_app(fake_kite)
    sync = await mesh.start()

    account = await link_kite(sync, user, app, nickname="  Main  ")

    assert account.status == broker_account_pb2.BROKER_ACCOUNT_STATUS_ACTIVE
    assert account.broker_user_id == app.user_id
    assert account.display_name == app.user_name
    assert account.nickname == "Main"
    assert account.masked_api_key == f"{app.api_key[:2]}****{app.api_key[-2:]}"
    assert account.sync_enabled
    expiry = account.token_expire_time.ToDatetime(tzinfo=UTC).astimezone(IST)
    assert (expiry.hour, expiry.minute) == (6, 0)
    assert timedelta(0) < expiry - account.link_time.ToDatetime(tzinfo=UTC) <= timedelta(days=1)
    (token,) = app.access_tokens
    assert token not in str(account)
    assert app.api_secret not in str(account)


async def test_credentials_are_not_readable_from_the_database_without_the_key(
    mesh: Mesh, fake_kite: FakeKite, new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    user = await new_user()
    app = kite_app(fake_kite)
    sync = await mesh.start()
    account = await link_kite(sync, user, app)
    (token,) = app.access_tokens

    document = await mesh.database.broker_accounts.find_one({"_id": account.id})
    raw = bson.encode(document)

    for secret in (token, app.api_key, app.api_secret):
        assert secret.encode() not in raw
    stored = account_from_document(document)
    assert stored.secret is not None
    assert stored.secret.key_id == "test"
    with pytest.raises(ValueError, match="no key"):
        CredentialCipher.from_setting(new_key_text("other")).open(stored.secret, secret_context(stored))
    impostor = CredentialCipher([("test", parse_keys(new_key_text("x"))[0][1])])
    with pytest.raises(ValueError, match="cannot be decrypted"):
        impostor.open(stored.secret, secret_context(stored))
    # With the key, the ciphertext opens only for its own account (it cannot be copied to another).
    with pytest.raises(ValueError, match="cannot be decrypted"):
        sync.runtime.service.cipher.open(stored.secret, f"trademesh.sync/{user.user_id}/other".encode())
    assert token.encode() in sync.runtime.service.cipher.open(stored.secret, secret_context(stored))


async def test_key_rotation_reencrypts_stored_sessions(
    mesh: Mesh, fake_kite: FakeKite, new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    user = await new_user()
    app = kite_app(fake_kite, sample_book(2))
    old_key, new_key = new_key_text("old"), new_key_text("new")
    sync = await mesh.start(broker_credentials_key=old_key)
    account = await link_kite(sync, user, app)
    await sync.runtime.host.stop(0)

    # The operator puts the new key first, keeps the old one, restarts: sessions are re-encrypted.
    rotating = await mesh.start(broker_credentials_key=f"{new_key},{old_key}")
    rotating_cipher = CredentialCipher.from_setting(rotating.settings.broker_credentials_key.get_secret_value())
    # The restarted service re-encrypts in the background; the operator command does it on demand.
    assert await MongoAccountStore(mesh.database).reseal_all(rotating_cipher) in (0, 1)
    document = await mesh.database.broker_accounts.find_one({"_id": account.id})
    assert document["secret"]["key_id"] == "new"
    await rotating.runtime.host.stop(0)

    # Then the old key is dropped, and the account still syncs.
    rotated = await mesh.start(broker_credentials_key=new_key)
    summary = summary_of(await sync_now(rotated, user, account.id))
    assert summary.status == sync_log_pb2.SYNC_STATUS_SUCCEEDED
    assert summary.counters.created == 2


async def test_another_users_account_is_not_found(
    mesh: Mesh, fake_kite: FakeKite, new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    owner, stranger = await new_user(), await new_user()
    sync = await mesh.start()
    account = await link_kite(sync, owner, kite_app(fake_kite, sample_book(1)))

    calls: list[Awaitable[object]] = [
        sync_now(sync, stranger, account.id),
        sync.stub.UnlinkBrokerAccount(
            sync_service_pb2.UnlinkBrokerAccountRequest(broker_account_id=account.id), metadata=stranger.metadata
        ),
        sync.stub.ListSyncLogs(
            sync_service_pb2.ListSyncLogsRequest(broker_account_id=account.id), metadata=stranger.metadata
        ),
        sync.stub.UpdateBrokerAccount(
            sync_service_pb2.UpdateBrokerAccountRequest(
                broker_account=broker_account_pb2.BrokerAccount(id=account.id, nickname="mine"),
                update_mask=field_mask_pb2.FieldMask(paths=["nickname"]),
                etag=account.etag,
            ),
            metadata=stranger.metadata,
        ),
    ]
    for call in calls:
        failure = await expect_failure(call)
        assert failure.code == grpc.StatusCode.NOT_FOUND
        assert failure.reason == "BROKER_ACCOUNT_NOT_FOUND"
    listed = await sync.stub.ListBrokerAccounts(
        sync_service_pb2.ListBrokerAccountsRequest(), metadata=stranger.metadata
    )
    assert list(listed.broker_accounts) == []


async def test_an_expired_token_puts_the_account_in_error_until_relinked(
    mesh: Mesh, fake_kite: FakeKite, new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    user, app, sync, account = await linked_kite(mesh, fake_kite, new_user, 3)
    sync.shift_clock(timedelta(hours=24))  # past 06:00 IST

    listed = await sync.stub.ListBrokerAccounts(sync_service_pb2.ListBrokerAccountsRequest(), metadata=user.metadata)
    (expired,) = listed.broker_accounts
    assert expired.status == broker_account_pb2.BROKER_ACCOUNT_STATUS_ERROR
    assert expired.error_reason == "TOKEN_EXPIRED"
    assert "link the account again" in expired.error_message
    assert not expired.HasField("next_sync_time")
    failure = await expect_failure(sync_now(sync, user, account.id))
    assert (failure.code, failure.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "TOKEN_EXPIRED")
    assert await sync.runtime.service.schedule_due() == 0

    relinked = await link_kite(sync, user, app)
    assert relinked.id == account.id
    assert relinked.status == broker_account_pb2.BROKER_ACCOUNT_STATUS_ACTIVE
    assert relinked.error_reason == ""
    assert summary_of(await sync_now(sync, user, account.id)).counters.created == 3


async def test_a_session_the_broker_rejects_moves_the_account_to_error(
    mesh: Mesh, fake_kite: FakeKite, new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    user, app, sync, account = await linked_kite(mesh, fake_kite, new_user, 3)
    app.faults.append(Fault(FaultKind.EXPIRED, path="/trades"))

    summary = summary_of(await sync_now(sync, user, account.id))

    assert summary.status == sync_log_pb2.SYNC_STATUS_FAILED
    assert summary.error.reason == "TOKEN_INVALID"
    assert not summary.error.retryable
    assert app.requests == 2  # the login, then one GET /trades: an auth error is not retried
    listed = await sync.stub.ListBrokerAccounts(sync_service_pb2.ListBrokerAccountsRequest(), metadata=user.metadata)
    assert listed.broker_accounts[0].error_reason == "TOKEN_INVALID"
    assert listed.broker_accounts[0].last_sync_status == sync_log_pb2.SYNC_STATUS_FAILED


async def test_link_is_idempotent_by_request_id_and_rejects_bad_logins(
    mesh: Mesh, fake_kite: FakeKite, new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    user = await new_user()
    app = kite_app(fake_kite)
    sync = await mesh.start()
    credentials = broker_account_pb2.ZerodhaCredentials(
        api_key=app.api_key, api_secret=app.api_secret, request_token="single-use"
    )
    request = sync_service_pb2.LinkBrokerAccountRequest(request_id=request_id(), zerodha=credentials)
    first = await sync.stub.LinkBrokerAccount(request, metadata=user.metadata)
    again = await sync.stub.LinkBrokerAccount(request, metadata=user.metadata)
    assert first.created
    assert again.created
    assert again.broker_account.id == first.broker_account.id
    assert len(app.used_login_tokens) == 1  # the retry did not spend another request token

    reused = sync_service_pb2.LinkBrokerAccountRequest(request_id=request.request_id, zerodha=credentials, nickname="x")
    failure = await expect_failure(sync.stub.LinkBrokerAccount(reused, metadata=user.metadata))
    assert (failure.code, failure.reason) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED")

    wrong_secret = broker_account_pb2.ZerodhaCredentials(api_key=app.api_key, api_secret="nope", request_token="t2")
    failure = await expect_failure(
        sync.stub.LinkBrokerAccount(
            sync_service_pb2.LinkBrokerAccountRequest(request_id=request_id(), zerodha=wrong_secret),
            metadata=user.metadata,
        )
    )
    assert (failure.code, failure.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "BROKER_AUTH_FAILED")
    failure = await expect_failure(
        sync.stub.LinkBrokerAccount(
            sync_service_pb2.LinkBrokerAccountRequest(request_id="not-a-uuid"), metadata=user.metadata
        )
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(failure.violations) == {"request_id"}


async def test_upstox_account_links_and_syncs(
    mesh: Mesh, fake_upstox: FakeUpstox, new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    user = await new_user()
    app = upstox_app(fake_upstox, sample_book(8, upstox_trade))
    sync = await mesh.start()
    account = await link_upstox(sync, user, app)
    expiry = account.token_expire_time.ToDatetime(tzinfo=UTC).astimezone(IST)
    assert (expiry.hour, expiry.minute) == (3, 30)

    summary = summary_of(await sync_now(sync, user, account.id))

    assert summary.status == sync_log_pb2.SYNC_STATUS_SUCCEEDED
    assert summary.counters.created == 8
    trades = await journal(mesh, user, account.id)
    assert sorted(t.broker_trade_id for t in trades) == sorted(row["trade_id"] for row in app.trades)


async def test_a_service_without_the_key_cannot_use_stored_sessions(
    mesh: Mesh, fake_kite: FakeKite, new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    user, app, sync, account = await linked_kite(mesh, fake_kite, new_user, 2)
    await sync.runtime.host.stop(0)
    stranger = await mesh.start(broker_credentials_key=new_key_text("test"))  # same id, other key material

    summary = summary_of(await sync_now(stranger, user, account.id))

    assert summary.status == sync_log_pb2.SYNC_STATUS_FAILED
    assert summary.error.reason == "INTERNAL"
    assert not summary.error.retryable
    assert app.requests == 1  # only the login: nothing reached the broker without a readable session
    # Not retried at every scheduler tick: the next attempt waits for the regular slot.
    assert await stranger.runtime.service.schedule_due() == 0


async def test_upstox_faults_are_retried_and_a_rejected_token_is_not(
    mesh: Mesh, fake_upstox: FakeUpstox, new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    user = await new_user()
    app = upstox_app(fake_upstox, sample_book(4, upstox_trade))
    sync = await mesh.start(broker_attempts=4)
    account = await link_upstox(sync, user, app)
    app.faults.extend([Fault(FaultKind.STATUS, 500), Fault(FaultKind.MALFORMED), Fault(FaultKind.STATUS, 429)])

    recovered = summary_of(await sync_now(sync, user, account.id))

    assert recovered.status == sync_log_pb2.SYNC_STATUS_SUCCEEDED
    assert recovered.counters.created == 4
    app.faults.append(Fault(FaultKind.EXPIRED))
    await sync.advance_to_due(account.id)
    assert await sync.runtime.service.schedule_due() == 1
    (rejected, _) = await wait_for_log(sync, user, account.id, count=2)
    assert rejected.status == sync_log_pb2.SYNC_STATUS_FAILED
    assert rejected.error.reason == "TOKEN_INVALID"
