"""Settlement fills' COMPUTED charges, their recharge, and MCX/currency expiry as use cases (decision 0310).

Against in-memory fakes of the trade ports; every figure is computed by hand in the comments.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from trademesh.kernel.instruments import ContractType, Derivative, Exchange, Side
from trademesh.kernel.settlement import Unsettled, parse_settlement_prices
from trademesh.services.core.identity import ROLE_ADMIN, Principal
from trademesh.services.trade.model import ChargesSource, EventType, FeeBreakdown, PositionFilter, Source, TradeFields
from trademesh.services.trade.server import bootstrap
from trademesh.services.trade.service import TradeService
from trademesh.services.trade.settings import TradeSettings

from .fakes import CountingRateLimiter, InMemoryTradeStore, ManualClock, RecordingEventSink

ALICE = "user-alice"
M = 1_000_000
ENTRY = datetime(2026, 2, 16, 4, 0, tzinfo=UTC)  # 09:30 IST
NEXT_DAY = datetime(2026, 2, 25, 13, 0, tzinfo=UTC)  # every contract below has expired
ADMIN = Principal("admin", frozenset({ROLE_ADMIN}), "t", "s", NEXT_DAY + timedelta(days=1))
PRICES = parse_settlement_prices(
    "symbol,date,price\n"
    "NIFTY,2026-02-24,25512.35\n"
    "CRUDEOIL,2026-02-17,6100\n"
    "CRUDEOIL26FEBFUT,2026-02-19,6125\n"
    "USDINR,2026-02-24,83.4525\n"
)


def rid() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(ENTRY + timedelta(hours=1))


@pytest.fixture
def store() -> InMemoryTradeStore:
    return InMemoryTradeStore()


@pytest.fixture
def service(store: InMemoryTradeStore, clock: ManualClock) -> TradeService:
    settings = TradeSettings(token_secret="use-case-tests-secret-0123456789abcdef")
    return bootstrap(settings, store=store, events=RecordingEventSink(), limiter=CountingRateLimiter(), clock=clock)


def contract(
    symbol: str,
    exchange: Exchange,
    underlying: str,
    expiry: str,
    kind: ContractType,
    *,
    strike_micros: int = 0,
    quantity: int,
    price_micros: int,
    side: Side = Side.BUY,
) -> TradeFields:
    return TradeFields(
        symbol=symbol,
        exchange=exchange,
        derivative=Derivative(underlying, expiry, kind, strike_micros),
        side=side,
        quantity_micros=quantity * M,
        price_micros=price_micros,
        trade_time=ENTRY,
    )


NIFTY_CALL = contract(
    "NIFTY26FEB25000CE",
    Exchange.NFO,
    "NIFTY",
    "2026-02-24",
    ContractType.CALL,
    strike_micros=25_000 * M,
    quantity=150,
    price_micros=100 * M,
)


async def test_a_long_call_exercised_in_the_money_is_charged_stt_and_nets_it(service: TradeService) -> None:
    entry = await service.create(ALICE, rid(), NIFTY_CALL)
    service.clock.now = NEXT_DAY  # type: ignore[attr-defined]
    (fill,) = (await service.settle_expired(PRICES)).settled
    # 150 x (25,512.35 - 25,000) = 76,852.50; STT on exercise 0.125 % = 96.065625 -> ₹96 on a contract note.
    assert (fill.fields.side, fill.fields.price_micros) == (Side.SELL, 512_350_000)
    assert fill.fields.fees_micros == 96 * M
    assert fill.fields.fee_breakdown == FeeBreakdown(stt=96 * M)
    assert fill.fields.charges_source is ChargesSource.COMPUTED
    assert fill.fields.charges_schedule_version.startswith("settlement/in-")
    (position,) = (await service.positions(ALICE, PositionFilter(symbol="NIFTY26FEB25000CE"), 0, ""))[0]
    # Realized: (512.35 - 100) x 150 = 61,852.50 less the entry's charges and the ₹96 STT.
    assert position.total_fees_micros == entry.fields.fees_micros + 96 * M
    assert position.realized_pnl_micros == 61_852_500_000 - entry.fields.fees_micros - 96 * M


async def test_short_options_lapsed_options_and_futures_settle_without_charges(service: TradeService) -> None:
    short_put = contract(
        "NIFTY26FEB26000PE",
        Exchange.NFO,
        "NIFTY",
        "2026-02-24",
        ContractType.PUT,
        strike_micros=26_000 * M,
        quantity=75,
        price_micros=500 * M,
        side=Side.SELL,
    )
    lapsed_call = replace(NIFTY_CALL, symbol="NIFTY26FEB26000CE", quantity_micros=75 * M)
    lapsed_call = replace(lapsed_call, derivative=Derivative("NIFTY", "2026-02-24", ContractType.CALL, 26_000 * M))
    future = contract(
        "NIFTY26FEBFUT", Exchange.NFO, "NIFTY", "2026-02-24", ContractType.FUTURE, quantity=75, price_micros=25_000 * M
    )
    for fields in (short_put, lapsed_call, future):
        await service.create(ALICE, rid(), fields)
    service.clock.now = NEXT_DAY  # type: ignore[attr-defined]
    result = await service.settle_expired(PRICES)
    fills = {t.fields.symbol: t.fields for t in result.settled}
    assert {s: (f.side, f.price_micros, f.fees_micros) for s, f in fills.items()} == {
        "NIFTY26FEB26000PE": (Side.BUY, 487_650_000, 0),  # assigned: the writer pays nothing more
        "NIFTY26FEB26000CE": (Side.SELL, 0, 0),  # out of the money: lapses
        "NIFTY26FEBFUT": (Side.SELL, 25_512_350_000, 0),  # final settlement: no STT, no brokerage
    }
    assert all(f.charges_source is ChargesSource.COMPUTED and f.fee_breakdown == FeeBreakdown() for f in fills.values())


async def test_recharge_brings_old_settlement_fills_to_the_settlement_rules_once(
    service: TradeService, store: InMemoryTradeStore
) -> None:
    await service.create(ALICE, rid(), NIFTY_CALL)
    service.clock.now = NEXT_DAY  # type: ignore[attr-defined]
    (fill,) = (await service.settle_expired(PRICES)).settled
    # A fill written before decision 0310: charges 0, version settlement/<expiry>.
    old = replace(
        fill,
        fields=replace(
            fill.fields, fees_micros=0, fee_breakdown=None, charges_schedule_version="settlement/2026-02-24"
        ),
    )
    store.trades[fill.id] = old
    events_before = len(store.events)
    first = await service.recharge(ADMIN, ALICE, None, None)
    assert first.updated_count == 1
    recharged = store.trades[fill.id]
    assert (recharged.fields.fees_micros, recharged.fields.fee_breakdown) == (96 * M, FeeBreakdown(stt=96 * M))
    assert recharged.fields.charges_schedule_version == fill.fields.charges_schedule_version
    assert recharged.source is Source.SETTLEMENT
    assert recharged.version == old.version + 1
    assert [e.type for e in store.events[events_before:]] == [EventType.UPDATED]
    # Idempotent, and the settlement fill is never charged as a trade (no brokerage, no premium STT).
    second = await service.recharge(ADMIN, ALICE, None, None)
    assert second.updated_count == 0
    assert store.trades[fill.id] == recharged


async def test_mcx_futures_settle_lapsed_options_close_and_options_in_the_money_stay_open(
    service: TradeService,
) -> None:
    future = contract(
        "CRUDEOIL26FEBFUT",
        Exchange.MCX,
        "CRUDEOIL",
        "2026-02-19",
        ContractType.FUTURE,
        quantity=100,
        price_micros=6_000 * M,
    )
    itm = contract(
        "CRUDEOIL26FEB6000CE",
        Exchange.MCX,
        "CRUDEOIL",
        "2026-02-17",
        ContractType.CALL,
        strike_micros=6_000 * M,
        quantity=100,
        price_micros=150 * M,
    )
    otm = contract(
        "CRUDEOIL26FEB6200CE",
        Exchange.MCX,
        "CRUDEOIL",
        "2026-02-17",
        ContractType.CALL,
        strike_micros=6_200 * M,
        quantity=100,
        price_micros=40 * M,
    )
    for fields in (future, itm, otm):
        await service.create(ALICE, rid(), fields)
    # 18:30 IST on the future's expiry day: MCX trades until 23:55, so only the options (17th) have expired.
    service.clock.now = datetime(2026, 2, 19, 13, 0, tzinfo=UTC)  # type: ignore[attr-defined]
    early = await service.settle_expired(PRICES)
    assert [t.fields.symbol for t in early.settled] == ["CRUDEOIL26FEB6200CE"]
    assert [(c.symbol, c.reason) for c in early.devolving] == [("CRUDEOIL26FEB6000CE", Unsettled.DEVOLVES)]
    service.clock.now = NEXT_DAY  # type: ignore[attr-defined]
    later = await service.settle_expired(PRICES)
    (settled,) = later.settled
    # Long 100 bbl bought at 6,000, settled at 6,125 (23:55 IST = 18:25 UTC): +12,500 gross, no settlement charge.
    assert (settled.fields.symbol, settled.fields.side, settled.fields.price_micros) == (
        "CRUDEOIL26FEBFUT",
        Side.SELL,
        6_125 * M,
    )
    assert settled.fields.trade_time == datetime(2026, 2, 19, 18, 25, tzinfo=UTC)
    assert settled.fields.fees_micros == 0
    assert len(later.devolving) == 1  # still open, still reported
    open_positions, _ = await service.positions(ALICE, PositionFilter(open_only=True), 0, "")
    assert [p.symbol for p in open_positions] == ["CRUDEOIL26FEB6000CE"]
    (crude,) = (await service.positions(ALICE, PositionFilter(symbol="CRUDEOIL26FEBFUT"), 0, ""))[0]
    assert crude.realized_pnl_micros == 12_500 * M - crude.total_fees_micros


async def test_currency_futures_and_options_settle_at_the_reference_rate(service: TradeService) -> None:
    future = contract(
        "USDINR26FEBFUT",
        Exchange.CDS,
        "USDINR",
        "2026-02-24",
        ContractType.FUTURE,
        quantity=2_000,
        price_micros=83_250_000,
    )
    call = contract(
        "USDINR26FEB83.25CE",
        Exchange.CDS,
        "USDINR",
        "2026-02-24",
        ContractType.CALL,
        strike_micros=83_250_000,
        quantity=1_000,
        price_micros=150_000,
    )
    await service.create(ALICE, rid(), future)
    await service.create(ALICE, rid(), call)
    service.clock.now = NEXT_DAY  # type: ignore[attr-defined]
    result = await service.settle_expired(PRICES)
    fills = {t.fields.symbol: t.fields for t in result.settled}
    # Future: sold at the RBI reference rate 83.4525; call: intrinsic 83.4525 - 83.25 = 0.2025. No STT on currency.
    assert {s: (f.side, f.quantity_micros, f.price_micros, f.fees_micros) for s, f in fills.items()} == {
        "USDINR26FEBFUT": (Side.SELL, 2_000 * M, 83_452_500, 0),
        "USDINR26FEB83.25CE": (Side.SELL, 1_000 * M, 202_500, 0),
    }
    assert {f.trade_time for f in fills.values()} == {datetime(2026, 2, 24, 11, 30, tzinfo=UTC)}  # 17:00 IST
    positions = {p.symbol: p for p in (await service.positions(ALICE, PositionFilter(), 0, ""))[0]}
    # (83.4525 - 83.25) x 2,000 = 405.00; (0.2025 - 0.15) x 1,000 = 52.50 (currency trades carry no computed charges).
    assert positions["USDINR26FEBFUT"].realized_pnl_micros == 405 * M
    assert positions["USDINR26FEB83.25CE"].realized_pnl_micros == 52_500_000
    assert all(p.net_quantity_micros == 0 for p in positions.values())


async def test_editing_a_settlement_fills_notes_keeps_its_exercise_stt(service: TradeService) -> None:
    await service.create(ALICE, rid(), NIFTY_CALL)
    service.clock.now = NEXT_DAY  # type: ignore[attr-defined]
    (fill,) = (await service.settle_expired(PRICES)).settled
    noted = await service.update(ALICE, fill.id, fill.etag, ["notes"], replace(fill.fields, notes="exercised"))
    assert noted.fields.notes == "exercised"
    assert (noted.fields.fees_micros, noted.fields.fee_breakdown) == (96 * M, FeeBreakdown(stt=96 * M))
    assert noted.fields.charges_schedule_version == fill.fields.charges_schedule_version
