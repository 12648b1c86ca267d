"""Stored trades leave out fields at their defaults (decision 0385): every reader reads a missing field as
its default, documents written before (every field present) read the same, and an update that returns a
field to its default removes it from the stored document."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import bson
from google.protobuf.field_mask_pb2 import FieldMask
from hypothesis import given, settings

from tests.trade.conftest import RunningTrade, create, equity_trade
from tests.trade.test_listing_read_model import CODEC, stored_trades
from trademesh.kernel import trade_documents
from trademesh.kernel.instruments import Exchange, Side
from trademesh.services.trade.listing import stored_trade_init
from trademesh.services.trade.model import Source, Status, Trade, TradeFields
from trademesh.services.trade.store import trade_from_document, trade_to_document
from trademesh.services.trade.store.documents import DEFAULTS
from trademesh.trade.v1 import trade_pb2, trade_service_pb2

MOMENT = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
ALWAYS_STORED = {
    "_id",
    "user_id",
    "symbol",
    "exchange",
    "side",
    "quantity_micros",
    "price_micros",
    "fees_micros",
    "trade_time",
    "trading_day",
    "broker",
    "source",
    "status",
    "version",
    "create_time",
    "update_time",
    "exec_seq",
}


def read(document: dict[str, Any]) -> dict[str, Any]:
    """The document as the driver returns it (through BSON, times tz-aware UTC)."""
    decoded: dict[str, Any] = bson.decode(bson.encode(document), codec_options=CODEC)
    return decoded


def as_written_before(trade: Trade) -> dict[str, Any]:
    """The trade's document as stores before decision 0385 wrote it: every field, defaults included."""
    return {name: (list(default) if isinstance(default, list) else default) for name, default in DEFAULTS.items()} | (
        trade_to_document(trade)
    )


def listed(document: dict[str, Any]) -> bytes:
    """The document as ListTrades' read model serialises it."""
    init: Any = stored_trade_init(document)
    page = trade_service_pb2.ListTradesResponse(trades=[init])
    return page.SerializeToString(deterministic=True)


def plain_trade() -> Trade:
    fields = TradeFields(
        symbol="INFY",
        exchange=Exchange.NSE,
        side=Side.BUY,
        quantity_micros=10_000_000,
        price_micros=1_500_000_000,
        fees_micros=0,
        trade_time=MOMENT - timedelta(minutes=5),
    )
    return Trade("t1", "u1", fields, False, Source.MANUAL, Status.ACTIVE, 1, MOMENT, MOMENT)


def test_a_plain_trade_stores_only_the_fields_every_trade_has() -> None:
    document = trade_to_document(plain_trade())
    assert set(document) == ALWAYS_STORED
    assert len(bson.encode(document)) < len(bson.encode(as_written_before(plain_trade()))) / 2
    # The contract's optional fields are the trade store's, with the same defaults.
    assert {name: DEFAULTS[name] for name in trade_documents.DEFAULTS} == trade_documents.DEFAULTS
    assert not ALWAYS_STORED & set(DEFAULTS)


@settings(max_examples=300, deadline=None)
@given(stored_trades)
def test_a_stored_trade_reads_back_as_written(trade: Trade) -> None:
    document = trade_to_document(trade)
    assert all(
        document[name] != default or type(document[name]) is not type(default)
        for name, default in DEFAULTS.items()
        if name in document
    )
    assert trade_from_document(read(document)) == trade_from_document(read(as_written_before(trade)))
    assert listed(read(document)) == listed(read(as_written_before(trade)))


@settings(max_examples=300, deadline=None)
@given(stored_trades)
def test_the_analytics_reading_of_a_stored_trade_is_unchanged(trade: Trade) -> None:
    slim = read(trade_to_document(trade))
    full = read(as_written_before(trade))
    fill_fields = {name: slim[name] for name in trade_documents.FILL_PROJECTION if name in slim}
    full_fill_fields = {name: full[name] for name in trade_documents.FILL_PROJECTION}
    if trade.fields.side in (Side.BUY, Side.SELL):
        assert trade_documents.decode_fill(fill_fields) == trade_documents.decode_fill(full_fill_fields)
    assert trade_documents.decode_labels(fill_fields) == trade_documents.decode_labels(full_fill_fields)
    profile = {name: slim[name] for name in trade_documents.CHARGE_PROFILE_PROJECTION if name in slim}
    full_profile = {name: full[name] for name in trade_documents.CHARGE_PROFILE_PROJECTION}
    assert trade_documents.decode_charge_profile(profile) == trade_documents.decode_charge_profile(full_profile)


async def test_an_update_back_to_defaults_removes_the_fields_from_the_stored_trade(
    trade: RunningTrade, new_user: Any, trade_db: Any
) -> None:
    user = await new_user()
    created = await create(
        trade.stub,
        user.metadata,
        equity_trade(notes="gap fill", tags=["Breakout"], strategy="ORB", stop_loss_price_micros=1_480_000_000),
    )
    stored = await trade_db.trades.find_one({"_id": created.id})
    assert (stored["notes"], stored["tag_keys"], stored["strategy_key"]) == ("gap fill", ["breakout"], "orb")

    cleared = await trade.stub.UpdateTrade(
        trade_service_pb2.UpdateTradeRequest(
            trade=trade_pb2.Trade(id=created.id),
            update_mask=FieldMask(paths=["notes", "tags", "strategy", "stop_loss_price_micros"]),
            etag=created.etag,
        ),
        metadata=user.metadata,
    )

    stored = await trade_db.trades.find_one({"_id": created.id}, {"outbox": 0})
    assert not {"notes", "tags", "tag_keys", "strategy", "strategy_key", "stop_loss_price_micros"} & set(stored)
    assert (cleared.trade.notes, list(cleared.trade.tags), cleared.trade.strategy) == ("", [], "")
    fetched = await trade.stub.GetTrade(trade_service_pb2.GetTradeRequest(id=created.id), metadata=user.metadata)
    assert fetched.trade == cleared.trade
    tagged = await trade.stub.ListTrades(
        trade_service_pb2.ListTradesRequest(tag="breakout"),
        metadata=user.metadata,
    )
    assert list(tagged.trades) == []
    listed = await trade.stub.ListTrades(trade_service_pb2.ListTradesRequest(), metadata=user.metadata)
    assert list(listed.trades) == [cleared.trade]
