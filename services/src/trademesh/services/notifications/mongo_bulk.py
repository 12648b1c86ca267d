"""MongoDB bulk-write helpers shared by the notification stores (store.py, leased_deliveries.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

Document = dict[str, Any]
_DUPLICATE_KEY = 11000


async def insert_new(collection: AsyncCollection[Document], documents: Sequence[Document]) -> set[str]:
    """Insert the documents in one unordered `insert_many`; return the ids inserted (a duplicate id is skipped,
    any other write error raises)."""
    if not documents:
        return set()
    try:
        await collection.insert_many(documents, ordered=False)
    except BulkWriteError as error:
        failed = error.details.get("writeErrors", [])
        if any(item.get("code") != _DUPLICATE_KEY for item in failed):
            raise
        skipped = {int(item["index"]) for item in failed}
        return {str(document["_id"]) for number, document in enumerate(documents) if number not in skipped}
    return {str(document["_id"]) for document in documents}
