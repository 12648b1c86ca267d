"""In-memory fakes of the sync service's ports, for use-case tests without servers.

Each fake keeps what the real adapter keeps, with the same conditional-write rules (versions, the run slot,
RUNNING-only log writes), and hands out copies so that a use case sees only what it stored.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from trademesh.services.brokers.sessions import (
    BrokerAuthFailed,
    BrokerSession,
    BrokerSessionRejected,
    BrokerUnavailable,
    KiteLogin,
    Login,
    StoredSession,
)
from trademesh.services.core.page_tokens import Codec
from trademesh.services.sync.model import (
    AccountStatus,
    Broker,
    BrokerAccount,
    EncryptedSecret,
    LogFilter,
    NormalisedTrade,
    SyncJob,
    SyncLog,
    SyncStatus,
)
from trademesh.services.sync.ports import ReconcileResult, TradeServiceUnavailable
from trademesh.services.sync.service import SyncService

_BOOKKEEPING = frozenset(
    {
        "last_sync_time",
        "last_sync_status",
        "last_sync_log_id",
        "last_successful_sync_time",
        "next_sync_time",
        "retry_attempt",
        "retry_of",
    }
)


class InMemoryAccountStore:
    """AccountStore: unique (user, broker, broker user), versioned replaces, an atomic run slot."""

    def __init__(self) -> None:
        self.accounts: dict[str, BrokerAccount] = {}
        self.claim_times: dict[str, datetime] = {}

    async def insert(self, account: BrokerAccount) -> bool:
        for other in self.accounts.values():
            key = (other.user_id, other.broker, other.broker_user_id)
            if key == (account.user_id, account.broker, account.broker_user_id):
                return False
        self.accounts[account.id] = copy.deepcopy(account)
        return True

    async def get(self, account_id: str) -> BrokerAccount | None:
        account = self.accounts.get(account_id)
        return copy.deepcopy(account) if account else None

    async def of_user(self, user_id: str) -> list[BrokerAccount]:
        return [copy.deepcopy(a) for a in self.accounts.values() if a.user_id == user_id]

    async def replace(self, account: BrokerAccount, expected_version: int, *, reschedule: bool = False) -> bool:
        stored = self.accounts.get(account.id)
        if stored is None or stored.version != expected_version:
            return False
        kept = {name: getattr(stored, name) for name in (*_BOOKKEEPING, "running_log_id")}
        if reschedule:
            for name in ("next_sync_time", "retry_attempt", "retry_of"):
                kept.pop(name)
        self.accounts[account.id] = replace(copy.deepcopy(account), **kept)
        return True

    async def claim_run(self, account_id: str, log_id: str, now: datetime) -> bool:
        stored = self.accounts.get(account_id)
        if stored is None or stored.running_log_id:
            return False
        stored.running_log_id = log_id
        self.claim_times[account_id] = now
        return True

    async def running_log(self, account_id: str) -> str:
        stored = self.accounts.get(account_id)
        return stored.running_log_id if stored else ""

    async def release_run(self, account_id: str, log_id: str, bookkeeping: dict[str, Any] | None = None) -> None:
        unknown = set(bookkeeping or ()) - _BOOKKEEPING
        if unknown:
            raise ValueError(f"not bookkeeping fields: {sorted(unknown)}")
        stored = self.accounts.get(account_id)
        if stored is None:
            return
        if stored.running_log_id == log_id:
            stored.running_log_id = ""
        for name, value in (bookkeeping or {}).items():
            setattr(stored, name, value)

    async def page(
        self, user_id: str, broker: Broker | None, show_unlinked: bool, after: tuple[datetime, str] | None, limit: int
    ) -> list[BrokerAccount]:
        found = sorted(
            (
                a
                for a in self.accounts.values()
                if a.user_id == user_id
                and (broker is None or a.broker is broker)
                and (show_unlinked or a.status is not AccountStatus.UNLINKED)
                and (after is None or (a.create_time, a.id) > after)
            ),
            key=lambda a: (a.create_time, a.id),
        )
        return [copy.deepcopy(a) for a in found[:limit]]

    async def due(self, now: datetime, limit: int) -> list[BrokerAccount]:
        found = sorted(
            (
                a
                for a in self.accounts.values()
                if a.status is AccountStatus.ACTIVE
                and not a.running_log_id
                and a.next_sync_time is not None
                and a.next_sync_time <= now
                and (a.sync_enabled or a.retry_attempt > 0)
            ),
            key=lambda a: a.next_sync_time or now,
        )
        return [copy.deepcopy(a) for a in found[:limit]]

    async def stale_runs(self, claimed_before: datetime, limit: int) -> list[tuple[str, str]]:
        return [
            (a.id, a.running_log_id)
            for a in self.accounts.values()
            if a.running_log_id and self.claim_times.get(a.id, claimed_before) < claimed_before
        ][:limit]


class InMemorySyncLogStore:
    """SyncLogStore: writes to a run only while it is RUNNING; pages newest first."""

    def __init__(self) -> None:
        self.logs: dict[str, SyncLog] = {}

    async def insert(self, log: SyncLog) -> None:
        self.logs[log.id] = copy.deepcopy(log)

    async def get(self, log_id: str) -> SyncLog | None:
        log = self.logs.get(log_id)
        return copy.deepcopy(log) if log else None

    async def save_progress(self, log: SyncLog) -> bool:
        stored = self.logs.get(log.id)
        if stored is None or stored.status is not SyncStatus.RUNNING:
            return False
        stored.phase = log.phase
        stored.counters = copy.deepcopy(log.counters)
        stored.row_failures = list(log.row_failures)
        stored.row_failures_truncated = log.row_failures_truncated
        return True

    async def finish(self, log: SyncLog) -> bool:
        stored = self.logs.get(log.id)
        if stored is None or stored.status is not SyncStatus.RUNNING:
            return False
        self.logs[log.id] = copy.deepcopy(log)
        return True

    async def page(
        self, user_id: str, filters: LogFilter, after: tuple[datetime, str] | None, limit: int, with_failures: bool
    ) -> list[SyncLog]:
        found = sorted(
            (
                log
                for log in self.logs.values()
                if log.user_id == user_id
                and (not filters.broker_account_id or log.broker_account_id == filters.broker_account_id)
                and (filters.status is None or log.status is filters.status)
                and (filters.type is None or log.type is filters.type)
                and (filters.start_time is None or log.start_time >= filters.start_time)
                and (filters.end_time is None or log.start_time < filters.end_time)
                and (after is None or (log.start_time, log.id) < after)
            ),
            key=lambda log: (log.start_time, log.id),
            reverse=True,
        )
        page = [copy.deepcopy(log) for log in found[:limit]]
        if not with_failures:
            for log in page:
                log.row_failures = []
        return page


class InMemoryJobQueue:
    """JobQueue: a list of queued jobs and one of dead-lettered runs."""

    def __init__(self) -> None:
        self.jobs: list[SyncJob] = []
        self.dead: list[SyncLog] = []

    async def enqueue(self, job: SyncJob) -> None:
        self.jobs.append(job)

    async def dead_letter(self, log: SyncLog) -> None:
        self.dead.append(copy.deepcopy(log))

    def take(self) -> SyncJob:
        """Return the oldest queued job (what a worker reads next)."""
        return self.jobs.pop(0)


class InMemoryCoordination:
    """Coordination on the fake clock: remembered values and throttles expire."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self._values: dict[str, tuple[str, datetime]] = {}

    def _live(self, key: str) -> tuple[str, datetime] | None:
        entry = self._values.get(key)
        if entry is not None and entry[1] <= self._clock():
            del self._values[key]
            return None
        return entry

    async def remember(self, key: str, value: str, ttl: timedelta) -> str | None:
        entry = self._live(key)
        if entry is not None:
            return entry[0]
        self._values[key] = (value, self._clock() + ttl)
        return None

    async def recall(self, key: str) -> str | None:
        entry = self._live(key)
        return entry[0] if entry else None

    async def throttle(self, key: str, window: timedelta) -> float | None:
        entry = self._live("throttle:" + key)
        if entry is not None:
            return max((entry[1] - self._clock()).total_seconds(), 0.001)
        self._values["throttle:" + key] = ("1", self._clock() + window)
        return None


