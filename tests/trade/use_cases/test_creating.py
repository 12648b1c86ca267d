"""The trade use cases against in-memory fakes of their ports: creating trades (milliseconds)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.trade.fakes import InMemoryTradeStore, ManualClock, RecordingEventSink
from tests.trade.use_cases.helpers import ALICE, BOB, MARKET_OPEN, fields, request_id
from trademesh.kernel.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
)
from trademesh.kernel.instruments import Exchange, Segment, Side
from trademesh.services.trade.model import (
    Broker,
    Category,
    EventType,
    Source,
    Status,
)
from trademesh.services.trade.service import TradeService


async def test_create_stores_an_active_manual_trade_and_hands_its_event_to_the_sink(
    service: TradeService, store: InMemoryTradeStore, sink: RecordingEventSink
) -> None:
    trade = await service.create(ALICE, request_id(), fields())
    assert (trade.status, trade.source, trade.version, trade.etag) == (Status.ACTIVE, Source.MANUAL, 1, "v1")
    assert trade.fields.segment is Segment.EQUITY
    assert trade.fields.broker is Broker.MANUAL
    assert store.trades[trade.id] == trade
    assert [event.type for event in store.events] == [EventType.CREATED]
    assert sink.committed_trades == [trade]


async def test_create_replays_the_same_request_id_without_a_second_trade(
    service: TradeService, store: InMemoryTradeStore
) -> None:
    rid = request_id()
    first = await service.create(ALICE, rid, fields())
    again = await service.create(ALICE, rid.upper(), fields())
    assert again == first
    assert len(store.trades) == 1
    assert store.quotas[ALICE] == 1


async def test_create_rejects_a_reused_request_id_with_other_content(service: TradeService) -> None:
    rid = request_id()
    await service.create(ALICE, rid, fields())
    with pytest.raises(AlreadyExists) as error:
        await service.create(ALICE, rid, fields(quantity_micros=5_000_000))
    assert error.value.reason == "REQUEST_ID_REUSED"


async def test_create_needs_a_uuid_request_id(service: TradeService) -> None:
    with pytest.raises(InvalidArgument) as error:
        await service.create(ALICE, "not-a-uuid", fields())
    assert error.value.reason == "REQUEST_ID_INVALID"


async def test_create_reports_every_invalid_field(service: TradeService) -> None:
    with pytest.raises(InvalidArgument) as error:
        await service.create(ALICE, request_id(), fields(symbol="", quantity_micros=0, side=None, fees_micros=-1))
    assert {v.field for v in error.value.violations} == {
        "trade.instrument.symbol",
        "trade.quantity_micros",
        "trade.side",
        "trade.fees_micros",
    }


async def test_create_rejects_a_time_in_the_future(service: TradeService, clock: ManualClock) -> None:
    with pytest.raises(InvalidArgument) as error:
        await service.create(ALICE, request_id(), fields(trade_time=clock.now + timedelta(minutes=6)))
    assert [v.field for v in error.value.violations] == ["trade.trade_time"]


async def test_create_rejects_a_segment_the_exchange_does_not_trade(service: TradeService) -> None:
    with pytest.raises(InvalidArgument) as error:
        await service.create(ALICE, request_id(), fields(segment=Segment.COMMODITY))
    assert "trade.segment" in {v.field for v in error.value.violations}


async def test_create_needs_a_contract_on_a_derivatives_exchange(service: TradeService) -> None:
    with pytest.raises(InvalidArgument) as error:
        await service.create(ALICE, request_id(), fields(exchange=Exchange.NFO, symbol="NIFTY26MARFUT"))
    assert [v.field for v in error.value.violations] == ["trade.derivative"]


async def test_create_infers_intraday_for_both_sides_of_a_day_and_updates_the_earlier_trade(
    service: TradeService, store: InMemoryTradeStore
) -> None:
    buy = await service.create(ALICE, request_id(), fields())
    assert buy.fields.category is Category.SWING
    sell = await service.create(
        ALICE, request_id(), fields(side=Side.SELL, trade_time=MARKET_OPEN + timedelta(hours=1))
    )
    assert sell.fields.category is Category.INTRADAY
    assert store.trades[buy.id].fields.category is Category.INTRADAY
    assert store.trades[buy.id].version == 2


async def test_create_keeps_an_explicit_category(service: TradeService, store: InMemoryTradeStore) -> None:
    buy = await service.create(ALICE, request_id(), fields(category=Category.LONG_TERM))
    await service.create(ALICE, request_id(), fields(side=Side.SELL))
    assert store.trades[buy.id].fields.category is Category.LONG_TERM
    assert not buy.category_inferred


async def test_create_stops_at_the_trade_quota(service: TradeService, store: InMemoryTradeStore) -> None:
    store.quotas[ALICE] = 10
    with pytest.raises(ResourceExhausted) as error:
        await service.create(ALICE, request_id(), fields())
    assert error.value.reason == "TRADE_QUOTA_EXCEEDED"
    assert store.trades == {}


async def test_create_refuses_a_second_trade_with_the_same_broker_trade_id(
    service: TradeService, store: InMemoryTradeStore
) -> None:
    first = await service.create(ALICE, request_id(), fields(broker=Broker.ZERODHA, broker_trade_id="T1"))
    with pytest.raises(AlreadyExists) as error:
        await service.create(ALICE, request_id(), fields(broker=Broker.ZERODHA, broker_trade_id="T1", notes="x"))
    assert error.value.reason == "DUPLICATE_BROKER_TRADE"
    assert error.value.metadata == {"trade_id": first.id}
    assert store.quotas[ALICE] == 1


async def test_another_users_trade_is_not_found(service: TradeService) -> None:
    trade = await service.create(ALICE, request_id(), fields())
    for attempt in (
        service.get(BOB, trade.id),
        service.update(BOB, trade.id, trade.etag, ["notes"], fields(notes="mine")),
        service.delete(BOB, trade.id, ""),
        service.undelete(BOB, trade.id, ""),
    ):
        with pytest.raises(NotFound) as error:
            await attempt
        assert error.value.reason == "TRADE_NOT_FOUND"
