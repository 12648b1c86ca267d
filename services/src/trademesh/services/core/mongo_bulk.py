"""MongoDB bulk-write helpers shared by the services' stores (notifications' alerts and deliveries, the trade store)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

Document = dict[str, Any]
_DUPLICATE_KEY = 11000


async def insert_skipping_duplicates(collection: AsyncCollection[Document], documents: Sequence[Document]) -> set[int]:
    """Insert the documents in one unordered `insert_many`; return the positions of those skipped because their id
    (or another unique key) is taken. Any other write error raises."""
    if not documents:
        return set()
    try:
        await collection.insert_many(documents, ordered=False)
    except BulkWriteError as error:
        failed = error.details.get("writeErrors", [])
        if any(item.get("code") != _DUPLICATE_KEY for item in failed):
            raise
        return {int(item["index"]) for item in failed}
    return set()


async def insert_new(collection: AsyncCollection[Document], documents: Sequence[Document]) -> set[str]:
    """Insert the documents in one unordered `insert_many`; return the ids inserted (a duplicate id is skipped,
    any other write error raises)."""
    skipped = await insert_skipping_duplicates(collection, documents)
    return {str(document["_id"]) for number, document in enumerate(documents) if number not in skipped}
