"""MongoDB adapters of the sync stores: `broker_accounts` and `sync_logs`.

An account's session is stored only as ciphertext (`secret`: key id, nonce, ciphertext); nothing in
these documents can be turned back into a token without the credentials key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure

from trademesh.services.sync.credentials import CredentialCipher
from trademesh.services.sync.model import (
    LOG_RETENTION,
    AccountStatus,
    Broker,
    BrokerAccount,
    EncryptedSecret,
    LogFilter,
    RowFailure,
    SyncCounters,
    SyncError,
    SyncLog,
    SyncPhase,
    SyncStatus,
    SyncType,
    now_millis,
    secret_context,
)

Document = dict[str, Any]
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


async def ensure_indexes(database: AsyncDatabase[Document]) -> None:
    """Create the sync collections' indexes (idempotent; run at start-up)."""
    accounts = database.broker_accounts
    await accounts.create_index(
        [("user_id", ASCENDING), ("broker", ASCENDING), ("broker_user_id", ASCENDING)],
        unique=True,
        name="accounts_user_broker_login",
    )
    await accounts.create_index(
        [("user_id", ASCENDING), ("create_time", ASCENDING), ("_id", ASCENDING)], name="accounts_user_created"
    )
    await accounts.create_index([("status", ASCENDING), ("next_sync_time", ASCENDING)], name="accounts_due")
    logs = database.sync_logs
    await logs.create_index(
        [("user_id", ASCENDING), ("start_time", DESCENDING), ("_id", DESCENDING)], name="logs_user_started"
    )
    try:
        await logs.create_index([("expire_time", ASCENDING)], expireAfterSeconds=0, name="logs_expire")
    except OperationFailure:
        # FerretDB v1 has no TTL indexes; the service's purge loop deletes expired logs instead.
        await logs.create_index([("expire_time", ASCENDING)], name="logs_expire")


def _secret_doc(secret: EncryptedSecret | None) -> Document | None:
    if secret is None:
        return None
    return {"key_id": secret.key_id, "nonce": secret.nonce, "ciphertext": secret.ciphertext}


def _secret_from(document: Document | None) -> EncryptedSecret | None:
    if not document:
        return None
    return EncryptedSecret(document["key_id"], bytes(document["nonce"]), bytes(document["ciphertext"]))


def account_to_document(account: BrokerAccount) -> Document:
    """Return the stored form of an account."""
    return {
        "_id": account.id,
        "user_id": account.user_id,
        "broker": account.broker.value,
        "broker_user_id": account.broker_user_id,
        "display_name": account.display_name,
        "nickname": account.nickname,
        "masked_api_key": account.masked_api_key,
        "status": account.status.value,
        "error_reason": account.error_reason,
        "error_message": account.error_message,
        "token_expire_time": account.token_expire_time,
        "sync_enabled": account.sync_enabled,
        "link_time": account.link_time,
        "create_time": account.create_time,
        "update_time": account.update_time,
        "version": account.version,
        "unlink_time": account.unlink_time,
        "last_sync_time": account.last_sync_time,
        "last_sync_status": account.last_sync_status.value if account.last_sync_status else None,
        "last_sync_log_id": account.last_sync_log_id,
        "last_successful_sync_time": account.last_successful_sync_time,
        "next_sync_time": account.next_sync_time,
        "running_log_id": account.running_log_id,
        "retry_attempt": account.retry_attempt,
        "retry_of": account.retry_of,
        "secret": _secret_doc(account.secret),
    }