class FakeCipher:
    """SecretCipher that binds the plaintext to its context (no real encryption: the cipher has its own tests)."""

    def seal(self, plaintext: bytes, context: bytes) -> EncryptedSecret:
        return EncryptedSecret("fake", context, plaintext)

    def open(self, secret: EncryptedSecret, context: bytes) -> bytes:
        if secret.nonce != context:
            raise ValueError("wrong context")
        return secret.ciphertext


@dataclass
class FakeBrokerAccount:
    """A broker login the fake gateway accepts, with today's trade rows."""

    broker_user_id: str
    display_name: str = "Test Trader"
    rows: list[Any] = field(default_factory=list)


class FakeBrokers:
    """BrokerGateway over scripted users: any login whose api key / client id is known succeeds once per token."""

    def __init__(self) -> None:
        self.users: dict[str, FakeBrokerAccount] = {}
        self.sessions: dict[str, str] = {}
        self.fetch_errors: list[Exception] = []
        self.revoked: list[str] = []
        self.unavailable = False
        self._issued = 0

    def add(self, api_key: str, broker_user_id: str, rows: list[Any] | None = None) -> FakeBrokerAccount:
        user = FakeBrokerAccount(broker_user_id, rows=list(rows or []))
        self.users[api_key] = user
        return user

    async def create_session(self, login: Login) -> BrokerSession:
        if self.unavailable:
            raise BrokerUnavailable("the broker is down")
        key = login.api_key if isinstance(login, KiteLogin) else login.client_id
        user = self.users.get(key)
        if user is None:
            raise BrokerAuthFailed("unknown api key")
        self._issued += 1
        token = f"token-{self._issued}"
        self.sessions[token] = key
        return BrokerSession(key, token, user.broker_user_id, user.display_name)

    async def fetch_trades(self, broker: Broker, session: StoredSession) -> list[Any]:
        if self.fetch_errors:
            raise self.fetch_errors.pop(0)
        if self.sessions.get(session.access_token) != session.api_key:
            raise BrokerSessionRejected("TOKEN_INVALID", "unknown session")
        return copy.deepcopy(self.users[session.api_key].rows)

    async def revoke(self, broker: Broker, session: StoredSession) -> None:
        self.revoked.append(session.access_token)
        self.sessions.pop(session.access_token, None)


