"""ListPositions' cached replay against the real trade server and database (decision 0370).

The cache serves a user's replayed journal while their journal revision stands still; every write path of
the trade store moves it on: CreateTrade, UpdateTrade, DeleteTrade, UndeleteTrade, ImportTrades,
ReconcileTrades, RechargeTrades and the expiry job's settlement fills (another process). Each test reads
positions (filling the cache), writes through one path and reads the change. A document written into the
database behind the store's back is not seen until the next store write: the cache does serve.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from google.protobuf.field_mask_pb2 import FieldMask
from redis.asyncio import Redis

from tests.conftest import MeshUser
from tests.rpc import bearer
from tests.trade.conftest import RunningTrade, broker_trade, create, equity_trade, reconcile_request
from tests.trade.test_expiry import PRICES, _run_job, fo_trade
from trademesh.services.core.identity import ROLE_ADMIN
from trademesh.services.trade.events import OutboxRelay, RedisEventPublisher
from trademesh.services.trade.model import EventType, new_event
from trademesh.services.trade.store import MongoTradeStore
from trademesh.services.trade.store.documents import (
    PENDING,
    event_to_document,
    outbox_key,
    trade_from_document,
    trade_to_document,
)
from trademesh.trade.v1 import import_pb2, trade_pb2, trade_service_pb2

NewUser = Callable[[], Awaitable[MeshUser]]
M = 1_000_000
WHEN = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)


async def positions(trade: RunningTrade, user: MeshUser) -> dict[str, tuple[int, int, int]]:
    """The user's positions by symbol: (net quantity, trade count, total fees)."""
    response = await trade.stub.ListPositions(
        trade_service_pb2.ListPositionsRequest(page_size=1000), metadata=user.metadata
    )
    return {
        p.instrument.symbol: (p.net_quantity_micros, p.trade_count, p.total_fees_micros) for p in response.positions
    }


async def held(trade: RunningTrade, user: MeshUser) -> dict[str, tuple[int, int]]:
    """The user's positions by symbol: (net quantity, trade count)."""
    return {symbol: (net, count) for symbol, (net, count, _) in (await positions(trade, user)).items()}


async def test_creates_updates_deletes_and_undeletes_each_show_at_once(trade: RunningTrade, new_user: NewUser) -> None:
    user = await new_user()
    first = await create(trade.stub, user.metadata, equity_trade("INFY", quantity=10, when=WHEN))
    assert await held(trade, user) == {"INFY": (10 * M, 1)}
    assert await held(trade, user) == {"INFY": (10 * M, 1)}

    second = await create(trade.stub, user.metadata, equity_trade("INFY", quantity=5, when=WHEN + timedelta(minutes=1)))
    assert await held(trade, user) == {"INFY": (15 * M, 2)}

    await trade.stub.UpdateTrade(
        trade_service_pb2.UpdateTradeRequest(
            trade=trade_pb2.Trade(id=second.id, quantity_micros=7 * M),
            update_mask=FieldMask(paths=["quantity_micros"]),
            etag=second.etag,
        ),
        metadata=user.metadata,
    )
    assert await held(trade, user) == {"INFY": (17 * M, 2)}

    await trade.stub.DeleteTrade(trade_service_pb2.DeleteTradeRequest(id=first.id), metadata=user.metadata)
    assert await held(trade, user) == {"INFY": (7 * M, 1)}

    await trade.stub.UndeleteTrade(trade_service_pb2.UndeleteTradeRequest(id=first.id), metadata=user.metadata)
    assert await held(trade, user) == {"INFY": (17 * M, 2)}


async def test_imports_and_reconciles_show_at_once(
    trade: RunningTrade, new_user: NewUser, service_token: Callable[..., str]
) -> None:
    user = await new_user()
    await create(trade.stub, user.metadata, equity_trade("INFY", quantity=10, when=WHEN))
    assert await held(trade, user) == {"INFY": (10 * M, 1)}

    content = b"symbol,exchange,side,quantity,price,trade_time\nTCS,NSE,BUY,4,3500,2026-03-02 11:00:00\n"
    await trade.stub.ImportTrades(
        trade_service_pb2.ImportTradesRequest(
            request_id=str(uuid.uuid4()),
            format=import_pb2.IMPORT_FORMAT_GENERIC_CSV,
            content=content,
            file_name="trades.csv",
        ),
        metadata=user.metadata,
    )
    assert (await held(trade, user))["TCS"] == (4 * M, 1)

    await trade.stub.ReconcileTrades(
        reconcile_request(user.user_id, broker_trade("R1")), metadata=bearer(service_token())
    )
    assert (await held(trade, user))["SBIN"] == (10 * M, 1)


