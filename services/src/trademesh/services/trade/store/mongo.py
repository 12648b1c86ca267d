"""MongoDB adapter of the trade store (`MongoTradeStore`): trades with their pending events, import
records, quota counters and batch records.

Each trade is one document `_id = trade id`. A write stores the trade *and* its change event (in the
`outbox` array) in one single-document operation, which MongoDB and FerretDB apply atomically, so
an event can never be lost between the write and the publish (docs/decisions/0010).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import date, datetime, timedelta

import pymongo
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure

from trademesh.kernel.instruments import Side
from trademesh.services.core.connections import ensure_collections
from trademesh.services.core.mongo_bulk import insert_skipping_duplicates
from trademesh.services.trade.model import (
    ImportResult,
    ImportRowError,
    ListedTrade,
    Status,
    Trade,
    TradeEvent,
    TradeFilter,
)
from trademesh.services.trade.ports import (
    BrokerKeyTaken,
    BulkInsertOutcome,
    DayGroup,
    DayIndex,
    IdTaken,
    ListCursor,
)
from trademesh.services.trade.store.documents import (
    PENDING,
    PENDING_FLAG,
    Document,
    absent_fields,
    event_to_document,
    outbox_key,
    trade_from_document,
    trade_to_document,
)
from trademesh.services.trade.store.position_fills import PositionReads
from trademesh.services.trade.store.revisions import COLLECTION as REVISIONS
from trademesh.services.trade.store.revisions import JournalRevisions

INSERT_CHUNK = 1000
_STATUSES = {member.value: member for member in Status}
#: Ids per `_id $in` read (FerretDB's `_id` pushdown, scripts/install-ferretdb.sh patch 4, takes up to 1,000).
ID_BATCH = 1000


async def ensure_indexes(database: AsyncDatabase[Document]) -> None:
    """Create the trade collections' indexes (idempotent; run at start-up).

    On MongoDB they serve the queries below; on FerretDB they only enforce uniqueness (reads scan).
    """
    await ensure_collections(database, ["trades", "trade_imports", "trade_quotas", "trade_batches", REVISIONS])
    trades = database.trades
    await trades.create_index([("broker_key", ASCENDING)], unique=True, sparse=True, name="trades_broker_key_unique")
    await trades.create_index(
        [("user_id", ASCENDING), ("trade_time", DESCENDING), ("_id", DESCENDING)], name="trades_user_time"
    )
    await trades.create_index(
        [("user_id", ASCENDING), ("exchange", ASCENDING), ("symbol", ASCENDING), ("trading_day", ASCENDING)],
        name="trades_user_instrument_day",
    )
    await trades.create_index([("user_id", ASCENDING), ("import_id", ASCENDING)], name="trades_user_import")
    await trades.create_index([("user_id", ASCENDING), ("tag_keys", ASCENDING)], name="trades_user_tags")
    await trades.create_index([("status", ASCENDING), ("purge_time", ASCENDING)], name="trades_purge")
    await trades.create_index([(PENDING_FLAG, ASCENDING), ("_id", ASCENDING)], name="trades_outbox_pending")


async def _by_ids(
    collection: AsyncCollection[Document], ids: Sequence[str], projection: Document | None = None
) -> list[Document]:
    """Return the documents with these `_id`s that exist, one `_id $in` read per ID_BATCH ids."""
    unique = list(dict.fromkeys(ids))
    found: list[Document] = []
    for start in range(0, len(unique), ID_BATCH):
        cursor = collection.find({"_id": {"$in": unique[start : start + ID_BATCH]}}, projection)
        found.extend([document async for document in cursor])
    return found


def _group_query(user_id: str, group: DayGroup) -> Document:
    exchange, symbol, day = group
    return {"user_id": user_id, "exchange": exchange, "symbol": symbol, "trading_day": day.isoformat()}


def _unique_violation(error: OperationFailure) -> bool:
    # FerretDB reports an update into a unique-index duplicate as code 1 "UNIQUE constraint failed".
    return isinstance(error, DuplicateKeyError) or (error.code == 1 and "UNIQUE constraint failed" in str(error))


def _query(user_id: str, filters: TradeFilter) -> Document:
    query: Document = {"user_id": user_id}
    if len(filters.statuses) == 1:
        query["status"] = filters.statuses[0].value
    if filters.symbol:
        query["symbol"] = filters.symbol
    if filters.exchange:
        query["exchange"] = filters.exchange.value
    if filters.segment:
        query["segment"] = filters.segment.value
    if filters.side:
        query["side"] = filters.side.value
    if filters.category:
        query["category"] = filters.category.value
    if filters.tag:
        query["tag_keys"] = filters.tag
    if filters.strategy:
        query["strategy_key"] = filters.strategy
    if filters.broker:
        query["broker"] = filters.broker.value
    if filters.broker_account_id:
        query["broker_account_id"] = filters.broker_account_id
    if filters.source:
        query["source"] = filters.source.value
    if filters.import_id:
        query["import_id"] = filters.import_id
    if filters.start_time or filters.end_time:
        span: Document = {}
        if filters.start_time:
            span["$gte"] = filters.start_time
        if filters.end_time:
            span["$lt"] = filters.end_time
        query["trade_time"] = span
    return query


class MongoTradeStore(PositionReads):
    """Trades in `trades` (one document each, `_id` = trade id) and import records in `trade_imports`."""

    def __init__(self, database: AsyncDatabase[Document], *, bulk_timeout_seconds: float = 120.0) -> None:
        self._trades = database.trades
        self._imports = database.trade_imports
        self._quotas = database.trade_quotas
        self._batches = database.trade_batches
        # Whole-collection passes (imports, positions, snapshots, relay sweeps) may take longer
        # than the per-call dependency timeout on a scanning backend such as FerretDB.
        self._bulk_timeout = bulk_timeout_seconds
        # Every write of trades below moves its users' journal revisions on (ListPositions' cache).
        self._revisions = JournalRevisions(database[REVISIONS])

    async def insert(self, trade: Trade, event: TradeEvent) -> None:
        async with self._revisions.writing([trade.user_id]):
            document = trade_to_document(trade) | {"outbox": {outbox_key(event): event_to_document(event)}} | PENDING
            try:
                await self._trades.insert_one(document)
            except DuplicateKeyError:
                # The error does not say which unique index collided: ask.
                if await self._trades.find_one({"_id": trade.id}, {"_id": 1}) is not None:
                    raise IdTaken(trade.id) from None
                holder = await self._trades.find_one({"broker_key": trade.broker_key}, {"_id": 1})
                raise BrokerKeyTaken(str(holder["_id"]) if holder else "") from None

    async def insert_many(
        self, items: Sequence[tuple[Trade, TradeEvent]], *, with_outbox: bool = True
    ) -> BulkInsertOutcome:
        async with self._revisions.writing(trade.user_id for trade, _ in items):
            return await self._insert_many(items, with_outbox=with_outbox)

    async def _insert_many(self, items: Sequence[tuple[Trade, TradeEvent]], *, with_outbox: bool) -> BulkInsertOutcome:
        with pymongo.timeout(self._bulk_timeout):
            inserted: list[Trade] = []
            collided: list[Trade] = []
            for start in range(0, len(items), INSERT_CHUNK):
                chunk = items[start : start + INSERT_CHUNK]
                documents = [
                    trade_to_document(trade)
                    | ({"outbox": {outbox_key(event): event_to_document(event)}} | PENDING if with_outbox else {})
                    for trade, event in chunk
                ]
                failed = await insert_skipping_duplicates(self._trades, documents)
                for index, (trade, _) in enumerate(chunk):
                    (collided if index in failed else inserted).append(trade)
            return BulkInsertOutcome(inserted, collided)

    async def reserve_quota(self, user_id: str, count: int, limit: int) -> bool:
        """Count `count` new trades against the user's quota; False (nothing counted) if over `limit`.

        One counter document per user (`_id` = user id, a point write on any backend). A reservation
        whose insert then fails for certain is released; one interrupted by a crash stays counted
        (the quota errs towards counting a trade too many, never too few; near the limit a
        concurrent write may be refused while another's over-count is being undone).
        """
        for _ in range(3):
            try:
                counter = await self._quotas.find_one_and_update(
                    {"_id": user_id}, {"$inc": {"trades": count}}, upsert=True, return_document=ReturnDocument.AFTER
                )
            except DuplicateKeyError:
                continue  # two first writes of this user upserted at once: the retry counts
            if counter is not None and int(counter["trades"]) <= limit:
                return True
            await self.release_quota(user_id, count)
            return False
        raise RuntimeError("could not count the trade quota")

    async def release_quota(self, user_id: str, count: int) -> None:
        """Give back `count` reserved or purged trades of the user's quota."""
        if count:
            await self._quotas.update_one({"_id": user_id}, {"$inc": {"trades": -count}})

    async def get(self, trade_id: str) -> Trade | None:
        document = await self._trades.find_one({"_id": trade_id}, {"outbox": 0})
        return trade_from_document(document) if document else None

    async def replace(self, trade: Trade, expected_version: int, event: TradeEvent) -> Trade | None:
        async with self._revisions.writing([trade.user_id]):
            return await self._replace(trade, expected_version, event)

    async def _replace(self, trade: Trade, expected_version: int, event: TradeEvent) -> Trade | None:
        document = trade_to_document(trade)
        document.pop("_id")
        update: Document = {
            "$set": document | {f"outbox.{outbox_key(event)}": event_to_document(event)} | PENDING,
            # A field back at its default is left out of the stored form, so the replaced one must lose it.
            "$unset": dict.fromkeys(absent_fields(document), ""),
        }
        try:
            result = await self._trades.find_one_and_update(
                {"_id": trade.id, "version": expected_version},
                update,
                return_document=ReturnDocument.AFTER,
            )
        except OperationFailure as error:
            if not _unique_violation(error):
                raise
            holder = await self._trades.find_one({"broker_key": trade.broker_key}, {"_id": 1})
            raise BrokerKeyTaken(str(holder["_id"]) if holder else "") from None
        return trade_from_document(result) if result else None

    async def list_trades(
        self, user_id: str, filters: TradeFilter, after: ListCursor | None, limit: int
    ) -> list[ListedTrade]:
        query = _query(user_id, filters)
        if after is not None:
            # The bound on trade_time lets the (user_id, trade_time, _id) index start at the page (on
            # MongoDB and on the local engine alike); the `$or` then only breaks ties at that time.
            assert "$or" not in query
            span = query.setdefault("trade_time", {})
            span["$lte"] = min(after.trade_time, span["$lte"]) if "$lte" in span else after.trade_time
            query["$or"] = [
                {"trade_time": {"$lt": after.trade_time}},
                {"trade_time": after.trade_time, "_id": {"$lt": after.trade_id}},
            ]
        cursor = (
            self._trades.find(query, {"outbox": 0}).sort([("trade_time", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        )
        with pymongo.timeout(self._bulk_timeout):
            # to_list: one await for the page, where `async for` awaits once per document.
            documents = await cursor.to_list()
        # The listing's read model: the page is mapped from the documents as read (decision 0350).
        return [
            ListedTrade(
                document["_id"],
                document["trade_time"],
                _STATUSES[document["status"]],
                document.get("purge_time"),
                document,
            )
            for document in documents
        ]

    async def same_day(self, user_id: str, exchange: str, symbol: str, day: date) -> list[Trade]:
        # The (user_id, exchange, symbol, trading_day) index serves it.
        query = _group_query(user_id, (exchange, symbol, day)) | {"status": Status.ACTIVE.value}
        return [trade_from_document(document) async for document in self._trades.find(query, {"outbox": 0})]

    async def side_in_group(self, user_id: str, exchange: str, symbol: str, day: date, side: Side) -> bool:
        # The (user_id, exchange, symbol, trading_day) index serves it; the first match ends the read.
        query = {
            "user_id": user_id,
            "exchange": exchange,
            "symbol": symbol,
            "trading_day": day.isoformat(),
            "side": side.value,
            "status": Status.ACTIVE.value,
        }
        return await self._trades.find_one(query, {"_id": 1}) is not None

    async def day_indexes(self, user_id: str, groups: Sequence[DayGroup]) -> dict[DayGroup, DayIndex]:
        """Return, per (exchange, symbol, day) group, the ids of its trades by side, oldest first (one
        read of the (user_id, exchange, symbol, trading_day) index per group, in parallel)."""

        async def one(group: DayGroup) -> DayIndex:
            cursor = self._trades.find(_group_query(user_id, group), {"side": 1}).sort(
                [("create_time", ASCENDING), ("_id", ASCENDING)]
            )
            index: DayIndex = {Side.BUY: [], Side.SELL: []}
            async for document in cursor:
                index[Side(document["side"])].append(str(document["_id"]))
            return index

        unique = list(dict.fromkeys(groups))
        return dict(zip(unique, await asyncio.gather(*(one(group) for group in unique)), strict=True))

    async def active_trades(self, user_id: str, broker_account_id: str = "") -> list[Trade]:
        with pymongo.timeout(self._bulk_timeout):
            query: Document = {"user_id": user_id, "status": Status.ACTIVE.value}
            if broker_account_id:
                query["broker_account_id"] = broker_account_id
            return [trade_from_document(document) async for document in self._trades.find(query, {"outbox": 0})]

    async def all_trades(self, user_id: str, include_deleted: bool) -> list[Trade]:
        with pymongo.timeout(self._bulk_timeout):
            query: Document = {"user_id": user_id}
            if not include_deleted:
                query["status"] = Status.ACTIVE.value
            cursor = self._trades.find(query, {"outbox": 0}).sort([("trade_time", DESCENDING), ("_id", DESCENDING)])
            return [trade_from_document(document) async for document in cursor]

    async def trades_between(self, user_id: str, start: date | None, end: date | None) -> list[Trade]:
        with pymongo.timeout(self._bulk_timeout):
            query: Document = {"user_id": user_id, "status": Status.ACTIVE.value, **_day_range(start, end)}
            return [trade_from_document(document) async for document in self._trades.find(query, {"outbox": 0})]

    async def user_ids_between(self, start: date | None, end: date | None) -> list[str]:
        with pymongo.timeout(self._bulk_timeout):
            query: Document = {"status": Status.ACTIVE.value, **_day_range(start, end)}
            # $group, not distinct: FerretDB's distinct refuses the maxTimeMS that pymongo.timeout adds.
            cursor = await self._trades.aggregate([{"$match": query}, {"$group": {"_id": "$user_id"}}])
            return sorted([str(document["_id"]) async for document in cursor])

    async def by_broker_keys(self, user_id: str, keys: Sequence[str]) -> dict[str, Trade]:
        with pymongo.timeout(self._bulk_timeout):
            if not keys:
                return {}
            wanted = set(keys)
            found: dict[str, Trade] = {}
            # One pass over the user's keyed trades (an `$in` with 50,000 keys is slower on FerretDB).
            cursor = self._trades.find({"user_id": user_id, "broker_key": {"$exists": True}}, {"outbox": 0})
            async for document in cursor:
                if document.get("broker_key") in wanted:
                    found[document["broker_key"]] = trade_from_document(document)
            return found

    async def get_import(self, record_id: str) -> tuple[str, ImportResult | None] | None:
        document = await self._imports.find_one({"_id": record_id})
        if document is None:
            return None
        result = document.get("result")
        if result is None:
            return document["request_hash"], None
        return document["request_hash"], ImportResult(
            import_id=result["import_id"],
            dry_run=False,
            rows_total=result["rows_total"],
            rows_created=result["rows_created"],
            rows_duplicate=result["rows_duplicate"],
            rows_failed=result["rows_failed"],
            row_errors=[ImportRowError(**item) for item in result["row_errors"]],
            row_errors_truncated=result["row_errors_truncated"],
        )

    async def start_import(
        self, record_id: str, request_hash: str, now: datetime, import_id: str, user_id: str
    ) -> None:
        # A duplicate is a retry of an unfinished import, which then finishes it.
        with contextlib.suppress(DuplicateKeyError):
            await self._imports.insert_one(
                {
                    "_id": record_id,
                    "request_hash": request_hash,
                    "import_id": import_id,
                    "user_id": user_id,
                    "started_at": now,
                    "result": None,
                }
            )

    async def start_batch(self, batch_id: str, user_id: str, trade_ids: Sequence[str], now: datetime) -> None:
        """Record the ids of a bulk insert before it runs: their CREATED events are pending until published.

        One document instead of an outbox entry per trade (imports and reconciles): publishing a batch
        then costs one write, not a read and a write per trade (docs/decisions/0017).
        """
        await self._batches.insert_one(
            {"_id": batch_id, "user_id": user_id, "trade_ids": list(trade_ids), "started_at": now}
        )

    async def batch_published(self, batch_id: str) -> None:
        """Forget a batch whose CREATED events are published."""
        await self._batches.delete_one({"_id": batch_id})

    async def batches_with_pending_events(self, started_before: datetime | None) -> list[Document]:
        """Return batch records (only unpublished ones exist) started before the given time."""
        query: Document = {} if started_before is None else {"started_at": {"$lt": started_before}}
        with pymongo.timeout(self._bulk_timeout):
            return [document async for document in self._batches.find(query)]

    async def get_many(self, trade_ids: Sequence[str]) -> list[Trade]:
        """Return the trades with these ids that exist, in no particular order (one `_id $in` read per
        1,000 ids: an index lookup on MongoDB and, with our FerretDB patch, on FerretDB)."""
        return [trade_from_document(document) for document in await _by_ids(self._trades, trade_ids, {"outbox": 0})]

    async def finish_import(self, record_id: str, result: ImportResult, now: datetime) -> None:
        await self._imports.update_one(
            {"_id": record_id},
            {
                "$set": {
                    "finished_at": now,
                    "expires_at": now + timedelta(days=1),
                    "result": {
                        "import_id": result.import_id,
                        "rows_total": result.rows_total,
                        "rows_created": result.rows_created,
                        "rows_duplicate": result.rows_duplicate,
                        "rows_failed": result.rows_failed,
                        "row_errors": [
                            {
                                "row_number": e.row_number,
                                "column": e.column,
                                "value": e.value,
                                "reason": e.reason,
                                "message": e.message,
                            }
                            for e in result.row_errors
                        ],
                        "row_errors_truncated": result.row_errors_truncated,
                    },
                }
            },
        )

    # ------------------------------------------------------------------ outbox (used by the relay)

    async def pending_documents(self, limit: int, after_id: str, written_before: datetime | None) -> list[Document]:
        """Return trade documents (by `_id` order, after `after_id`) that still hold unpublished events.

        `written_before` skips documents changed more recently: their writer is normally still
        publishing them, and sweeping them too would only compete with it.
        """
        query: Document = PENDING | {"_id": {"$gt": after_id}}
        if written_before is not None:
            query["update_time"] = {"$lt": written_before}
        with pymongo.timeout(self._bulk_timeout):
            cursor = self._trades.find(query, {"outbox": 1, "user_id": 1, "purging": 1}).sort("_id", ASCENDING)
            return [document async for document in cursor.limit(limit)]

    async def pending_of(self, trade_id: str) -> Document | None:
        """Return one trade's outbox (by `_id`: cheap everywhere)."""
        return await self._trades.find_one({"_id": trade_id}, {"outbox": 1, "user_id": 1, "purging": 1})

    async def clear_events(self, trade_id: str, versions: Sequence[int]) -> None:
        """Drop published events from a trade document (then erase it if it is being purged)."""
        # FerretDB's $pull only matches whole values, so pending events are keyed "e<version>" in
        # an object and removed with $unset of exactly the published keys (newer ones stay).
        unset = {"$unset": {f"outbox.e{version}": "" for version in versions}}
        # The common case, a trade not being purged, in one plain update (no document read back). A purge
        # marked later brings its own PURGED event, whose clearing erases the trade.
        if (await self._trades.update_one({"_id": trade_id, "purging": {"$ne": True}}, unset)).matched_count:
            return
        after = ReturnDocument.AFTER
        document = await self._trades.find_one_and_update({"_id": trade_id}, unset, return_document=after)
        if document is not None and not document.get("outbox") and document.get("purging"):
            await self._trades.delete_one({"_id": trade_id})

    async def clear_created(self, trade_ids: Sequence[str]) -> None:
        """Drop published CREATED events and, for trades still at version 1, their pending flag, in one update:
        at version 1 the outbox holds that event alone, so nothing is left for the sweep (which would otherwise
        read each trade again to clear the flag). A trade changed or being purged since is cleared as any other
        (`clear_events`)."""
        ids = list(dict.fromkeys(trade_ids))
        cleared = await self._trades.update_many(
            {"_id": {"$in": ids}, "version": 1, "purging": {"$ne": True}},
            {"$unset": {"outbox.e1": "", PENDING_FLAG: ""}},
        )
        if cleared.matched_count == len(ids):
            return
        others = self._trades.find({"_id": {"$in": ids}, "outbox.e1": {"$exists": True}}, {"_id": 1})
        for document in await others.to_list():
            await self.clear_events(str(document["_id"]), [1])

    async def settle(self, document: Document) -> None:
        """Finish a trade read with an empty outbox: erase it if it is being purged, else clear its pending
        flag — each only while the outbox is still empty (a writer may have added an event since).

        Publishing requests leave the flag to the relay's sweep: one write fewer per call, and a flag
        never lags behind a pending event."""
        still_empty = {"_id": document["_id"], "outbox": {}}
        if document.get("purging"):
            await self._trades.delete_one(still_empty)
        else:
            await self._trades.update_one(still_empty, {"$unset": {PENDING_FLAG: ""}})

    async def expired_deleted(self, now: datetime, limit: int) -> list[Trade]:
        """Return DELETED trades past their purge time."""
        with pymongo.timeout(self._bulk_timeout):
            cursor = self._trades.find(
                {"status": Status.DELETED.value, "purge_time": {"$lte": now}}, {"outbox": 0}
            ).limit(limit)
            return [trade_from_document(document) async for document in cursor]

    async def mark_purging(self, trade: Trade, event: TradeEvent) -> bool:
        """Record the PURGED event and mark the trade for deletion once it is published."""
        result = await self._trades.update_one(
            {"_id": trade.id, "version": trade.version - 1, "status": Status.DELETED.value},
            {
                "$set": {
                    "purging": True,
                    "version": trade.version,
                    f"outbox.{outbox_key(event)}": event_to_document(event),
                    PENDING_FLAG: True,
                },
            },
        )
        return result.modified_count == 1


def _day_range(start: date | None, end: date | None) -> Document:
    bounds: Document = {}
    if start is not None:
        bounds["$gte"] = start.isoformat()
    if end is not None:
        bounds["$lte"] = end.isoformat()
    return {"trading_day": bounds} if bounds else {}
