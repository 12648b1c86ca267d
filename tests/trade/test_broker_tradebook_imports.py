"""Fyers and ICICI Direct tradebooks through a real trade service and FerretDB (decision 0280): ImportTrades
creates the fills once per user, another user's import and journal are apart, PreviewImport shows the parsed
rows and writes nothing, bad rows come back with their row numbers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc

from tests.conftest import MeshUser
from tests.rpc import expect_failure
from tests.trade.conftest import RunningTrade, new_request_id
from trademesh.common.v1 import instrument_pb2
from trademesh.trade.v1 import csv_mapping_pb2, import_pb2, trade_pb2, trade_service_pb2

NewUser = Callable[[], Awaitable[MeshUser]]
DATA = Path(__file__).parent / "data"
FYERS = import_pb2.IMPORT_FORMAT_FYERS_TRADEBOOK_CSV
ICICI = import_pb2.IMPORT_FORMAT_ICICI_DIRECT_TRADEBOOK_CSV
IST_OFFSET = timedelta(hours=5, minutes=30)


async def imported(
    running: RunningTrade, user: MeshUser, content: bytes, file_format: import_pb2.ImportFormat.ValueType
) -> trade_service_pb2.ImportTradesResponse:
    request = trade_service_pb2.ImportTradesRequest(request_id=new_request_id(), format=file_format, content=content)
    return await running.stub.ImportTrades(request, metadata=user.metadata, timeout=300)


async def journal(running: RunningTrade, user: MeshUser) -> list[trade_pb2.Trade]:
    response = await running.stub.ListTrades(trade_service_pb2.ListTradesRequest(page_size=100), metadata=user.metadata)
    return sorted(response.trades, key=lambda t: (t.trade_time.ToDatetime(), t.id))


def counts(response: trade_service_pb2.ImportTradesResponse) -> tuple[int, int, int, int]:
    return (response.rows_total, response.rows_created, response.rows_duplicate, response.rows_failed)


async def test_fyers_tradebook_imports_once_per_user(trade: RunningTrade, new_user: NewUser) -> None:
    alice, bob = await new_user(), await new_user()
    content = (DATA / "fyers_tradebook.csv").read_bytes()

    first = await imported(trade, alice, content, FYERS)
    again = await imported(trade, alice, content, FYERS)
    theirs = await imported(trade, bob, content, FYERS)
    trades = await journal(trade, alice)

    assert counts(first) == (7, 7, 0, 0)
    assert counts(again) == (7, 0, 7, 0)
    assert counts(theirs) == (7, 7, 0, 0)  # fingerprints are per user: Bob's fills are his own trades
    assert len(trades) == 7
    assert len(await journal(trade, bob)) == 7
    assert {t.id for t in trades}.isdisjoint({t.id for t in await journal(trade, bob)})
    infy = [t for t in trades if t.instrument.symbol == "INFY"]
    assert [(t.side, t.quantity_micros) for t in infy] == [
        (trade_pb2.SIDE_BUY, 500_000_000),
        (trade_pb2.SIDE_BUY, 500_000_000),
        (trade_pb2.SIDE_SELL, 1_000_000_000),
    ]
    assert infy[0].instrument.exchange == instrument_pb2.EXCHANGE_NSE
    assert infy[0].broker == instrument_pb2.BROKER_MANUAL
    assert infy[0].source == trade_pb2.TRADE_SOURCE_IMPORT
    sensex = next(t for t in trades if t.instrument.symbol.startswith("SENSEX"))
    assert sensex.instrument.exchange == instrument_pb2.EXCHANGE_BFO
    assert sensex.derivative.contract_type == trade_pb2.CONTRACT_TYPE_PUT
    assert sensex.derivative.strike_price_micros == 83_000_000_000
    nifty = [t for t in trades if t.instrument.symbol == "NIFTY24SEP25500CE"]
    assert [t.side for t in nifty] == [trade_pb2.SIDE_BUY, trade_pb2.SIDE_SELL]  # the mirror row is no trade
    assert nifty[1].trade_time.ToDatetime(tzinfo=UTC) == datetime(2024, 9, 17, 14, 45, 10, tzinfo=UTC) - IST_OFFSET
    assert nifty[1].broker_order_id == "1100000041234567"

    failure = await expect_failure(
        trade.stub.GetTrade(trade_service_pb2.GetTradeRequest(id=nifty[0].id), metadata=bob.metadata)
    )
    assert failure.code == grpc.StatusCode.NOT_FOUND


async def test_icici_direct_trade_book_imports_once_per_user(trade: RunningTrade, new_user: NewUser) -> None:
    alice, bob = await new_user(), await new_user()
    content = (DATA / "icicidirect_tradebook.csv").read_bytes()

    first = await imported(trade, alice, content, ICICI)
    again = await imported(trade, alice, content, ICICI)
    trades = await journal(trade, alice)

    assert counts(first) == (4, 4, 0, 0)
    assert counts(again) == (4, 0, 4, 0)
    assert await journal(trade, bob) == []
    assert sorted((t.instrument.symbol, t.instrument.exchange, t.side) for t in trades) == [
        ("RELIND", instrument_pb2.EXCHANGE_NSE, trade_pb2.SIDE_BUY),
        ("RELIND", instrument_pb2.EXCHANGE_NSE, trade_pb2.SIDE_BUY),
        ("RELIND", instrument_pb2.EXCHANGE_NSE, trade_pb2.SIDE_SELL),
        ("TATMOT", instrument_pb2.EXCHANGE_BSE, trade_pb2.SIDE_BUY),
    ]
    assert trades[0].trade_time.ToDatetime(tzinfo=UTC) == datetime(2025, 9, 2, tzinfo=UTC) - IST_OFFSET
    assert trades[0].broker_order_id == "20250902N500011111"
    assert trades[0].price_micros == 1_380_500_000
    assert trades[0].fees_micros > 0  # computed by the charges engine, as for every import

    failure = await expect_failure(
        trade.stub.GetTrade(trade_service_pb2.GetTradeRequest(id=trades[0].id), metadata=bob.metadata)
    )
    assert failure.code == grpc.StatusCode.NOT_FOUND
    theirs = await imported(trade, bob, content, ICICI)
    assert counts(theirs) == (4, 4, 0, 0)


async def test_bad_rows_come_back_with_row_numbers_and_good_rows_import(trade: RunningTrade, new_user: NewUser) -> None:
    alice = await new_user()
    icici = (
        b"Date,Stock,Action,Qty,Price,Trade Value,Order Ref.,Settlement,Segment,DP Id - Client DP Id,Exchange\n"
        b"02-Sep-25,NIFTY,Buy,75,120,9000,R1,2025170,Futures,D,NSE\n"
        b"02-Sep-25,INFTEC,Buy,5,1500,7500,R2,2025170,Rolling T1,D,NSE\n"
    )
    fyers = (
        b"Report Title,Tradebook report\n"
        b"Symbol name,Symbol code,Date & time,Side,Product type,Qty,Traded price,Total value,Segment,"
        b"Exchange order ID,OMS order ID\n"
        b'TCS,TCS,"15 Sep 2025, 11:00:00 AM",BUY,Intraday,5,3100.5,1,Capital Market,11,22\n'
        b'TCS,TCS,"15 Sep 2025, 25:00:00 PM",SELL,Intraday,5,3100.5,1,Capital Market,12,23\n'
    )

    from_icici = await imported(trade, alice, icici, ICICI)
    from_fyers = await imported(trade, alice, fyers, FYERS)

    assert counts(from_icici) == (2, 1, 0, 1)
    assert [(e.row_number, e.column, e.reason) for e in from_icici.row_errors] == [(2, "Exchange", "SEGMENT_MISMATCH")]
    assert counts(from_fyers) == (2, 1, 0, 1)
    assert [(e.row_number, e.column, e.reason) for e in from_fyers.row_errors] == [(4, "Date & time", "INVALID_TIME")]
    assert len(await journal(trade, alice)) == 2

    failure = await expect_failure(imported(trade, alice, b"Date,Stock\n02-Sep-25,INFTEC\n", ICICI))
    assert (failure.code, failure.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_HEADER")


async def test_preview_of_each_format_shows_rows_and_writes_nothing(trade: RunningTrade, new_user: NewUser) -> None:
    alice, bob = await new_user(), await new_user()
    fyers = (DATA / "fyers_tradebook.csv").read_bytes()
    icici = (DATA / "icicidirect_tradebook.csv").read_bytes()

    preview = await trade.stub.PreviewImport(
        csv_mapping_pb2.PreviewImportRequest(content=fyers, format=FYERS, row_limit=3), metadata=alice.metadata
    )
    assert [row.row_number for row in preview.rows] == [9, 11, 12]
    first = preview.rows[0].trade
    assert (first.instrument.symbol, first.instrument.exchange) == ("NIFTY24SEP25500CE", instrument_pb2.EXCHANGE_NFO)
    assert first.derivative.contract_type == trade_pb2.CONTRACT_TYPE_CALL
    assert (preview.rows_total, preview.rows_created, preview.rows_duplicate, preview.rows_failed) == (7, 7, 0, 0)

    preview = await trade.stub.PreviewImport(
        csv_mapping_pb2.PreviewImportRequest(content=icici, format=ICICI), metadata=alice.metadata
    )
    assert [(r.row_number, r.trade.instrument.symbol) for r in preview.rows] == [
        (2, "RELIND"),
        (3, "RELIND"),
        (4, "RELIND"),
        (5, "TATMOT"),
    ]
    assert (preview.rows_total, preview.rows_created, preview.rows_failed) == (4, 4, 0)
    assert await journal(trade, alice) == []

    # After Bob imports the file, his preview finds every row already there; Alice's still finds none.
    await imported(trade, bob, icici, ICICI)
    theirs = await trade.stub.PreviewImport(
        csv_mapping_pb2.PreviewImportRequest(content=icici, format=ICICI), metadata=bob.metadata
    )
    mine = await trade.stub.PreviewImport(
        csv_mapping_pb2.PreviewImportRequest(content=icici, format=ICICI), metadata=alice.metadata
    )
    assert (theirs.rows_created, theirs.rows_duplicate) == (0, 4)
    assert (mine.rows_created, mine.rows_duplicate) == (4, 0)
