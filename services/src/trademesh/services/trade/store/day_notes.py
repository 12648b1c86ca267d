"""MongoDB adapter of the day-note store (`MongoDayNoteStore`, docs/decisions/0200).

A note is one document in `day_notes`, `_id` = "<user id>/<YYYY-MM-DD>", so a user has at most one note per
date and a write never needs more than one document. Dates are stored as ISO strings: they sort and compare
as dates. A mistake list is one document in `mistake_tags`, `_id` = user id. Writes are guarded by `version`
(compare-and-set in the filter of a single-document write, which MongoDB and FerretDB apply atomically).

Search uses only what MongoDB and FerretDB v1 both support: `$or` of a case-insensitive `$regex` over `text`
and `lessons` (the query escaped, so it is a literal) and equality on the `mistakes` array, within one
user's notes, newest first, with a limit. It scans the user's notes (at most one per date); no text index.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from trademesh.services.core.connections import ensure_collections
from trademesh.services.trade.day_notes import DayNote, MistakeTags, Mood, NoteContent, normalize_tag

Document = dict[str, Any]

_REGEX_SPECIAL = set("\\^$.|?*+()[]{}")


def literal_pattern(text: str) -> str:
    """Return a regular expression matching `text` literally (valid for PCRE, MongoDB, and RE2, FerretDB)."""
    return "".join("\\" + char if char in _REGEX_SPECIAL else char for char in text)


async def ensure_day_note_indexes(database: AsyncDatabase[Document]) -> None:
    """Create the day-note collections and their index (idempotent; run at start-up)."""
    await ensure_collections(database, ["day_notes", "mistake_tags"])
    await database.day_notes.create_index([("user_id", ASCENDING), ("date", DESCENDING)], name="day_notes_user_date")


def _note_id(user_id: str, day: date) -> str:
    return f"{user_id}/{day.isoformat()}"


def note_to_document(note: DayNote) -> Document:
    """Return the stored shape of a note."""
    return {
        "_id": _note_id(note.user_id, note.day),
        "user_id": note.user_id,
        "date": note.day.isoformat(),
        "text": note.content.text,
        "mood": int(note.content.mood),
        "mistakes": list(note.content.mistakes),
        "lessons": note.content.lessons,
        "version": note.version,
        "create_time": note.create_time,
        "update_time": note.update_time,
    }


def note_from_document(document: Document) -> DayNote:
    """Return the note a stored document holds."""
    return DayNote(
        user_id=str(document["user_id"]),
        day=date.fromisoformat(str(document["date"])),
        content=NoteContent(
            text=str(document.get("text", "")),
            mood=Mood(int(document.get("mood", 0))),
            mistakes=tuple(str(tag) for tag in document.get("mistakes", [])),
            lessons=str(document.get("lessons", "")),
        ),
        version=int(document["version"]),
        create_time=document["create_time"],
        update_time=document["update_time"],
    )


class MongoDayNoteStore:
    """Day notes in `day_notes` and mistake lists in `mistake_tags`."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._notes = database.day_notes
        self._tags = database.mistake_tags

    async def get_note(self, user_id: str, day: date) -> DayNote | None:
        document = await self._notes.find_one({"_id": _note_id(user_id, day)})
        return note_from_document(document) if document is not None else None

    async def insert_note(self, note: DayNote) -> bool:
        try:
            await self._notes.insert_one(note_to_document(note))
        except DuplicateKeyError:
            return False
        return True

    async def replace_note(self, note: DayNote, expected_version: int) -> bool:
        result = await self._notes.replace_one(
            {"_id": _note_id(note.user_id, note.day), "version": expected_version}, note_to_document(note)
        )
        return result.matched_count == 1

    async def delete_note(self, user_id: str, day: date, expected_version: int | None) -> bool:
        query: Document = {"_id": _note_id(user_id, day)}
        if expected_version is not None:
            query["version"] = expected_version
        result = await self._notes.delete_one(query)
        return result.deleted_count == 1

    async def _find(self, query: Document, limit: int) -> list[DayNote]:
        cursor = self._notes.find(query).sort([("date", DESCENDING)]).limit(limit)
        return [note_from_document(document) async for document in cursor]

    async def list_notes(
        self, user_id: str, start: date | None, end: date | None, before: date | None, limit: int
    ) -> list[DayNote]:
        dates: Document = {}
        if start is not None:
            dates["$gte"] = start.isoformat()
        if end is not None:
            dates["$lte"] = end.isoformat()
        if before is not None:
            upper = before.isoformat()
            dates["$lt"] = upper
            if "$lte" in dates and dates["$lte"] >= upper:
                del dates["$lte"]
        query: Document = {"user_id": user_id}
        if dates:
            query["date"] = dates
        return await self._find(query, limit)

    async def search_notes(self, user_id: str, query: str, before: date | None, limit: int) -> list[DayNote]:
        pattern = {"$regex": literal_pattern(query), "$options": "i"}
        filters: Document = {
            "user_id": user_id,
            "$or": [{"text": pattern}, {"lessons": pattern}, {"mistakes": normalize_tag(query)}],
        }
        if before is not None:
            filters["date"] = {"$lt": before.isoformat()}
        return await self._find(filters, limit)

    async def get_mistake_tags(self, user_id: str) -> MistakeTags | None:
        document = await self._tags.find_one({"_id": user_id})
        if document is None:
            return None
        return MistakeTags(user_id, tuple(str(tag) for tag in document["tags"]), int(document["version"]))

    async def put_mistake_tags(self, tags: MistakeTags, expected_version: int) -> bool:
        document = {"_id": tags.user_id, "tags": list(tags.tags), "version": tags.version}
        if expected_version == 0:
            try:
                await self._tags.insert_one(document)
            except DuplicateKeyError:
                return False
            return True
        result = await self._tags.replace_one({"_id": tags.user_id, "version": expected_version}, document)
        return result.matched_count == 1
