"""An in-memory fake of the day-note store port (docs/decisions/0200)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from trademesh.services.trade.day_notes import DayNote, MistakeTags, note_matches


@dataclass
class InMemoryDayNoteStore:
    """The `DayNoteStore` port in two dicts."""

    notes: dict[tuple[str, date], DayNote] = field(default_factory=dict)
    tags: dict[str, MistakeTags] = field(default_factory=dict)

    async def get_note(self, user_id: str, day: date) -> DayNote | None:
        return self.notes.get((user_id, day))

    async def insert_note(self, note: DayNote) -> bool:
        if (note.user_id, note.day) in self.notes:
            return False
        self.notes[note.user_id, note.day] = note
        return True

    async def replace_note(self, note: DayNote, expected_version: int) -> bool:
        stored = self.notes.get((note.user_id, note.day))
        if stored is None or stored.version != expected_version:
            return False
        self.notes[note.user_id, note.day] = note
        return True

    async def delete_note(self, user_id: str, day: date, expected_version: int | None) -> bool:
        stored = self.notes.get((user_id, day))
        if stored is None or (expected_version is not None and stored.version != expected_version):
            return False
        del self.notes[user_id, day]
        return True

    def _newest_first(self, user_id: str, before: date | None) -> list[DayNote]:
        mine = [n for (user, _), n in self.notes.items() if user == user_id and (before is None or n.day < before)]
        return sorted(mine, key=lambda note: note.day, reverse=True)

    async def list_notes(
        self, user_id: str, start: date | None, end: date | None, before: date | None, limit: int
    ) -> list[DayNote]:
        notes = [
            n
            for n in self._newest_first(user_id, before)
            if (start is None or n.day >= start) and (end is None or n.day <= end)
        ]
        return notes[:limit]

    async def search_notes(self, user_id: str, query: str, before: date | None, limit: int) -> list[DayNote]:
        return [n for n in self._newest_first(user_id, before) if note_matches(n, query)][:limit]

    async def get_mistake_tags(self, user_id: str) -> MistakeTags | None:
        return self.tags.get(user_id)

    async def put_mistake_tags(self, tags: MistakeTags, expected_version: int) -> bool:
        stored = self.tags.get(tags.user_id)
        if (stored.version if stored else 0) != expected_version:
            return False
        self.tags[tags.user_id] = tags
        return True
