"""The trade use cases against in-memory fakes of their ports: reconciling broker fills."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.trade.fakes import InMemoryTradeStore
from tests.trade.use_cases.helpers import ALICE, MARKET_OPEN, SERVICE, broker_fill, fields
from trademesh.kernel.errors import (
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
)
from trademesh.kernel.instruments import Side
from trademesh.services.core.identity import ROLE_USER, Principal
from trademesh.services.trade.model import (
    Broker,
    Category,
    Source,
)
from trademesh.services.trade.service import TradeService


async def test_reconcile_needs_a_service_identity(service: TradeService) -> None:
    user = Principal(ALICE, frozenset({ROLE_USER}), "t", "s", MARKET_OPEN + timedelta(days=1))
    with pytest.raises(PermissionDenied):
        await service.reconcile(user, ALICE, Broker.ZERODHA, "AB1234", [broker_fill("K1")])


async def test_reconcile_validates_the_request(service: TradeService) -> None:
    with pytest.raises(InvalidArgument) as error:
        await service.reconcile(SERVICE, " ", Broker.MANUAL, "", [])
    assert {v.field for v in error.value.violations} == {"user_id", "broker", "broker_account_id", "trades"}


async def test_reconcile_is_idempotent(service: TradeService, store: InMemoryTradeStore) -> None:
    items = [broker_fill("K1"), broker_fill("K2", side=Side.SELL)]
    first = await service.reconcile(SERVICE, ALICE, Broker.ZERODHA, "AB1234", items)
    assert [item.outcome for item in first] == ["CREATED", "CREATED"]
    again = await service.reconcile(SERVICE, ALICE, Broker.ZERODHA, "AB1234", items)
    assert [item.outcome for item in again] == ["UNCHANGED", "UNCHANGED"]
    assert [item.trade_id for item in again] == [item.trade_id for item in first]
    assert len(store.trades) == 2
    assert {t.source for t in store.trades.values()} == {Source.SYNC}
    assert {t.fields.category for t in store.trades.values()} == {Category.INTRADAY}


async def test_reconcile_updates_what_the_broker_changed_and_keeps_journal_notes(
    service: TradeService, store: InMemoryTradeStore
) -> None:
    (created,) = await service.reconcile(SERVICE, ALICE, Broker.ZERODHA, "AB1234", [broker_fill("K1")])
    await service.update(ALICE, created.trade_id, "v1", ["notes"], fields(notes="my plan"))
    (updated,) = await service.reconcile(
        SERVICE, ALICE, Broker.ZERODHA, "AB1234", [broker_fill("K1", price_micros=1_501_000_000)]
    )
    assert (updated.outcome, updated.trade_version) == ("UPDATED", 3)
    stored = store.trades[created.trade_id]
    assert (stored.fields.price_micros, stored.fields.notes) == (1_501_000_000, "my plan")


async def test_reconcile_flags_repeats_and_skips_deleted_trades(service: TradeService) -> None:
    (created,) = await service.reconcile(SERVICE, ALICE, Broker.ZERODHA, "AB1234", [broker_fill("K1")])
    await service.delete(ALICE, created.trade_id, "")
    results = await service.reconcile(
        SERVICE, ALICE, Broker.ZERODHA, "AB1234", [broker_fill("K1"), broker_fill("K2"), broker_fill("K2")]
    )
    assert [(r.outcome, r.error_reason) for r in results] == [
        ("SKIPPED_DELETED", ""),
        ("CREATED", ""),
        ("FAILED", "DUPLICATE_IN_BATCH"),
    ]


async def test_broker_fields_of_a_synced_trade_are_read_only(service: TradeService) -> None:
    (created,) = await service.reconcile(SERVICE, ALICE, Broker.ZERODHA, "AB1234", [broker_fill("K1")])
    with pytest.raises(FailedPrecondition) as error:
        await service.update(ALICE, created.trade_id, "v1", ["quantity_micros"], fields(quantity_micros=1))
    assert error.value.reason == "BROKER_FIELD_READ_ONLY"
