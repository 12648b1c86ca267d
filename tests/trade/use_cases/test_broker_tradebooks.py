"""The import use case on Fyers and ICICI Direct files against in-memory fakes (decision 0280): fingerprint
dedupe across imports and across formats, file order for same-time fills, mirror rows left out."""

from __future__ import annotations

from pathlib import Path

from tests.trade.fakes import InMemoryTradeStore
from tests.trade.use_cases.helpers import import_file, request_id
from trademesh.kernel.instruments import Exchange
from trademesh.services.trade.model import Broker, Category, ImportResult, Source
from trademesh.services.trade.service import TradeService

DATA = Path(__file__).resolve().parents[1] / "data"
FYERS = "IMPORT_FORMAT_FYERS_TRADEBOOK_CSV"
ICICI = "IMPORT_FORMAT_ICICI_DIRECT_TRADEBOOK_CSV"


def counts(result: ImportResult) -> tuple[int, int, int, int]:
    return (result.rows_total, result.rows_created, result.rows_duplicate, result.rows_failed)


async def test_a_fyers_file_is_imported_once_and_its_fills_match_generic_rows(
    service: TradeService, store: InMemoryTradeStore
) -> None:
    content = (DATA / "fyers_tradebook.csv").read_bytes()
    generic = (
        b"symbol,exchange,side,quantity,price,trade_time\n"
        b"INFY,NSE,BUY,500,1902.40,2024-09-12 09:20:11\n"
        b"INFY,NSE,BUY,500,1902.4,2024-09-12 09:20:11\n"
        b"INFY,NSE,BUY,500,1902.4,2024-09-12 09:20:11\n"
    )

    first = await import_file(service, content, request_id(), format_name=FYERS)
    again = await import_file(service, content, request_id(), format_name=FYERS)
    same_fills = await import_file(service, generic, request_id())

    assert counts(first) == (7, 7, 0, 0)
    assert counts(again) == (7, 0, 7, 0)
    # The two identical Fyers buys are the generic file's first two rows; its third is a new trade.
    assert counts(same_fills) == (3, 1, 2, 0)
    trades = [t for t in store.trades.values() if t.import_id == first.import_id]
    assert len(trades) == 7
    assert {t.source for t in trades} == {Source.IMPORT}
    assert {t.fields.broker for t in trades} == {Broker.MANUAL}
    assert {t.fields.exchange for t in trades} == {Exchange.NSE, Exchange.NFO, Exchange.BFO}
    infy = sorted((t for t in trades if t.fields.symbol == "INFY"), key=lambda t: t.exec_seq)
    assert [t.fields.category for t in infy] == [Category.INTRADAY] * 3


async def test_an_icici_direct_file_keeps_file_order_for_fills_of_one_day(
    service: TradeService, store: InMemoryTradeStore
) -> None:
    content = (DATA / "icicidirect_tradebook.csv").read_bytes()

    first = await import_file(service, content, request_id(), format_name=ICICI)
    preview = await import_file(service, content, request_id(), format_name=ICICI, dry_run=True)

    assert counts(first) == (4, 4, 0, 0)
    assert counts(preview) == (4, 0, 4, 0)
    by_seq = sorted(store.trades.values(), key=lambda t: t.exec_seq)
    assert [(t.fields.symbol, t.fields.side.value if t.fields.side else "") for t in by_seq] == [
        ("RELIND", "BUY"),
        ("RELIND", "BUY"),
        ("RELIND", "SELL"),
        ("TATMOT", "BUY"),
    ]
    assert all(t.fields.fees_micros > 0 for t in by_seq)
