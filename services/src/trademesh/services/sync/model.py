"""The sync service's vocabulary: accounts, runs, normalised broker trades and their rules.

Pure data and functions (no gRPC, database, Redis or HTTP): the use cases in `service/`, the adapters
and the servicer all speak these types. A normalised trade is the brokers' shared value
(`trademesh.services.brokers.rows`); the market vocabulary is the kernel's.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum

from trademesh.kernel.calendar import next_ist_time_after
from trademesh.services.brokers.rows import CategoryHint, NormalisedTrade
from trademesh.services.brokers.sessions import StoredSession

__all__ = [
    "LOG_RETENTION",
    "MAX_ACCOUNTS_PER_USER",
    "MAX_ATTEMPTS",
    "MAX_ROW_FAILURES",
    "RECONCILE_BATCH",
    "RETRY_DELAYS",
    "AccountStatus",
    "Broker",
    "BrokerAccount",
    "CategoryHint",
    "EncryptedSecret",
    "LogFilter",
    "NormalisedTrade",
    "RowFailure",
    "SyncCounters",
    "SyncError",
    "SyncJob",
    "SyncLog",
    "SyncPhase",
    "SyncStatus",
    "SyncType",
    "add_failure",
    "mask_api_key",
    "new_id",
    "now_millis",
    "retry_delay",
    "secret_context",
    "session_secret",
    "token_expiry",
    "visible_next_sync",
]
#: Logs are kept this long after they start (SyncLog.expire_time).
LOG_RETENTION = timedelta(days=180)
#: Row failures kept per run (counters.failed has the full count).
MAX_ROW_FAILURES = 1000
#: Trades per ReconcileTrades call (the trade service's maximum).
RECONCILE_BATCH = 1000
#: Non-UNLINKED accounts a user may have.
MAX_ACCOUNTS_PER_USER = 10
#: The original run plus this many retries; the last failure is dead-lettered.
MAX_ATTEMPTS = 5
#: Delay before retry n (1-based): 1, 5, 15 and 60 minutes (sync_log.proto).
RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(minutes=60))


class Broker(StrEnum):
    """A broker the service can sync from."""

    ZERODHA = "ZERODHA"
    UPSTOX = "UPSTOX"


class AccountStatus(StrEnum):
    """The state of a linked account."""

    ACTIVE = "ACTIVE"
    ERROR = "ERROR"
    UNLINKED = "UNLINKED"


class SyncType(StrEnum):
    """What started a run."""

    SCHEDULED = "SCHEDULED"
    MANUAL = "MANUAL"
    RETRY = "RETRY"


class SyncStatus(StrEnum):
    """A run's state or outcome."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"
    DEAD_LETTERED = "DEAD_LETTERED"


class SyncPhase(StrEnum):
    """How far a run has got."""

    QUEUED = "QUEUED"
    FETCHING = "FETCHING"
    RECONCILING = "RECONCILING"
    DONE = "DONE"


@dataclass(frozen=True, slots=True)
class RowFailure:
    """One broker row a run could not reconcile."""

    row_ref: str
    symbol: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class SyncError:
    """A run-level failure; `retryable` errors lead to a RETRY run."""

    reason: str
    message: str
    retryable: bool


@dataclass(slots=True)
class SyncCounters:
    """What a run did so far."""

    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_deleted: int = 0
    failed: int = 0


@dataclass(frozen=True, slots=True)
class EncryptedSecret:
    """A ciphertext with the id of the key that sealed it (so keys can rotate)."""

    key_id: str
    nonce: bytes
    ciphertext: bytes


