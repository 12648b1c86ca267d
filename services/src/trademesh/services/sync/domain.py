"""Sync use cases and their ports: linking accounts, scheduling and running syncs, free of I/O libraries.

A run is a `SyncLog` document that moves RUNNING → SUCCEEDED/PARTIAL/FAILED/DEAD_LETTERED. At most
one run per account is RUNNING: whoever starts a run (scheduler tick or SyncNow) claims the account's
run slot atomically, and whoever ends it (its worker, or an unlink) first takes the run's end token,
so a run's log is finished exactly once; then the slot is released. Workers execute queued runs;
a run that a dead worker left half-done is executed again from the start, which is safe because
ReconcileTrades is an idempotent upsert by broker trade id.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from trademesh.kernel.errors import (
    Aborted,
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unavailable,
    check_fields,
)
from trademesh.services.core.page_tokens import Codec, page_token_invalid
from trademesh.services.sync.model import (
    MAX_ACCOUNTS_PER_USER,
    MAX_ATTEMPTS,
    MAX_ROW_FAILURES,
    PRINTABLE_ASCII,
    RECONCILE_BATCH,
    UUID_PATTERN,
    AccountStatus,
    Broker,
    BrokerAccount,
    BrokerSession,
    EncryptedSecret,
    NormalisedTrade,
    RowFailure,
    RowProblem,
    SyncCounters,
    SyncError,
    SyncJob,
    SyncLog,
    SyncPhase,
    SyncStatus,
    SyncType,
    mask_api_key,
    normalise_kite_trade,
    normalise_upstox_trade,
    retry_delay,
    row_ref,
    row_symbol,
    token_expiry,
)

logger = logging.getLogger(__name__)

DEFAULT_ACCOUNT_PAGE = 50
MAX_ACCOUNT_PAGE = 100
DEFAULT_LOG_PAGE = 50
MAX_LOG_PAGE = 200
MANUAL_SYNC_INTERVAL = timedelta(seconds=60)
REQUEST_MEMORY = timedelta(hours=25)


# ---------------------------------------------------------------------------- broker errors


class BrokerAuthFailed(Exception):
    """Raise (adapter) when the broker rejects a login: key, secret, request token or redirect URI."""


class BrokerSessionRejected(Exception):
    """Raise (adapter) when the broker rejects a stored session.

    `reason` is TOKEN_INVALID or BROKER_PERMISSION_DENIED.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class BrokerUnavailable(Exception):
    """Raise (adapter) when the broker cannot answer after retries (network, 5xx, timeouts, 429)."""

    def __init__(self, message: str, *, rate_limited: bool = False) -> None:
        super().__init__(message)
        self.rate_limited = rate_limited


class TradeServiceUnavailable(Exception):
    """Raise (adapter) when ReconcileTrades cannot be called successfully."""


# ---------------------------------------------------------------------------- ports


@dataclass(frozen=True, slots=True)
class KiteLogin:
    """A Kite Connect login to exchange for a session (never stored)."""

    api_key: str
    api_secret: str
    request_token: str


@dataclass(frozen=True, slots=True)
class UpstoxLogin:
    """An Upstox OAuth code to exchange for a token (never stored)."""

    client_id: str
    client_secret: str
    redirect_uri: str
    authorization_code: str


Login = KiteLogin | UpstoxLogin


@dataclass(frozen=True, slots=True)
class StoredSession:
    """The decrypted session of an account."""

    api_key: str
    access_token: str


class BrokerGateway(Protocol):
    """Talk to the brokers' APIs (retrying transient failures itself)."""

    async def create_session(self, login: Login) -> BrokerSession:
        """Exchange a login for a session; raise BrokerAuthFailed or BrokerUnavailable."""

    async def fetch_trades(self, broker: Broker, session: StoredSession) -> list[Any]:
        """Return today's raw trade rows; raise BrokerSessionRejected or BrokerUnavailable."""

    async def revoke(self, broker: Broker, session: StoredSession) -> None:
        """End the session at the broker (best effort; never raises)."""


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    """What ReconcileTrades did with one trade."""

    outcome: str
    error_reason: str = ""
    error_message: str = ""


class TradeReconciler(Protocol):
    """Upsert broker trades into the user's journal (trade service ReconcileTrades)."""

    async def reconcile(
        self, user_id: str, broker: Broker, account_id: str, log_id: str, trades: Sequence[NormalisedTrade]
    ) -> list[ReconcileResult]:
        """Return one result per trade, in order; raise TradeServiceUnavailable."""


