"""MongoWatchlistStore against the real database: a book round-trips, and a write over a stale revision loses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from pymongo import AsyncMongoClient

from trademesh.kernel.instruments import Exchange
from trademesh.services.marketdata.model import InstrumentKey
from trademesh.services.marketdata.model.watchlists import Watchlist, WatchlistBook
from trademesh.services.marketdata.store import MongoWatchlistStore

INFY = InstrumentKey(Exchange.NSE, "INFY")
SBIN_BSE = InstrumentKey(Exchange.BSE, "SBIN")


async def test_a_book_round_trips_and_a_stale_revision_loses(core_settings: Callable[..., dict[str, Any]]) -> None:
    values = core_settings()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(values["mongo_url"])
    try:
        store = MongoWatchlistStore(client[values["mongo_database"]])
        assert await store.load("u1") == WatchlistBook("u1", 0, ())
        first = WatchlistBook("u1", 1, (Watchlist("w1", "Mine", (INFY, SBIN_BSE), 1, 10, 10),))
        assert await store.save(first, 0)
        assert not await store.save(replace(first, revision=1), 0)  # a second "first write" loses
        assert await store.load("u1") == first
        second = replace(first, revision=2, lists=(*first.lists, Watchlist("w2", "Two", (), 1, 20, 20)))
        assert await store.save(second, 1)
        assert not await store.save(replace(first, revision=2), 1)  # written over a revision that moved on
        assert await store.load("u1") == second
        assert await store.load("u2") == WatchlistBook("u2", 0, ())
    finally:
        await client.close()
