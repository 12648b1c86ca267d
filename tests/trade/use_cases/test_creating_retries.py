"""Retried creates found by the insert itself (no read before every create): the replay, at the quota too."""

from __future__ import annotations

import pytest

from tests.trade.fakes import InMemoryTradeStore, RecordingEventSink
from tests.trade.use_cases.helpers import ALICE, fields, request_id
from trademesh.kernel.errors import AlreadyExists, ResourceExhausted
from trademesh.services.trade.service import TradeService


async def test_the_retry_of_the_create_that_filled_the_journal_replays_it(
    service: TradeService, store: InMemoryTradeStore
) -> None:
    store.quotas[ALICE] = 9  # the fixture's quota is 10: this create takes the last place
    rid = request_id()
    first = await service.create(ALICE, rid, fields())
    assert store.quotas[ALICE] == 10
    assert await service.create(ALICE, rid, fields()) == first  # not TRADE_QUOTA_EXCEEDED
    with pytest.raises(AlreadyExists) as reused:
        await service.create(ALICE, rid, fields(quantity_micros=5_000_000))
    assert reused.value.reason == "REQUEST_ID_REUSED"
    with pytest.raises(ResourceExhausted):
        await service.create(ALICE, request_id(), fields())  # a new request is still refused
    assert store.quotas[ALICE] == 10
    assert len(store.trades) == 1


async def test_a_retry_below_the_quota_releases_the_place_it_reserved(
    service: TradeService, store: InMemoryTradeStore, sink: RecordingEventSink
) -> None:
    rid = request_id()
    first = await service.create(ALICE, rid, fields())
    assert await service.create(ALICE, rid, fields()) == first
    assert store.quotas[ALICE] == 1
    assert sink.committed_trades == [first, first]  # the replay hands the trade to the sink again (deduplicated)