async def test_recharges_show_at_once_and_writes_behind_the_stores_back_wait_for_the_next_write(
    trade: RunningTrade, new_user: NewUser, service_token: Callable[..., str], trade_db: Any
) -> None:
    user = await new_user()
    computed = await create(trade.stub, user.metadata, equity_trade("INFY", when=WHEN))
    assert computed.charges_source == trade_pb2.CHARGES_SOURCE_COMPUTED
    assert computed.fees_micros > 1
    # A schedule later corrected had charged the trade wrongly (written behind the store's back).
    await trade_db.trades.update_one({"_id": computed.id}, {"$set": {"fees_micros": 1}})
    assert await positions(trade, user) == {"INFY": (10 * M, 1, 1)}

    # Behind the store's back again: the revision stands still, so the cached replay is what is served.
    await trade_db.trades.update_one({"_id": computed.id}, {"$set": {"quantity_micros": 11 * M}})
    assert await positions(trade, user) == {"INFY": (10 * M, 1, 1)}

    admin = bearer(service_token("ops-admin", (ROLE_ADMIN,)))
    recharged = await trade.stub.RechargeTrades(
        trade_service_pb2.RechargeTradesRequest(user_id=user.user_id, start_date="2026-03-01"), metadata=admin
    )
    assert recharged.updated_count == 1
    net, count, fees = (await positions(trade, user))["INFY"]
    assert (net, count) == (11 * M, 1)  # the store's write moved the revision on: everything is read again
    assert fees > 1


async def test_the_expiry_jobs_settlement_fills_show_at_once(
    trade: RunningTrade, new_user: NewUser, tmp_path: Path
) -> None:
    user = await new_user()
    await create(
        trade.stub,
        user.metadata,
        fo_trade("NIFTY26FEBFUT", trade_pb2.CONTRACT_TYPE_FUTURE, side=trade_pb2.SIDE_SELL, price=25_000),
    )
    assert (await held(trade, user))["NIFTY26FEBFUT"] == (-75 * M, 1)
    prices = tmp_path / "settlement.csv"
    prices.write_text(PRICES)

    status, output = await _run_job(trade, prices.as_uri())

    assert status == 0, output
    assert (await held(trade, user))["NIFTY26FEBFUT"] == (0, 2)


async def test_each_write_moves_the_revision_on_and_the_relays_sweep_retires_an_interrupted_one(
    trade: RunningTrade, new_user: NewUser, trade_db: Any, redis: Redis
) -> None:
    user = await new_user()
    store = MongoTradeStore(trade_db)
    assert await store.journal_revision(user.user_id) == 0
    await create(trade.stub, user.metadata, equity_trade("INFY", when=WHEN))
    created = await store.journal_revision(user.user_id)
    assert created is not None
    assert created > 0
    await create(trade.stub, user.metadata, equity_trade("INFY", when=WHEN))
    second = await store.journal_revision(user.user_id)
    assert second is not None
    assert second > created
    before = await positions(trade, user)
    assert before["INFY"][:2] == (20 * M, 2)

    # A create whose process died after its insert, before its revision moved on: the trade is in the
    # database with its CREATED event still pending in the outbox, and the cache does not know it yet.
    [stored] = [document async for document in trade_db.trades.find({"user_id": user.user_id}).limit(1)]
    orphan = replace(trade_from_document(stored), id=f"orphan-{uuid.uuid4().hex}", request_id=str(uuid.uuid4()))
    event = new_event(EventType.CREATED, orphan, orphan.create_time)
    await trade_db.trades.insert_one(
        trade_to_document(orphan) | {"outbox": {outbox_key(event): event_to_document(event)}} | PENDING
    )
    assert await positions(trade, user) == before  # served from the cache: the revision stood still
    assert await store.journal_revision(user.user_id) == second

    # The relay's sweep of pending events (at start-up, or once they are older than its grace) moves the
    # revision of their users on, so the interrupted write is seen.
    relay = OutboxRelay(store, RedisEventPublisher(redis), scan_interval=60.0)
    await relay.sweep(None)
    assert (await store.journal_revision(user.user_id) or 0) > second
    assert (await positions(trade, user))["INFY"][:2] == (30 * M, 3)
