"""The sync use cases against in-memory fakes of their ports: the service's rules, in milliseconds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.sync.fakes import Harness, build_harness, kite_row
from trademesh.kernel.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unavailable,
)
from trademesh.services.brokers.sessions import BrokerSessionRejected, BrokerUnavailable, KiteLogin, UpstoxLogin
from trademesh.services.sync.model import (
    MAX_ACCOUNTS_PER_USER,
    MAX_ATTEMPTS,
    AccountStatus,
    BrokerAccount,
    LogFilter,
    SyncLog,
    SyncStatus,
    SyncType,
    secret_context,
)

USER, OTHER = "user-1", "user-2"


@pytest.fixture
def h() -> Harness:
    return build_harness()


def rid() -> str:
    return str(uuid.uuid4())


def login(api_key: str = "kiteapikey1", token: str = "request-token") -> KiteLogin:  # noqa: S107 - a fake token
    return KiteLogin(api_key, "secret", token)


async def link(
    h: Harness, user: str = USER, api_key: str = "kiteapikey1", broker_user: str = "AB1234"
) -> BrokerAccount:
    if api_key not in h.brokers.users:
        h.brokers.add(api_key, broker_user, [kite_row("t1"), kite_row("t2", "TCS")])
    account, _ = await h.service.link(user, rid(), login(api_key), "", "")
    return account


async def run_once(h: Harness, account_id: str, user: str = USER) -> SyncLog:
    log_id = await h.service.start_manual(user, account_id, rid())
    finished = await h.service.execute(h.queue.take())
    assert finished is not None
    assert finished.id == log_id
    return finished


# ------------------------------------------------------------------ accounts


async def test_link_stores_a_masked_key_a_sealed_session_and_the_kite_expiry(h: Harness) -> None:
    h.brokers.add("kiteapikey1", "AB1234")
    account, created = await h.service.link(USER, rid(), login(), "", "  main  ")
    assert created
    assert account.status is AccountStatus.ACTIVE
    assert (account.masked_api_key, account.nickname, account.broker_user_id) == ("ki****y1", "main", "AB1234")
    # 04:00 UTC is 09:30 IST: the session ends at 06:00 IST the next day.
    assert account.token_expire_time == datetime(2026, 3, 3, 0, 30, tzinfo=UTC)
    stored = h.accounts.accounts[account.id]
    assert stored.secret is not None
    assert stored.secret.nonce == secret_context(stored)
    assert b"token-1" in stored.secret.ciphertext
    assert h.service.open_session(stored) is not None


async def test_link_is_idempotent_by_request_id_and_rejects_a_reused_one(h: Harness) -> None:
    h.brokers.add("kiteapikey1", "AB1234")
    request_id = rid()
    first, created = await h.service.link(USER, request_id, login(), "", "n")
    again, created_again = await h.service.link(USER, request_id.upper(), login(), "", "n")
    assert (again.id, created, created_again) == (first.id, True, True)
    assert len(h.brokers.sessions) == 1  # the login was exchanged once
    with pytest.raises(AlreadyExists) as error:
        await h.service.link(USER, request_id, login(), "", "another nickname")
    assert error.value.reason == "REQUEST_ID_REUSED"


async def test_link_rejects_bad_requests_naming_every_field(h: Harness) -> None:
    with pytest.raises(InvalidArgument) as error:
        await h.service.link(USER, "not-a-uuid", None, "", "x" * 65)
    assert {v.field for v in error.value.violations} == {"request_id", "nickname"}
    with pytest.raises(InvalidArgument) as error:
        await h.service.link(USER, rid(), UpstoxLogin("c", "", "ftp://x", "code"), "", "")
    assert {v.field for v in error.value.violations} == {"upstox.client_secret", "upstox.redirect_uri"}


async def test_linking_the_same_broker_user_again_relinks_the_account(h: Harness) -> None:
    first = await link(h)
    second, created = await h.service.link(USER, rid(), login(token="another"), "", "")
    assert (second.id, created, second.version) == (first.id, False, first.version + 1)


async def test_a_user_links_at_most_ten_accounts(h: Harness) -> None:
    for index in range(MAX_ACCOUNTS_PER_USER):
        await link(h, api_key=f"key-{index:04d}", broker_user=f"U{index}")
    h.brokers.add("key-extra", "UX")
    with pytest.raises(ResourceExhausted) as error:
        await h.service.link(USER, rid(), login("key-extra"), "", "")
    assert error.value.reason == "ACCOUNT_LIMIT_REACHED"
    # Another user is not limited by this one's accounts; an unlinked account frees a place.
    assert (await link(h, OTHER, "key-extra", "UX")).user_id == OTHER
    first = next(iter(h.accounts.accounts.values()))
    await h.service.unlink(USER, first.id, "")
    h.brokers.add("key-extra2", "UY")
    await h.service.link(USER, rid(), login("key-extra2"), "", "")


async def test_broker_login_failures_map_to_their_reasons(h: Harness) -> None:
    with pytest.raises(FailedPrecondition) as rejected:
        await h.service.link(USER, rid(), login("unknown"), "", "")
    assert rejected.value.reason == "BROKER_AUTH_FAILED"
    h.brokers.unavailable = True
    with pytest.raises(Unavailable) as down:
        await h.service.link(USER, rid(), login("unknown"), "", "")
    assert down.value.reason == "BROKER_UNAVAILABLE"


async def test_relinking_with_another_broker_user_is_refused_and_the_new_session_revoked(h: Harness) -> None:
    account = await link(h)
    h.brokers.add("kiteapikey2", "ZZ9999")
    with pytest.raises(FailedPrecondition) as error:
        await h.service.link(USER, rid(), login("kiteapikey2"), account.id, "")
    assert error.value.reason == "BROKER_USER_MISMATCH"
    assert h.brokers.revoked == ["token-2"]


async def test_no_user_reaches_another_users_account_or_logs(h: Harness) -> None:
    account = await link(h)
    log = await run_once(h, account.id)
    for call in (
        h.service.own_account(OTHER, account.id),
        h.service.unlink(OTHER, account.id, ""),
        h.service.update(OTHER, account.id, account.etag, ["nickname"], "x", True),
        h.service.start_manual(OTHER, account.id, rid()),
        h.service.list_logs(OTHER, LogFilter(broker_account_id=account.id), 0, "", False),
        h.service.link(OTHER, rid(), login(), account.id, ""),
    ):
        with pytest.raises(NotFound) as error:
            await call
        assert error.value.reason == "BROKER_ACCOUNT_NOT_FOUND"
    with pytest.raises(NotFound):
        await h.service.own_log(OTHER, log.id)
    assert (await h.service.list_accounts(OTHER, None, True, 0, ""))[0] == []


async def test_update_is_guarded_by_the_etag(h: Harness) -> None:
    account = await link(h)
    updated = await h.service.update(USER, account.id, account.etag, ["nickname", "sync_enabled"], "swing", False)
    assert (updated.nickname, updated.sync_enabled, updated.etag) == ("swing", False, f"v{account.version + 1}")
    with pytest.raises(Aborted) as error:
        await h.service.update(USER, account.id, account.etag, ["nickname"], "again", True)
    assert error.value.reason == "ETAG_MISMATCH"
    with pytest.raises(InvalidArgument):
        await h.service.update(USER, account.id, updated.etag, ["broker"], "", True)


async def test_unlink_ends_the_running_run_revokes_the_session_and_is_idempotent(h: Harness) -> None:
    account = await link(h)
    log_id = await h.service.start_manual(USER, account.id, rid())
    unlinked = await h.service.unlink(USER, account.id, account.etag)
    assert unlinked.status is AccountStatus.UNLINKED
    assert h.accounts.accounts[account.id].secret is None
    assert h.brokers.revoked == ["token-1"]
    ended = h.logs.logs[log_id]
    assert ended.status is SyncStatus.FAILED
    assert ended.error is not None
    assert ended.error.reason == "ACCOUNT_UNLINKED"
    assert h.accounts.accounts[account.id].running_log_id == ""
    # The queued job finds the run over; a second unlink changes nothing.
    assert (await h.service.execute(h.queue.take())) == ended
    assert (await h.service.unlink(USER, account.id, "")).version == unlinked.version
    with pytest.raises(FailedPrecondition) as error:
        await h.service.start_manual(USER, account.id, rid())
    assert error.value.reason == "ACCOUNT_UNLINKED"


async def test_accounts_page_oldest_first_and_hide_unlinked_ones_unless_asked(h: Harness) -> None:
    ids = []
    for index in range(3):
        ids.append((await link(h, api_key=f"key-{index:04d}", broker_user=f"U{index}")).id)
        h.clock.advance(timedelta(seconds=1))
    await h.service.unlink(USER, ids[1], "")
    first, token = await h.service.list_accounts(USER, None, True, 2, "")
    rest, last = await h.service.list_accounts(USER, None, True, 2, token)
    assert ([a.id for a in first], [a.id for a in rest], last) == (ids[:2], ids[2:], "")
    assert [a.id for a in (await h.service.list_accounts(USER, None, False, 0, ""))[0]] == [ids[0], ids[2]]
    with pytest.raises(InvalidArgument):
        await h.service.list_accounts(USER, None, False, 0, "forged")
    with pytest.raises(InvalidArgument):
        await h.service.list_accounts(USER, None, True, 2, token.replace(token[-3:], "AAA"))


# ------------------------------------------------------------------ runs


async def test_a_run_fetches_and_reconciles_then_frees_the_slot_and_reschedules(h: Harness) -> None:
    account = await link(h)
    log = await run_once(h, account.id)
    assert (log.status, log.type, log.counters.fetched, log.counters.created) == (
        SyncStatus.SUCCEEDED,
        SyncType.MANUAL,
        2,
        2,
    )
    stored = h.accounts.accounts[account.id]
    assert (stored.running_log_id, stored.last_sync_status, stored.last_sync_log_id) == ("", log.status, log.id)
    assert stored.next_sync_time == h.clock() + timedelta(minutes=5)
    h.clock.advance(timedelta(minutes=5))
    assert await h.service.schedule_due() == 1
    again = await h.service.execute(h.queue.take())
    assert again is not None
    assert again.type is SyncType.SCHEDULED
    assert again.counters.unchanged == 2


async def test_sync_now_is_idempotent_by_request_id_and_one_run_at_a_time(h: Harness) -> None:
    account = await link(h)
    second = await link(h, api_key="kiteapikey2", broker_user="CD5678")
    request_id = rid()
    log_id = await h.service.start_manual(USER, account.id, request_id)
    assert await h.service.start_manual(USER, account.id, request_id) == log_id
    # Another request while the run is RUNNING attaches to it instead of starting a second.
    assert await h.service.start_manual(USER, account.id, rid()) == log_id
    assert len(h.queue.jobs) == 1
    assert await h.service.schedule_due() == 1
    with pytest.raises(AlreadyExists) as error:
        await h.service.start_manual(USER, second.id, request_id)
    assert error.value.reason == "REQUEST_ID_REUSED"
    with pytest.raises(InvalidArgument):
        await h.service.start_manual(USER, account.id, "nope")


async def test_manual_syncs_are_throttled_to_one_a_minute(h: Harness) -> None:
    account = await link(h)
    await run_once(h, account.id)
    with pytest.raises(ResourceExhausted) as error:
        await h.service.start_manual(USER, account.id, rid())
    assert error.value.reason == "SYNC_RATE_LIMITED"
    assert 0 < (error.value.retry_after_seconds or 0) <= 60
    h.clock.advance(timedelta(seconds=61))
    await run_once(h, account.id)


async def test_reconcile_goes_in_batches_and_row_failures_are_kept(h: Harness) -> None:
    h = build_harness(batch_size=2)
    rows = [kite_row(f"t{n}") for n in range(5)] + [kite_row("bad", average_price="abc"), "not a row"]
    h.brokers.add("kiteapikey1", "AB1234", rows)
    h.trades.reject["t3"] = ("INVALID_TRADE", "price out of range")
    account = await link(h)
    log = await run_once(h, account.id)
    assert h.trades.batches == [2, 2, 1]
    assert log.status is SyncStatus.PARTIAL
    assert (log.counters.fetched, log.counters.created, log.counters.failed) == (7, 4, 3)
    assert {(f.row_ref, f.reason) for f in log.row_failures} == {
        ("bad", "UNMAPPABLE"),
        ("#6", "UNMAPPABLE"),
        ("t3", "INVALID_TRADE"),
    }
    assert h.logs.logs[log.id].row_failures == log.row_failures


async def test_a_derivative_row_with_an_unparsable_symbol_fails_with_the_kernels_message(h: Harness) -> None:
    h.brokers.add("kiteapikey1", "AB1234", [kite_row("f1", "NIFTYXYZ", exchange="NFO")])
    log = await run_once(h, (await link(h)).id)
    assert [f.message for f in log.row_failures] == ["cannot derive the contract from symbol 'NIFTYXYZ'"]


async def test_retryable_failures_retry_on_the_delay_schedule_then_dead_letter(h: Harness) -> None:
    account = await link(h)
    h.brokers.fetch_errors = [BrokerUnavailable("down")] * MAX_ATTEMPTS
    log = await run_once(h, account.id)
    delays = []
    while log.status is SyncStatus.FAILED:
        assert log.error is not None
        assert log.error.retryable
        assert log.next_retry_time is not None
        delays.append(log.next_retry_time - h.clock())
        h.clock.advance(delays[-1] - timedelta(seconds=1))
        assert await h.service.schedule_due() == 0  # not due yet
        h.clock.advance(timedelta(seconds=1))
        assert await h.service.schedule_due() == 1
        retried = await h.service.execute(h.queue.take())
        assert retried is not None
        assert retried.type is SyncType.RETRY
        assert retried.retry_of == log.id
        assert retried.attempt == log.attempt + 1
        log = retried
    assert delays == [timedelta(minutes=m) for m in (1, 5, 15, 60)]
    assert (log.status, log.attempt) == (SyncStatus.DEAD_LETTERED, MAX_ATTEMPTS)
    assert [dead.id for dead in h.queue.dead] == [log.id]
    stored = h.accounts.accounts[account.id]
    assert (stored.retry_attempt, stored.next_sync_time) == (0, h.clock() + timedelta(minutes=5))


async def test_a_trade_service_outage_fails_the_run_for_a_retry(h: Harness) -> None:
    h = build_harness(batch_size=1)
    h.trades.fail_calls = {2}
    account = await link(h)
    log = await run_once(h, account.id)
    assert log.status is SyncStatus.FAILED
    assert log.error is not None
    assert (log.error.reason, log.error.retryable, log.counters.created) == ("DEPENDENCY_UNAVAILABLE", True, 1)
    assert h.accounts.accounts[account.id].retry_attempt == 2


async def test_an_expired_session_puts_the_account_in_error(h: Harness) -> None:
    account = await link(h)
    assert account.token_expire_time is not None
    h.clock.now = account.token_expire_time
    seen = await h.service.own_account(USER, account.id)
    assert (seen.status, seen.error_reason) == (AccountStatus.ERROR, "TOKEN_EXPIRED")
    with pytest.raises(FailedPrecondition) as error:
        await h.service.start_manual(USER, account.id, rid())
    assert error.value.reason == "TOKEN_EXPIRED"
    assert await h.service.schedule_due() == 0
    # Linking again brings it back.
    relinked, created = await h.service.link(USER, rid(), login(token="fresh"), account.id, "")
    assert (relinked.status, created) == (AccountStatus.ACTIVE, False)


async def test_a_session_the_broker_rejects_fails_the_run_without_retry(h: Harness) -> None:
    account = await link(h)
    h.brokers.fetch_errors = [BrokerSessionRejected("TOKEN_INVALID", "no")]
    log = await run_once(h, account.id)
    assert log.status is SyncStatus.FAILED
    assert log.error is not None
    assert (log.error.reason, log.error.retryable) == ("TOKEN_INVALID", False)
    stored = h.accounts.accounts[account.id]
    assert (stored.status, stored.error_reason, stored.retry_attempt) == (AccountStatus.ERROR, "TOKEN_INVALID", 0)


async def test_a_rejection_after_the_expiry_reads_as_token_expired(h: Harness) -> None:
    account = await link(h)
    assert account.token_expire_time is not None
    log_id = await h.service.start_manual(USER, account.id, rid())
    h.clock.now = account.token_expire_time + timedelta(minutes=1)
    h.brokers.fetch_errors = [BrokerSessionRejected("TOKEN_INVALID", "no")]
    log = await h.service.execute(h.queue.take())
    # The run found the account expired before asking the broker.
    assert log is not None
    assert log.id == log_id
    assert log.error is not None
    assert log.error.reason == "TOKEN_EXPIRED"


async def test_a_job_that_keeps_killing_workers_is_dead_lettered_once(h: Harness) -> None:
    account = await link(h)
    await h.service.start_manual(USER, account.id, rid())
    job = h.queue.take()
    await h.service.give_up(job, "delivered 6 times")
    await h.service.give_up(job, "delivered 7 times")
    assert [log.status for log in h.queue.dead] == [SyncStatus.DEAD_LETTERED]
    assert h.accounts.accounts[account.id].running_log_id == ""


async def test_stale_claims_are_released_or_requeued(h: Harness) -> None:
    account = await link(h)
    log_id = await h.service.start_manual(USER, account.id, rid())
    h.queue.jobs.clear()  # the job was lost
    h.clock.advance(timedelta(minutes=20))
    assert await h.service.recover_stale(timedelta(minutes=15)) == 1
    assert [job.log_id for job in h.queue.jobs] == [log_id]
    await h.service.execute(h.queue.take())
    assert h.accounts.accounts[account.id].running_log_id == ""


async def test_sync_logs_page_newest_first_with_filters(h: Harness) -> None:
    account = await link(h)
    ids = []
    for _ in range(3):
        ids.append((await run_once(h, account.id)).id)
        h.clock.advance(timedelta(minutes=2))
    first, token = await h.service.list_logs(USER, LogFilter(), 2, "", False)
    rest, last = await h.service.list_logs(USER, LogFilter(), 2, token, False)
    assert ([log.id for log in first + rest], last) == (ids[::-1], "")
    with pytest.raises(InvalidArgument):  # a token is bound to its filters
        await h.service.list_logs(USER, LogFilter(status=SyncStatus.FAILED), 2, token, False)
    with pytest.raises(InvalidArgument):
        await h.service.list_logs(USER, LogFilter(), -1, "", False)
    window = LogFilter(start_time=h.clock(), end_time=h.clock() - timedelta(seconds=1))
    with pytest.raises(InvalidArgument):
        await h.service.list_logs(USER, window, 0, "", False)
    h.clock.advance(timedelta(hours=26))
    with pytest.raises(InvalidArgument):  # page tokens expire with the request memory
        await h.service.list_logs(USER, LogFilter(), 2, token, False)
