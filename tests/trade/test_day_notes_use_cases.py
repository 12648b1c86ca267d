"""Day-note use cases against in-memory fakes (docs/decisions/0200): validation, etags, paging, search, tags."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from trademesh.kernel.errors import Aborted, InvalidArgument, NotFound
from trademesh.kernel.instruments import Exchange, Side
from trademesh.services.core.page_tokens import Codec
from trademesh.services.trade.day_notes import DEFAULT_MISTAKE_TAGS, MAX_MISTAKE_TAGS, Mood, NoteContent
from trademesh.services.trade.model import TradeFields
from trademesh.services.trade.server import bootstrap
from trademesh.services.trade.service.day_notes import DayNoteService
from trademesh.services.trade.settings import TradeSettings

from .day_note_fakes import InMemoryDayNoteStore
from .fakes import CountingRateLimiter, InMemoryTradeStore, ManualClock, RecordingEventSink

ALICE = "user-alice"
BOB = "user-bob"
TODAY = "2026-03-02"  # ManualClock starts at 2026-03-02 06:00 UTC = 11:30 IST


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def trades() -> InMemoryTradeStore:
    return InMemoryTradeStore()


@pytest.fixture
def notes() -> InMemoryDayNoteStore:
    return InMemoryDayNoteStore()


@pytest.fixture
def service(notes: InMemoryDayNoteStore, trades: InMemoryTradeStore, clock: ManualClock) -> DayNoteService:
    return DayNoteService(notes, trades, Codec(b"day-note-use-case-secret-0123456789"), clock)


def content(text: str = "Calm day.", **changes: object) -> NoteContent:
    values: dict[str, object] = {"text": text, "mood": Mood.GOOD, "mistakes": ("fomo",), "lessons": "Wait."}
    values.update(changes)
    return NoteContent(**values)  # type: ignore[arg-type]


def fields_of(error: pytest.ExceptionInfo[InvalidArgument]) -> list[str]:
    return [violation.field for violation in error.value.violations]


async def test_put_creates_then_replaces_with_the_etag(service: DayNoteService, notes: InMemoryDayNoteStore) -> None:
    first = await service.put(ALICE, TODAY, content(), "")
    assert (first.version, first.etag, first.content.mistakes) == (1, "v1", ("fomo",))
    second = await service.put(ALICE, TODAY, content("Less calm.", mood=Mood.BAD), first.etag)
    assert (second.version, second.content.text, second.content.mood) == (2, "Less calm.", Mood.BAD)
    assert second.create_time == first.create_time
    assert notes.notes[ALICE, date(2026, 3, 2)] == second


async def test_an_unchanged_put_keeps_the_version(service: DayNoteService) -> None:
    first = await service.put(ALICE, TODAY, content(), "")
    assert await service.put(ALICE, TODAY, content(), first.etag) == first


async def test_a_stale_etag_or_a_blind_create_over_a_note_is_aborted(service: DayNoteService) -> None:
    first = await service.put(ALICE, TODAY, content(), "")
    await service.put(ALICE, TODAY, content("edited elsewhere"), first.etag)
    with pytest.raises(Aborted) as stale:
        await service.put(ALICE, TODAY, content("mine"), first.etag)
    with pytest.raises(Aborted) as blind:
        await service.put(ALICE, TODAY, content("mine"), "")
    assert stale.value.reason == blind.value.reason == "ETAG_MISMATCH"


@pytest.mark.parametrize(
    ("day", "why"),
    [
        ("2026-02-30", "real date"),
        ("2026-3-2", "real date"),
        ("yesterday", "real date"),
        ("", "required"),
        ("1999-12-31", "on or after"),
        ("2026-03-03", "after today"),
    ],
)
async def test_bad_dates_are_invalid_arguments_naming_the_field(service: DayNoteService, day: str, why: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        await service.put(ALICE, day, content(), "")
    assert fields_of(error) == ["note.date"]
    assert why in error.value.violations[0].description


async def test_today_is_the_ist_date_not_the_utc_one(service: DayNoteService, clock: ManualClock) -> None:
    clock.now = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)  # 00:30 IST on 3 March
    note = await service.put(ALICE, "2026-03-03", content(), "")
    assert note.day == date(2026, 3, 3)


async def test_limits_and_unknown_mistakes_report_every_field(service: DayNoteService) -> None:
    with pytest.raises(InvalidArgument) as error:
        await service.put(
            ALICE, TODAY, content("x" * 20_001, lessons="y" * 5_001, mistakes=("fomo", "greed", "FOMO")), ""
        )
    assert fields_of(error) == ["note.text", "note.lessons", "note.mistakes[1]", "note.mistakes[2]"]
    assert "unknown mistake tag 'greed'" in error.value.violations[2].description
    assert (await service.put(ALICE, TODAY, content("x" * 20_000), "")).content.text == "x" * 20_000


async def test_get_links_the_ist_days_trades_and_hides_other_users_notes(
    service: DayNoteService, trades: InMemoryTradeStore, clock: ManualClock
) -> None:
    journal = bootstrap(
        TradeSettings(token_secret="use-case-tests-secret-0123456789abcdef"),
        store=trades,
        events=RecordingEventSink(),
        limiter=CountingRateLimiter(),
        clock=clock,
    )
    base = TradeFields(
        symbol="INFY", exchange=Exchange.NSE, side=Side.BUY, quantity_micros=1_000_000, price_micros=1_000_000_000
    )
    # 1 March 20:00 UTC is 2 March 01:30 IST: that trade belongs to 2 March; 1 March 10:00 UTC does not.
    on_day = await journal.create(ALICE, str(uuid.uuid4()), _at(base, datetime(2026, 3, 1, 20, 0, tzinfo=UTC)))
    await journal.create(ALICE, str(uuid.uuid4()), _at(base, datetime(2026, 3, 1, 10, 0, tzinfo=UTC)))
    await journal.create(BOB, str(uuid.uuid4()), _at(base, datetime(2026, 3, 2, 4, 0, tzinfo=UTC)))
    await service.put(ALICE, TODAY, content(), "")
    view = await service.get(ALICE, TODAY)
    assert [trade.id for trade in view.trades] == [on_day.id]
    assert not view.truncated
    with pytest.raises(NotFound) as error:
        await service.get(BOB, TODAY)
    assert error.value.reason == "DAY_NOTE_NOT_FOUND"
    with pytest.raises(NotFound):
        await service.delete(BOB, TODAY, "")
    assert (await service.get(ALICE, TODAY)).note.content.text == "Calm day."


def _at(fields: TradeFields, moment: datetime) -> TradeFields:
    return replace(fields, trade_time=moment)


async def test_delete_honours_the_etag(service: DayNoteService) -> None:
    note = await service.put(ALICE, TODAY, content(), "")
    await service.put(ALICE, TODAY, content("again"), note.etag)
    with pytest.raises(Aborted):
        await service.delete(ALICE, TODAY, note.etag)
    await service.delete(ALICE, TODAY, "v2")
    with pytest.raises(NotFound):
        await service.get(ALICE, TODAY)


async def test_list_pages_newest_first_within_the_range(service: DayNoteService) -> None:
    start = date(2026, 1, 1)
    for offset in range(10):
        await service.put(ALICE, (start + timedelta(days=offset)).isoformat(), content(f"day {offset}"), "")
    await service.put(BOB, "2026-01-05", content("bob"), "")
    seen: list[str] = []
    token = ""
    while True:
        page, token = await service.list_notes(ALICE, "2026-01-02", "2026-01-09", 3, token)
        seen.extend(note.day.isoformat() for note in page)
        if not token:
            break
    assert seen == [f"2026-01-0{day}" for day in range(9, 1, -1)]
    with pytest.raises(InvalidArgument) as foreign:
        await service.list_notes(
            BOB, "2026-01-02", "2026-01-09", 3, (await service.list_notes(ALICE, "", "", 1, ""))[1]
        )
    assert foreign.value.reason == "PAGE_TOKEN_INVALID"
    with pytest.raises(InvalidArgument) as backwards:
        await service.list_notes(ALICE, "2026-01-09", "2026-01-02", 0, "")
    assert fields_of(backwards) == ["start_date"]


async def test_search_matches_text_lessons_and_mistakes_literally_and_per_user(service: DayNoteService) -> None:
    await service.put(ALICE, "2026-02-01", content("Bought the GAP up (again)", mistakes=()), "")
    await service.put(ALICE, "2026-02-02", content("quiet", lessons="respect the gap", mistakes=()), "")
    await service.put(ALICE, "2026-02-03", content("nothing", mistakes=("revenge trade",)), "")
    await service.put(BOB, "2026-02-04", content("gap gap gap"), "")
    found, _ = await service.search(ALICE, "gap", 0, "")
    assert [n.day.isoformat() for n in found] == ["2026-02-02", "2026-02-01"]
    assert [n.day.isoformat() for n in (await service.search(ALICE, "(again)", 0, ""))[0]] == ["2026-02-01"]
    assert [n.day.isoformat() for n in (await service.search(ALICE, "Revenge Trade", 0, ""))[0]] == ["2026-02-03"]
    assert (await service.search(ALICE, ".*", 0, ""))[0] == []
    first, token = await service.search(ALICE, "gap", 1, "")
    rest, last = await service.search(ALICE, "gap", 1, token)
    assert [n.day for n in first + rest] == [date(2026, 2, 2), date(2026, 2, 1)]
    assert last == ""
    for bad in ("", " ", "x" * 101):
        with pytest.raises(InvalidArgument) as error:
            await service.search(ALICE, bad, 0, "")
        assert fields_of(error) == ["query"]


async def test_mistake_list_defaults_then_is_replaced_under_its_etag(service: DayNoteService) -> None:
    default = await service.mistake_tags(ALICE)
    assert (default.tags, default.etag) == (DEFAULT_MISTAKE_TAGS, "v0")
    stored = await service.put_mistake_tags(ALICE, ["  Greed ", "late   exit"], default.etag)
    assert (stored.tags, stored.etag) == (("greed", "late exit"), "v1")
    with pytest.raises(Aborted):
        await service.put_mistake_tags(ALICE, ["x"], "v0")
    assert (await service.mistake_tags(BOB)).tags == DEFAULT_MISTAKE_TAGS
    note = await service.put(ALICE, TODAY, content(mistakes=("greed",)), "")
    # Removing a tag from the list keeps it on the notes that carry it.
    await service.put_mistake_tags(ALICE, ["late exit"], "")
    again = await service.put(ALICE, TODAY, content("edited", mistakes=("greed",)), note.etag)
    assert again.content.mistakes == ("greed",)


async def test_bad_mistake_lists_name_each_tag(service: DayNoteService) -> None:
    with pytest.raises(InvalidArgument) as error:
        await service.put_mistake_tags(ALICE, ["ok", "", "x" * 41, "bad!", "OK"], "")
    assert fields_of(error) == ["tags[1]", "tags[2]", "tags[3]", "tags[4]"]
    with pytest.raises(InvalidArgument) as many:
        await service.put_mistake_tags(ALICE, [f"tag {i}" for i in range(MAX_MISTAKE_TAGS + 1)], "")
    assert fields_of(many) == ["tags"]
    with pytest.raises(InvalidArgument) as etag:
        await service.put_mistake_tags(ALICE, ["ok"], "garbage")
    assert fields_of(etag) == ["etag"]