@dataclass(slots=True)
class BrokerAccount:
    """A user's linked broker login. `secret` holds the encrypted api key and access token."""

    id: str
    user_id: str
    broker: Broker
    broker_user_id: str
    display_name: str
    nickname: str
    masked_api_key: str
    status: AccountStatus
    error_reason: str
    error_message: str
    token_expire_time: datetime | None
    sync_enabled: bool
    link_time: datetime
    create_time: datetime
    update_time: datetime
    version: int = 1
    unlink_time: datetime | None = None
    last_sync_time: datetime | None = None
    last_sync_status: SyncStatus | None = None
    last_sync_log_id: str = ""
    last_successful_sync_time: datetime | None = None
    next_sync_time: datetime | None = None
    #: The RUNNING run, if any: at most one per account.
    running_log_id: str = ""
    #: The attempt the next (retry) run will be, and the run it retries; 0 / "" when none is due.
    retry_attempt: int = 0
    retry_of: str = ""
    secret: EncryptedSecret | None = None

    @property
    def etag(self) -> str:
        """Return the opaque concurrency token (changes with user-visible state, not sync bookkeeping)."""
        return f"v{self.version}"


@dataclass(slots=True)
class SyncLog:
    """The record of one run."""

    id: str
    user_id: str
    broker_account_id: str
    broker: Broker
    type: SyncType
    status: SyncStatus
    phase: SyncPhase
    start_time: datetime
    attempt: int = 1
    counters: SyncCounters = field(default_factory=SyncCounters)
    end_time: datetime | None = None
    error: SyncError | None = None
    row_failures: list[RowFailure] = field(default_factory=list)
    row_failures_truncated: bool = False
    retry_of: str = ""
    next_retry_time: datetime | None = None
    request_id: str = ""

    @property
    def expire_time(self) -> datetime:
        """Return when the log is deleted."""
        return self.start_time + LOG_RETENTION

    @property
    def finished(self) -> bool:
        """Tell whether the run has ended."""
        return self.status is not SyncStatus.RUNNING


@dataclass(frozen=True, slots=True)
class LogFilter:
    """ListSyncLogs filters."""

    broker_account_id: str = ""
    status: SyncStatus | None = None
    type: SyncType | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class SyncJob:
    """A queued run: which log to execute for which account."""

    log_id: str
    account_id: str


# ---------------------------------------------------------------------------- pure rules


def mask_api_key(key: str) -> str:
    """Show the first and last 2 characters of a key around four '*' ("****" for 6 or fewer)."""
    return "****" if len(key) <= 6 else f"{key[:2]}****{key[-2:]}"


def token_expiry(broker: Broker, created: datetime) -> datetime:
    """Return when a session created at `created` expires: Kite 06:00 IST, Upstox 03:30 IST next."""
    return next_ist_time_after(created, time(6, 0) if broker is Broker.ZERODHA else time(3, 30))


def retry_delay(attempt: int) -> timedelta:
    """Return the wait before retry run `attempt` (2..MAX_ATTEMPTS)."""
    return RETRY_DELAYS[min(attempt - 2, len(RETRY_DELAYS) - 1)]


def visible_next_sync(account: BrokerAccount) -> datetime | None:
    """Return next_sync_time as the API shows it: unset when no run will start."""
    if account.status is not AccountStatus.ACTIVE or account.next_sync_time is None:
        return None
    if not account.sync_enabled and not account.retry_attempt:
        return None
    if account.token_expire_time is not None and account.token_expire_time <= account.next_sync_time:
        return None
    return account.next_sync_time


def add_failure(log: SyncLog, failure: RowFailure) -> None:
    """Record a row failure (the list is capped; counters.failed is counted by the caller)."""
    if len(log.row_failures) < MAX_ROW_FAILURES:
        log.row_failures.append(failure)
    else:
        log.row_failures_truncated = True


def now_millis() -> datetime:
    """Return the current UTC time truncated to milliseconds (what MongoDB stores)."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def new_id() -> str:
    """Return a fresh opaque id."""
    return uuid.uuid4().hex


def session_secret(session: StoredSession) -> bytes:
    """Return the plaintext that is encrypted at rest."""
    return json.dumps({"api_key": session.api_key, "access_token": session.access_token}).encode()


def secret_context(account: BrokerAccount) -> bytes:
    """Return the associated data binding a ciphertext to its account (a copied blob will not open)."""
    return f"trademesh.sync/{account.user_id}/{account.id}".encode()
