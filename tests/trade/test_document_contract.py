"""The trade side of the trade-document contract (trademesh.kernel.trade_documents): every field a reader
relies on is in the documents the trade store writes, with the contract's type, and decodes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import bson
import pytest

from trademesh.kernel import instruments, trade_documents
from trademesh.kernel.instruments import Exchange, Side
from trademesh.services.trade.model import Category, Source, Status, Trade, TradeFields
from trademesh.services.trade.store import trade_to_document

CREATED = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)


def trade(
    *, side: Side = Side.BUY, category: Category | None = Category.SWING, status: Status = Status.ACTIVE
) -> Trade:
    return Trade(
        id="trade-1",
        user_id="user-1",
        fields=TradeFields(
            symbol="INFY",
            exchange=Exchange.NSE,
            side=side,
            quantity_micros=10_500_000,
            price_micros=1_500_250_000,
            fees_micros=20_000_000,
            trade_time=CREATED - timedelta(minutes=5),
            category=category,
        ),
        category_inferred=False,
        source=Source.MANUAL,
        status=status,
        version=3,
        create_time=CREATED,
        update_time=CREATED,
    )


@pytest.mark.parametrize("category", [Category.SWING, None])
def test_every_contract_field_is_written_with_its_type(category: Category | None) -> None:
    document = trade_to_document(trade(category=category))
    for name, types in trade_documents.FIELD_TYPES.items():
        if name not in document:
            # Left out at its default (decision 0385): readers read the contract's default.
            assert name in trade_documents.DEFAULTS, name
            continue
        value = document[name]
        assert (value is None and None in types) or isinstance(value, tuple(t for t in types if t)), (name, value)
    assert set(trade_documents.FILL_PROJECTION) <= set(trade_documents.FIELD_TYPES)


def test_the_active_trades_query_matches_an_active_trade_only() -> None:
    for status, matches in ((Status.ACTIVE, True), (Status.DELETED, False)):
        document = trade_to_document(trade(status=status))
        query = trade_documents.active_trades_filter("user-1")
        assert all(document[name] == value for name, value in query.items()) is matches
    assert trade_to_document(trade())[trade_documents.USER_ID] == "user-1"


@pytest.mark.parametrize("side", list(Side))
def test_a_stored_trade_decodes_as_a_fill(side: Side) -> None:
    # Through BSON as the driver reads it back: datetimes come back naive (UTC).
    stored = bson.decode(bson.encode(trade_to_document(trade(side=side))))
    projected = {name: stored[name] for name in trade_documents.FILL_PROJECTION if name in stored}
    fill = trade_documents.decode_fill(projected)
    assert fill == trade_documents.TradeFill(
        trade_id="trade-1",
        symbol="INFY",
        exchange=instruments.Exchange.NSE,
        buy=side is Side.BUY,
        quantity_micros=10_500_000,
        price_micros=1_500_250_000,
        fees_micros=20_000_000,
        time_us=int((CREATED - timedelta(minutes=5)).timestamp()) * 1_000_000,
        create_time_us=int(CREATED.timestamp()) * 1_000_000,
        category="SWING",
        version=3,
    )
