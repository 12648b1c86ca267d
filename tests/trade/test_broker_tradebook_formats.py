"""Fyers and ICICI Direct tradebook parsing (decision 0280): equity and F&O rows, mirror rows, bad rows
reported per row with their line numbers, header problems failing the whole file. Sample files are hand-made
from the public layouts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from trademesh.kernel.errors import InvalidArgument
from trademesh.kernel.instruments import ContractType, Derivative, Exchange, Side
from trademesh.services.trade.import_formats import parse_file
from trademesh.services.trade.model import Broker, ParsedRow

DATA = Path(__file__).parent / "data"
FYERS = "IMPORT_FORMAT_FYERS_TRADEBOOK_CSV"
ICICI = "IMPORT_FORMAT_ICICI_DIRECT_TRADEBOOK_CSV"
IST = timezone(timedelta(hours=5, minutes=30))
ALICE = "user-alice"
FYERS_HEADER = (
    "Symbol name,Symbol code,Date & time,Side,Product type,Qty,Traded price,Total value,Segment,"
    "Exchange order ID,OMS order ID\n"
)
ICICI_HEADER = (
    "Date,Stock,Action,Qty,Price,Trade Value,Order Ref.,Settlement,Segment,DP Id - Client DP Id,Exchange,STT,"
    "Transaction and SEBI Turnover charges,Stamp Duty,Brokerage + Service Tax,Brokerage incl. taxes\n"
)


def by_line(rows: list[ParsedRow]) -> dict[int, ParsedRow]:
    return {row.row_number: row for row in rows}


def errors_of(row: ParsedRow) -> list[tuple[int, str, str]]:
    return [(e.row_number, e.column, e.reason) for e in row.errors]


def test_fyers_sample_reads_fno_and_cash_rows_and_skips_mirror_rows() -> None:
    total, rows = parse_file(FYERS, (DATA / "fyers_tradebook.csv").read_bytes(), ALICE)
    lines = by_line(rows)

    assert total == 7
    assert sorted(lines) == [9, 11, 12, 13, 14, 15, 16]  # line 10 is a carry-forward mirror row
    assert all(row.errors == [] and row.fields is not None for row in rows)
    nifty = lines[9].fields
    assert nifty is not None
    assert (nifty.symbol, nifty.exchange, nifty.side) == ("NIFTY24SEP25500CE", Exchange.NFO, Side.SELL)
    assert nifty.derivative == Derivative("NIFTY", "2024-09-26", ContractType.CALL, 25_500_000_000)
    assert (nifty.quantity_micros, nifty.price_micros) == (25_000_000, 112_350_000)
    assert nifty.trade_time == datetime(2024, 9, 17, 14, 45, 10, tzinfo=IST)
    assert (nifty.broker, nifty.broker_trade_id, nifty.broker_order_id) == (Broker.MANUAL, "", "1100000041234567")

    sensex = lines[11].fields
    assert sensex is not None
    assert sensex.exchange == Exchange.BFO
    assert sensex.derivative == Derivative("SENSEX", "2024-09-20", ContractType.PUT, 83_000_000_000)
    assert sensex.broker_order_id == ""  # "1.78E+18" is not an order id

    sell, buy, same = lines[14].fields, lines[15].fields, lines[16].fields
    assert sell is not None
    assert buy is not None
    assert same is not None
    assert (sell.exchange, sell.derivative, sell.quantity_micros) == (Exchange.NSE, None, 1_000_000_000)
    assert sell.price_micros == 1_912_000_000
    assert buy.trade_time == datetime(2024, 9, 12, 9, 20, 11, tzinfo=IST)
    # Two identical fills are two trades: their fingerprints differ by occurrence only.
    assert buy == same
    assert lines[15].broker_key != lines[16].broker_key
    assert all(row.broker_key and row.broker_key.startswith(f"fp|{ALICE}|") for row in rows)


def test_fyers_fingerprints_are_stable_and_per_user() -> None:
    content = (DATA / "fyers_tradebook.csv").read_bytes()
    first = [row.broker_key for row in parse_file(FYERS, content, ALICE)[1]]
    again = [row.broker_key for row in parse_file(FYERS, content, ALICE)[1]]
    other = [row.broker_key for row in parse_file(FYERS, content, "user-bob")[1]]

    assert first == again
    assert not set(first) & set(other)


def test_fyers_bad_rows_are_reported_per_row_with_their_line_numbers() -> None:
    content = (
        "Report Title,Tradebook report\n\n"
        + FYERS_HEADER
        + 'CRUDEOIL25SEPFUT,CRUDEOIL FUT,"15 Sep 2025, 10:00:00 AM",BUY,Overnight,100,5400,1,Commodity,11,22\n'
        + 'INFY,INFY,"31 Sep 2025, 10:00:00 AM",BUY,Intraday,10,1500,1,Capital Market,11,22\n'
        + 'INFY,INFY,"15 Sep 2025, 10:00:00 AM",HOLD,Intraday,ten,1500,1,Capital Market,11,22\n'
        + 'NIFTYWEEKLY,X,"15 Sep 2025, 10:00:00 AM",BUY,Intraday,75,10,1,Derivatives,11,22\n'
        + 'TCS,TCS,"15 Sep 2025, 11:00:00 AM",BUY,Intraday,5,3100.5,1,Capital Market,11,22\n'
    ).encode()

    total, rows = parse_file(FYERS, content, ALICE)
    lines = by_line(rows)

    assert total == 5
    assert errors_of(lines[4]) == [(4, "Segment", "SEGMENT_MISMATCH")]
    assert errors_of(lines[5]) == [(5, "Date & time", "INVALID_TIME")]
    assert errors_of(lines[6]) == [(6, "Side", "INVALID_SIDE"), (6, "Qty", "INVALID_NUMBER")]
    assert errors_of(lines[7]) == [(7, "Symbol name", "SYMBOL_UNPARSEABLE")]
    assert all(lines[n].fields is None for n in (4, 5, 6, 7))
    tcs = lines[8].fields
    assert tcs is not None
    assert (tcs.symbol, tcs.price_micros) == ("TCS", 3_100_500_000)


def test_fyers_api_style_symbols_name_their_exchange() -> None:
    content = (
        FYERS_HEADER
        + 'NSE:HDFCBANK-EQ,X,"15 Sep 2025, 10:00:00 AM",BUY,CNC,10,1650.5,1,Capital Market,11,22\n'
        + 'BSE:TATAMOTORS-EQ,X,"15 Sep 2025, 10:01:00 AM",BUY,CNC,10,680,1,Capital Market,11,22\n'
        + 'NSE:NIFTY25SEPFUT,X,"15 Sep 2025, 10:02:00 AM",SELL,Margin,75,25100,1,Derivatives,11,22\n'
    ).encode()

    _, rows = parse_file(FYERS, content, ALICE)

    assert [(r.fields.symbol, r.fields.exchange) for r in rows if r.fields] == [
        ("HDFCBANK", Exchange.NSE),
        ("TATAMOTORS", Exchange.BSE),
        ("NIFTY25SEPFUT", Exchange.NFO),
    ]


def test_fyers_file_without_the_tradebook_header_fails_whole() -> None:
    content = b"Report Title,Tradebook report\nSymbol name,Side,Qty\nINFY,BUY,1\n"

    with pytest.raises(InvalidArgument) as raised:
        parse_file(FYERS, content, ALICE)

    assert raised.value.reason == "INVALID_HEADER"
    assert raised.value.violations[0].field == "symbol"


def test_icici_direct_sample_reads_cash_rows_dated_at_ist_midnight() -> None:
    total, rows = parse_file(ICICI, (DATA / "icicidirect_tradebook.csv").read_bytes(), ALICE)
    lines = by_line(rows)

    assert total == 4
    assert all(row.errors == [] and row.fields is not None for row in rows)
    buy = lines[2].fields
    assert buy is not None
    assert (buy.symbol, buy.exchange, buy.side, buy.derivative) == ("RELIND", Exchange.NSE, Side.BUY, None)
    assert (buy.quantity_micros, buy.price_micros) == (10_000_000, 1_380_500_000)
    assert buy.trade_time == datetime(2025, 9, 2, tzinfo=IST)
    assert (buy.broker, buy.broker_trade_id, buy.broker_order_id) == (Broker.MANUAL, "", "20250902N500011111")
    assert lines[2].fields == lines[3].fields
    assert lines[2].broker_key != lines[3].broker_key
    sell, bse = lines[4].fields, lines[5].fields
    assert sell is not None
    assert bse is not None
    assert (sell.side, sell.quantity_micros, sell.price_micros) == (Side.SELL, 20_000_000, 1_395_000_000)
    assert (bse.symbol, bse.exchange, bse.price_micros) == ("TATMOT", Exchange.BSE, 680_250_000)


def test_icici_direct_derivative_and_bad_rows_are_row_errors() -> None:
    content = (
        ICICI_HEADER
        + '"02-Sep-25","NIFTY","Buy","75","120","9000","R1","2025170","Futures","D","NSE","0","0","0","0","0"\n'
        + '"02-Sep-25","NIFTY","Buy","75","120","9000","R2","2025170","","D","NFO","0","0","0","0","0"\n'
        + '"31-Sep-25","INFTEC","Sell","x","1500","0","R3","2025170","Rolling T1","D","NSE","0","0","0","0","0"\n'
        + '"02-Sep-2025","INFTEC","Bought","5","1500","0","R4","2025170","Rolling T1","D","NSE","0","0","0","0","0"\n'
        + '"02-Sep-2025","","Buy","5","1500","0","R5","2025170","Rolling T1","D","NSE","0","0","0","0","0"\n'
        + '"03-Sep-2025","INFTEC","Buy","5","1500.25","0","R6","2025171","Rolling T1","D","BSE","0","0","0","0","0"\n'
    ).encode()

    total, rows = parse_file(ICICI, content, ALICE)
    lines = by_line(rows)

    assert total == 6
    assert errors_of(lines[2]) == [(2, "Exchange", "SEGMENT_MISMATCH")]
    assert errors_of(lines[3]) == [(3, "Exchange", "SEGMENT_MISMATCH")]
    assert errors_of(lines[4]) == [(4, "Qty", "INVALID_NUMBER"), (4, "Date", "INVALID_DATE")]
    assert errors_of(lines[5]) == [(5, "Action", "INVALID_SIDE")]
    assert errors_of(lines[6]) == [(6, "Stock", "MISSING_VALUE")]
    last = lines[7].fields
    assert last is not None
    assert (last.exchange, last.trade_time) == (Exchange.BSE, datetime(2025, 9, 3, tzinfo=IST))


def test_icici_direct_file_missing_a_used_column_fails_whole() -> None:
    content = b"Date,Stock,Action,Qty,Price,Exchange\n02-Sep-25,RELIND,Buy,1,1,NSE\n"

    with pytest.raises(InvalidArgument) as raised:
        parse_file(ICICI, content, ALICE)

    assert raised.value.reason == "INVALID_HEADER"
    assert raised.value.violations[0].field == "order_id"