def account_from_document(document: Document) -> BrokerAccount:
    """Rebuild an account from its stored form (`secret` may be projected out)."""
    status = document["last_sync_status"]
    return BrokerAccount(
        id=document["_id"],
        user_id=document["user_id"],
        broker=Broker(document["broker"]),
        broker_user_id=document["broker_user_id"],
        display_name=document["display_name"],
        nickname=document["nickname"],
        masked_api_key=document["masked_api_key"],
        status=AccountStatus(document["status"]),
        error_reason=document["error_reason"],
        error_message=document["error_message"],
        token_expire_time=document["token_expire_time"],
        sync_enabled=bool(document["sync_enabled"]),
        link_time=document["link_time"],
        create_time=document["create_time"],
        update_time=document["update_time"],
        version=document["version"],
        unlink_time=document["unlink_time"],
        last_sync_time=document["last_sync_time"],
        last_sync_status=SyncStatus(status) if status else None,
        last_sync_log_id=document["last_sync_log_id"],
        last_successful_sync_time=document["last_successful_sync_time"],
        next_sync_time=document["next_sync_time"],
        running_log_id=document["running_log_id"],
        retry_attempt=document["retry_attempt"],
        retry_of=document["retry_of"],
        secret=_secret_from(document.get("secret")),
    )


class MongoAccountStore:
    """Broker accounts in the `broker_accounts` collection."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._accounts = database.broker_accounts

    async def insert(self, account: BrokerAccount) -> bool:
        """Insert; return False when the user already has an account for (broker, broker user)."""
        try:
            await self._accounts.insert_one(account_to_document(account))
        except DuplicateKeyError:
            return False
        return True

    async def get(self, account_id: str) -> BrokerAccount | None:
        """Return an account by id."""
        document = await self._accounts.find_one({"_id": account_id})
        return account_from_document(document) if document else None

    async def of_user(self, user_id: str) -> list[BrokerAccount]:
        """Return every account of the user (unlinked ones too)."""
        return [account_from_document(document) async for document in self._accounts.find({"user_id": user_id})]

    async def replace(self, account: BrokerAccount, expected_version: int, *, reschedule: bool = False) -> bool:
        """Store the user-visible state if the version still matches; keep the sync bookkeeping.

        With `reschedule` (link, re-link, unlink, enabling sync) next_sync_time and the retry state
        are replaced too.
        """
        document = account_to_document(account)
        for name in (*_BOOKKEEPING, "running_log_id", "_id"):
            document.pop(name)
        if reschedule:
            document["next_sync_time"] = account.next_sync_time
            document["retry_attempt"] = account.retry_attempt
            document["retry_of"] = account.retry_of
        result = await self._accounts.update_one({"_id": account.id, "version": expected_version}, {"$set": document})
        return result.matched_count == 1

    # The run slot is the account's `running_log_id`: a conditional update `{_id, running_log_id: ""}`
    # claims it atomically and the write that finishes a RUNNING log ends its run (decision 0070).
    # Every write addresses one document by `_id` (an index lookup on MongoDB and on our FerretDB,
    # scripts/install-ferretdb.sh patch 4).

    async def claim_run(self, account_id: str, log_id: str, now: datetime) -> bool:
        """Take the account's run slot for `log_id` if it is free."""
        claimed = await self._accounts.update_one(
            {"_id": account_id, "running_log_id": ""}, {"$set": {"running_log_id": log_id, "run_claim_time": now}}
        )
        return claimed.matched_count == 1

    async def running_log(self, account_id: str) -> str:
        """Return the id of the run holding the account's slot, or ""."""
        document = await self._accounts.find_one({"_id": account_id}, {"running_log_id": 1})
        return str(document.get("running_log_id") or "") if document else ""

    async def release_run(self, account_id: str, log_id: str, bookkeeping: dict[str, Any] | None = None) -> None:
        """Free the account's slot if `log_id` holds it and set last_sync_*, next_sync_time and retry
        fields (never the version) in the same write; called by whoever ended the run."""
        unknown = set(bookkeeping or ()) - _BOOKKEEPING
        if unknown:
            raise ValueError(f"not bookkeeping fields: {sorted(unknown)}")
        values = {
            name: (value.value if isinstance(value, SyncStatus) else value)
            for name, value in (bookkeeping or {}).items()
        }
        released = await self._accounts.update_one(
            {"_id": account_id, "running_log_id": log_id}, {"$set": values | {"running_log_id": ""}}
        )
        if not released.matched_count and values:
            # The stale-run sweep freed the slot already (the run looked lost): keep the bookkeeping.
            await self._accounts.update_one({"_id": account_id}, {"$set": values})

    async def page(
        self, user_id: str, broker: Broker | None, show_unlinked: bool, after: tuple[datetime, str] | None, limit: int
    ) -> list[BrokerAccount]:
        """Return accounts oldest first after a cursor."""
        query: Document = {"user_id": user_id}
        if broker is not None:
            query["broker"] = broker.value
        if not show_unlinked:
            query["status"] = {"$ne": AccountStatus.UNLINKED.value}
        if after is not None:
            query["create_time"] = {"$gte": after[0]}  # the index starts at the page; the `$or` breaks ties
            query["$or"] = [
                {"create_time": {"$gt": after[0]}},
                {"create_time": after[0], "_id": {"$gt": after[1]}},
            ]
        cursor = self._accounts.find(query).sort([("create_time", ASCENDING), ("_id", ASCENDING)]).limit(limit)
        return [account_from_document(document) async for document in cursor]

    async def due(self, now: datetime, limit: int) -> list[BrokerAccount]:
        """Return ACTIVE, idle accounts whose next run (scheduled, or a pending retry) is due."""
        query: Document = {
            "status": AccountStatus.ACTIVE.value,
            "running_log_id": "",
            "next_sync_time": {"$lte": now},
            "$or": [{"sync_enabled": True}, {"retry_attempt": {"$gt": 0}}],
        }
        cursor = self._accounts.find(query, {"secret": 0}).sort("next_sync_time", ASCENDING).limit(limit)
        return [account_from_document(document) async for document in cursor]

    async def stale_runs(self, claimed_before: datetime, limit: int) -> list[tuple[str, str]]:
        """Return (account id, log id) of run slots taken before `claimed_before` and still held."""
        query = {"running_log_id": {"$nin": ["", None]}, "run_claim_time": {"$lt": claimed_before}}
        cursor = self._accounts.find(query, {"running_log_id": 1}).limit(limit)
        return [(str(document["_id"]), str(document["running_log_id"])) async for document in cursor]

    async def reseal_all(self, cipher: CredentialCipher) -> int:
        """Re-encrypt every stored session not sealed under the active key; return how many."""
        count = 0
        query = {"secret": {"$ne": None}, "secret.key_id": {"$ne": cipher.active_key_id}}
        async for document in self._accounts.find(query):
            account = account_from_document(document)
            assert account.secret is not None
            resealed = cipher.reseal(account.secret, secret_context(account))
            if resealed is None:
                continue
            # Compare-and-set on the old ciphertext: a concurrent re-link's new secret is kept.
            result = await self._accounts.update_one(
                {"_id": account.id, "secret.ciphertext": account.secret.ciphertext},
                {"$set": {"secret": _secret_doc(resealed)}},
            )
            count += result.modified_count
        return count


