"""The trade use cases against in-memory fakes of their ports: importing files."""

from __future__ import annotations

import pytest

from tests.trade.fakes import InMemoryTradeStore
from tests.trade.use_cases.helpers import GENERIC, import_file, request_id
from trademesh.kernel.errors import (
    AlreadyExists,
    ResourceExhausted,
)
from trademesh.kernel.instruments import ContractType, Segment
from trademesh.services.trade.model import (
    Broker,
    Category,
    Source,
)
from trademesh.services.trade.service import TradeService


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
        "2026-03-31",  # NSE monthly expiries fall on the last Tuesday from September 2025 (kernel expiry_days)
        ContractType.CALL,
    )
    assert derivative.strike_price_micros == 22_000_000_000
    assert (trade.fields.broker, trade.fields.segment) == (Broker.ZERODHA, Segment.OPTIONS)
