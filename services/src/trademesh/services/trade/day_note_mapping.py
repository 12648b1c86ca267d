"""Day notes: proto ⇄ model (docs/decisions/0200)."""

from __future__ import annotations

from trademesh.services.core.timestamps import timestamp
from trademesh.services.trade.day_notes import DayNote, MistakeTags, Mood, NoteContent
from trademesh.trade.v1 import day_note_pb2


def content_from_proto(note: day_note_pb2.DayNote) -> tuple[NoteContent, int | None]:
    """Return the content of a proto note and, when its mood is no known value, that value."""
    try:
        mood = Mood(note.mood)
    except ValueError:
        return NoteContent(note.text, Mood.UNSPECIFIED, tuple(note.mistakes), note.lessons), note.mood
    return NoteContent(note.text, mood, tuple(note.mistakes), note.lessons), None


def note_to_proto(note: DayNote) -> day_note_pb2.DayNote:
    """Return the proto of a stored note."""
    return day_note_pb2.DayNote(
        date=note.day.isoformat(),
        text=note.content.text,
        mood=int(note.content.mood),  # type: ignore[arg-type]
        mistakes=list(note.content.mistakes),
        lessons=note.content.lessons,
        etag=note.etag,
        create_time=timestamp(note.create_time),
        update_time=timestamp(note.update_time),
    )


def mistake_tags_to_proto(tags: MistakeTags) -> tuple[list[str], str]:
    """Return the (tags, etag) fields of a mistake-list response."""
    return list(tags.tags), tags.etag