def log_to_document(log: SyncLog) -> Document:
    """Return the stored form of a run."""
    counters = log.counters
    return {
        "_id": log.id,
        "user_id": log.user_id,
        "broker_account_id": log.broker_account_id,
        "broker": log.broker.value,
        "type": log.type.value,
        "status": log.status.value,
        "phase": log.phase.value,
        "counters": {
            "fetched": counters.fetched,
            "created": counters.created,
            "updated": counters.updated,
            "unchanged": counters.unchanged,
            "skipped_deleted": counters.skipped_deleted,
            "failed": counters.failed,
        },
        "start_time": log.start_time,
        "end_time": log.end_time,
        "error": (
            {"reason": log.error.reason, "message": log.error.message, "retryable": log.error.retryable}
            if log.error
            else None
        ),
        "row_failures": [
            {"row_ref": f.row_ref, "symbol": f.symbol, "reason": f.reason, "message": f.message}
            for f in log.row_failures
        ],
        "row_failures_truncated": log.row_failures_truncated,
        "attempt": log.attempt,
        "retry_of": log.retry_of,
        "next_retry_time": log.next_retry_time,
        "request_id": log.request_id,
        "expire_time": log.expire_time,
    }


def log_from_document(document: Document) -> SyncLog:
    """Rebuild a run from its stored form (`row_failures` may be projected out)."""
    error = document["error"]
    status = SyncStatus(document["status"])
    return SyncLog(
        id=document["_id"],
        user_id=document["user_id"],
        broker_account_id=document["broker_account_id"],
        broker=Broker(document["broker"]),
        type=SyncType(document["type"]),
        status=status,
        # A progress write racing the end of the run may leave a stale phase; a finished run is DONE.
        phase=SyncPhase(document["phase"]) if status is SyncStatus.RUNNING else SyncPhase.DONE,
        start_time=document["start_time"],
        attempt=document["attempt"],
        counters=SyncCounters(**document["counters"]),
        end_time=document["end_time"],
        error=SyncError(error["reason"], error["message"], bool(error["retryable"])) if error else None,
        row_failures=[RowFailure(**item) for item in document.get("row_failures", [])],
        row_failures_truncated=bool(document["row_failures_truncated"]),
        retry_of=document["retry_of"],
        next_retry_time=document["next_retry_time"],
        request_id=document["request_id"],
    )


