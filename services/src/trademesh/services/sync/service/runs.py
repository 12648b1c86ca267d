"""Run use cases: start runs (SyncNow, the scheduler, retries), execute them, end them, list their logs.

A run is a `SyncLog` document that moves RUNNING → SUCCEEDED/PARTIAL/FAILED/DEAD_LETTERED. At most
one run per account is RUNNING: whoever starts a run (scheduler tick or SyncNow) claims the account's
run slot atomically, and whoever ends it (its worker, or an unlink) first takes the run's end token,
so a run's log is finished exactly once; then the slot is released. Workers execute queued runs;
a run that a dead worker left half-done is executed again from the start, which is safe because
ReconcileTrades is an idempotent upsert by broker trade id.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from trademesh.kernel.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    check_fields,
)
from trademesh.kernel.requests import check_page_size, check_request_id
from trademesh.services.brokers.rows import NormalisedTrade, RowProblem, row_ref, row_symbol
from trademesh.services.brokers.sessions import BrokerSessionRejected, BrokerUnavailable
from trademesh.services.brokers.upstox.rows import normalise_upstox_trade
from trademesh.services.brokers.zerodha.rows import normalise_kite_trade
from trademesh.services.sync.model import (
    MAX_ATTEMPTS,
    AccountStatus,
    Broker,
    BrokerAccount,
    LogFilter,
    RowFailure,
    SyncCounters,
    SyncError,
    SyncJob,
    SyncLog,
    SyncPhase,
    SyncStatus,
    SyncType,
    add_failure,
    new_id,
    retry_delay,
)
from trademesh.services.sync.ports import TradeServiceUnavailable
from trademesh.services.sync.service.base import (
    DEFAULT_LOG_PAGE,
    MANUAL_SYNC_INTERVAL,
    MAX_LOG_PAGE,
    REQUEST_MEMORY,
    ServiceBase,
)

logger = logging.getLogger(__name__)


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


class RunUseCases(ServiceBase):
    """Start, execute and end runs; list them."""

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
