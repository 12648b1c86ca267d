"""The port of the day-note use cases (docs/decisions/0200): where notes and mistake lists are kept.

Adapter: `store.day_notes.MongoDayNoteStore`; fake in tests/trade. Pure: no gRPC, database or Redis imports.
"""

from __future__ import annotations

from datetime import date
from typing import Protocol

from trademesh.services.trade.day_notes import DayNote, MistakeTags


class DayNoteStore(Protocol):
    """Persist day notes (one per user and date) and mistake lists (one per user), version-guarded."""

    async def get_note(self, user_id: str, day: date) -> DayNote | None: ...

    async def insert_note(self, note: DayNote) -> bool:
        """Insert a new note; False when the user already has a note of that date."""
        ...

    async def replace_note(self, note: DayNote, expected_version: int) -> bool:
        """Store `note` if the stored note's version is `expected_version`; False when it is not."""
        ...

    async def delete_note(self, user_id: str, day: date, expected_version: int | None) -> bool:
        """Delete a note (of `expected_version` when given); False when no such note was there."""
        ...

    async def list_notes(
        self, user_id: str, start: date | None, end: date | None, before: date | None, limit: int
    ) -> list[DayNote]:
        """Return the user's notes dated in [start, end] and before `before`, newest first."""
        ...

    async def search_notes(self, user_id: str, query: str, before: date | None, limit: int) -> list[DayNote]:
        """Return the user's notes matching `query` (see `day_notes.note_matches`) before `before`, newest first."""
        ...

    async def get_mistake_tags(self, user_id: str) -> MistakeTags | None: ...

    async def put_mistake_tags(self, tags: MistakeTags, expected_version: int) -> bool:
        """Store the list if the stored version is `expected_version` (0: none stored); False when it is not."""
        ...