class MongoSyncLogStore:
    """Sync runs in the `sync_logs` collection."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._logs = database.sync_logs

    async def insert(self, log: SyncLog) -> None:
        """Store a new run."""
        await self._logs.insert_one(log_to_document(log))

    async def get(self, log_id: str) -> SyncLog | None:
        """Return a run by id."""
        document = await self._logs.find_one({"_id": log_id}) if len(log_id) <= 64 else None
        return log_from_document(document) if document else None

    async def save_progress(self, log: SyncLog) -> bool:
        """Store phase, counters and failures of a run still RUNNING (by its executing worker)."""
        document = log_to_document(log)
        progress = {name: document[name] for name in ("phase", "counters", "row_failures", "row_failures_truncated")}
        result = await self._logs.update_one({"_id": log.id, "status": SyncStatus.RUNNING.value}, {"$set": progress})
        return result.matched_count == 1

    async def finish(self, log: SyncLog) -> bool:
        """Store a finished run if the stored one is still RUNNING; True for the one caller that ends it."""
        document = log_to_document(log)
        del document["_id"]
        result = await self._logs.update_one({"_id": log.id, "status": SyncStatus.RUNNING.value}, {"$set": document})
        return result.matched_count == 1

    async def page(
        self, user_id: str, filters: LogFilter, after: tuple[datetime, str] | None, limit: int, with_failures: bool
    ) -> list[SyncLog]:
        """Return runs newest first after a cursor (never older than the retention)."""
        oldest = now_millis() - LOG_RETENTION
        start: Document = {"$gte": max(filters.start_time, oldest) if filters.start_time else oldest}
        if filters.end_time is not None:
            start["$lt"] = filters.end_time
        query: Document = {"user_id": user_id, "start_time": start}
        if filters.broker_account_id:
            query["broker_account_id"] = filters.broker_account_id
        if filters.status is not None:
            query["status"] = filters.status.value
        if filters.type is not None:
            query["type"] = filters.type.value
        if after is not None:
            start["$lte"] = after[0]  # the index starts at the page; the `$or` breaks ties
            query["$or"] = [
                {"start_time": {"$lt": after[0]}},
                {"start_time": after[0], "_id": {"$lt": after[1]}},
            ]
        projection = None if with_failures else {"row_failures": 0}
        cursor = self._logs.find(query, projection).sort([("start_time", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        return [log_from_document(document) async for document in cursor]

    async def purge_expired(self, now: datetime) -> int:
        """Delete runs past their retention (for databases without TTL indexes)."""
        result = await self._logs.delete_many({"expire_time": {"$lt": now}})
        return result.deleted_count
