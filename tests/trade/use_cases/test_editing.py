"""The trade use cases against in-memory fakes of their ports: updating, listing, deleting, restoring."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.trade.fakes import InMemoryTradeStore, ManualClock
from tests.trade.use_cases.helpers import ALICE, BOB, MARKET_OPEN, fields, request_id
from trademesh.kernel.errors import (
    Aborted,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from trademesh.kernel.instruments import Side
from trademesh.services.trade.model import (
    Category,
    Status,
    TradeFilter,
)
from trademesh.services.trade.service import TradeService


async def test_update_applies_masked_fields_and_bumps_the_version(service: TradeService) -> None:
    trade = await service.create(ALICE, request_id(), fields())
    updated = await service.update(ALICE, trade.id, "v1", ["notes", "tags"], fields(notes="breakout", tags=("a", "A")))
    assert (updated.version, updated.etag) == (2, "v2")
    assert (updated.fields.notes, updated.fields.tags) == ("breakout", ("a",))
    assert updated.fields.quantity_micros == trade.fields.quantity_micros


async def test_update_with_a_stale_etag_is_aborted(service: TradeService) -> None:
    trade = await service.create(ALICE, request_id(), fields())
    await service.update(ALICE, trade.id, "v1", ["notes"], fields(notes="one"))
    with pytest.raises(Aborted) as error:
        await service.update(ALICE, trade.id, "v1", ["notes"], fields(notes="two"))
    assert error.value.reason == "ETAG_MISMATCH"


async def test_update_names_unknown_mask_paths(service: TradeService) -> None:
    trade = await service.create(ALICE, request_id(), fields())
    with pytest.raises(InvalidArgument) as error:
        await service.update(ALICE, trade.id, "v1", ["notes", "user_id"], fields())
    assert [v.field for v in error.value.violations] == ["update_mask.paths[1]"]


async def test_update_of_a_deleted_trade_fails(service: TradeService) -> None:
    trade = await service.create(ALICE, request_id(), fields())
    deleted = await service.delete(ALICE, trade.id, "v1")
    with pytest.raises(FailedPrecondition) as error:
        await service.update(ALICE, trade.id, deleted.etag, ["notes"], fields(notes="x"))
    assert error.value.reason == "TRADE_DELETED"


async def test_list_pages_newest_first_with_page_tokens(service: TradeService) -> None:
    created = [
        await service.create(ALICE, request_id(), fields(trade_time=MARKET_OPEN + timedelta(minutes=i)))
        for i in range(5)
    ]
    await service.create(BOB, request_id(), fields())
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page, token = await service.list_trades(ALICE, TradeFilter(), 2, token)
        seen.extend(trade.id for trade in page)
        pages += 1
        if not token:
            break
    assert pages == 3
    assert seen == [trade.id for trade in reversed(created)]


async def test_a_page_token_works_only_for_its_user_and_filters(service: TradeService) -> None:
    for i in range(3):
        await service.create(ALICE, request_id(), fields(trade_time=MARKET_OPEN + timedelta(minutes=i)))
    _, token = await service.list_trades(ALICE, TradeFilter(), 1, "")
    assert token
    for user, filters, bad in (
        (BOB, TradeFilter(), token),
        (ALICE, TradeFilter(symbol="TCS"), token),
        (ALICE, TradeFilter(), token[:-2] + "xx"),
    ):
        with pytest.raises(InvalidArgument) as error:
            await service.list_trades(user, filters, 1, bad)
        assert error.value.reason == "PAGE_TOKEN_INVALID"


async def test_list_rejects_a_negative_page_size_and_an_empty_time_range(service: TradeService) -> None:
    with pytest.raises(InvalidArgument):
        await service.list_trades(ALICE, TradeFilter(), -1, "")
    with pytest.raises(InvalidArgument) as error:
        await service.list_trades(ALICE, TradeFilter(start_time=MARKET_OPEN, end_time=MARKET_OPEN), 10, "")
    assert [v.field for v in error.value.violations] == ["start_time"]


async def test_delete_hides_the_trade_from_lists_until_restored(service: TradeService) -> None:
    trade = await service.create(ALICE, request_id(), fields())
    deleted = await service.delete(ALICE, trade.id, "v1")
    assert deleted.status is Status.DELETED
    assert deleted.purge_time == deleted.delete_time + timedelta(days=30)  # type: ignore[operator]
    assert (await service.list_trades(ALICE, TradeFilter(), 10, ""))[0] == []
    assert await service.delete(ALICE, trade.id, "") == deleted  # deleting again changes nothing
    restored = await service.undelete(ALICE, trade.id, deleted.etag)
    assert (restored.status, restored.version, restored.purge_time) == (Status.ACTIVE, 3, None)
    assert [t.id for t in (await service.list_trades(ALICE, TradeFilter(), 10, ""))[0]] == [trade.id]


async def test_a_deleted_trade_past_its_purge_time_is_gone(service: TradeService, clock: ManualClock) -> None:
    trade = await service.create(ALICE, request_id(), fields())
    await service.delete(ALICE, trade.id, "v1")
    assert (await service.get(ALICE, trade.id)).status is Status.DELETED
    clock.advance(timedelta(days=30))
    with pytest.raises(NotFound):
        await service.get(ALICE, trade.id)
    with pytest.raises(NotFound):
        await service.undelete(ALICE, trade.id, "")


async def test_deleting_one_side_of_a_day_makes_the_other_swing_again(
    service: TradeService, store: InMemoryTradeStore
) -> None:
    buy = await service.create(ALICE, request_id(), fields())
    sell = await service.create(ALICE, request_id(), fields(side=Side.SELL))
    assert store.trades[buy.id].fields.category is Category.INTRADAY
    await service.delete(ALICE, sell.id, "")
    assert store.trades[buy.id].fields.category is Category.SWING
