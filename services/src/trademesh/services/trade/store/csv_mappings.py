"""MongoDB adapter of the CSV-mapping store (docs/decisions/0240).

One document per mapping in `csv_mappings`, `_id` = the mapping id, `user_id` in every filter (so another user's
id is simply not found). Writes are guarded by `version` in the filter of a single-document write.
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from trademesh.services.core.connections import ensure_collections
from trademesh.services.trade.csv_mappings import CsvMapping, SavedMapping

Document = dict[str, Any]


async def ensure_csv_mapping_indexes(database: AsyncDatabase[Document]) -> None:
    """Create the collection and its index (idempotent; run at start-up)."""
    await ensure_collections(database, ["csv_mappings"])
    await database.csv_mappings.create_index([("user_id", ASCENDING), ("name_key", ASCENDING)], name="csv_user_name")


def mapping_to_document(mapping: SavedMapping) -> Document:
    """Return the stored shape of a mapping."""
    return {
        "_id": mapping.id,
        "user_id": mapping.user_id,
        "name": mapping.name,
        "name_key": mapping.name.casefold(),
        "mapping": mapping.mapping.to_document(),
        "version": mapping.version,
        "create_time": mapping.create_time,
        "update_time": mapping.update_time,
    }


def mapping_from_document(document: Document) -> SavedMapping:
    """Return the mapping a stored document holds."""
    return SavedMapping(
        id=str(document["_id"]),
        user_id=str(document["user_id"]),
        name=str(document["name"]),
        mapping=CsvMapping.from_document(dict(document.get("mapping") or {})),
        version=int(document["version"]),
        create_time=document["create_time"],
        update_time=document["update_time"],
    )


class MongoCsvMappingStore:
    """Saved CSV mappings in `csv_mappings`."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._mappings = database.csv_mappings

    async def get(self, user_id: str, mapping_id: str) -> SavedMapping | None:
        document = await self._mappings.find_one({"_id": mapping_id, "user_id": user_id})
        return mapping_from_document(document) if document is not None else None

    async def list(self, user_id: str) -> list[SavedMapping]:
        cursor = self._mappings.find({"user_id": user_id}).sort([("name_key", ASCENDING)])
        return [mapping_from_document(document) async for document in cursor]

    async def insert(self, mapping: SavedMapping) -> None:
        await self._mappings.insert_one(mapping_to_document(mapping))

    async def replace(self, mapping: SavedMapping, expected_version: int) -> bool:
        result = await self._mappings.replace_one(
            {"_id": mapping.id, "user_id": mapping.user_id, "version": expected_version}, mapping_to_document(mapping)
        )
        return result.matched_count == 1

    async def delete(self, user_id: str, mapping_id: str, expected_version: int | None) -> bool:
        query: Document = {"_id": mapping_id, "user_id": user_id}
        if expected_version is not None:
            query["version"] = expected_version
        result = await self._mappings.delete_one(query)
        return result.deleted_count == 1
