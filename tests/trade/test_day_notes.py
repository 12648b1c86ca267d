"""Day notes through a real trade service and FerretDB (docs/decisions/0200): isolation, etags, limits, dates,
linked trades, paging and search."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import grpc

from tests.conftest import MeshUser
from tests.rpc import expect_failure
from tests.trade.conftest import RunningTrade, create, equity_trade
from trademesh.kernel.calendar import IST
from trademesh.trade.v1 import day_note_pb2

NewUser = Callable[[], Awaitable[MeshUser]]


def today_ist() -> date:
    return datetime.now(UTC).astimezone(IST).date()


def note(day: date | str, text: str = "A calm day.", *, mistakes: tuple[str, ...] = ("fomo",), **extra: Any) -> Any:
    return day_note_pb2.DayNote(
        date=day if isinstance(day, str) else day.isoformat(),
        text=text,
        mood=extra.pop("mood", day_note_pb2.MOOD_GOOD),
        mistakes=list(mistakes),
        lessons=extra.pop("lessons", "Wait for the setup."),
        **extra,
    )


async def put(trade: RunningTrade, user: MeshUser, message: Any, etag: str = "") -> Any:
    response = await trade.stub.PutDayNote(
        day_note_pb2.PutDayNoteRequest(note=message, etag=etag), metadata=user.metadata
    )
    return response.note


async def test_a_note_round_trips_with_its_days_trades_and_stays_private(
    trade: RunningTrade, new_user: NewUser, trade_db: Any
) -> None:
    alice, bob = await new_user(), await new_user()
    day = today_ist() - timedelta(days=3)
    # 22:00 UTC of the day before is 03:30 IST of `day`: the trade belongs to `day`.
    early = datetime.combine(day, datetime.min.time(), UTC) - timedelta(hours=2)
    linked = await create(trade.stub, alice.metadata, equity_trade(when=early))
    await create(trade.stub, alice.metadata, equity_trade(when=early - timedelta(hours=4)))
    await create(trade.stub, bob.metadata, equity_trade(when=early + timedelta(hours=6)))

    stored = await put(trade, alice, note(day, "# Plan\nHeld **INFY**."))
    assert (stored.date, stored.etag, list(stored.mistakes)) == (day.isoformat(), "v1", ["fomo"])
    got = await trade.stub.GetDayNote(day_note_pb2.GetDayNoteRequest(date=day.isoformat()), metadata=alice.metadata)
    assert got.note == stored
    assert [t.id for t in got.trades] == [linked.id]
    assert not got.trades_truncated
    document = await trade_db.day_notes.find_one({"user_id": alice.user_id})
    assert (document["date"], document["text"], document["version"]) == (day.isoformat(), "# Plan\nHeld **INFY**.", 1)

    for call in (
        trade.stub.GetDayNote(day_note_pb2.GetDayNoteRequest(date=day.isoformat()), metadata=bob.metadata),
        trade.stub.DeleteDayNote(day_note_pb2.DeleteDayNoteRequest(date=day.isoformat()), metadata=bob.metadata),
    ):
        failure = await expect_failure(call)
        assert (failure.code, failure.reason) == (grpc.StatusCode.NOT_FOUND, "DAY_NOTE_NOT_FOUND")
    listed = await trade.stub.ListDayNotes(day_note_pb2.ListDayNotesRequest(), metadata=bob.metadata)
    searched = await trade.stub.SearchDayNotes(day_note_pb2.SearchDayNotesRequest(query="INFY"), metadata=bob.metadata)
    assert (list(listed.notes), list(searched.notes)) == ([], [])
    blind = await expect_failure(put(trade, bob, note(day), "v1"))
    assert (blind.code, blind.reason) == (grpc.StatusCode.ABORTED, "ETAG_MISMATCH")
    assert await trade_db.day_notes.count_documents({"user_id": bob.user_id}) == 0


async def test_a_stale_etag_is_aborted_and_the_winner_is_kept(trade: RunningTrade, new_user: NewUser) -> None:
    user = await new_user()
    day = today_ist()
    first = await put(trade, user, note(day))
    second = await put(trade, user, note(day, "edited on the phone"), first.etag)
    assert second.etag == "v2"
    for etag in (first.etag, ""):
        failure = await expect_failure(put(trade, user, note(day, "edited on the laptop"), etag))
        assert (failure.code, failure.reason) == (grpc.StatusCode.ABORTED, "ETAG_MISMATCH")
    stale_delete = await expect_failure(
        trade.stub.DeleteDayNote(
            day_note_pb2.DeleteDayNoteRequest(date=day.isoformat(), etag="v1"), metadata=user.metadata
        )
    )
    assert stale_delete.code == grpc.StatusCode.ABORTED
    got = await trade.stub.GetDayNote(day_note_pb2.GetDayNoteRequest(date=day.isoformat()), metadata=user.metadata)
    assert got.note.text == "edited on the phone"
    await trade.stub.DeleteDayNote(
        day_note_pb2.DeleteDayNoteRequest(date=day.isoformat(), etag="v2"), metadata=user.metadata
    )
    gone = await expect_failure(
        trade.stub.GetDayNote(day_note_pb2.GetDayNoteRequest(date=day.isoformat()), metadata=user.metadata)
    )
    assert gone.code == grpc.StatusCode.NOT_FOUND


async def test_bad_input_is_invalid_argument_naming_each_field(trade: RunningTrade, new_user: NewUser) -> None:
    user = await new_user()
    tomorrow = (today_ist() + timedelta(days=1)).isoformat()
    cases: list[tuple[Any, dict[str, str]]] = [
        (note("2026-02-30"), {"note.date": "real date"}),
        (note(tomorrow), {"note.date": "after today"}),
        (note("1999-12-31"), {"note.date": "on or after"}),
        (note(today_ist(), "x" * 20_001, lessons="y" * 5_001), {"note.text": "20,000", "note.lessons": "5,000"}),
        (note(today_ist(), mistakes=("fomo", "not-on-my-list")), {"note.mistakes[1]": "unknown mistake tag"}),
        (note(today_ist(), mood=9), {"note.mood": "unknown mood"}),
    ]
    for message, expected in cases:
        failure = await expect_failure(put(trade, user, message))
        assert failure.code == grpc.StatusCode.INVALID_ARGUMENT, message
        assert set(failure.violations) == set(expected), failure.violations
        for name, words in expected.items():
            assert words in failure.violations[name]
    assert (await put(trade, user, note(today_ist(), "x" * 20_000))).text == "x" * 20_000
    for request, name in (
        (day_note_pb2.GetDayNoteRequest(date="not-a-date"), "date"),
        (day_note_pb2.ListDayNotesRequest(start_date="2026-01-10", end_date="2026-01-01"), "start_date"),
        (day_note_pb2.ListDayNotesRequest(page_size=-1), "page_size"),
        (day_note_pb2.ListDayNotesRequest(page_token="forged"), "page_token"),
        (day_note_pb2.SearchDayNotesRequest(query=""), "query"),
        (day_note_pb2.SearchDayNotesRequest(query="q" * 101), "query"),
        (day_note_pb2.PutMistakeTagsRequest(tags=["ok", "x" * 41, "no!", "OK"]), "tags[1]"),
        (day_note_pb2.PutMistakeTagsRequest(tags=[f"t{i}" for i in range(51)]), "tags"),
    ):
        method: Any = {
            "GetDayNoteRequest": trade.stub.GetDayNote,
            "ListDayNotesRequest": trade.stub.ListDayNotes,
            "SearchDayNotesRequest": trade.stub.SearchDayNotes,
            "PutMistakeTagsRequest": trade.stub.PutMistakeTags,
        }[type(request).__name__]
        failure = await expect_failure(method(request, metadata=user.metadata))
        assert failure.code == grpc.StatusCode.INVALID_ARGUMENT, request
        assert name in failure.violations, (request, failure.violations)


async def test_mistake_lists_are_per_user_and_guard_notes(trade: RunningTrade, new_user: NewUser) -> None:
    alice, bob = await new_user(), await new_user()
    default = await trade.stub.ListMistakeTags(day_note_pb2.ListMistakeTagsRequest(), metadata=alice.metadata)
    assert "fomo" in default.tags
    assert default.etag == "v0"
    stored = await trade.stub.PutMistakeTags(
        day_note_pb2.PutMistakeTagsRequest(tags=["Greed", "sized  up"], etag="v0"), metadata=alice.metadata
    )
    assert (list(stored.tags), stored.etag) == (["greed", "sized up"], "v1")
    stale = await expect_failure(
        trade.stub.PutMistakeTags(day_note_pb2.PutMistakeTagsRequest(tags=["x"], etag="v0"), metadata=alice.metadata)
    )
    assert (stale.code, stale.reason) == (grpc.StatusCode.ABORTED, "ETAG_MISMATCH")
    bobs = await trade.stub.ListMistakeTags(day_note_pb2.ListMistakeTagsRequest(), metadata=bob.metadata)
    assert "greed" not in bobs.tags
    assert list((await put(trade, alice, note(today_ist(), mistakes=("greed",)))).mistakes) == ["greed"]
    unknown = await expect_failure(put(trade, bob, note(today_ist(), mistakes=("greed",))))
    assert unknown.violations.keys() == {"note.mistakes[0]"}


async def test_list_pages_by_date_and_search_finds_literal_text(trade: RunningTrade, new_user: NewUser) -> None:
    user, other = await new_user(), await new_user()
    start = today_ist() - timedelta(days=30)
    for offset in range(7):
        text = f"Day {offset}: traded the gap (up)" if offset % 2 == 0 else f"Day {offset}: patient"
        await put(trade, user, note(start + timedelta(days=offset), text, mistakes=()))
    await put(trade, other, note(start, "the gap (up) too", mistakes=()))
    await put(trade, user, note(start + timedelta(days=20), "quiet", mistakes=("revenge trade",), lessons="GAP fills"))

    dates: list[str] = []
    token = ""
    while True:
        page = await trade.stub.ListDayNotes(
            day_note_pb2.ListDayNotesRequest(
                start_date=(start + timedelta(days=1)).isoformat(),
                end_date=(start + timedelta(days=5)).isoformat(),
                page_size=2,
                page_token=token,
            ),
            metadata=user.metadata,
        )
        dates.extend(n.date for n in page.notes)
        token = page.next_page_token
        if not token:
            break
    assert dates == [(start + timedelta(days=d)).isoformat() for d in range(5, 0, -1)]

    async def search(query: str, **extra: Any) -> Any:
        return await trade.stub.SearchDayNotes(
            day_note_pb2.SearchDayNotesRequest(query=query, **extra), metadata=user.metadata
        )

    found = await search("GAP (UP)")
    assert [n.date for n in found.notes] == [(start + timedelta(days=d)).isoformat() for d in (6, 4, 2, 0)]
    assert [n.date for n in (await search("gap fills")).notes] == [(start + timedelta(days=20)).isoformat()]
    assert [n.date for n in (await search("Revenge Trade")).notes] == [(start + timedelta(days=20)).isoformat()]
    assert list((await search(".*")).notes) == []
    first = await search("gap", page_size=3)
    rest = await search("gap", page_size=3, page_token=first.next_page_token)
    assert len(first.notes) == 3
    assert len(rest.notes) == 2
    assert rest.next_page_token == ""
    wrong_query = await expect_failure(search("patient", page_token=first.next_page_token))
    assert wrong_query.reason == "PAGE_TOKEN_INVALID"
