"""What the sync use cases need from the world, as Protocols: stores, broker clients, the trade sink,
the job queue, short-lived coordination records, the credential cipher and the clock.

Adapters: `store.py` (MongoDB), `jobs.py` (Redis), `trades.py` (the trade service over gRPC),
`brokers.py` (the broker clients of `trademesh.services.brokers`), `credentials.py` (AES-GCM).
Fakes for tests: tests/sync/fakes.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from trademesh.services.brokers.sessions import BrokerSession, Login, StoredSession
from trademesh.services.sync.model import (
    Broker,
    BrokerAccount,
    EncryptedSecret,
    LogFilter,
    NormalisedTrade,
    SyncJob,
    SyncLog,
)

#: Returns the current UTC time (truncated to milliseconds, what MongoDB stores).
Clock = Callable[[], datetime]


class TradeServiceUnavailable(Exception):
    """Raise (trade sink) when ReconcileTrades cannot be called successfully."""


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
