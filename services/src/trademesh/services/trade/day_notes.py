"""Day notes (docs/decisions/0200): one journal entry per IST trading date and the user's mistake list.

Entities with their rules: what a valid date, note and mistake list is. Pure: no gRPC, database or Redis.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import IntEnum

from trademesh.kernel.calendar import ist_day
from trademesh.kernel.errors import Aborted, FieldViolation, NotFound

#: The earliest date a note may have (older dates are typos, not journals).
FIRST_NOTE_DATE = date(2000, 1, 1)
MAX_TEXT_CHARS = 20_000
MAX_LESSONS_CHARS = 5_000
MAX_NOTE_MISTAKES = 20
MAX_MISTAKE_TAGS = 50
MAX_TAG_CHARS = 40
MAX_QUERY_CHARS = 100
#: At most this many of a day's trades come with its note.
MAX_DAY_TRADES = 500
#: The mistake list of a user who has not set one.
DEFAULT_MISTAKE_TAGS: tuple[str, ...] = (
    "fomo",
    "revenge trade",
    "overtrading",
    "oversized",
    "no stop-loss",
    "moved stop-loss",
    "early exit",
    "late entry",
    "chased price",
    "ignored plan",
)

_TAG_PATTERN = re.compile(r"^[\w \-]+$")


class Mood(IntEnum):
    """How the day felt, worst (1) to best (5); 0 means not recorded."""

    UNSPECIFIED = 0
    AWFUL = 1
    BAD = 2
    NEUTRAL = 3
    GOOD = 4
    GREAT = 5


@dataclass(frozen=True, slots=True)
class NoteContent:
    """What a user writes in a note (validated by `check_content`)."""

    text: str = ""
    mood: Mood = Mood.UNSPECIFIED
    mistakes: tuple[str, ...] = ()
    lessons: str = ""


@dataclass(frozen=True, slots=True)
class DayNote:
    """One user's note of one IST date, with its version (etag `v<version>`)."""

    user_id: str
    day: date
    content: NoteContent
    version: int
    create_time: datetime
    update_time: datetime

    @property
    def etag(self) -> str:
        """Return the opaque concurrency token of this version."""
        return f"v{self.version}"


@dataclass(frozen=True, slots=True)
class MistakeTags:
    """A user's mistake list; version 0 is the default list nobody stored yet."""

    user_id: str
    tags: tuple[str, ...] = DEFAULT_MISTAKE_TAGS
    version: int = 0

    @property
    def etag(self) -> str:
        """Return the opaque concurrency token of this version."""
        return f"v{self.version}"


@dataclass(frozen=True, slots=True)
class NoteCursor:
    """Keyset position after the last note of a page (notes are listed newest date first)."""

    day: date


def parse_day(text: str, name: str, today: date, violations: list[FieldViolation]) -> date | None:
    """Return the date in `text` ("YYYY-MM-DD", from 2000-01-01 to `today`), or record why it is not one."""
    value = text.strip()
    if not value:
        violations.append(FieldViolation(name, f"{name} is required (YYYY-MM-DD)"))
        return None
    try:
        if len(value) != 10:
            raise ValueError(value)
        day = date.fromisoformat(value)
    except ValueError:
        violations.append(FieldViolation(name, f"{name} must be a real date in YYYY-MM-DD form"))
        return None
    if day < FIRST_NOTE_DATE:
        violations.append(FieldViolation(name, f"{name} must be on or after {FIRST_NOTE_DATE.isoformat()}"))
        return None
    if day > today:
        violations.append(FieldViolation(name, f"{name} must not be after today in IST ({today.isoformat()})"))
        return None
    return day


def today_ist(now: datetime) -> date:
    """Return today's date in IST."""
    return ist_day(now)


def normalize_tag(text: str) -> str:
    """Return a tag as stored: trimmed, inner spaces collapsed, lower case."""
    return " ".join(text.split()).casefold()


