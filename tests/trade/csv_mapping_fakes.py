"""An in-memory fake of the CSV-mapping store port (docs/decisions/0240)."""

from __future__ import annotations

from dataclasses import dataclass, field

from trademesh.services.trade.csv_mappings import SavedMapping


@dataclass
class InMemoryCsvMappingStore:
    """The `CsvMappingStore` port in one dict keyed by mapping id."""

    mappings: dict[str, SavedMapping] = field(default_factory=dict)

    async def get(self, user_id: str, mapping_id: str) -> SavedMapping | None:
        found = self.mappings.get(mapping_id)
        return found if found is not None and found.user_id == user_id else None

    async def list(self, user_id: str) -> list[SavedMapping]:
        return sorted((m for m in self.mappings.values() if m.user_id == user_id), key=lambda m: m.name.casefold())

    async def insert(self, mapping: SavedMapping) -> None:
        self.mappings[mapping.id] = mapping

    async def replace(self, mapping: SavedMapping, expected_version: int) -> bool:
        stored = await self.get(mapping.user_id, mapping.id)
        if stored is None or stored.version != expected_version:
            return False
        self.mappings[mapping.id] = mapping
        return True

    async def delete(self, user_id: str, mapping_id: str, expected_version: int | None) -> bool:
        stored = await self.get(user_id, mapping_id)
        if stored is None or (expected_version is not None and stored.version != expected_version):
            return False
        del self.mappings[mapping_id]
        return True
