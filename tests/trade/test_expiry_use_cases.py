"""Lot sizes and expiry settlement as use cases, against in-memory fakes of the trade ports."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from trademesh.kernel.errors import FailedPrecondition, InvalidArgument
from trademesh.kernel.instruments import ContractType, Derivative, Exchange, Side
from trademesh.kernel.settlement import parse_settlement_prices
from trademesh.services.core.identity import ROLE_ADMIN, Principal
from trademesh.services.trade.import_formats import parse_file
from trademesh.services.trade.model import (
    ChargesSource,
    EventType,
    PositionFilter,
    Source,
    TradeFields,
)
from trademesh.services.trade.server import bootstrap
from trademesh.services.trade.service import TradeService
from trademesh.services.trade.settings import TradeSettings

from .fakes import CountingRateLimiter, InMemoryTradeStore, ManualClock, RecordingEventSink

ALICE = "user-alice"
BOB = "user-bob"
M = 1_000_000
EXPIRY = "2026-02-24"
ENTRY = datetime(2026, 2, 20, 4, 0, tzinfo=UTC)  # 09:30 IST, four days before expiry
AFTER_CLOSE = datetime(2026, 2, 24, 13, 0, tzinfo=UTC)  # 18:30 IST on the expiry day
ADMIN = Principal("admin", frozenset({ROLE_ADMIN}), "t", "s", AFTER_CLOSE + timedelta(days=1))
PRICES = parse_settlement_prices("symbol,date,price\nNIFTY,2026-02-24,25512.35\nNIFTY26FEBFUT,2026-02-24,25515.00\n")


def rid() -> str:
    return str(uuid.uuid4())


@dataclass
class DictInstruments:
    """The `InstrumentLookup` port over a dict of (exchange, symbol) → lot size."""

    lots: dict[tuple[str, str], int] = field(default_factory=dict)

    def lot_size(self, exchange: str, symbol: str) -> int | None:
        return self.lots.get((exchange, symbol))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(ENTRY + timedelta(hours=1))


@pytest.fixture
def store() -> InMemoryTradeStore:
    return InMemoryTradeStore()


@pytest.fixture
def sink() -> RecordingEventSink:
    return RecordingEventSink()


@pytest.fixture
def service(store: InMemoryTradeStore, sink: RecordingEventSink, clock: ManualClock) -> TradeService:
    settings = TradeSettings(token_secret="use-case-tests-secret-0123456789abcdef")
    instruments = DictInstruments({("NFO", "NIFTY26FEBFUT"): 75, ("NFO", "NIFTY26FEB25000CE"): 75})
    return bootstrap(
        settings, store=store, events=sink, limiter=CountingRateLimiter(), clock=clock, instruments=instruments
    )


def contract(symbol: str, kind: ContractType, strike: int = 0) -> TradeFields:
    return TradeFields(
        symbol=symbol,
        exchange=Exchange.NFO,
        derivative=Derivative("NIFTY", EXPIRY, kind, strike * M),
        side=Side.BUY,
        quantity_micros=75 * M,
        price_micros=100 * M,
        trade_time=ENTRY,
    )


FUT = contract("NIFTY26FEBFUT", ContractType.FUTURE)
CALL = contract("NIFTY26FEB25000CE", ContractType.CALL, 25_000)
PUT = contract("NIFTY26FEB26000PE", ContractType.PUT, 26_000)
OTM_CALL = contract("NIFTY26FEB26000CE", ContractType.CALL, 26_000)


async def test_a_quantity_that_is_not_whole_lots_is_rejected_on_create(service: TradeService) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await service.create(ALICE, rid(), replace(FUT, quantity_micros=50 * M))
    (violation,) = raised.value.violations
    assert violation.field == "trade.quantity_micros"
    assert "lot size of NIFTY26FEBFUT: 75 units" in violation.description
    created = await service.create(ALICE, rid(), replace(FUT, quantity_micros=150 * M))
    assert created.fields.quantity_micros == 150 * M
    # Not in the master (an expired or unknown contract): not checked.
    await service.create(ALICE, rid(), replace(PUT, quantity_micros=10 * M))
    # Equity is never lot-checked.
    equity = TradeFields(
        symbol="INFY", exchange=Exchange.NSE, side=Side.BUY, quantity_micros=7 * M, price_micros=M, trade_time=ENTRY
    )
    await service.create(ALICE, rid(), equity)


async def test_update_checks_lots_when_quantity_or_instrument_changes(service: TradeService) -> None:
    created = await service.create(ALICE, rid(), FUT)
    with pytest.raises(InvalidArgument) as raised:
        await service.update(ALICE, created.id, created.etag, ["quantity_micros"], replace(FUT, quantity_micros=M))
    assert [v.field for v in raised.value.violations] == ["trade.quantity_micros"]
    notes = await service.update(ALICE, created.id, created.etag, ["notes"], replace(FUT, notes="fine"))
    assert notes.fields.notes == "fine"


async def test_imports_report_rows_that_are_not_whole_lots(service: TradeService) -> None:
    content = (
        b"symbol,isin,trade_date,exchange,segment,series,trade_type,auction,quantity,price,trade_id,order_id,"
        b"order_execution_time,expiry_date\n"
        b"NIFTY26FEBFUT,,2026-02-20,NSE,FO,,buy,false,75,25000,1,11,2026-02-20T09:30:00,2026-02-24\n"
        b"NIFTY26FEBFUT,,2026-02-20,NSE,FO,,buy,false,70,25000,2,12,2026-02-20T09:31:00,2026-02-24\n"
    )
    result = await service.import_rows(
        ALICE,
        rid(),
        content,
        "IMPORT_FORMAT_ZERODHA_TRADEBOOK_CSV",
        lambda: parse_file("IMPORT_FORMAT_ZERODHA_TRADEBOOK_CSV", content, ALICE),
        dry_run=False,
        broker_account_id="",
        source_hint="tradebook.csv",
    )
    assert (result.rows_created, result.rows_failed) == (1, 1)
    (error,) = result.row_errors
    assert error.row_number == 3
    assert "lot size" in error.message


async def test_positions_report_the_lot_size(service: TradeService) -> None:
    await service.create(ALICE, rid(), FUT)
    await service.create(ALICE, rid(), replace(PUT, quantity_micros=10 * M))
    positions, _ = await service.positions(ALICE, PositionFilter(), 0, "")
    lots = {p.symbol: p.lot_size for p in positions}
    assert lots == {"NIFTY26FEBFUT": 75, "NIFTY26FEB26000PE": None}


async def test_expired_positions_are_settled_once_with_computed_zero_charges(
    service: TradeService, store: InMemoryTradeStore, sink: RecordingEventSink, clock: ManualClock
) -> None:
    await service.create(ALICE, rid(), FUT)  # long 75 at 100
    await service.create(ALICE, rid(), replace(CALL, quantity_micros=150 * M))  # long 150 CE 25,000
    await service.create(ALICE, rid(), replace(PUT, side=Side.SELL, price_micros=500 * M))  # short 75 PE 26,000
    await service.create(ALICE, rid(), OTM_CALL)  # long 75 CE 26,000: lapses
    # A closed position is left alone.
    await service.create(ALICE, rid(), replace(CALL, symbol="NIFTY26FEB24000CE"))
    await service.create(
        ALICE, rid(), replace(CALL, symbol="NIFTY26FEB24000CE", side=Side.SELL, trade_time=ENTRY + timedelta(hours=1))
    )
    clock.now = AFTER_CLOSE - timedelta(hours=3, minutes=1)  # 15:29 IST: not yet expired
    early = await service.settle_expired(PRICES)
    assert early.settled_count == 0

    clock.now = AFTER_CLOSE
    before = len(sink.committed_trades)
    result = await service.settle_expired(PRICES)
    assert (result.open_expired_count, result.settled_count, len(result.unpriced)) == (4, 4, 0)
    fills = {t.fields.symbol: t for t in result.settled}
    expected = {
        "NIFTY26FEBFUT": (Side.SELL, 75 * M, 25_515 * M),
        "NIFTY26FEB25000CE": (Side.SELL, 150 * M, 512_350_000),  # 25,512.35 - 25,000
        "NIFTY26FEB26000PE": (Side.BUY, 75 * M, 487_650_000),  # 26,000 - 25,512.35
        "NIFTY26FEB26000CE": (Side.SELL, 75 * M, 0),
    }
    assert {s: (t.fields.side, t.fields.quantity_micros, t.fields.price_micros) for s, t in fills.items()} == expected
    for trade in fills.values():
        assert trade.source is Source.SETTLEMENT
        assert trade.fields.charges_source is ChargesSource.COMPUTED
        assert trade.fields.charges_schedule_version.startswith("settlement/in-")
        assert trade.fields.trade_time == datetime(2026, 2, 24, 10, 0, tzinfo=UTC)
    # Only the long call exercised in the money pays: STT 0.125 % of 76,852.50 = 96.07 -> ₹96 (decision 0310).
    assert {s: t.fields.fees_micros for s, t in fills.items()} == {
        "NIFTY26FEBFUT": 0,
        "NIFTY26FEB25000CE": 96 * M,
        "NIFTY26FEB26000PE": 0,
        "NIFTY26FEB26000CE": 0,
    }
    created_events = [e for e in store.events if e.type is EventType.CREATED and e.trade.source is Source.SETTLEMENT]
    assert len(created_events) == 4
    assert len(sink.committed_trades) - before >= 4
    positions, _ = await service.positions(ALICE, PositionFilter(open_only=True), 0, "")
    assert positions == []
    closed, _ = await service.positions(ALICE, PositionFilter(symbol="NIFTY26FEB25000CE"), 0, "")
    # Bought 150 at 100, settled at 512.35: (512.35 - 100) x 150 = 61,852.50, less the entry's and the
    # settlement's charges (the exercise STT is in total_fees_micros).
    entry_fees = closed[0].total_fees_micros
    assert entry_fees > 96 * M
    assert closed[0].realized_pnl_micros == 61_852_500_000 - entry_fees

    trades_before = dict(store.trades)
    again = await service.settle_expired(PRICES)
    assert (again.open_expired_count, again.settled_count) == (0, 0)
    assert store.trades == trades_before


async def test_unpriced_contracts_are_reported_and_left_open(service: TradeService, clock: ManualClock) -> None:
    await service.create(ALICE, rid(), FUT)
    await service.create(ALICE, rid(), CALL)
    clock.now = AFTER_CLOSE
    result = await service.settle_expired(parse_settlement_prices("symbol,date,price\nNIFTY,2026-02-23,25000\n"))
    assert result.settled_count == 0
    assert sorted((u.symbol, u.price_symbol) for u in result.unpriced) == [
        ("NIFTY26FEB25000CE", "NIFTY"),
        ("NIFTY26FEBFUT", "NIFTY26FEBFUT or NIFTY"),
    ]
    positions, _ = await service.positions(ALICE, PositionFilter(open_only=True), 0, "")
    assert len(positions) == 2


async def test_settlement_is_per_user_and_broker_account(service: TradeService, clock: ManualClock) -> None:
    await service.create(ALICE, rid(), replace(FUT, broker_account_id="ZA1"))
    await service.create(ALICE, rid(), replace(FUT, broker_account_id="ZA2", side=Side.SELL, quantity_micros=150 * M))
    await service.create(BOB, rid(), FUT)
    clock.now = AFTER_CLOSE
    only_bob = await service.settle_expired(PRICES, BOB)
    assert [(t.user_id, t.fields.side) for t in only_bob.settled] == [(BOB, Side.SELL)]
    everyone = await service.settle_expired(PRICES)
    assert sorted(
        (t.user_id, t.fields.broker_account_id, t.fields.side, t.fields.quantity_micros) for t in everyone.settled
    ) == [
        (ALICE, "ZA1", Side.SELL, 75 * M),
        (ALICE, "ZA2", Side.BUY, 150 * M),
    ]
    for account in ("ZA1", "ZA2"):
        open_positions, _ = await service.positions(
            ALICE, PositionFilter(open_only=True, broker_account_id=account), 0, ""
        )
        assert open_positions == []


async def test_a_settlement_fill_keeps_its_numbers_and_zero_charges(service: TradeService, clock: ManualClock) -> None:
    await service.create(ALICE, rid(), FUT)
    clock.now = AFTER_CLOSE
    (fill,) = (await service.settle_expired(PRICES)).settled
    with pytest.raises(FailedPrecondition) as raised:
        await service.update(ALICE, fill.id, fill.etag, ["price_micros"], replace(fill.fields, price_micros=M))
    assert raised.value.reason == "SETTLEMENT_FIELD_READ_ONLY"
    noted = await service.update(ALICE, fill.id, fill.etag, ["notes"], replace(fill.fields, notes="expired"))
    assert (noted.fields.fees_micros, noted.fields.charges_source) == (0, ChargesSource.COMPUTED)
    recharged = await service.recharge(ADMIN, ALICE, None, None)
    assert recharged.updated_count == 0
    # A deleted settlement fill reopens the position, and a rerun does not write a second one.
    await service.delete(ALICE, fill.id, "")
    rerun = await service.settle_expired(PRICES)
    assert (rerun.settled_count, rerun.already_settled_count) == (0, 1)