class FakeTrades:
    """TradeReconciler: an idempotent upsert by (account, broker trade id), like ReconcileTrades."""

    def __init__(self) -> None:
        self.journal: dict[tuple[str, str], NormalisedTrade] = {}
        self.batches: list[int] = []
        self.fail_calls: set[int] = set()
        self.reject: dict[str, tuple[str, str]] = {}

    async def reconcile(
        self, user_id: str, broker: Broker, account_id: str, log_id: str, trades: Sequence[NormalisedTrade]
    ) -> list[ReconcileResult]:
        self.batches.append(len(trades))
        if len(self.batches) in self.fail_calls:
            raise TradeServiceUnavailable("ReconcileTrades failed: UNAVAILABLE")
        results = []
        for trade in trades:
            if trade.broker_trade_id in self.reject:
                reason, message = self.reject[trade.broker_trade_id]
                results.append(ReconcileResult("FAILED", reason, message))
                continue
            key = (account_id, trade.broker_trade_id)
            before = self.journal.get(key)
            self.journal[key] = trade
            outcome = "CREATED" if before is None else ("UNCHANGED" if before == trade else "UPDATED")
            results.append(ReconcileResult(outcome))
        return results


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self, start: datetime = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        """Move time forward."""
        self.now += delta


@dataclass
class Harness:
    """A SyncService over in-memory fakes, and the fakes themselves."""

    service: SyncService
    accounts: InMemoryAccountStore
    logs: InMemorySyncLogStore
    brokers: FakeBrokers
    trades: FakeTrades
    queue: InMemoryJobQueue
    clock: FakeClock


def build_harness(*, batch_size: int = 1000) -> Harness:
    """Return a SyncService wired to fresh fakes (5-minute sync interval)."""
    clock = FakeClock()
    accounts, logs, brokers, trades, queue = (
        InMemoryAccountStore(),
        InMemorySyncLogStore(),
        FakeBrokers(),
        FakeTrades(),
        InMemoryJobQueue(),
    )
    service = SyncService(
        accounts=accounts,
        logs=logs,
        brokers=brokers,
        reconciler=trades,
        cipher=FakeCipher(),
        queue=queue,
        coordination=InMemoryCoordination(clock),
        codec=Codec(b"k" * 32),
        batch_size=batch_size,
        clock=clock,
    )
    return Harness(service, accounts, logs, brokers, trades, queue, clock)


def kite_row(trade_id: str, symbol: str = "INFY", **overrides: Any) -> dict[str, Any]:
    """Return a Kite GET /trades row."""
    row = {
        "trade_id": trade_id,
        "order_id": f"o{trade_id}",
        "exchange": "NSE",
        "tradingsymbol": symbol,
        "product": "CNC",
        "average_price": 1500.5,
        "quantity": 1,
        "transaction_type": "BUY",
        "fill_timestamp": "2026-03-02 09:20:00",
    }
    return row | overrides
