"""CSV-mapping use cases (docs/decisions/0240): save, list and delete a user's named mappings, resolve one for an
import, and preview a file (its first parsed rows and a dry-run import's counts and row errors; nothing written).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from trademesh.kernel.errors import (
    Aborted,
    AlreadyExists,
    FieldViolation,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
)
from trademesh.services.trade.csv_mapping_ports import CsvMappingStore
from trademesh.services.trade.csv_mappings import (
    MAX_MAPPINGS_PER_USER,
    CsvMapping,
    SavedMapping,
    check_mapping,
    check_name,
)
from trademesh.services.trade.model import ImportResult, ParsedRow, now_millis
from trademesh.services.trade.service.imports import ImportUseCases

DEFAULT_PREVIEW_ROWS = 20
MAX_PREVIEW_ROWS = 100


def mapping_not_found() -> NotFound:
    """Return the one error every missing (or another user's) mapping gives."""
    return NotFound("no such CSV mapping", reason="CSV_MAPPING_NOT_FOUND")


def _etag_mismatch() -> Aborted:
    return Aborted("the mapping changed since it was read; re-read and retry", reason="ETAG_MISMATCH")


def _version_of(etag: str) -> int:
    text = etag.strip()
    if len(text) < 2 or text[0] != "v" or not text[1:].isdigit() or len(text) > 20:
        raise InvalidArgument("etag is malformed", [FieldViolation("etag", "not an etag this service issued")])
    return int(text[1:])


def _check_id(mapping_id: str, name: str = "id") -> str:
    cleaned = mapping_id.strip()
    if not cleaned or len(cleaned) > 64:
        raise InvalidArgument(f"{name} is required", [FieldViolation(name, "a mapping id is required")])
    return cleaned


@dataclass(frozen=True, slots=True)
class Preview:
    """The first rows of a file as parsed, and what a dry-run import of it reports."""

    rows: list[ParsedRow]
    result: ImportResult


@dataclass
class CsvMappingService:
    """The CSV-mapping use cases, wired to their ports."""

    mappings: CsvMappingStore
    imports: ImportUseCases
    clock: Callable[[], datetime] = field(default=now_millis)

    async def save(self, user_id: str, mapping_id: str, name: str, mapping: CsvMapping, etag: str) -> SavedMapping:
        """Create (empty id) or replace a mapping; names are unique per user, at most 20 mappings."""
        name = check_name(name)
        check_mapping(mapping)
        expected = _version_of(etag) if etag else None
        existing = await self.mappings.list(user_id)
        now = self.clock()
        if any(m.name.casefold() == name.casefold() and m.id != mapping_id.strip() for m in existing):
            raise AlreadyExists(f"a mapping named {name!r} exists", reason="CSV_MAPPING_NAME_TAKEN")
        if not mapping_id:
            if expected is not None:
                raise InvalidArgument("etag needs an id", [FieldViolation("etag", "only when replacing (id set)")])
            if len(existing) >= MAX_MAPPINGS_PER_USER:
                raise ResourceExhausted(
                    f"at most {MAX_MAPPINGS_PER_USER} CSV mappings; delete one first", reason="CSV_MAPPING_LIMIT"
                )
            saved = SavedMapping(uuid.uuid4().hex, user_id, name, mapping, 1, now, now)
            await self.mappings.insert(saved)
            return saved
        current = await self.mappings.get(user_id, _check_id(mapping_id))
        if current is None:
            raise mapping_not_found()
        if expected is not None and expected != current.version:
            raise _etag_mismatch()
        saved = SavedMapping(current.id, user_id, name, mapping, current.version + 1, current.create_time, now)
        if not await self.mappings.replace(saved, current.version):
            raise _etag_mismatch()
        return saved

    async def list_mappings(self, user_id: str) -> list[SavedMapping]:
        """Return the user's mappings by name."""
        return await self.mappings.list(user_id)

    async def delete(self, user_id: str, mapping_id: str, etag: str) -> None:
        """Delete one of the user's mappings (guarded by its etag when given)."""
        mapping_id = _check_id(mapping_id)
        expected = _version_of(etag) if etag else None
        if await self.mappings.delete(user_id, mapping_id, expected):
            return
        if expected is not None and await self.mappings.get(user_id, mapping_id) is not None:
            raise _etag_mismatch()
        raise mapping_not_found()

    async def resolve(self, user_id: str, mapping_id: str) -> CsvMapping:
        """Return the mapping of one of the user's saved mappings (NOT_FOUND otherwise)."""
        saved = await self.mappings.get(user_id, _check_id(mapping_id, "mapping_id"))
        if saved is None:
            raise mapping_not_found()
        return saved.mapping

    async def preview(
        self,
        user_id: str,
        content: bytes,
        format_name: str,
        rows: Callable[[], tuple[int, list[ParsedRow]]],
        limit: int,
    ) -> Preview:
        """Parse a file and dry-run its import: nothing is written, no import rate limit is used."""
        if limit < 0 or limit > MAX_PREVIEW_ROWS:
            raise InvalidArgument("invalid row_limit", [FieldViolation("row_limit", f"0 to {MAX_PREVIEW_ROWS}")])
        limit = limit or DEFAULT_PREVIEW_ROWS
        first: list[ParsedRow] = []

        def parsed() -> tuple[int, list[ParsedRow]]:
            total, all_rows = rows()
            first.extend(all_rows[:limit])
            return total, all_rows

        result = await self.imports.import_rows(
            user_id,
            str(uuid.uuid4()),
            content,
            format_name,
            parsed,
            dry_run=True,
            broker_account_id="",
            source_hint="preview",
        )
        return Preview(first, result)
