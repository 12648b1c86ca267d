"""The day-note RPCs of TradeService (docs/decisions/0200): proto ⇄ domain mapping and nothing else.

`TradeServicer` inherits them; they act on `self._day_notes` for the caller (the token's subject).
"""

from __future__ import annotations

from typing import Any

from grpc import aio

from trademesh.kernel.errors import FieldViolation, InvalidArgument
from trademesh.services.core.identity import current_principal
from trademesh.services.trade.day_note_mapping import content_from_proto, mistake_tags_to_proto, note_to_proto
from trademesh.services.trade.mapping import trades_to_proto
from trademesh.services.trade.service.day_notes import DayNoteService
from trademesh.trade.v1 import day_note_pb2

Context = aio.ServicerContext[Any, Any]


class DayNoteServicer:
    """Serve the day-note RPCs of trademesh.trade.v1.TradeService."""

    _day_notes: DayNoteService

    async def PutDayNote(
        self, request: day_note_pb2.PutDayNoteRequest, context: Context
    ) -> day_note_pb2.PutDayNoteResponse:
        user = current_principal().subject
        if not request.HasField("note"):
            raise InvalidArgument("note is required", [FieldViolation("note", "note is required")])
        content, bad_mood = content_from_proto(request.note)
        if bad_mood is not None:
            raise InvalidArgument("invalid day note", [FieldViolation("note.mood", f"unknown mood value {bad_mood}")])
        note = await self._day_notes.put(user, request.note.date, content, request.etag)
        return day_note_pb2.PutDayNoteResponse(note=note_to_proto(note))

    async def GetDayNote(
        self, request: day_note_pb2.GetDayNoteRequest, context: Context
    ) -> day_note_pb2.GetDayNoteResponse:
        view = await self._day_notes.get(current_principal().subject, request.date)
        return day_note_pb2.GetDayNoteResponse(
            note=note_to_proto(view.note), trades=trades_to_proto(view.trades), trades_truncated=view.truncated
        )

    async def ListDayNotes(
        self, request: day_note_pb2.ListDayNotesRequest, context: Context
    ) -> day_note_pb2.ListDayNotesResponse:
        notes, token = await self._day_notes.list_notes(
            current_principal().subject, request.start_date, request.end_date, request.page_size, request.page_token
        )
        return day_note_pb2.ListDayNotesResponse(notes=[note_to_proto(n) for n in notes], next_page_token=token)

    async def DeleteDayNote(
        self, request: day_note_pb2.DeleteDayNoteRequest, context: Context
    ) -> day_note_pb2.DeleteDayNoteResponse:
        await self._day_notes.delete(current_principal().subject, request.date, request.etag)
        return day_note_pb2.DeleteDayNoteResponse()

    async def SearchDayNotes(
        self, request: day_note_pb2.SearchDayNotesRequest, context: Context
    ) -> day_note_pb2.SearchDayNotesResponse:
        notes, token = await self._day_notes.search(
            current_principal().subject, request.query, request.page_size, request.page_token
        )
        return day_note_pb2.SearchDayNotesResponse(notes=[note_to_proto(n) for n in notes], next_page_token=token)

    async def ListMistakeTags(
        self, request: day_note_pb2.ListMistakeTagsRequest, context: Context
    ) -> day_note_pb2.ListMistakeTagsResponse:
        tags, etag = mistake_tags_to_proto(await self._day_notes.mistake_tags(current_principal().subject))
        return day_note_pb2.ListMistakeTagsResponse(tags=tags, etag=etag)

    async def PutMistakeTags(
        self, request: day_note_pb2.PutMistakeTagsRequest, context: Context
    ) -> day_note_pb2.PutMistakeTagsResponse:
        stored = await self._day_notes.put_mistake_tags(current_principal().subject, list(request.tags), request.etag)
        tags, etag = mistake_tags_to_proto(stored)
        return day_note_pb2.PutMistakeTagsResponse(tags=tags, etag=etag)
