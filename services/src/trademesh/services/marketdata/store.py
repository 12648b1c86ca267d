"""1-minute bars and users' watchlists in MongoDB.

Bars: 1-minute bars: one document per instrument per UTC day, swept after the retention.

Layout `bars` collection: `_id = "<EXCHANGE>:<SYMBOL>:<YYYY-MM-DD>"`, `day`, `instrument`, and
`bars` = {"<HHMM>": {o, h, l, c, v, oi, complete}}. A range query is then one `_id` lookup per
day (FerretDB indexes only exact `_id` filters; see decision 0002), and a write is one upsert by
`_id` per instrument per flush. Neither FerretDB nor this layout has TTL indexes, so the sweeper
deletes whole days older than the retention.

Watchlists: collection `watchlists`, one document per user, `_id = <user id>`, `revision` and `lists` =
[{id, name, instruments: ["NSE:INFY", ...], version, create_ns, update_ns}] in the user's order. A save
is an insert (revision 1) or an update filtered on `_id` and the revision read, so the whole book
changes atomically, by exact `_id` (the one index FerretDB serves).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from trademesh.services.marketdata.model import (
    MINUTE_NANOS,
    NANOS_PER_SECOND,
    Bar,
    InstrumentKey,
    minute_floor,
    utc_day,
)
from trademesh.services.marketdata.model.watchlists import Watchlist, WatchlistBook

DAY_NANOS = 86400 * NANOS_PER_SECOND


def _slot(start_ns: int) -> str:
    return datetime.fromtimestamp(start_ns / NANOS_PER_SECOND, UTC).strftime("%H%M")


class MongoBarStore:
    """Store and read bars."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self._bars = database["bars"]

    async def save(self, bars: Sequence[Bar]) -> None:
        """Upsert bars (a later write of the same minute replaces the earlier one)."""
        grouped: dict[str, dict[str, Any]] = defaultdict(dict)
        meta: dict[str, tuple[str, str]] = {}
        for bar in bars:
            day = utc_day(bar.start_ns)
            doc_id = f"{bar.key}:{day}"
            meta[doc_id] = (str(bar.key), day)
            grouped[doc_id][f"bars.{_slot(bar.start_ns)}"] = {
                "o": bar.open_micros,
                "h": bar.high_micros,
                "l": bar.low_micros,
                "c": bar.close_micros,
                "v": bar.volume,
                "oi": bar.open_interest,
                "complete": bar.complete,
            }
        for doc_id, fields in grouped.items():
            instrument, day = meta[doc_id]
            await self._bars.update_one(
                {"_id": doc_id}, {"$set": {**fields, "instrument": instrument, "day": day}}, upsert=True
            )

    async def range(self, key: InstrumentKey, start_ns: int, end_ns: int, limit: int) -> tuple[list[Bar], bool]:
        """Return up to `limit` bars with start in [start_ns, end_ns), oldest first, and whether more exist."""
        result: list[Bar] = []
        day_ns = start_ns - start_ns % DAY_NANOS
        while day_ns < end_ns:
            document = await self._bars.find_one({"_id": f"{key}:{utc_day(day_ns)}"})
            if document is not None:
                for slot in sorted(document.get("bars", {})):
                    start = day_ns + (int(slot[:2]) * 60 + int(slot[2:])) * MINUTE_NANOS
                    if start < start_ns or start >= end_ns:
                        continue
                    if len(result) == limit:
                        return result, True
                    raw = document["bars"][slot]
                    result.append(
                        Bar(key, start, raw["o"], raw["h"], raw["l"], raw["c"], raw["v"], raw["oi"], raw["complete"])
                    )
            day_ns += DAY_NANOS
        return result, False

    async def earliest(self, key: InstrumentKey, horizon_ns: int, now_ns: int) -> int | None:
        """Return the start of the oldest retained bar at or after `horizon_ns`, or None."""
        day_ns = horizon_ns - horizon_ns % DAY_NANOS
        while day_ns <= now_ns:
            document = await self._bars.find_one({"_id": f"{key}:{utc_day(day_ns)}"})
            if document and document.get("bars"):
                for slot in sorted(document["bars"]):
                    start = day_ns + (int(slot[:2]) * 60 + int(slot[2:])) * MINUTE_NANOS
                    if start >= minute_floor(horizon_ns):
                        return start
            day_ns += DAY_NANOS
        return None

    async def delete_before(self, cutoff: datetime) -> int:
        """Delete every day document older than the cutoff's day; return how many."""
        day = (cutoff - timedelta(days=1)).strftime("%Y-%m-%d")
        result = await self._bars.delete_many({"day": {"$lte": day}})
        return result.deleted_count


class MongoWatchlistStore:
    """Store each user's watchlist book as one document."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self._books = database["watchlists"]

    async def load(self, user_id: str) -> WatchlistBook:
        """Return the user's book (revision 0 and no lists when none is stored)."""
        document = await self._books.find_one({"_id": user_id})
        if document is None:
            return WatchlistBook(user_id, 0, ())
        lists = tuple(
            Watchlist(
                item["id"],
                item["name"],
                tuple(InstrumentKey.parse(name) for name in item["instruments"]),
                item["version"],
                item["create_ns"],
                item["update_ns"],
            )
            for item in document.get("lists", [])
        )
        return WatchlistBook(user_id, document["revision"], lists)

    async def save(self, book: WatchlistBook, expected_revision: int) -> bool:
        """Write the book over `expected_revision`; False when another write got there first."""
        lists = [
            {
                "id": item.id,
                "name": item.name,
                "instruments": [str(key) for key in item.instruments],
                "version": item.version,
                "create_ns": item.create_ns,
                "update_ns": item.update_ns,
            }
            for item in book.lists
        ]
        if expected_revision == 0:
            try:
                await self._books.insert_one({"_id": book.user_id, "revision": book.revision, "lists": lists})
            except DuplicateKeyError:
                return False
            return True
        result = await self._books.update_one(
            {"_id": book.user_id, "revision": expected_revision},
            {"$set": {"revision": book.revision, "lists": lists}},
        )
        return result.matched_count == 1
