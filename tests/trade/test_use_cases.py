"""The trade use cases against in-memory fakes of their ports: the journal's rules, in milliseconds."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from trademesh.kernel.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
)
from trademesh.kernel.instruments import ContractType, Exchange, Segment, Side
from trademesh.services.core.identity import ROLE_SERVICE, ROLE_USER, Principal
from trademesh.services.trade.import_formats import parse_file
from trademesh.services.trade.model import (
    Broker,
    Category,
    ChargesSource,
    EventType,
    ImportResult,
    PositionFilter,
    Source,
    Status,
    TradeFields,
    TradeFilter,
    execution_sequences,
    journal_order,
)
from trademesh.services.trade.server import bootstrap
from trademesh.services.trade.service import TradeService
from trademesh.services.trade.settings import TradeSettings

from .fakes import CountingRateLimiter, InMemoryTradeStore, ManualClock, RecordingEventSink

ALICE = "user-alice"
BOB = "user-bob"
MARKET_OPEN = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # 09:30 IST
SERVICE = Principal("sync", frozenset({ROLE_SERVICE}), "t", "s", MARKET_OPEN + timedelta(days=1))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store() -> InMemoryTradeStore:
    return InMemoryTradeStore()


@pytest.fixture
def sink() -> RecordingEventSink:
    return RecordingEventSink()


@pytest.fixture
def service(store: InMemoryTradeStore, sink: RecordingEventSink, clock: ManualClock) -> TradeService:
    settings = TradeSettings(
        token_secret="use-case-tests-secret-0123456789abcdef", trade_quota=10, import_limit_per_minute=3
    )
    return bootstrap(settings, store=store, events=sink, limiter=CountingRateLimiter(), clock=clock)


def fields(**changes: object) -> TradeFields:
    base = TradeFields(
        symbol="INFY",
        exchange=Exchange.NSE,
        side=Side.BUY,
        quantity_micros=10_000_000,
        price_micros=1_500_000_000,
        trade_time=MARKET_OPEN,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def request_id() -> str:
    return str(uuid.uuid4())


# ---------------------------------------------------------------- create


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


# ---------------------------------------------------------------- ownership, update


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


async def test_update_applies_masked_fields_and_bumps_the_version(service: TradeService) -> None:
    trade = await service.create(ALICE, request_id(), fields())
    updated = await service.update(ALICE, trade.id, "v1", ["notes", "tags"], fields(notes="breakout", tags=("a", "A")))
    assert (updated.version, updated.etag) == (2, "v2")
    assert (updated.fields.notes, updated.fields.tags) == ("breakout", ("a",))
    assert updated.fields.quantity_micros == trade.fields.quantity_micros


async def test_update_with_a_stale_etag_is_aborted(service: TradeService) -> None:
    trade = await service.create(ALICE, request_id(), fields())
    await service.update(ALICE, trade.id, "v1", ["notes"], fields(notes="one"))
    with pytest.raises(Aborted) as error:
        await service.update(ALICE, trade.id, "v1", ["notes"], fields(notes="two"))
    assert error.value.reason == "ETAG_MISMATCH"


async def test_update_names_unknown_mask_paths(service: TradeService) -> None:
    trade = await service.create(ALICE, request_id(), fields())
    with pytest.raises(InvalidArgument) as error:
        await service.update(ALICE, trade.id, "v1", ["notes", "user_id"], fields())
    assert [v.field for v in error.value.violations] == ["update_mask.paths[1]"]


async def test_update_of_a_deleted_trade_fails(service: TradeService) -> None:
    trade = await service.create(ALICE, request_id(), fields())
    deleted = await service.delete(ALICE, trade.id, "v1")
    with pytest.raises(FailedPrecondition) as error:
        await service.update(ALICE, trade.id, deleted.etag, ["notes"], fields(notes="x"))
    assert error.value.reason == "TRADE_DELETED"


# ---------------------------------------------------------------- list


async def test_list_pages_newest_first_with_page_tokens(service: TradeService) -> None:
    created = [
        await service.create(ALICE, request_id(), fields(trade_time=MARKET_OPEN + timedelta(minutes=i)))
        for i in range(5)
    ]
    await service.create(BOB, request_id(), fields())
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page, token = await service.list_trades(ALICE, TradeFilter(), 2, token)
        seen.extend(trade.id for trade in page)
        pages += 1
        if not token:
            break
    assert pages == 3
    assert seen == [trade.id for trade in reversed(created)]


async def test_a_page_token_works_only_for_its_user_and_filters(service: TradeService) -> None:
    for i in range(3):
        await service.create(ALICE, request_id(), fields(trade_time=MARKET_OPEN + timedelta(minutes=i)))
    _, token = await service.list_trades(ALICE, TradeFilter(), 1, "")
    assert token
    for user, filters, bad in (
        (BOB, TradeFilter(), token),
        (ALICE, TradeFilter(symbol="TCS"), token),
        (ALICE, TradeFilter(), token[:-2] + "xx"),
    ):
        with pytest.raises(InvalidArgument) as error:
            await service.list_trades(user, filters, 1, bad)
        assert error.value.reason == "PAGE_TOKEN_INVALID"


async def test_list_rejects_a_negative_page_size_and_an_empty_time_range(service: TradeService) -> None:
    with pytest.raises(InvalidArgument):
        await service.list_trades(ALICE, TradeFilter(), -1, "")
    with pytest.raises(InvalidArgument) as error:
        await service.list_trades(ALICE, TradeFilter(start_time=MARKET_OPEN, end_time=MARKET_OPEN), 10, "")
    assert [v.field for v in error.value.violations] == ["start_time"]


# ---------------------------------------------------------------- delete, restore, purge


async def test_delete_hides_the_trade_from_lists_until_restored(service: TradeService) -> None:
    trade = await service.create(ALICE, request_id(), fields())
    deleted = await service.delete(ALICE, trade.id, "v1")
    assert deleted.status is Status.DELETED
    assert deleted.purge_time == deleted.delete_time + timedelta(days=30)  # type: ignore[operator]
    assert (await service.list_trades(ALICE, TradeFilter(), 10, ""))[0] == []
    assert await service.delete(ALICE, trade.id, "") == deleted  # deleting again changes nothing
    restored = await service.undelete(ALICE, trade.id, deleted.etag)
    assert (restored.status, restored.version, restored.purge_time) == (Status.ACTIVE, 3, None)
    assert [t.id for t in (await service.list_trades(ALICE, TradeFilter(), 10, ""))[0]] == [trade.id]


async def test_a_deleted_trade_past_its_purge_time_is_gone(service: TradeService, clock: ManualClock) -> None:
    trade = await service.create(ALICE, request_id(), fields())
    await service.delete(ALICE, trade.id, "v1")
    assert (await service.get(ALICE, trade.id)).status is Status.DELETED
    clock.advance(timedelta(days=30))
    with pytest.raises(NotFound):
        await service.get(ALICE, trade.id)
    with pytest.raises(NotFound):
        await service.undelete(ALICE, trade.id, "")


async def test_deleting_one_side_of_a_day_makes_the_other_swing_again(
    service: TradeService, store: InMemoryTradeStore
) -> None:
    buy = await service.create(ALICE, request_id(), fields())
    sell = await service.create(ALICE, request_id(), fields(side=Side.SELL))
    assert store.trades[buy.id].fields.category is Category.INTRADAY
    await service.delete(ALICE, sell.id, "")
    assert store.trades[buy.id].fields.category is Category.SWING


# ---------------------------------------------------------------- import

GENERIC = (
    b"symbol,exchange,side,quantity,price,trade_time,trade_id\n"
    b"INFY,NSE,BUY,10,1500.5,2026-03-02 09:30:00,G1\n"
    b"INFY,NSE,SELL,10,1510,2026-03-02 10:30:00,G2\n"
    b"TCS,NSE,BUY,5,3500,2026-03-02 11:00:00,\n"
)


async def import_file(
    service: TradeService,
    content: bytes,
    rid: str,
    *,
    format_name: str = "IMPORT_FORMAT_GENERIC_CSV",
    dry_run: bool = False,
) -> ImportResult:
    return await service.import_rows(
        ALICE,
        rid,
        content,
        format_name,
        lambda: parse_file(format_name, content, ALICE),
        dry_run=dry_run,
        broker_account_id="",
        source_hint="test.csv",
    )


async def test_import_creates_each_row_once(service: TradeService, store: InMemoryTradeStore) -> None:
    result = await import_file(service, GENERIC, request_id())
    assert (result.rows_total, result.rows_created, result.rows_duplicate, result.rows_failed) == (3, 3, 0, 0)
    trades = list(store.trades.values())
    assert {t.source for t in trades} == {Source.IMPORT}
    assert {t.import_id for t in trades} == {result.import_id}
    assert {t.fields.category for t in trades if t.fields.symbol == "INFY"} == {Category.INTRADAY}


async def test_import_retried_with_its_request_id_returns_the_first_result(
    service: TradeService, store: InMemoryTradeStore
) -> None:
    rid = request_id()
    first = await import_file(service, GENERIC, rid)
    again = await import_file(service, GENERIC, rid)
    assert again == first
    assert len(store.trades) == 3


async def test_the_same_file_imported_twice_creates_nothing_the_second_time(
    service: TradeService, store: InMemoryTradeStore
) -> None:
    await import_file(service, GENERIC, request_id())
    second = await import_file(service, GENERIC, request_id())
    assert (second.rows_created, second.rows_duplicate) == (0, 3)
    assert len(store.trades) == 3


async def test_import_request_id_reuse_with_another_file_is_refused(service: TradeService) -> None:
    rid = request_id()
    await import_file(service, GENERIC, rid)
    with pytest.raises(AlreadyExists) as error:
        await import_file(service, GENERIC + b"WIPRO,NSE,BUY,1,400,2026-03-02 12:00:00,G9\n", rid)
    assert error.value.reason == "REQUEST_ID_REUSED"


async def test_import_reports_row_errors_and_imports_the_good_rows(
    service: TradeService, store: InMemoryTradeStore
) -> None:
    content = (
        b"symbol,exchange,side,quantity,price,trade_time,trade_id\n"
        b"INFY,NSE,HOLD,10,1500,2026-03-02 09:30:00,E1\n"
        b"INFY,NSE,BUY,ten,1500,2026-03-02 09:30:00,E2\n"
        b"INFY,XYZ,BUY,10,1500,2026-03-02 09:30:00,E3\n"
        b"INFY,NSE,BUY,10,1500,2026-03-02 09:30:00,E4\n"
        b"INFY,NSE,BUY,10,1500,2026-03-02 09:30:00,E4\n"
    )
    result = await import_file(service, content, request_id())
    assert (result.rows_created, result.rows_failed, result.rows_duplicate) == (1, 3, 1)
    assert [(e.row_number, e.column, e.reason) for e in result.row_errors] == [
        (2, "side", "INVALID_SIDE"),
        (3, "quantity", "INVALID_NUMBER"),
        (4, "exchange", "UNKNOWN_EXCHANGE"),
        (6, "trade_id", "DUPLICATE_IN_FILE"),
    ]
    assert len(store.trades) == 1


async def test_a_dry_run_writes_nothing(service: TradeService, store: InMemoryTradeStore) -> None:
    result = await import_file(service, GENERIC, request_id(), dry_run=True)
    assert (result.dry_run, result.rows_created, result.import_id) == (True, 3, "")
    assert store.trades == {}
    assert store.imports == {}


async def test_imports_are_rate_limited_per_user(service: TradeService) -> None:
    for _ in range(3):
        await import_file(service, GENERIC, request_id())
    with pytest.raises(ResourceExhausted) as error:
        await import_file(service, GENERIC, request_id())
    assert error.value.reason == "IMPORT_RATE_LIMITED"


async def test_import_of_a_zerodha_tradebook_derives_contracts_from_symbols(
    service: TradeService, store: InMemoryTradeStore
) -> None:
    content = (
        b"symbol,isin,trade_date,exchange,segment,trade_type,quantity,price,trade_id,order_id,order_execution_time\n"
        b"NIFTY26MAR22000CE,,2026-03-02,NSE,FO,buy,50,120.5,Z1,O1,2026-03-02T09:30:00\n"
        b"NIFTYMARCH,,2026-03-02,NSE,FO,buy,50,120.5,Z2,O2,2026-03-02T09:31:00\n"
    )
    result = await import_file(service, content, request_id(), format_name="IMPORT_FORMAT_ZERODHA_TRADEBOOK_CSV")
    assert (result.rows_created, result.rows_failed) == (1, 1)
    assert [(e.row_number, e.column, e.reason) for e in result.row_errors] == [(3, "symbol", "SYMBOL_UNPARSEABLE")]
    (trade,) = store.trades.values()
    derivative = trade.fields.derivative
    assert derivative is not None
    assert (derivative.underlying, derivative.expiry_date, derivative.contract_type) == (
        "NIFTY",
        "2026-03-26",
        ContractType.CALL,
    )
    assert derivative.strike_price_micros == 22_000_000_000
    assert (trade.fields.broker, trade.fields.segment) == (Broker.ZERODHA, Segment.OPTIONS)


# ---------------------------------------------------------------- reconcile


def broker_fill(trade_id: str, **changes: object) -> tuple[TradeFields, bool, Category | None]:
    return (fields(broker_trade_id=trade_id, **changes), False, None)


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


# ---------------------------------------------------------------- positions


async def test_positions_replay_fills_first_in_first_out(service: TradeService) -> None:
    for minute, side, quantity, price in ((0, Side.BUY, 10, 100), (1, Side.BUY, 10, 110), (2, Side.SELL, 15, 120)):
        await service.create(
            ALICE,
            request_id(),
            fields(
                side=side,
                quantity_micros=quantity * 1_000_000,
                price_micros=price * 1_000_000,
                trade_time=MARKET_OPEN + timedelta(minutes=minute),
                # Charges typed as zero: this test is about FIFO arithmetic, not charges.
                charges_source=ChargesSource.MANUAL,
            ),
        )
    (position,), token = await service.positions(ALICE, PositionFilter(), 0, "")
    assert token == ""
    assert position.net_quantity_micros == 5_000_000
    assert position.average_open_price_micros == 110_000_000
    assert position.realized_pnl_micros == (10 * 20 + 5 * 10) * 1_000_000
    assert (position.buy_quantity_micros, position.sell_quantity_micros, position.trade_count) == (
        20_000_000,
        15_000_000,
        3,
    )
    assert position.is_open


async def test_positions_leave_out_deleted_trades_and_filter_open_ones(service: TradeService) -> None:
    buy = await service.create(ALICE, request_id(), fields())
    await service.create(ALICE, request_id(), fields(side=Side.SELL, trade_time=MARKET_OPEN + timedelta(minutes=1)))
    await service.create(ALICE, request_id(), fields(symbol="TCS"))
    closed, _ = await service.positions(ALICE, PositionFilter(open_only=False), 0, "")
    assert [p.symbol for p in closed] == ["INFY"]
    await service.delete(ALICE, buy.id, "")
    (short, tcs), _ = await service.positions(ALICE, PositionFilter(open_only=True), 0, "")
    assert (short.symbol, short.net_quantity_micros) == ("INFY", -10_000_000)
    assert tcs.symbol == "TCS"


async def test_positions_page_with_tokens(service: TradeService) -> None:
    for minute, symbol in enumerate(("INFY", "TCS", "WIPRO")):
        await service.create(
            ALICE, request_id(), fields(symbol=symbol, trade_time=MARKET_OPEN + timedelta(minutes=minute))
        )
    first, token = await service.positions(ALICE, PositionFilter(), 2, "")
    second, last = await service.positions(ALICE, PositionFilter(), 2, token)
    assert [p.symbol for p in [*first, *second]] == ["WIPRO", "TCS", "INFY"]
    assert last == ""
    with pytest.raises(InvalidArgument):
        await service.positions(BOB, PositionFilter(), 2, token)


# ---------------------------------------------------------------- execution order (decision 0110)

SAME_MINUTE = (
    b"symbol,exchange,side,quantity,price,trade_time\n"
    b"SBIN,NSE,BUY,5,800,2026-03-02 10:00:00\n"
    b"SBIN,NSE,BUY,5,810,2026-03-02 10:30:00\n"
    b"SBIN,NSE,SELL,10,820,2026-03-02 10:30:00\n"
)


async def test_an_import_numbers_its_rows_in_file_order_and_positions_replay_them_so(
    service: TradeService, store: InMemoryTradeStore
) -> None:
    await import_file(service, SAME_MINUTE, request_id())
    trades = sorted(store.trades.values(), key=journal_order)
    assert [(t.exec_seq, t.fields.side, t.fields.price_micros // 1_000_000) for t in trades] == [
        (1, Side.BUY, 800),
        (2, Side.BUY, 810),
        (3, Side.SELL, 820),
    ]
    assert len({t.create_time for t in trades}) == 1
    [position] = (await service.positions(ALICE, PositionFilter(), 0, ""))[0]
    # One round trip: gross 150 (decision 0110), net of every row's computed charges (the file has none).
    assert all(t.fields.charges_source is ChargesSource.COMPUTED for t in trades)
    fees = sum(t.fields.fees_micros for t in trades)
    assert fees > 0
    assert (position.net_quantity_micros, position.realized_pnl_micros) == (0, 150_000_000 - fees)


async def test_numeric_broker_trade_ids_order_an_import_and_other_ids_keep_row_order() -> None:
    assert execution_sequences(["1003", "1001", "1002"]) == [3, 1, 2]
    assert execution_sequences(["1003", "X1", "1002"]) == [1, 2, 3]
    assert execution_sequences(["", "", ""]) == [1, 2, 3]
    assert execution_sequences([]) == []


async def test_reconcile_numbers_new_trades_by_broker_trade_id(
    service: TradeService, store: InMemoryTradeStore
) -> None:
    items = [broker_fill("5002", side=Side.SELL), broker_fill("5001")]
    await service.reconcile(SERVICE, ALICE, Broker.ZERODHA, "AB1234", items)
    by_id = {t.fields.broker_trade_id: t.exec_seq for t in store.trades.values()}
    assert by_id == {"5001": 1, "5002": 2}


async def test_a_trade_crossing_zero_splits_its_fee_in_whole_micros_by_largest_remainder(
    service: TradeService,
) -> None:
    # Decision 0111: long 1, sell 2 with a 7-micro fee → 4 micros close the long, 3 stay on the new short.
    # The buy's charges are typed as zero (MANUAL): only the sell's 7 micros are split here.
    await service.create(
        ALICE,
        request_id(),
        fields(quantity_micros=1_000_000, price_micros=100_000_000, charges_source=ChargesSource.MANUAL),
    )
    await service.create(
        ALICE,
        request_id(),
        fields(
            side=Side.SELL,
            quantity_micros=2_000_000,
            price_micros=110_000_000,
            fees_micros=7,
            trade_time=MARKET_OPEN + timedelta(minutes=1),
        ),
    )
    [position] = (await service.positions(ALICE, PositionFilter(), 0, ""))[0]
    assert (position.net_quantity_micros, position.open_fees_micros) == (-1_000_000, 3)
    assert position.realized_pnl_micros == 10_000_000 - 4
