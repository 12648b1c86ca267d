"""Watchlist use cases against an in-memory store: limits, etags, isolation, order, bad input."""

from __future__ import annotations

import itertools

import pytest

from tests.marketdata.fakes import FixedClock
from tests.marketdata.watchlist_fakes import InMemoryWatchlistStore
from trademesh.kernel.errors import Aborted, FailedPrecondition, InvalidArgument, NotFound
from trademesh.kernel.instruments import Exchange
from trademesh.services.marketdata.model import InstrumentKey, ListedInstrument, RequestedInstrument, SymbolUniverse
from trademesh.services.marketdata.model.watchlists import WatchlistLimits
from trademesh.services.marketdata.watchlists import WatchlistDraft, WatchlistService

SYMBOLS = [f"S{number}" for number in range(8)]
UNIVERSE = SymbolUniverse(
    ListedInstrument(InstrumentKey(Exchange.NSE, symbol), 0, 50_000, 1_000_000_000) for symbol in SYMBOLS
)


def nse(*symbols: str) -> tuple[RequestedInstrument, ...]:
    return tuple(RequestedInstrument("NSE", symbol) for symbol in symbols)


def build(limits: WatchlistLimits | None = None) -> tuple[WatchlistService, InMemoryWatchlistStore, FixedClock]:
    store = InMemoryWatchlistStore()
    clock = FixedClock(1_000)
    ids = itertools.count(1)
    service = WatchlistService(
        store, UNIVERSE, clock=clock, limits=limits or WatchlistLimits(3, 4), new_id=lambda: f"w{next(ids)}"
    )
    return service, store, clock


async def test_a_created_list_is_stored_in_order_without_duplicates() -> None:
    service, store, _ = build()
    created = await service.create("u1", WatchlistDraft(name="  Banks ", instruments=nse("S2", "S0", "S2")))
    assert created.name == "Banks"
    assert [key.symbol for key in created.instruments] == ["S2", "S0"]
    assert store.books["u1"].lists == (created,)
    assert await service.get("u1", created.id) == created


async def test_another_users_list_is_not_found_on_every_use_case() -> None:
    service, _, _ = build()
    theirs = await service.create("u1", WatchlistDraft(name="Mine", instruments=nse("S1")))
    with pytest.raises(NotFound) as read:
        await service.get("u2", theirs.id)
    assert read.value.reason == "WATCHLIST_NOT_FOUND"
    with pytest.raises(NotFound):
        await service.update("u2", WatchlistDraft(id=theirs.id, name="x"), ["name"])
    with pytest.raises(NotFound):
        await service.delete("u2", theirs.id, "")
    with pytest.raises(NotFound):
        await service.instruments_of("u2", theirs.id)
    assert await service.list("u2") == ()
    assert (await service.get("u1", theirs.id)).name == "Mine"


async def test_a_stale_etag_is_aborted_and_the_current_one_applies() -> None:
    service, _, clock = build()
    created = await service.create("u1", WatchlistDraft(name="A"))
    clock.now = 2_000
    renamed = await service.update("u1", WatchlistDraft(id=created.id, name="B", etag=created.etag), ["name"])
    assert renamed.name == "B"
    assert renamed.etag != created.etag
    assert renamed.update_ns == 2_000
    with pytest.raises(Aborted) as stale:
        await service.update("u1", WatchlistDraft(id=created.id, name="C", etag=created.etag), ["name"])
    assert stale.value.reason == "ETAG_MISMATCH"
    with pytest.raises(Aborted):
        await service.delete("u1", created.id, created.etag)
    refilled = await service.update(
        "u1", WatchlistDraft(id=created.id, instruments=nse("S3"), etag=renamed.etag), ["instruments"]
    )
    assert refilled.name == "B"
    assert [key.symbol for key in refilled.instruments] == ["S3"]
    await service.delete("u1", created.id, refilled.etag)
    assert await service.list("u1") == ()


async def test_the_list_limit_is_a_failed_precondition_with_the_limit() -> None:
    service, _, _ = build()
    for name in "ABC":
        await service.create("u1", WatchlistDraft(name=name))
    with pytest.raises(FailedPrecondition) as full:
        await service.create("u1", WatchlistDraft(name="D"))
    assert full.value.reason == "WATCHLIST_LIMIT_REACHED"
    assert full.value.metadata["limit"] == "3"
    await service.create("u2", WatchlistDraft(name="D"))


async def test_the_item_limit_and_bad_instruments_are_invalid_arguments() -> None:
    service, _, _ = build()
    with pytest.raises(InvalidArgument) as many:
        await service.create("u1", WatchlistDraft(name="A", instruments=nse("S0", "S1", "S2", "S3", "S4")))
    assert many.value.reason == "TOO_MANY_INSTRUMENTS"
    assert many.value.metadata["limit"] == "4"
    with pytest.raises(InvalidArgument) as malformed:
        await service.create("u1", WatchlistDraft(name="A", instruments=(RequestedInstrument("NSE", "infy"),)))
    assert malformed.value.reason == "INVALID_INSTRUMENT"
    assert malformed.value.violations[0].field == "watchlist.instruments[0].symbol"
    with pytest.raises(InvalidArgument) as unknown:
        await service.create("u1", WatchlistDraft(name="A", instruments=nse("S1", "NOPE")))
    assert unknown.value.reason == "UNKNOWN_INSTRUMENTS"
    assert [v.field for v in unknown.value.violations] == ["watchlist.instruments[1]"]
    for name in ("", "   ", "x" * 65, "tab\there"):
        with pytest.raises(InvalidArgument) as bad_name:
            await service.create("u1", WatchlistDraft(name=name))
        assert bad_name.value.reason == "INVALID_WATCHLIST_NAME"
    with pytest.raises(InvalidArgument) as mask:
        await service.update("u1", WatchlistDraft(id="w1", name="x"), ["etag"])
    assert mask.value.reason == "INVALID_UPDATE_MASK"
    with pytest.raises(InvalidArgument) as no_id:
        await service.get("u1", "")
    assert no_id.value.reason == "INVALID_WATCHLIST_ID"
    assert await service.list("u1") == ()


async def test_reorder_needs_every_list_exactly_once() -> None:
    service, _, _ = build()
    first = await service.create("u1", WatchlistDraft(name="A"))
    second = await service.create("u1", WatchlistDraft(name="B"))
    reordered = await service.reorder("u1", [second.id, first.id])
    assert [item.name for item in reordered] == ["B", "A"]
    assert [item.name for item in await service.list("u1")] == ["B", "A"]
    for ids in ([first.id], [first.id, first.id], [first.id, second.id, "w99"]):
        with pytest.raises(InvalidArgument) as bad:
            await service.reorder("u1", ids)
        assert bad.value.reason == "WATCHLIST_ORDER_MISMATCH"


async def test_a_lost_write_race_is_retried_on_the_fresh_book() -> None:
    service, store, _ = build()
    store.race = 2
    created = await service.create("u1", WatchlistDraft(name="A"))
    assert store.books["u1"].lists == (created,)
    store.race = 100
    with pytest.raises(Aborted) as busy:
        await service.create("u1", WatchlistDraft(name="B"))
    assert busy.value.reason == "CONCURRENT_UPDATE"


async def test_a_stream_names_the_stored_instruments_in_order() -> None:
    service, _, _ = build()
    created = await service.create("u1", WatchlistDraft(name="A", instruments=nse("S5", "S1")))
    assert await service.instruments_of("u1", created.id) == nse("S5", "S1")
