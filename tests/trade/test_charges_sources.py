"""Where a trade's charges come from (COMPUTED, MANUAL, BROKER), against in-memory fakes."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from trademesh.kernel.errors import InvalidArgument, PermissionDenied
from trademesh.kernel.instruments import ContractType, Derivative, Exchange, Side
from trademesh.services.core.identity import ROLE_ADMIN, ROLE_USER, Principal
from trademesh.services.trade.model import (
    Broker,
    Category,
    ChargesSource,
    FeeBreakdown,
    PositionFilter,
    TradeFields,
)
from trademesh.services.trade.service import TradeService

from .fakes import InMemoryTradeStore, RecordingEventSink
from .use_cases.fixtures import clock, service, sink, store
from .use_cases.helpers import ALICE, BOB, MARKET_OPEN, SERVICE, fields, request_id

__all__ = ["clock", "service", "sink", "store"]  # fixtures re-used from the use-case tests

RUPEE = 1_000_000
ADMIN = Principal("ops", frozenset({ROLE_ADMIN}), "t", "s", MARKET_OPEN + timedelta(days=1))


def assert_itemised(trade_fields: TradeFields) -> None:
    assert trade_fields.fee_breakdown is not None
    assert trade_fields.fee_breakdown.total() == trade_fields.fees_micros


async def test_a_manual_trade_without_fees_gets_computed_charges_by_the_schedule(service: TradeService) -> None:
    # Delivery buy of 10 INFY at ₹1,500 (turnover ₹15,000) on 2 March 2026, Zerodha's plan.
    trade = await service.create(ALICE, request_id(), fields())
    f = trade.fields
    assert f.charges_source is ChargesSource.COMPUTED
    assert f.charges_schedule_version
    assert_itemised(f)
    assert f.fee_breakdown is not None
    assert f.fee_breakdown.brokerage == 0  # zero delivery brokerage
    assert f.fee_breakdown.stt == 15 * RUPEE  # 0.1 % of ₹15,000, to the rupee
    assert f.fee_breakdown.stamp_duty == 2_250_000  # 0.015 % of a buy, to the paisa


async def test_fees_the_user_types_are_manual_and_win_over_recomputation(service: TradeService) -> None:
    typed = await service.create(ALICE, request_id(), fields(fees_micros=7 * RUPEE))
    assert (typed.fields.charges_source, typed.fields.fees_micros) == (ChargesSource.MANUAL, 7 * RUPEE)
    moved = await service.update(ALICE, typed.id, typed.etag, ["price_micros"], fields(price_micros=1_600 * RUPEE))
    assert (moved.fields.charges_source, moved.fields.fees_micros) == (ChargesSource.MANUAL, 7 * RUPEE)

    computed = await service.create(ALICE, request_id(), fields(side=Side.SELL))
    assert computed.fields.charges_source is ChargesSource.COMPUTED
    breakdown = FeeBreakdown(brokerage=RUPEE, gst=180_000)
    edited = await service.update(ALICE, computed.id, computed.etag, ["fee_breakdown"], fields(fee_breakdown=breakdown))
    assert edited.fields.charges_source is ChargesSource.MANUAL
    assert (edited.fields.fees_micros, edited.fields.fee_breakdown) == (1_180_000, breakdown)

    back = await service.update(
        ALICE, edited.id, edited.etag, ["charges_source"], fields(charges_source=ChargesSource.COMPUTED)
    )
    assert back.fields == computed.fields


async def test_computed_charges_follow_a_change_of_price_or_category(service: TradeService) -> None:
    trade = await service.create(ALICE, request_id(), fields())
    dearer = await service.update(ALICE, trade.id, trade.etag, ["price_micros"], fields(price_micros=3_000 * RUPEE))
    assert dearer.fields.charges_source is ChargesSource.COMPUTED
    assert dearer.fields.fee_breakdown is not None
    assert dearer.fields.fee_breakdown.stt == 30 * RUPEE
    intraday = await service.update(ALICE, dearer.id, dearer.etag, ["category"], fields(category=Category.INTRADAY))
    # Intraday buys pay no STT (it is on the sell side) but brokerage: 0.03 % of ₹30,000 = ₹9.
    assert intraday.fields.fee_breakdown is not None
    assert (intraday.fields.fee_breakdown.stt, intraday.fields.fee_breakdown.brokerage) == (0, 9 * RUPEE)
    assert_itemised(intraday.fields)


async def test_broker_is_not_a_source_a_user_can_claim(service: TradeService) -> None:
    with pytest.raises(InvalidArgument):
        await service.create(ALICE, request_id(), fields(charges_source=ChargesSource.BROKER))
    with pytest.raises(InvalidArgument):
        await service.create(ALICE, request_id(), fields(charges_source=ChargesSource.COMPUTED, fees_micros=5))


def sync_item(trade_id: str, order_id: str, **changes: object) -> TradeFields:
    return fields(
        broker_trade_id=trade_id,
        broker_order_id=order_id,
        quantity_micros=100 * RUPEE,
        trade_time=MARKET_OPEN,
        **changes,
    )


async def test_fills_of_one_order_share_its_brokerage_and_split_it_exactly(service: TradeService) -> None:
    # 100 INFY at ₹1,500 intraday: 0.03 % of ₹1,50,000 = ₹45, capped at ₹20 per executed order.
    items = [
        (sync_item("T1", "O1"), False, Category.INTRADAY),
        (sync_item("T2", "O1"), False, Category.INTRADAY),
        (sync_item("T3", "O2"), False, Category.INTRADAY),
    ]
    results = await service.reconcile(SERVICE, ALICE, Broker.ZERODHA, "acct-1", items)
    trades = {t.fields.broker_trade_id: t.fields for t in await service.store.all_trades(ALICE, False)}
    assert [r.outcome for r in results] == ["CREATED"] * 3
    brokerage = {key: f.fee_breakdown.brokerage for key, f in trades.items() if f.fee_breakdown}
    assert brokerage == {"T1": 10 * RUPEE, "T2": 10 * RUPEE, "T3": 20 * RUPEE}
    for trade_fields in trades.values():
        assert trade_fields.charges_source is ChargesSource.COMPUTED
        assert_itemised(trade_fields)


async def test_a_sync_with_broker_fees_records_them_as_broker_charges_and_keeps_manual_ones(
    service: TradeService,
) -> None:
    breakdown = FeeBreakdown(brokerage=20 * RUPEE, gst=3_600_000)
    given = replace(sync_item("T1", "O1"), fees_micros=23_600_000, fee_breakdown=breakdown)
    await service.reconcile(SERVICE, ALICE, Broker.ZERODHA, "acct-1", [(given, True, None)])
    (trade,) = await service.store.all_trades(ALICE, False)
    assert (trade.fields.charges_source, trade.fields.fees_micros) == (ChargesSource.BROKER, 23_600_000)
    # A later sync without fees leaves the broker's figures alone.
    again = await service.reconcile(SERVICE, ALICE, Broker.ZERODHA, "acct-1", [(sync_item("T1", "O1"), False, None)])
    assert again[0].outcome == "UNCHANGED"
    # The user's own figure wins over the broker's next report.
    typed = await service.update(ALICE, trade.id, trade.etag, ["fees_micros"], fields(fees_micros=RUPEE))
    assert typed.fields.charges_source is ChargesSource.MANUAL
    await service.reconcile(SERVICE, ALICE, Broker.ZERODHA, "acct-1", [(given, True, None)])
    (kept,) = await service.store.all_trades(ALICE, False)
    assert (kept.fields.charges_source, kept.fields.fees_micros) == (ChargesSource.MANUAL, RUPEE)


async def test_currency_derivatives_have_no_computed_charges(service: TradeService) -> None:
    contract = Derivative(
        underlying="USDINR", expiry_date="2026-03-27", contract_type=ContractType.FUTURE, strike_price_micros=0
    )
    trade = await service.create(
        ALICE, request_id(), fields(symbol="USDINR26MARFUT", exchange=Exchange.CDS, derivative=contract)
    )
    assert (trade.fields.charges_source, trade.fields.fees_micros) == (None, 0)


# ---------------------------------------------------------------- recharge


async def test_recharge_is_idempotent_and_leaves_manual_and_broker_charges_alone(
    service: TradeService, store: InMemoryTradeStore, sink: RecordingEventSink
) -> None:
    computed = await service.create(ALICE, request_id(), fields())
    typed = await service.create(ALICE, request_id(), fields(symbol="TCS", fees_micros=RUPEE))
    broker_fees = replace(sync_item("T1", "O1"), fees_micros=2 * RUPEE, fee_breakdown=FeeBreakdown(brokerage=2 * RUPEE))
    await service.reconcile(SERVICE, ALICE, Broker.ZERODHA, "acct-1", [(broker_fees, True, None)])
    await service.create(BOB, request_id(), fields())
    # A wrong schedule had charged the computed trade ₹0.000001 (as a later-corrected rate would).
    wrongly = replace(computed, fields=replace(computed.fields, fees_micros=1, fee_breakdown=FeeBreakdown(other=1)))
    store.trades[computed.id] = wrongly
    before = dict(store.trades)
    published = len(sink.committed_trades)

    first = await service.recharge(ADMIN, "", None, None)
    second = await service.recharge(ADMIN, "", None, None)

    assert (first.users_count, first.examined_count, first.updated_count) == (2, 2, 1)
    assert (second.examined_count, second.updated_count) == (2, 0)
    assert store.trades[computed.id].fields == computed.fields
    assert store.trades[computed.id].version == computed.version + 1
    assert [t.id for t in sink.committed_trades[published:]] == [computed.id]  # one UPDATED, only the changed trade
    for trade_id, trade in before.items():
        if trade_id != computed.id:
            assert store.trades[trade_id] == trade
    assert store.trades[typed.id].fields.charges_source is ChargesSource.MANUAL


async def test_recharge_needs_an_admin_or_service_identity_and_an_ordered_range(service: TradeService) -> None:
    user = Principal(ALICE, frozenset({ROLE_USER}), "t", "s", MARKET_OPEN + timedelta(days=1))
    with pytest.raises(PermissionDenied):
        await service.recharge(user, ALICE, None, None)
    with pytest.raises(InvalidArgument):
        await service.recharge(ADMIN, ALICE, date(2026, 3, 2), date(2026, 3, 1))


# ---------------------------------------------------------------- break-even


async def test_an_open_position_breaks_even_above_its_entry_after_entry_and_estimated_exit_charges(
    service: TradeService,
) -> None:
    bought = await service.create(ALICE, request_id(), fields())  # 10 INFY at ₹1,500, delivery
    await service.create(ALICE, request_id(), fields(symbol="TCS"))
    await service.create(ALICE, request_id(), fields(symbol="TCS", side=Side.SELL, trade_time=MARKET_OPEN))
    positions, _ = await service.positions(ALICE, PositionFilter(), 0, "")
    by_symbol = {p.symbol: p for p in positions}
    infy = by_symbol["INFY"]
    assert infy.open_fees_micros == bought.fields.fees_micros
    assert infy.break_even_price_micros is not None
    # Entry charges alone (~₹1.8 a share) and the delivery sell's STT, DP and the rest: ₹1,503-₹1,506.
    assert 1_503 * RUPEE < infy.break_even_price_micros < 1_506 * RUPEE
    assert by_symbol["TCS"].break_even_price_micros is None  # closed
