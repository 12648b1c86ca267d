"""Bars and users' watchlists in MongoDB.

Bars: `MongoBarStore` lives in `bar_store.py` (1-minute bars, their 5-minute and day roll-ups, the sweeps)
and is re-exported here.

Watchlists: collection `watchlists`, one document per user, `_id = <user id>`, `revision` and `lists` =
[{id, name, instruments: ["NSE:INFY", ...], version, create_ns, update_ns}] in the user's order. A save
is an insert (revision 1) or an update filtered on `_id` and the revision read, so the whole book
changes atomically, by exact `_id` (the one index FerretDB serves).
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from trademesh.services.marketdata.bar_store import MongoBarStore
from trademesh.services.marketdata.model import InstrumentKey
from trademesh.services.marketdata.model.watchlists import Watchlist, WatchlistBook

__all__ = ["MongoBarStore", "MongoWatchlistStore"]


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