class SecretCipher(Protocol):
    """Authenticated encryption under rotating key ids."""

    def seal(self, plaintext: bytes, context: bytes) -> EncryptedSecret: ...

    def open(self, secret: EncryptedSecret, context: bytes) -> bytes:
        """Return the plaintext; raise ValueError when it cannot be decrypted."""


class AccountStore(Protocol):
    """Persist broker accounts."""

    async def insert(self, account: BrokerAccount) -> bool:
        """Insert; return False when the user already has an account for (broker, broker user)."""

    async def get(self, account_id: str) -> BrokerAccount | None: ...

    async def of_user(self, user_id: str) -> list[BrokerAccount]:
        """Return every account of the user (unlinked ones too)."""

    async def replace(self, account: BrokerAccount, expected_version: int, *, reschedule: bool = False) -> bool:
        """Store `account` if the stored version is `expected_version` (user-visible changes).

        Sync bookkeeping is kept, except that `reschedule` also stores next_sync_time and the retry state.
        """

    async def claim_run(self, account_id: str, log_id: str, now: datetime) -> bool:
        """Take the account's run slot (its running_log_id) for `log_id` if it is free."""

    async def running_log(self, account_id: str) -> str:
        """Return the id of the run holding the account's slot, or ""."""

    async def release_run(self, account_id: str, log_id: str, bookkeeping: dict[str, Any] | None = None) -> None:
        """Free the account's slot if `log_id` holds it (after ending the run), and set the sync
        bookkeeping attributes (last_sync_*, next_sync_time, retry_*; never the version) in the same write."""

    async def page(
        self, user_id: str, broker: Broker | None, show_unlinked: bool, after: tuple[datetime, str] | None, limit: int
    ) -> list[BrokerAccount]:
        """Return accounts oldest first (create_time, id) after a cursor."""

    async def due(self, now: datetime, limit: int) -> list[BrokerAccount]:
        """Return ACTIVE accounts whose next run is due and that run nothing."""

    async def stale_runs(self, claimed_before: datetime, limit: int) -> list[tuple[str, str]]:
        """Return (account id, log id) of run slots taken before `claimed_before` and still held."""


@dataclass(frozen=True, slots=True)
class LogFilter:
    """ListSyncLogs filters."""

    broker_account_id: str = ""
    status: SyncStatus | None = None
    type: SyncType | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None


class SyncLogStore(Protocol):
    """Persist sync runs."""

    async def insert(self, log: SyncLog) -> None: ...

    async def get(self, log_id: str) -> SyncLog | None: ...

    async def save_progress(self, log: SyncLog) -> bool:
        """Store phase, counters and row failures of a log still RUNNING (by its executing worker);
        False when it is not (someone ended the run)."""

    async def finish(self, log: SyncLog) -> bool:
        """Store a finished log if the stored one is still RUNNING: whoever ends a run (its worker, an
        unlink, the dead-lettering of a poisonous job) does so with this write, and only the first gets True."""

    async def page(
        self, user_id: str, filters: LogFilter, after: tuple[datetime, str] | None, limit: int, with_failures: bool
    ) -> list[SyncLog]:
        """Return logs newest first (start_time desc, id desc) after a cursor, younger than 180 days."""


class JobQueue(Protocol):
    """Hand runs to workers, and dead runs to operators."""

    async def enqueue(self, job: SyncJob) -> None: ...

    async def dead_letter(self, log: SyncLog) -> None: ...


class Coordination(Protocol):
    """Short-lived shared state: idempotency records and the manual-sync throttle."""

    async def remember(self, key: str, value: str, ttl: timedelta) -> str | None:
        """Store `value` under `key` unless present; return the existing value if there was one."""

    async def recall(self, key: str) -> str | None: ...

    async def throttle(self, key: str, window: timedelta) -> float | None:
        """Allow one call per window; return seconds to wait when over, else None."""


# ---------------------------------------------------------------------------- helpers


