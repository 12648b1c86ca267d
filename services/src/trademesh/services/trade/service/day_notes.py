"""Day-note use cases (docs/decisions/0200): write, read, list, search and delete one user's notes of IST
trading dates, and keep the user's mistake list. A note links to its day's trades by their IST trading date.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from trademesh.kernel.errors import FieldViolation, InvalidArgument, check_fields
from trademesh.kernel.requests import check_page_size
from trademesh.services.core.page_tokens import page_token_invalid
from trademesh.services.trade.day_note_ports import DayNoteStore
from trademesh.services.trade.day_notes import (
    MAX_DAY_TRADES,
    MAX_QUERY_CHARS,
    DayNote,
    MistakeTags,
    NoteContent,
    check_content,
    check_mistake_tags,
    etag_mismatch,
    note_not_found,
    parse_day,
    today_ist,
)
from trademesh.services.trade.model import Trade, content_hash, now_millis, user_tag
from trademesh.services.trade.ports import TokenCodec, TradeStore

DEFAULT_NOTE_PAGE_SIZE = 50
MAX_NOTE_PAGE_SIZE = 366
DEFAULT_SEARCH_PAGE_SIZE = 20
MAX_SEARCH_PAGE_SIZE = 100


def _version_of(etag: str, name: str = "etag") -> int:
    text = etag.strip()
    if len(text) < 2 or text[0] != "v" or not text[1:].isdigit() or len(text) > 20:
        raise InvalidArgument(f"{name} is malformed", [FieldViolation(name, "not an etag this service issued")])
    return int(text[1:])


@dataclass(frozen=True, slots=True)
class DayView:
    """A note with the trades of its day (oldest first) and whether there were more than shown."""

    note: DayNote
    trades: list[Trade]
    truncated: bool


@dataclass
class DayNoteService:
    """The day-note use cases, wired to their ports."""

    notes: DayNoteStore
    trades: TradeStore
    codec: TokenCodec
    clock: Callable[[], datetime] = field(default=now_millis)

    def _day(self, text: str, name: str) -> date:
        violations: list[FieldViolation] = []
        day = parse_day(text, name, today_ist(self.clock()), violations)
        check_fields(violations, f"invalid {name}")
        assert day is not None
        return day

    async def mistake_tags(self, user_id: str) -> MistakeTags:
        """Return the user's mistake list (the default list until the user stores one)."""
        return await self.notes.get_mistake_tags(user_id) or MistakeTags(user_id)

    async def put_mistake_tags(self, user_id: str, raw: list[str], etag: str) -> MistakeTags:
        """Replace the user's mistake list, guarded by its etag when one is given."""
        tags, violations = check_mistake_tags(raw)
        check_fields(violations, "invalid mistake tags")
        current = await self.mistake_tags(user_id)
        if etag and _version_of(etag) != current.version:
            raise etag_mismatch("mistake list")
        stored = MistakeTags(user_id, tags, current.version + 1)
        if not await self.notes.put_mistake_tags(stored, current.version):
            raise etag_mismatch("mistake list")
        return stored

    async def put(self, user_id: str, day_text: str, content: NoteContent, etag: str) -> DayNote:
        """Create (empty etag) or replace (the stored note's etag) the user's note of one date."""
        violations: list[FieldViolation] = []
        day = parse_day(day_text, "note.date", today_ist(self.clock()), violations)
        expected = _version_of(etag) if etag else None
        stored = await self.notes.get_note(user_id, day) if day is not None else None
        allowed = (await self.mistake_tags(user_id)).tags
        kept = stored.content.mistakes if stored is not None else ()
        content = check_content(content, allowed, kept, violations)
        check_fields(violations, "invalid day note")
        assert day is not None
        now = self.clock()
        if expected is None:
            if stored is not None:
                raise etag_mismatch()
            note = DayNote(user_id, day, content, 1, now, now)
            if not await self.notes.insert_note(note):
                raise etag_mismatch()
            return note
        if stored is None or stored.version != expected:
            raise etag_mismatch()
        if stored.content == content:
            return stored
        note = replace(stored, content=content, version=stored.version + 1, update_time=now)
        if not await self.notes.replace_note(note, expected):
            raise etag_mismatch()
        return note

    async def get(self, user_id: str, day_text: str) -> DayView:
        """Return the user's note of one date with the trades of that IST day."""
        day = self._day(day_text, "date")
        note = await self.notes.get_note(user_id, day)
        if note is None:
            raise note_not_found()
        trades = sorted(
            await self.trades.trades_between(user_id, day, day),
            key=lambda trade: (trade.fields.trade_time, trade.exec_seq, trade.id),
        )
        return DayView(note, trades[:MAX_DAY_TRADES], len(trades) > MAX_DAY_TRADES)

    async def delete(self, user_id: str, day_text: str, etag: str) -> None:
        """Delete the user's note of one date (guarded by its etag when one is given)."""
        day = self._day(day_text, "date")
        expected = _version_of(etag) if etag else None
        if await self.notes.delete_note(user_id, day, expected):
            return
        if expected is not None and await self.notes.get_note(user_id, day) is not None:
            raise etag_mismatch()
        raise note_not_found()

    def _cursor(self, user_id: str, kind: str, filter_tag: str, page_token: str) -> date | None:
        if not page_token:
            return None
        payload = self.codec.decode(page_token)
        if (
            payload is None
            or payload.get("k") != kind
            or payload.get("u") != user_tag(user_id)
            or payload.get("f") != filter_tag
        ):
            raise page_token_invalid()
        try:
            return date.fromisoformat(str(payload["d"]))
        except (KeyError, ValueError):
            raise page_token_invalid() from None

    def _next(self, user_id: str, kind: str, filter_tag: str, notes: list[DayNote], size: int) -> str:
        if len(notes) <= size:
            return ""
        last = notes[size - 1]
        return self.codec.encode({"k": kind, "u": user_tag(user_id), "f": filter_tag, "d": last.day.isoformat()})

    async def list_notes(
        self, user_id: str, start_text: str, end_text: str, page_size: int, page_token: str
    ) -> tuple[list[DayNote], str]:
        """Return one page of the user's notes dated in [start, end], newest first, and the next page token."""
        size = check_page_size(page_size, DEFAULT_NOTE_PAGE_SIZE, MAX_NOTE_PAGE_SIZE)
        violations: list[FieldViolation] = []
        today = today_ist(self.clock())
        start = parse_day(start_text, "start_date", today, violations) if start_text.strip() else None
        # An end date after today is allowed here: it only bounds a range.
        end = None
        if end_text.strip():
            try:
                end = date.fromisoformat(end_text.strip()) if len(end_text.strip()) == 10 else None
            except ValueError:
                end = None
            if end is None:
                violations.append(FieldViolation("end_date", "end_date must be a real date in YYYY-MM-DD form"))
        if start and end and start > end:
            violations.append(FieldViolation("start_date", "start_date must not be after end_date"))
        check_fields(violations, "invalid date range")
        filter_tag = content_hash(start, end)[:16]
        before = self._cursor(user_id, "notes", filter_tag, page_token)
        notes = await self.notes.list_notes(user_id, start, end, before, size + 1)
        return notes[:size], self._next(user_id, "notes", filter_tag, notes, size)

    async def search(self, user_id: str, query: str, page_size: int, page_token: str) -> tuple[list[DayNote], str]:
        """Return one page of the user's notes matching `query`, newest first, and the next page token."""
        size = check_page_size(page_size, DEFAULT_SEARCH_PAGE_SIZE, MAX_SEARCH_PAGE_SIZE)
        text = query.strip()
        if not text or len(text) > MAX_QUERY_CHARS:
            raise InvalidArgument(
                "invalid search query",
                [FieldViolation("query", f"query must hold 1 to {MAX_QUERY_CHARS} characters")],
            )
        filter_tag = content_hash(text.casefold())[:16]
        before = self._cursor(user_id, "note-search", filter_tag, page_token)
        notes = await self.notes.search_notes(user_id, text, before, size + 1)
        return notes[:size], self._next(user_id, "note-search", filter_tag, notes, size)