def tag_violation(tag: str, name: str) -> FieldViolation | None:
    """Return why a normalized tag is not a valid mistake tag, or None."""
    if not tag:
        return FieldViolation(name, "tag must not be empty")
    if len(tag) > MAX_TAG_CHARS:
        return FieldViolation(name, f"tag must be at most {MAX_TAG_CHARS} characters")
    if not _TAG_PATTERN.fullmatch(tag):
        return FieldViolation(name, "tag may hold letters, digits, spaces, '-' and '_' only")
    return None


def check_mistake_tags(raw: list[str]) -> tuple[tuple[str, ...], list[FieldViolation]]:
    """Return the normalized mistake list and every violation (count, length, characters, repeats)."""
    violations: list[FieldViolation] = []
    if len(raw) > MAX_MISTAKE_TAGS:
        violations.append(FieldViolation("tags", f"at most {MAX_MISTAKE_TAGS} tags"))
    tags: list[str] = []
    for index, text in enumerate(raw[: MAX_MISTAKE_TAGS + 1]):
        tag = normalize_tag(text)
        name = f"tags[{index}]"
        if violation := tag_violation(tag, name):
            violations.append(violation)
        elif tag in tags:
            violations.append(FieldViolation(name, f"tag {tag!r} is listed twice"))
        else:
            tags.append(tag)
    return tuple(tags), violations


def _has_control(text: str) -> bool:
    return any(ord(char) < 32 and char not in "\n\r\t" for char in text) or "\x7f" in text


def check_content(
    content: NoteContent, allowed: tuple[str, ...], kept: tuple[str, ...], violations: list[FieldViolation]
) -> NoteContent:
    """Return the content normalized, recording every violation.

    A mistake must be in the user's list (`allowed`) or already on the stored note (`kept`): removing a tag
    from the list never makes an old note unsaveable.
    """
    if len(content.text) > MAX_TEXT_CHARS:
        violations.append(FieldViolation("note.text", f"at most {MAX_TEXT_CHARS:,} characters"))
    elif _has_control(content.text):
        violations.append(FieldViolation("note.text", "must not contain control characters"))
    if len(content.lessons) > MAX_LESSONS_CHARS:
        violations.append(FieldViolation("note.lessons", f"at most {MAX_LESSONS_CHARS:,} characters"))
    elif _has_control(content.lessons):
        violations.append(FieldViolation("note.lessons", "must not contain control characters"))
    if len(content.mistakes) > MAX_NOTE_MISTAKES:
        violations.append(FieldViolation("note.mistakes", f"at most {MAX_NOTE_MISTAKES} mistakes"))
    mistakes: list[str] = []
    for index, text in enumerate(content.mistakes[: MAX_NOTE_MISTAKES + 1]):
        tag = normalize_tag(text)
        name = f"note.mistakes[{index}]"
        if tag in mistakes:
            violations.append(FieldViolation(name, f"mistake {tag!r} is listed twice"))
        elif tag not in allowed and tag not in kept:
            violations.append(FieldViolation(name, f"unknown mistake tag {text[:MAX_TAG_CHARS]!r}: not in your list"))
        else:
            mistakes.append(tag)
    return NoteContent(content.text, content.mood, tuple(mistakes), content.lessons)


def note_matches(note: DayNote, query: str) -> bool:
    """Tell whether a note matches a search query (what the store's query does, for fakes and checks)."""
    needle = query.casefold()
    return (
        needle in note.content.text.casefold()
        or needle in note.content.lessons.casefold()
        or normalize_tag(query) in note.content.mistakes
    )


def note_not_found() -> NotFound:
    """Return the one error every missing (or another user's) note gives."""
    return NotFound("no note for this date", reason="DAY_NOTE_NOT_FOUND")


def etag_mismatch(what: str = "note") -> Aborted:
    """Return the error of a write guarded by a stale etag (or that lost a race)."""
    return Aborted(f"the {what} changed since it was read; re-read and retry", reason="ETAG_MISMATCH")