def now_millis() -> datetime:
    """Return the current UTC time truncated to milliseconds (what MongoDB stores)."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def new_id() -> str:
    """Return a fresh opaque id."""
    return uuid.uuid4().hex


def account_not_found() -> NotFound:
    """Return the one error an unknown or foreign account gives."""
    return NotFound("broker account not found", reason="BROKER_ACCOUNT_NOT_FOUND")


def check_request_id(request_id: str) -> str:
    """Return the canonical (lower-case) request id or raise INVALID_ARGUMENT."""
    value = request_id.strip().lower()
    if not UUID_PATTERN.fullmatch(value):
        raise InvalidArgument(
            "request_id must be a UUID (8-4-4-4-12 hex)",
            [FieldViolation("request_id", "must be a UUID in canonical 8-4-4-4-12 hex form")],
            reason="REQUEST_ID_INVALID",
        )
    return value


def check_page_size(page_size: int, default: int, maximum: int) -> int:
    """Return the effective page size; negative → INVALID_ARGUMENT."""
    if page_size < 0:
        raise InvalidArgument("page_size must not be negative", [FieldViolation("page_size", "must be >= 0")])
    return min(page_size or default, maximum)


def check_nickname(nickname: str, name: str, violations: list[FieldViolation]) -> str:
    """Return the trimmed nickname, adding a violation when it breaks the rules."""
    value = nickname.strip()
    if len(value) > 64:
        violations.append(FieldViolation(name, "at most 64 characters"))
    elif any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        violations.append(FieldViolation(name, "must not contain control characters"))
    return value


def _printable(value: str, name: str, maximum: int, violations: list[FieldViolation]) -> None:
    if not value:
        violations.append(FieldViolation(name, f"{name.rsplit('.', 1)[-1]} is required"))
    elif len(value) > maximum or not PRINTABLE_ASCII.fullmatch(value):
        violations.append(FieldViolation(name, f"1-{maximum} printable ASCII characters"))


def check_login(login: Login | None) -> None:
    """Raise INVALID_ARGUMENT naming every bad credential field."""
    violations: list[FieldViolation] = []
    if login is None:
        violations.append(FieldViolation("credentials", "zerodha or upstox credentials are required"))
    elif isinstance(login, KiteLogin):
        _printable(login.api_key, "zerodha.api_key", 64, violations)
        _printable(login.api_secret, "zerodha.api_secret", 128, violations)
        _printable(login.request_token, "zerodha.request_token", 128, violations)
    else:
        _printable(login.client_id, "upstox.client_id", 128, violations)
        _printable(login.client_secret, "upstox.client_secret", 128, violations)
        _printable(login.authorization_code, "upstox.authorization_code", 512, violations)
        uri = login.redirect_uri
        if not uri.startswith(("http://", "https://")) or len(uri) > 2048 or len(uri) < 9:
            violations.append(FieldViolation("upstox.redirect_uri", "an absolute http(s) URL, at most 2048 characters"))
    check_fields(violations, "invalid credentials")


def broker_of(login: Login) -> Broker:
    """Return the broker a login is for."""
    return Broker.ZERODHA if isinstance(login, KiteLogin) else Broker.UPSTOX


def login_fingerprint(login: Login, account_id: str, nickname: str, salt: bytes) -> str:
    """Return a salted hash of a Link request (the credentials themselves are never kept)."""
    parts = [type(login).__name__, *(str(getattr(login, name)) for name in login.__dataclass_fields__)]
    parts += [account_id, nickname]
    return hashlib.sha256(salt + "\x1f".join(parts).encode()).hexdigest()


def session_secret(session: StoredSession) -> bytes:
    """Return the plaintext that is encrypted at rest."""
    return json.dumps({"api_key": session.api_key, "access_token": session.access_token}).encode()


def secret_context(account: BrokerAccount) -> bytes:
    """Return the associated data binding a ciphertext to its account (a copied blob will not open)."""
    return f"trademesh.sync/{account.user_id}/{account.id}".encode()


def visible_next_sync(account: BrokerAccount) -> datetime | None:
    """Return next_sync_time as the API shows it: unset when no run will start."""
    if account.status is not AccountStatus.ACTIVE or account.next_sync_time is None:
        return None
    if not account.sync_enabled and not account.retry_attempt:
        return None
    if account.token_expire_time is not None and account.token_expire_time <= account.next_sync_time:
        return None
    return account.next_sync_time


def _count(counters: SyncCounters, outcome: str) -> None:
    if outcome == "CREATED":
        counters.created += 1
    elif outcome == "UPDATED":
        counters.updated += 1
    elif outcome == "UNCHANGED":
        counters.unchanged += 1
    elif outcome == "SKIPPED_DELETED":
        counters.skipped_deleted += 1
    else:
        counters.failed += 1


def add_failure(log: SyncLog, failure: RowFailure) -> None:
    """Record a row failure (the list is capped; counters.failed is counted by the caller)."""
    if len(log.row_failures) < MAX_ROW_FAILURES:
        log.row_failures.append(failure)
    else:
        log.row_failures_truncated = True


def normalise_rows(broker: Broker, rows: Sequence[Any]) -> tuple[list[NormalisedTrade], list[RowFailure]]:
    """Map broker rows to trades; every row that cannot be mapped becomes a failure, never an exception."""
    mapper = normalise_kite_trade if broker is Broker.ZERODHA else normalise_upstox_trade
    trades: list[NormalisedTrade] = []
    failures: list[RowFailure] = []
    for index, row in enumerate(rows):
        try:
            if not isinstance(row, dict):
                raise RowProblem("the row is not a JSON object")
            trades.append(mapper(row))
        except RowProblem as problem:
            failures.append(RowFailure(row_ref(row, index), row_symbol(row), problem.reason, problem.message))
        except (TypeError, ValueError, AttributeError) as error:
            # Wrongly typed broker data must not stop the batch; the type name is enough to debug.
            message = f"malformed row ({type(error).__name__})"
            failures.append(RowFailure(row_ref(row, index), row_symbol(row), "UNMAPPABLE", message))
    return trades, failures


# ---------------------------------------------------------------------------- use cases


@dataclass
class SyncService:
    """The sync service's use cases, wired to their ports."""

    accounts: AccountStore
    logs: SyncLogStore
    brokers: BrokerGateway
    reconciler: TradeReconciler
    cipher: SecretCipher
    queue: JobQueue
    coordination: Coordination
    codec: Codec
    sync_interval: timedelta = timedelta(minutes=5)
    batch_size: int = RECONCILE_BATCH
    clock: Callable[[], datetime] = field(default=now_millis)

    # ------------------------------------------------------------------ accounts

    async def own_account(self, user_id: str, account_id: str) -> BrokerAccount:
        """Return one of the user's accounts (expiring its token if due) or raise NOT_FOUND."""
        if not account_id.strip():
            raise InvalidArgument(
                "broker_account_id is required", [FieldViolation("broker_account_id", "broker_account_id is required")]
            )
        account = await self.accounts.get(account_id) if len(account_id) <= 64 else None
        if account is None or account.user_id != user_id:
            raise account_not_found()
        return await self._expire_if_due(account)

    async def _expire_if_due(self, account: BrokerAccount) -> BrokerAccount:
        now = self.clock()
        if (
            account.status is AccountStatus.ACTIVE
            and account.token_expire_time is not None
            and account.token_expire_time <= now
        ):
            expired = replace(
                account,
                status=AccountStatus.ERROR,
                error_reason="TOKEN_EXPIRED",
                error_message=(
                    f"the {account.broker.value.title()} session expired at {account.token_expire_time:%Y-%m-%d %H:%M} "
                    "UTC; link the account again to resume syncing"
                ),
                version=account.version + 1,
                update_time=now,
            )
            if await self.accounts.replace(expired, account.version):
                return expired
            fresh = await self.accounts.get(account.id)
            return fresh or account
        return account

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

    def open_session(self, account: BrokerAccount) -> StoredSession | None:
        """Decrypt an account's session, or None when there is none or it cannot be opened."""
        if account.secret is None:
            return None
        try:
            data = json.loads(self.cipher.open(account.secret, secret_context(account)))
            return StoredSession(str(data["api_key"]), str(data["access_token"]))
        except (ValueError, KeyError, TypeError):
            logger.error("the session of account %s cannot be decrypted (key %s)", account.id, account.secret.key_id)
            return None

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

    def _cursor(self, page_token: str, kind: str, tag: str) -> tuple[datetime, str] | None:
        if not page_token:
            return None
        payload = self.codec.decode(page_token)
        if payload is None or payload.get("k") != kind or payload.get("f") != tag:
            raise page_token_invalid()
        try:
            issued = datetime.fromtimestamp(float(str(payload["n"])), UTC)
            if self.clock() - issued > REQUEST_MEMORY:
                raise page_token_invalid()
            return datetime.fromtimestamp(int(str(payload["t"])) / 1_000_000, UTC), str(payload["i"])
        except (KeyError, ValueError, OverflowError, OSError):
            raise page_token_invalid() from None

    def _token(self, kind: str, tag: str, moment: datetime, item_id: str) -> str:
        micros = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        return self.codec.encode({"k": kind, "f": tag, "t": micros, "i": item_id, "n": self.clock().timestamp()})

    # ------------------------------------------------------------------ logs

    async def list_logs(
        self, user_id: str, filters: LogFilter, page_size: int, page_token: str, with_failures: bool
    ) -> tuple[list[SyncLog], str]:
        """Return one page of the user's runs, newest first."""
        size = check_page_size(page_size, DEFAULT_LOG_PAGE, MAX_LOG_PAGE)
        if filters.start_time and filters.end_time and filters.start_time >= filters.end_time:
            raise InvalidArgument(
                "start_time must be before end_time", [FieldViolation("start_time", "must be before end_time")]
            )
        if filters.broker_account_id:
            await self.own_account(user_id, filters.broker_account_id)
        tag = hashlib.sha256(f"{user_id}|{filters}".encode()).hexdigest()[:16]
        after = self._cursor(page_token, "logs", tag)
        found = await self.logs.page(user_id, filters, after, size + 1, with_failures)
        token = ""
        if len(found) > size:
            found = found[:size]
            token = self._token("logs", tag, found[-1].start_time, found[-1].id)
        return found, token

    async def own_log(self, user_id: str, log_id: str) -> SyncLog:
        """Return one of the user's runs."""
        log = await self.logs.get(log_id)
        if log is None or log.user_id != user_id:
            raise NotFound("sync log not found", reason="SYNC_LOG_NOT_FOUND")
        return log

    # ------------------------------------------------------------------ starting runs

    async def start_manual(self, user_id: str, account_id: str, request_id: str) -> str:
        """Start (or attach to) a MANUAL run for SyncNow; return the run's log id."""
        violations: list[FieldViolation] = []
        if not account_id.strip():
            violations.append(FieldViolation("broker_account_id", "broker_account_id is required"))
        try:
            request_id = check_request_id(request_id)
        except InvalidArgument as error:
            violations += error.violations
        check_fields(violations, "invalid sync request")
        ledger_key = f"syncnow:{user_id}:{request_id}"
        previous = await self.coordination.recall(ledger_key)
        if previous is not None:
            remembered_account, _, log_id = previous.partition("|")
            if remembered_account != account_id:
                raise AlreadyExists("request_id was already used for a different request", reason="REQUEST_ID_REUSED")
            await self.own_account(user_id, account_id)
            return log_id
        account = await self.own_account(user_id, account_id)
        if account.status is AccountStatus.UNLINKED:
            raise FailedPrecondition("the account is unlinked; link it again first", reason="ACCOUNT_UNLINKED")
        if account.status is AccountStatus.ERROR:
            raise FailedPrecondition(
                account.error_message or "the account needs to be linked again", reason=account.error_reason or "ERROR"
            )
        log_id = account.running_log_id
        if not log_id:
            wait = await self.coordination.throttle(f"manual:{account.id}", MANUAL_SYNC_INTERVAL)
            if wait is not None:
                raise ResourceExhausted(
                    "a manual sync of this account ran less than 60 s ago",
                    retry_after_seconds=wait,
                    reason="SYNC_RATE_LIMITED",
                )
            log = await self.start_run(account, SyncType.MANUAL, request_id=request_id)
            if log is None:
                log_id = await self.accounts.running_log(account.id)
                if not log_id:
                    raise Aborted("the account changed concurrently; retry", reason="CONCURRENT_CHANGE")
            else:
                log_id = log.id
        await self.coordination.remember(ledger_key, f"{account_id}|{log_id}", REQUEST_MEMORY)
        return log_id

    async def start_run(
        self, account: BrokerAccount, run_type: SyncType, *, attempt: int = 1, retry_of: str = "", request_id: str = ""
    ) -> SyncLog | None:
        """Create a RUNNING log, claim the account for it and queue it; None if the account is busy."""
        now = self.clock()
        log = SyncLog(
            id=new_id(),
            user_id=account.user_id,
            broker_account_id=account.id,
            broker=account.broker,
            type=run_type,
            status=SyncStatus.RUNNING,
            phase=SyncPhase.QUEUED,
            start_time=now,
            attempt=attempt,
            retry_of=retry_of,
            request_id=request_id,
        )
        if not await self.accounts.claim_run(account.id, log.id, now):
            return None
        # A crash between the claim and the insert leaves a slot without a log: recover_stale frees it.
        await self.logs.insert(log)
        await self.queue.enqueue(SyncJob(log.id, account.id))
        return log

    async def schedule_due(self, limit: int = 10_000) -> int:
        """Start a run for every account whose next (scheduled or retry) run is due; return how many."""
        started = 0
        for account in await self.accounts.due(self.clock(), limit):
            account = await self._expire_if_due(account)
            if account.status is not AccountStatus.ACTIVE:
                continue
            if account.retry_attempt:
                log = await self.start_run(
                    account, SyncType.RETRY, attempt=account.retry_attempt, retry_of=account.retry_of
                )
            else:
                log = await self.start_run(account, SyncType.SCHEDULED)
            started += log is not None
        return started

    async def recover_stale(self, older_than: timedelta, limit: int = 1000) -> int:
        """Release claims whose run is gone or finished, and re-queue runs that may have been lost."""
        recovered = 0
        for account_id, log_id in await self.accounts.stale_runs(self.clock() - older_than, limit):
            log = await self.logs.get(log_id)
            if log is None or log.finished:
                await self.accounts.release_run(account_id, log_id)
            else:
                # Harmless if the job is still queued or running: the executing worker holds a lease.
                await self.queue.enqueue(SyncJob(log.id, account_id))
            recovered += 1
        return recovered

    # ------------------------------------------------------------------ executing runs

    async def execute(self, job: SyncJob) -> SyncLog | None:
        """Run one queued job to its end; return the finished log (None if there was nothing to do)."""
        log = await self.logs.get(job.log_id)
        if log is None or log.finished:
            return log
        # A redelivered run starts over: what it had reconciled comes back UNCHANGED.
        log.counters = SyncCounters()
        log.row_failures = []
        log.row_failures_truncated = False
        account = await self.accounts.get(job.account_id)
        if account is None or account.status is AccountStatus.UNLINKED:
            return await self._finish(log, account, SyncError("ACCOUNT_UNLINKED", "the account was unlinked", False))
        account = await self._expire_if_due(account)
        if account.status is AccountStatus.ERROR:
            return await self._finish(log, account, SyncError(account.error_reason, account.error_message, False))
        session = self.open_session(account)
        if session is None:
            return await self._finish(
                log, account, SyncError("INTERNAL", "the stored broker session cannot be read", False)
            )
        log.phase = SyncPhase.FETCHING
        if not await self._progress(log):
            return await self.logs.get(log.id)
        try:
            rows = await self.brokers.fetch_trades(account.broker, session)
        except BrokerSessionRejected as rejected:
            return await self._session_rejected(log, account, rejected)
        except BrokerUnavailable as error:
            reason = "BROKER_RATE_LIMITED" if error.rate_limited else "BROKER_UNAVAILABLE"
            return await self._finish(log, account, SyncError(reason, str(error), True))
        trades, failures = normalise_rows(account.broker, rows)
        log.counters.fetched = len(rows)
        for failure in failures:
            log.counters.failed += 1
            add_failure(log, failure)
        log.phase = SyncPhase.RECONCILING
        if not await self._progress(log):
            return await self.logs.get(log.id)
        for start in range(0, len(trades), self.batch_size):
            batch = trades[start : start + self.batch_size]
            try:
                results = await self.reconciler.reconcile(account.user_id, account.broker, account.id, log.id, batch)
            except TradeServiceUnavailable as error:
                return await self._finish(log, account, SyncError("DEPENDENCY_UNAVAILABLE", str(error), True))
            for trade, result in zip(batch, results, strict=True):
                _count(log.counters, result.outcome)
                if result.outcome == "FAILED":
                    add_failure(
                        log, RowFailure(trade.broker_trade_id, trade.symbol, result.error_reason, result.error_message)
                    )
            if start + self.batch_size < len(trades) and not await self._progress(log):
                return await self.logs.get(log.id)  # ended by an unlink meanwhile
        # After the last batch `_finish` stores the counters (and finds out about an unlink) itself.
        return await self._finish(log, account, None)

    async def _progress(self, log: SyncLog) -> bool:
        """Store a running run's progress; False when someone else (an unlink) has ended the run.

        One conditional write: a run is ended by the write that finishes its log, so a progress write
        after it misses.
        """
        return await self.logs.save_progress(log)

    async def give_up(self, job: SyncJob, message: str) -> None:
        """Dead-letter a job that keeps failing to complete (e.g. it kills its workers)."""
        log = await self.logs.get(job.log_id)
        if log is None or log.finished:
            return
        now = self.clock()
        self._end(log, now, SyncStatus.DEAD_LETTERED, SyncError("INTERNAL", message, True))
        if await self.logs.finish(log):
            await self.queue.dead_letter(log)
            await self.accounts.release_run(
                job.account_id,
                log.id,
                {
                    "last_sync_time": now,
                    "last_sync_status": log.status,
                    "last_sync_log_id": log.id,
                    "retry_attempt": 0,
                    "retry_of": "",
                    "next_sync_time": now + self.sync_interval,
                },
            )

    async def _session_rejected(self, log: SyncLog, account: BrokerAccount, rejected: BrokerSessionRejected) -> SyncLog:
        now = self.clock()
        expired = account.token_expire_time is not None and account.token_expire_time <= now
        reason = "TOKEN_EXPIRED" if expired else rejected.reason
        message = {
            "TOKEN_EXPIRED": "the broker session has expired; link the account again",
            "TOKEN_INVALID": "the broker rejected the session before its expiry; link the account again",
            "BROKER_PERMISSION_DENIED": "the broker denied access (e.g. the API app subscription lapsed)",
        }.get(reason, "the broker rejected the session; link the account again")
        errored = replace(
            account,
            status=AccountStatus.ERROR,
            error_reason=reason,
            error_message=message,
            version=account.version + 1,
            update_time=now,
        )
        if not await self.accounts.replace(errored, account.version):
            errored = await self.accounts.get(account.id) or errored
        return await self._finish(log, errored, SyncError(reason, message, False))

    def _end(self, log: SyncLog, now: datetime, status: SyncStatus, error: SyncError | None) -> None:
        log.status = status
        log.phase = SyncPhase.DONE
        log.end_time = now
        log.error = error

    async def _finish(self, log: SyncLog, account: BrokerAccount | None, error: SyncError | None) -> SyncLog:
        now = self.clock()
        bookkeeping: dict[str, Any] = {}
        if error is None:
            self._end(log, now, SyncStatus.PARTIAL if log.counters.failed else SyncStatus.SUCCEEDED, None)
            bookkeeping |= {"retry_attempt": 0, "retry_of": "", "next_sync_time": now + self.sync_interval}
        elif error.retryable and log.attempt < MAX_ATTEMPTS:
            self._end(log, now, SyncStatus.FAILED, error)
            log.next_retry_time = now + retry_delay(log.attempt + 1)
            bookkeeping |= {"retry_attempt": log.attempt + 1, "retry_of": log.id, "next_sync_time": log.next_retry_time}
        elif error.retryable:
            self._end(log, now, SyncStatus.DEAD_LETTERED, error)
            bookkeeping |= {"retry_attempt": 0, "retry_of": "", "next_sync_time": now + self.sync_interval}
        else:
            self._end(log, now, SyncStatus.FAILED, error)
            # No retry; the regular slot stays (an account in ERROR is not scheduled anyway).
            bookkeeping |= {"retry_attempt": 0, "retry_of": "", "next_sync_time": now + self.sync_interval}
        if not await self.logs.finish(log):
            # Someone else ended it first (an unlink); theirs is the outcome.
            return await self.logs.get(log.id) or log
        if log.status is SyncStatus.DEAD_LETTERED:
            await self.queue.dead_letter(log)
            logger.warning("sync run %s dead-lettered after %d attempts: %s", log.id, log.attempt, log.error)
        if account is not None and account.status is not AccountStatus.UNLINKED:
            bookkeeping |= {"last_sync_time": now, "last_sync_status": log.status, "last_sync_log_id": log.id}
            if log.status in (SyncStatus.SUCCEEDED, SyncStatus.PARTIAL):
                bookkeeping["last_successful_sync_time"] = now
        else:
            bookkeeping = {}
        await self.accounts.release_run(log.broker_account_id, log.id, bookkeeping)
        return log


RunExecutor = Callable[[SyncJob], Awaitable[SyncLog | None]]


def describe(error: DomainError) -> str:
    """Return a one-line description of a domain error for logs."""
    return f"{type(error).__name__}({error.reason}): {error.message}"
