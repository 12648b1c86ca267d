"""Account use cases: link (exchange a broker login for a stored, encrypted session), update, unlink, list."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Sequence
from dataclasses import replace

from trademesh.kernel.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    ResourceExhausted,
    Unavailable,
    check_fields,
)
from trademesh.kernel.requests import check_page_size, check_request_id
from trademesh.services.brokers.sessions import (
    BrokerAuthFailed,
    BrokerSession,
    BrokerUnavailable,
    Login,
    StoredSession,
)
from trademesh.services.sync.model import (
    MAX_ACCOUNTS_PER_USER,
    AccountStatus,
    Broker,
    BrokerAccount,
    EncryptedSecret,
    SyncError,
    SyncStatus,
    mask_api_key,
    new_id,
    secret_context,
    session_secret,
    token_expiry,
)
from trademesh.services.sync.service.base import (
    DEFAULT_ACCOUNT_PAGE,
    MAX_ACCOUNT_PAGE,
    REQUEST_MEMORY,
    ServiceBase,
    broker_of,
    check_login,
    check_nickname,
    login_fingerprint,
)

logger = logging.getLogger(__name__)


class AccountUseCases(ServiceBase):
    """Link, update, unlink and list a user's broker accounts."""

    async def link(
        self, user_id: str, request_id: str, login: Login | None, account_id: str, nickname: str
    ) -> tuple[BrokerAccount, bool]:
        """Exchange a broker login for a session and create or re-link the account."""
        violations: list[FieldViolation] = []
        try:
            request_id = check_request_id(request_id)
        except InvalidArgument as error:
            violations += error.violations
        nickname = check_nickname(nickname, "nickname", violations)
        check_fields(violations, "invalid link request")
        check_login(login)
        assert login is not None
        account_id = account_id.strip()
        ledger_key = f"link:{user_id}:{request_id}"
        previous = await self.coordination.recall(ledger_key)
        if previous is not None:
            return await self._replay_link(user_id, previous, login, account_id, nickname)
        target: BrokerAccount | None = None
        if account_id:
            target = await self.own_account(user_id, account_id)
        broker = broker_of(login)
        if target is not None and target.broker is not broker:
            raise FailedPrecondition(
                f"account {target.id} is a {target.broker.value} account", reason="BROKER_MISMATCH"
            )
        try:
            session = await self.brokers.create_session(login)
        except BrokerAuthFailed as error:
            raise FailedPrecondition(
                f"{broker.value.title()} rejected the login ({error}); log in at the broker again",
                reason="BROKER_AUTH_FAILED",
            ) from None
        except BrokerUnavailable as error:
            raise Unavailable(f"{broker.value.title()} is unavailable: {error}", reason="BROKER_UNAVAILABLE") from None
        stored = StoredSession(session.api_key, session.access_token)
        if target is not None and target.broker_user_id != session.broker_user_id:
            await self.brokers.revoke(broker, stored)
            raise FailedPrecondition(
                f"the login is for another {broker.value.title()} user than account {target.id}",
                reason="BROKER_USER_MISMATCH",
            )
        account, created = await self._store_session(user_id, broker, session, target, nickname)
        salt = secrets.token_bytes(16)
        record = json.dumps(
            {
                "salt": salt.hex(),
                "hash": login_fingerprint(login, account_id, nickname, salt),
                "account_id": account.id,
                "created": created,
            }
        )
        await self.coordination.remember(ledger_key, record, REQUEST_MEMORY)
        logger.info("linked %s account %s (created=%s)", broker.value, account.id, created)
        return account, created

    async def _replay_link(
        self, user_id: str, previous: str, login: Login, account_id: str, nickname: str
    ) -> tuple[BrokerAccount, bool]:
        record = json.loads(previous)
        if record["hash"] != login_fingerprint(login, account_id, nickname, bytes.fromhex(record["salt"])):
            raise AlreadyExists("request_id was already used for a different request", reason="REQUEST_ID_REUSED")
        account = await self.own_account(user_id, record["account_id"])
        return account, bool(record["created"])

    async def _store_session(
        self,
        user_id: str,
        broker: Broker,
        session: BrokerSession,
        target: BrokerAccount | None,
        nickname: str,
    ) -> tuple[BrokerAccount, bool]:
        for _ in range(5):
            now = self.clock()
            if target is None:
                # One read of the user's accounts answers both questions (on FerretDB each is a scan).
                owned = await self.accounts.of_user(user_id)
                existing = next(
                    (a for a in owned if a.broker is broker and a.broker_user_id == session.broker_user_id), None
                )
            else:
                existing = target
            if existing is None:
                if sum(a.status is not AccountStatus.UNLINKED for a in owned) >= MAX_ACCOUNTS_PER_USER:
                    raise ResourceExhausted(
                        f"at most {MAX_ACCOUNTS_PER_USER} linked broker accounts per user",
                        reason="ACCOUNT_LIMIT_REACHED",
                    )
                account = BrokerAccount(
                    id=new_id(),
                    user_id=user_id,
                    broker=broker,
                    broker_user_id=session.broker_user_id,
                    display_name=session.display_name,
                    nickname=nickname,
                    masked_api_key=mask_api_key(session.api_key),
                    status=AccountStatus.ACTIVE,
                    error_reason="",
                    error_message="",
                    token_expire_time=token_expiry(broker, now),
                    sync_enabled=True,
                    link_time=now,
                    create_time=now,
                    update_time=now,
                    next_sync_time=now,
                )
                account.secret = self._seal(account, session)
                if await self.accounts.insert(account):
                    return account, True
                continue  # raced with another link of the same broker user: re-link it instead
            relinked = replace(
                existing,
                display_name=session.display_name,
                masked_api_key=mask_api_key(session.api_key),
                status=AccountStatus.ACTIVE,
                error_reason="",
                error_message="",
                token_expire_time=token_expiry(broker, now),
                link_time=now,
                update_time=now,
                unlink_time=None,
                version=existing.version + 1,
                next_sync_time=now,
                retry_attempt=0,
                retry_of="",
            )
            relinked.secret = self._seal(relinked, session)
            if await self.accounts.replace(relinked, existing.version, reschedule=True):
                return relinked, False
            target = await self.accounts.get(existing.id) if target is not None else None
        raise Aborted("the account changed concurrently; retry", reason="CONCURRENT_CHANGE")

    def _seal(self, account: BrokerAccount, session: BrokerSession) -> EncryptedSecret:
        return self.cipher.seal(
            session_secret(StoredSession(session.api_key, session.access_token)), secret_context(account)
        )

    async def update(
        self, user_id: str, account_id: str, etag: str, paths: Sequence[str], nickname: str, sync_enabled: bool
    ) -> BrokerAccount:
        """Change nickname and/or sync_enabled, guarded by the etag."""
        violations: list[FieldViolation] = []
        if not paths:
            violations.append(FieldViolation("update_mask", "update_mask must name at least one field"))
        for index, path in enumerate(paths):
            if path not in ("nickname", "sync_enabled"):
                violations.append(FieldViolation(f"update_mask.paths[{index}]", f"{path!r} cannot be updated"))
        if not etag:
            violations.append(FieldViolation("etag", "etag is required"))
        if "nickname" in paths:
            nickname = check_nickname(nickname, "broker_account.nickname", violations)
        check_fields(violations, "invalid update request")
        account = await self.own_account(user_id, account_id)
        if account.etag != etag:
            raise Aborted("the account changed since it was read; re-read and retry", reason="ETAG_MISMATCH")
        if account.status is AccountStatus.UNLINKED:
            raise FailedPrecondition("the account is unlinked", reason="ACCOUNT_UNLINKED")
        now = self.clock()
        updated = replace(account, version=account.version + 1, update_time=now)
        if "nickname" in paths:
            updated.nickname = nickname
        if "sync_enabled" in paths:
            updated.sync_enabled = sync_enabled
            if sync_enabled and not account.sync_enabled:
                updated.next_sync_time = now
        reschedule = updated.next_sync_time != account.next_sync_time
        if not await self.accounts.replace(updated, account.version, reschedule=reschedule):
            raise Aborted("the account changed since it was read; re-read and retry", reason="ETAG_MISMATCH")
        return updated

    async def unlink(self, user_id: str, account_id: str, etag: str) -> BrokerAccount:
        """Stop syncing an account and delete its session; trades and logs stay."""
        account = await self.own_account(user_id, account_id)
        if account.status is AccountStatus.UNLINKED:
            return account
        if etag and etag != account.etag:
            raise Aborted("the account changed since it was read; re-read and retry", reason="ETAG_MISMATCH")
        now = self.clock()
        session = self.open_session(account)
        unlinked = replace(
            account,
            status=AccountStatus.UNLINKED,
            error_reason="",
            error_message="",
            token_expire_time=None,
            unlink_time=now,
            update_time=now,
            version=account.version + 1,
            next_sync_time=None,
            retry_attempt=0,
            retry_of="",
            running_log_id="",
            secret=None,
        )
        if not await self.accounts.replace(unlinked, account.version, reschedule=True):
            raise Aborted("the account changed concurrently; retry", reason="ETAG_MISMATCH")
        holder = await self.accounts.running_log(account.id)
        if holder:
            running = await self.logs.get(holder)
            ended = running is None  # a claim whose log was never written
            if running is not None and not running.finished:
                self._end(
                    running, now, SyncStatus.FAILED, SyncError("ACCOUNT_UNLINKED", "the account was unlinked", False)
                )
                ended = await self.logs.finish(running)
            if ended:  # otherwise whoever ended the run frees the slot
                await self.accounts.release_run(account.id, holder)
        if session is not None:
            await self.brokers.revoke(account.broker, session)
        logger.info("unlinked account %s", account.id)
        return unlinked

    async def list_accounts(
        self, user_id: str, broker: Broker | None, show_unlinked: bool, page_size: int, page_token: str
    ) -> tuple[list[BrokerAccount], str]:
        """Return one page of the user's accounts, oldest first."""
        size = check_page_size(page_size, DEFAULT_ACCOUNT_PAGE, MAX_ACCOUNT_PAGE)
        tag = hashlib.sha256(f"{user_id}|{broker}|{show_unlinked}".encode()).hexdigest()[:16]
        after = self._cursor(page_token, "accounts", tag)
        found = await self.accounts.page(user_id, broker, show_unlinked, after, size + 1)
        token = ""
        if len(found) > size:
            found = found[:size]
            token = self._token("accounts", tag, found[-1].create_time, found[-1].id)
        return [await self._expire_if_due(account) for account in found], token
