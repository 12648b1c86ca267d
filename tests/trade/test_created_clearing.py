"""Creates' published events are cleared together (decision 0385): one update clears the CREATED events and
pending flags of trades still at version 1; a trade changed since keeps its later events and its flag, and
loses only the CREATED event; a trade being purged is cleared (and erased) as the relay always did."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from trademesh.devstack.journal import synthetic_trade
from trademesh.services.trade.model import EventType, new_event
from trademesh.services.trade.store import PENDING_FLAG, MongoTradeStore


async def test_one_clearing_leaves_only_what_is_still_unpublished(trade_db: Any) -> None:
    store = MongoTradeStore(trade_db)
    namespace = uuid.uuid4().hex
    plain, changed, missing = (synthetic_trade(namespace, "clearing-user", index) for index in range(3))
    for trade in (plain, changed):
        await store.insert(trade, new_event(EventType.CREATED, trade, trade.create_time))
    later = replace(changed, version=2, fields=replace(changed.fields, notes="changed"))
    assert await store.replace(later, 1, new_event(EventType.UPDATED, later, later.update_time)) is not None

    await store.clear_created([plain.id, changed.id, missing.id, plain.id])

    cleared = await trade_db.trades.find_one({"_id": plain.id})
    assert cleared["outbox"] == {}
    assert PENDING_FLAG not in cleared
    kept = await trade_db.trades.find_one({"_id": changed.id})
    assert list(kept["outbox"]) == ["e2"]
    assert kept[PENDING_FLAG] is True
    assert await trade_db.trades.find_one({"_id": missing.id}) is None
