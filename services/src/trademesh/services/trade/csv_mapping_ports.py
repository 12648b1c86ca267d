"""The port of the CSV-mapping use cases (docs/decisions/0240): where a user's saved mappings are kept.

Adapter: `store.csv_mappings.MongoCsvMappingStore`; fake in tests/trade. Pure: no gRPC, database or Redis imports.
"""

from __future__ import annotations

from typing import Protocol

from trademesh.services.trade.csv_mappings import SavedMapping


class CsvMappingStore(Protocol):
    """Persist a user's named mappings, version-guarded."""

    async def get(self, user_id: str, mapping_id: str) -> SavedMapping | None:
        """Return the user's mapping (None for an unknown or another user's id)."""
        ...

    async def list(self, user_id: str) -> list[SavedMapping]:
        """Return the user's mappings ordered by name."""
        ...

    async def insert(self, mapping: SavedMapping) -> None: ...

    async def replace(self, mapping: SavedMapping, expected_version: int) -> bool:
        """Store `mapping` if the stored one has `expected_version`; False when it has not."""
        ...

    async def delete(self, user_id: str, mapping_id: str, expected_version: int | None) -> bool:
        """Delete the user's mapping (of `expected_version` when given); False when none was deleted."""
        ...
