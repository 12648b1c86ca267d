"""ImportTrades: broker and generic CSV files, row errors, deduplication, idempotency, 50,000 rows."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.conftest import MeshUser
from tests.rpc import expect_failure
from tests.trade.conftest import RunningTrade, new_request_id
from trademesh.common.v1 import instrument_pb2
from trademesh.trade.v1 import import_pb2, position_pb2, trade_pb2, trade_service_pb2

NewUser = Callable[[], Awaitable[MeshUser]]
DATA = Path(__file__).parent / "data"
ZERODHA = import_pb2.IMPORT_FORMAT_ZERODHA_TRADEBOOK_CSV
UPSTOX = import_pb2.IMPORT_FORMAT_UPSTOX_TRADE_REPORT_CSV
GENERIC = import_pb2.IMPORT_FORMAT_GENERIC_CSV
IST_OFFSET = timedelta(hours=5, minutes=30)
ZERODHA_HEADER = (
    "symbol,isin,trade_date,exchange,segment,series,trade_type,auction,quantity,price,trade_id,order_id,"
    "order_execution_time\n"
)


async def _import(
    running: RunningTrade, user: MeshUser, content: bytes, file_format: Any, **extra: Any
) -> trade_service_pb2.ImportTradesResponse:
    request = trade_service_pb2.ImportTradesRequest(
        request_id=extra.pop("request_id", new_request_id()),
        format=file_format,
        content=content,
        **extra,
    )
    return await running.stub.ImportTrades(request, metadata=user.metadata, timeout=300)


async def _all_trades(running: RunningTrade, user: MeshUser) -> list[trade_pb2.Trade]:
    response = await running.stub.ListTrades(
        trade_service_pb2.ListTradesRequest(page_size=500, show_deleted=True), metadata=user.metadata
    )
    return list(response.trades)


async def test_zerodha_equity_tradebook_imports_fills_and_reimport_adds_nothing(
    trade: RunningTrade, new_user: NewUser
) -> None:
    user = await new_user()
    content = (DATA / "zerodha_tradebook_eq.csv").read_bytes()
    request_id = new_request_id()

    first = await _import(trade, user, content, ZERODHA, request_id=request_id)
    retry = await _import(trade, user, content, ZERODHA, request_id=request_id)
    again = await _import(trade, user, content, ZERODHA)
    trades = {t.broker_trade_id: t for t in await _all_trades(trade, user)}
    positions = await trade.stub.ListPositions(
        trade_service_pb2.ListPositionsRequest(symbol="infy"), metadata=user.metadata
    )

    assert (first.rows_total, first.rows_created, first.rows_duplicate, first.rows_failed) == (5, 5, 0, 0)
    assert first.import_id
    assert retry == first
    assert (again.rows_created, again.rows_duplicate) == (0, 5)
    assert len(trades) == 5
    infy = trades["10001"]
    assert infy.broker == instrument_pb2.BROKER_ZERODHA
    assert infy.source == trade_pb2.TRADE_SOURCE_IMPORT
    assert infy.import_id == first.import_id
    assert infy.broker_order_id == "1300000001"
    assert infy.isin == "INE009A01021"
    assert infy.price_micros == 1_500_500_000
    assert infy.trade_time.ToDatetime(tzinfo=UTC) == datetime(2024, 3, 15, 9, 20, 15, tzinfo=UTC) - IST_OFFSET
    assert trades["10003"].category == trade_pb2.TRADE_CATEGORY_INTRADAY
    assert trades["20001"].instrument.exchange == instrument_pb2.EXCHANGE_BSE
    assert trades["30001"].quantity_micros == 123_456
    assert trades["30001"].trade_time.ToDatetime(tzinfo=UTC) == datetime(2024, 3, 19, tzinfo=UTC) - IST_OFFSET
    (infy_position,) = positions.positions
    assert infy_position.status == position_pb2.POSITION_STATUS_CLOSED
    # A tradebook carries no charges: each INFY fill is charged by the schedule (COMPUTED, itemised), and
    # the closed position's realized P&L is the gross 10 x 9.75 + 5 x 9.25 = 143.75 minus all of them.
    infy_fills = [t for t in trades.values() if t.instrument.symbol == "INFY"]
    for fill in infy_fills:
        assert fill.charges_source == trade_pb2.CHARGES_SOURCE_COMPUTED
        assert fill.fees_micros > 0
        breakdown = fill.fee_breakdown
        assert fill.fees_micros == (
            breakdown.brokerage_micros
            + breakdown.stt_micros
            + breakdown.exchange_charges_micros
            + breakdown.sebi_charges_micros
            + breakdown.stamp_duty_micros
            + breakdown.gst_micros
            + breakdown.other_micros
        )
    assert infy_position.total_fees_micros == sum(fill.fees_micros for fill in infy_fills)
    assert infy_position.realized_pnl_micros == 143_750_000 - infy_position.total_fees_micros
    assert infy_position.trade_count == 3


async def test_zerodha_fno_tradebook_derives_contracts(trade: RunningTrade, new_user: NewUser) -> None:
    user = await new_user()

    result = await _import(trade, user, (DATA / "zerodha_tradebook_fo.csv").read_bytes(), ZERODHA)
    trades = {t.broker_trade_id: t for t in await _all_trades(trade, user)}

    assert (result.rows_created, result.rows_failed) == (5, 0), result.row_errors
    call = trades["40001"]
    assert call.instrument.exchange == instrument_pb2.EXCHANGE_NFO
    assert call.segment == trade_pb2.SEGMENT_OPTIONS
    assert (call.derivative.underlying, call.derivative.expiry_date) == ("NIFTY", "2024-03-28")
    assert call.derivative.contract_type == trade_pb2.CONTRACT_TYPE_CALL
    assert call.derivative.strike_price_micros == 22_000_000_000
    future = trades["40003"]
    assert future.segment == trade_pb2.SEGMENT_FUTURES
    assert (future.derivative.contract_type, future.derivative.strike_price_micros) == (
        trade_pb2.CONTRACT_TYPE_FUTURE,
        0,
    )
    weekly = trades["40004"]
    assert weekly.derivative.expiry_date == "2024-03-21"
    assert weekly.derivative.contract_type == trade_pb2.CONTRACT_TYPE_PUT
    assert weekly.derivative.strike_price_micros == 22_100_000_000
    currency = trades["40005"]
    assert currency.instrument.exchange == instrument_pb2.EXCHANGE_CDS
    assert currency.segment == trade_pb2.SEGMENT_CURRENCY
    assert currency.price_micros == 83_102_500


async def test_upstox_trade_report(trade: RunningTrade, new_user: NewUser) -> None:
    user = await new_user()

    result = await _import(trade, user, (DATA / "upstox_trades.csv").read_bytes(), UPSTOX)
    trades = {t.broker_trade_id: t for t in await _all_trades(trade, user)}

    assert (result.rows_created, result.rows_failed) == (3, 0), result.row_errors
    assert trades["50001"].instrument.symbol == "RELIANCE"
    assert trades["50001"].broker == instrument_pb2.BROKER_UPSTOX
    assert (
        trades["50001"].trade_time.ToDatetime(tzinfo=UTC) == datetime(2024, 3, 15, 9, 45, 10, tzinfo=UTC) - IST_OFFSET
    )
    assert trades["50002"].side == trade_pb2.SIDE_SELL
    assert trades["50003"].derivative.expiry_date == "2024-03-28"
    assert trades["50003"].derivative.strike_price_micros == 22_000_000_000


async def test_generic_csv_keeps_identical_fills_and_dedupes_by_fingerprint(
    trade: RunningTrade, new_user: NewUser
) -> None:
    user = await new_user()
    content = (DATA / "generic.csv").read_bytes()

    first = await _import(trade, user, content, GENERIC)
    again = await _import(trade, user, content, GENERIC)
    trades = await _all_trades(trade, user)

    assert (first.rows_created, first.rows_duplicate) == (3, 0)
    assert (again.rows_created, again.rows_duplicate) == (0, 3)
    assert len(trades) == 3
    buys = [t for t in trades if t.side == trade_pb2.SIDE_BUY]
    assert {t.notes for t in buys} == {"first entry", "second identical fill"}
    assert all(t.fees_micros == 20_500_000 and list(t.tags) == ["momentum", "banks"] for t in buys)
    assert all(t.broker == instrument_pb2.BROKER_MANUAL for t in trades)


async def test_second_import_into_days_that_already_hold_trades(trade: RunningTrade, new_user: NewUser) -> None:
    user = await new_user()
    header = "symbol,exchange,side,quantity,price,trade_time,trade_id\n"
    days = [f"2024-03-{day:02d} 10:00" for day in range(1, 31)]  # more days than one bulk day-index write

    def tradebook(prefix: str) -> bytes:
        return (header + "".join(f"INFY,NSE,BUY,1,1500,{day},{prefix}{i}\n" for i, day in enumerate(days))).encode()

    first = await _import(trade, user, tradebook("A"), GENERIC)
    second = await _import(trade, user, tradebook("B"), GENERIC)
    trades = await _all_trades(trade, user)

    assert (first.rows_created, second.rows_created) == (30, 30)
    assert len(trades) == 60


async def test_bad_rows_are_reported_and_good_rows_kept(trade: RunningTrade, new_user: NewUser) -> None:
    user = await new_user()
    future = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    content = (
        "symbol,exchange,side,quantity,price,trade_time,trade_id\n"
        "INFY,NSE,BUY,10,1500,2024-03-15 09:30,A1\n"
        "INFY,XYZ,BUY,10,1500,2024-03-15 09:30,A2\n"
        "INFY,NSE,HOLD,1.1234567,abc,2024-03-15 09:30,A3\n"
        "\n"
        f"INFY,NSE,SELL,10,1500,{future},A4\n"
        "INFY,NSE,SELL\n"
        "INFY,NSE,SELL,10,1510,2024-03-15 10:30,A1\n"
    ).encode()

    result = await _import(trade, user, content, GENERIC)
    problems = {(e.row_number, e.column, e.reason) for e in result.row_errors}

    assert (result.rows_total, result.rows_created, result.rows_duplicate, result.rows_failed) == (6, 2, 0, 4)
    assert {
        (3, "exchange", "UNKNOWN_EXCHANGE"),
        (4, "side", "INVALID_SIDE"),
        (4, "quantity", "TOO_MANY_DECIMALS"),
        (4, "price", "INVALID_NUMBER"),
        (6, "trade_time", "FUTURE_TIME"),
        (7, "", "WRONG_COLUMN_COUNT"),
    } <= problems


async def test_same_trade_id_twice_in_one_file_is_duplicate_in_file(trade: RunningTrade, new_user: NewUser) -> None:
    user = await new_user()
    content = ZERODHA_HEADER.encode() + (
        b"INFY,,2024-03-15,NSE,EQ,EQ,buy,false,1,1500,9,1,2024-03-15T09:20:15\n"
        b"INFY,,2024-03-15,NSE,EQ,EQ,buy,false,1,1500,9,1,2024-03-15T09:20:15\n"
    )

    result = await _import(trade, user, content, ZERODHA)

    assert (result.rows_created, result.rows_duplicate, result.rows_failed) == (1, 1, 0)
    assert [(e.row_number, e.reason) for e in result.row_errors] == [(3, "DUPLICATE_IN_FILE")]


@pytest.mark.parametrize(
    ("content", "file_format", "reason", "field"),
    [
        (b"", GENERIC, "INVALID_ARGUMENT", "content"),
        (b"\xff\xfe\x00bad", GENERIC, "INVALID_ENCODING", "content"),
        (b"symbol,exchange,side,quantity,price\nINFY,NSE,BUY,1,1\n", GENERIC, "INVALID_HEADER", "trade_time"),
        (b"symbol,trade_date,exchange,trade_type,quantity,price\n", ZERODHA, "INVALID_HEADER", "trade_id"),
        (b'symbol,exchange,side,quantity,price,trade_time\n"INFY,NSE', GENERIC, "INVALID_HEADER", "content"),
        (b"a,b\n1,2\n", 0, "INVALID_ARGUMENT", "format"),
    ],
)
async def test_whole_file_problems_are_invalid_argument_and_write_nothing(
    trade: RunningTrade, new_user: NewUser, content: bytes, file_format: int, reason: str, field: str
) -> None:
    user = await new_user()

    failure = await expect_failure(_import(trade, user, content, file_format))

    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.reason == reason
    assert field in failure.violations
    assert await _all_trades(trade, user) == []


async def test_dry_run_reports_without_writing(trade: RunningTrade, new_user: NewUser) -> None:
    user = await new_user()
    content = (DATA / "zerodha_tradebook_eq.csv").read_bytes()

    dry = await _import(trade, user, content, ZERODHA, dry_run=True)
    real = await _import(trade, user, content, ZERODHA)

    assert (dry.dry_run, dry.import_id, dry.rows_created) == (True, "", 5)
    assert (real.rows_created, real.rows_duplicate) == (5, 0)


async def test_import_request_id_reuse_with_other_content_is_already_exists(
    trade: RunningTrade, new_user: NewUser
) -> None:
    user = await new_user()
    request_id = new_request_id()
    await _import(trade, user, (DATA / "generic.csv").read_bytes(), GENERIC, request_id=request_id)

    failure = await expect_failure(
        _import(trade, user, (DATA / "upstox_trades.csv").read_bytes(), UPSTOX, request_id=request_id)
    )

    assert (failure.code, failure.reason) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED")


@pytest.mark.slow
@pytest.mark.timeout(400)
async def test_50000_row_tradebook_imports_in_one_call(trade: RunningTrade, new_user: NewUser) -> None:
    user = await new_user()
    header = ZERODHA_HEADER
    start = datetime(2024, 1, 1, 9, 15)
    lines = [header]
    for index in range(50_000):
        moment = start + timedelta(minutes=index)
        side = "buy" if index % 2 == 0 else "sell"
        lines.append(
            f"SYM{index % 200},,{moment:%Y-%m-%d},NSE,EQ,EQ,{side},false,{1 + index % 7}.5,{100 + index % 50}.05,"
            f"{9_000_000 + index},{index // 3},{moment:%Y-%m-%dT%H:%M:%S}\n"
        )
    content = "".join(lines).encode()

    started = time.monotonic()
    result = await _import(trade, user, content, ZERODHA)
    elapsed = time.monotonic() - started
    page = await trade.stub.ListTrades(
        trade_service_pb2.ListTradesRequest(page_size=1, import_id=result.import_id), metadata=user.metadata
    )

    assert (result.rows_total, result.rows_created, result.rows_failed) == (50_000, 50_000, 0)
    assert len(page.trades) == 1
    # The contract asks clients to allow 120 s; this 2-core FerretDB box is shared, so allow more here.
    assert elapsed < 300, f"import took {elapsed:.1f}s"
    print(f"50,000-row import: {elapsed:.1f}s")


async def test_rows_of_one_import_with_the_same_time_keep_file_order_in_the_stored_exec_seq(
    trade: RunningTrade, new_user: NewUser
) -> None:
    # Decision 0110: the three rows share a create time; exec_seq (file order) orders the two 10:30 rows.
    user = await new_user()
    content = (
        b"symbol,exchange,side,quantity,price,trade_time\n"
        b"SBIN,NSE,BUY,5,800,2026-03-02 10:00:00\n"
        b"SBIN,NSE,BUY,5,810,2026-03-02 10:30:00\n"
        b"SBIN,NSE,SELL,10,820,2026-03-02 10:30:00\n"
    )
    result = await _import(trade, user, content, GENERIC)
    trades = await _all_trades(trade, user)

    assert result.rows_created == 3
    assert sorted((t.exec_seq, t.side, t.price_micros // 1_000_000) for t in trades) == [
        (1, trade_pb2.SIDE_BUY, 800),
        (2, trade_pb2.SIDE_BUY, 810),
        (3, trade_pb2.SIDE_SELL, 820),
    ]
    assert len({t.create_time.ToMicroseconds() for t in trades}) == 1
