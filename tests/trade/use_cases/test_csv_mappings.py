"""CSV mappings against in-memory fakes (docs/decisions/0240): mapping validation, date formats, side words,
timezones, decimal commas, per-row errors, preview, saved-mapping limits and isolation."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from tests.trade.csv_mapping_data import BROKER_FILE, COLUMN_NAMES, TIME_FORMAT
from tests.trade.csv_mapping_fakes import InMemoryCsvMappingStore
from tests.trade.fakes import InMemoryTradeStore
from tests.trade.use_cases.helpers import ALICE, BOB, GENERIC, import_file, request_id
from trademesh.kernel.errors import Aborted, AlreadyExists, InvalidArgument, NotFound, ResourceExhausted
from trademesh.kernel.instruments import Exchange, Side
from trademesh.services.trade.csv_mappings import Columns, CsvMapping, check_mapping, parse_mapped
from trademesh.services.trade.model import ParsedRow, TradeFields
from trademesh.services.trade.service import TradeService
from trademesh.services.trade.service.csv_mappings import CsvMappingService

COLUMNS = Columns(**COLUMN_NAMES)
MAPPING = CsvMapping(columns=COLUMNS, time_format=TIME_FORMAT, buy_values=("Bought",), sell_values=("Sold",))


def violations(error: pytest.ExceptionInfo[InvalidArgument]) -> dict[str, str]:
    return {v.field: v.description for v in error.value.violations}


@pytest.fixture
def mappings(service: TradeService) -> CsvMappingService:
    return CsvMappingService(InMemoryCsvMappingStore(), service)


def test_a_mapping_without_required_columns_names_each_missing_field() -> None:
    with pytest.raises(InvalidArgument) as error:
        check_mapping(CsvMapping(columns=Columns(symbol="s", trade_time="t", trade_date="d")))
    assert set(violations(error)) == {
        "mapping.columns.side",
        "mapping.columns.quantity",
        "mapping.columns.price",
        "mapping.columns.exchange",
        "mapping.columns.trade_time",
    }


@pytest.mark.parametrize(
    ("changes", "field_name"),
    [
        ({"time_format": "%H:%M"}, "mapping.time_format"),
        ({"time_format": "no directives"}, "mapping.time_format"),
        ({"time_format": "%Y-%m-%d %Q"}, "mapping.time_format"),
        ({"timezone": "Mars/Olympus"}, "mapping.timezone"),
        ({"buy_values": ("B",), "sell_values": ("b",)}, "mapping.sell_values"),
        ({"decimal_separator": "_"}, "mapping.decimal_separator"),
        ({"decimal_separator": ","}, "mapping.delimiter"),
        ({"delimiter": ":"}, "mapping.delimiter"),
        ({"header_row": -1}, "mapping.header_row"),
        ({"default_exchange": "NYSE"}, "mapping.default_exchange"),
    ],
)
def test_bad_mapping_settings_are_refused_naming_the_field(changes: dict[str, object], field_name: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        check_mapping(replace(MAPPING, **changes))  # type: ignore[arg-type]
    assert field_name in violations(error)


def test_a_mapped_column_missing_from_the_header_fails_the_file_naming_the_field() -> None:
    mapping = replace(MAPPING, columns=replace(COLUMNS, price="Price"), header_row=2)
    with pytest.raises(InvalidArgument) as error:
        parse_mapped(BROKER_FILE, mapping, ALICE)
    assert list(violations(error)) == ["mapping.columns.price"]
    assert "'Price'" in violations(error)["mapping.columns.price"]


def test_without_header_row_the_title_line_is_read_as_the_header() -> None:
    with pytest.raises(InvalidArgument) as error:
        parse_mapped(BROKER_FILE, replace(MAPPING, header_row=1), ALICE)
    assert "mapping.columns.symbol" in violations(error)


def test_date_format_side_words_and_timezone_are_applied() -> None:
    total, rows = parse_mapped(BROKER_FILE, replace(MAPPING, header_row=2), ALICE)
    assert total == 3
    assert [r.errors for r in rows] == [[], [], []]
    got = [(r.fields.symbol, r.fields.side, r.fields.trade_time) for r in rows if r.fields is not None]
    assert got == [
        ("INFY", Side.BUY, datetime(2026, 3, 2, 4, 0, tzinfo=UTC)),
        ("INFY", Side.SELL, datetime(2026, 3, 2, 5, 0, tzinfo=UTC)),
        ("TCS", Side.BUY, datetime(2026, 3, 2, 5, 30, tzinfo=UTC)),
    ]
    london = parse_mapped(BROKER_FILE, replace(MAPPING, header_row=2, timezone="Europe/London"), ALICE)[1]
    assert london[0].fields is not None
    assert london[0].fields.trade_time == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def test_decimal_commas_semicolons_and_a_default_exchange() -> None:
    content = b"Symbol;Side;Qty;Price;Fees;Time\nINFY;K;1.000;1.500,25;20,5;2026-03-02T09:30:00+05:30\n"
    mapping = CsvMapping(
        columns=Columns(symbol="Symbol", side="Side", quantity="Qty", price="Price", fees="Fees", trade_time="Time"),
        buy_values=("K",),
        sell_values=("V",),
        decimal_separator=",",
        delimiter=";",
        default_exchange="bse",
    )
    check_mapping(mapping)
    _, rows = parse_mapped(content, mapping, ALICE)
    fields = rows[0].fields
    assert fields is not None
    assert (fields.exchange, fields.quantity_micros, fields.price_micros, fields.fees_micros) == (
        Exchange.BSE,
        1000_000_000,
        1_500_250_000,
        20_500_000,
    )


def test_bad_cells_give_per_row_errors_under_the_files_headers() -> None:
    content = BROKER_FILE + b"WIPRO,NSE,Held,x,400,31/02/2026,10:00:00 AM,G9\nTCS,NSE,Sold\n"
    _, rows = parse_mapped(content, replace(MAPPING, header_row=2), ALICE)
    bad, short = rows[3], rows[4]
    assert bad.fields is None
    assert {(e.row_number, e.column, e.reason) for e in bad.errors} == {
        (6, "Buy/Sell", "INVALID_SIDE"),
        (6, "Qty", "INVALID_NUMBER"),
        (6, "Trade Date + Trade Time", "INVALID_TIME"),
    }
    assert [(e.row_number, e.reason) for e in short.errors] == [(7, "WRONG_COLUMN_COUNT")]


async def test_a_mapped_import_creates_what_the_generic_file_creates_and_dedupes_against_it(
    service: TradeService, store: InMemoryTradeStore, mappings: CsvMappingService
) -> None:
    mapping = replace(MAPPING, header_row=2)

    def mapped(user: str) -> tuple[int, list[ParsedRow]]:
        return parse_mapped(BROKER_FILE, mapping, user)

    await import_file(service, GENERIC, request_id())
    bob = await service.import_rows(
        BOB,
        request_id(),
        BROKER_FILE,
        "mapped",
        lambda: mapped(BOB),
        dry_run=False,
        broker_account_id="",
        source_hint="",
    )
    assert (bob.rows_created, bob.rows_failed) == (3, 0)

    def fields_of(user: str) -> list[TradeFields]:
        return sorted((t.fields for t in store.trades.values() if t.user_id == user), key=lambda f: f.trade_time or 0)

    assert fields_of(BOB) == fields_of(ALICE)
    again = await service.import_rows(
        ALICE,
        request_id(),
        BROKER_FILE,
        "m",
        lambda: mapped(ALICE),
        dry_run=False,
        broker_account_id="",
        source_hint="",
    )
    assert (again.rows_created, again.rows_duplicate) == (0, 3)  # same trade ids and fingerprints as generic


async def test_a_preview_returns_the_first_rows_and_dry_run_counts_and_writes_nothing(
    store: InMemoryTradeStore, mappings: CsvMappingService
) -> None:
    content = BROKER_FILE + b"WIPRO,NSE,Held,1,400,02/03/2026,10:00:00 AM,G9\n"
    mapping = replace(MAPPING, header_row=2)
    preview = await mappings.preview(ALICE, content, "m", lambda: parse_mapped(content, mapping, ALICE), 2)
    assert [r.row_number for r in preview.rows] == [3, 4]
    result = preview.result
    assert (result.rows_total, result.rows_created, result.rows_failed, result.import_id) == (4, 3, 1, "")
    assert [(e.row_number, e.column, e.reason) for e in result.row_errors] == [(6, "Buy/Sell", "INVALID_SIDE")]
    assert not store.trades
    assert not store.imports
    with pytest.raises(InvalidArgument):
        await mappings.preview(ALICE, content, "m", lambda: parse_mapped(content, mapping, ALICE), 101)


async def test_saved_mappings_are_named_limited_guarded_and_private(mappings: CsvMappingService) -> None:
    first = await mappings.save(ALICE, "", "Broker X", MAPPING, "")
    assert first.etag == "v1"
    with pytest.raises(AlreadyExists):
        await mappings.save(ALICE, "", "broker x", MAPPING, "")
    assert await mappings.save(BOB, "", "Broker X", MAPPING, "")  # names are per user
    with pytest.raises(NotFound):
        await mappings.resolve(BOB, first.id)
    with pytest.raises(NotFound):
        await mappings.delete(BOB, first.id, "")
    updated = await mappings.save(ALICE, first.id, "Broker X", replace(MAPPING, timezone="UTC"), "v1")
    assert (updated.etag, updated.mapping.timezone) == ("v2", "UTC")
    with pytest.raises(Aborted) as stale:
        await mappings.save(ALICE, first.id, "Broker X", MAPPING, "v1")
    assert stale.value.reason == "ETAG_MISMATCH"
    for n in range(19):
        await mappings.save(ALICE, "", f"m{n:02}", MAPPING, "")
    with pytest.raises(ResourceExhausted) as full:
        await mappings.save(ALICE, "", "one too many", MAPPING, "")
    assert full.value.reason == "CSV_MAPPING_LIMIT"
    await mappings.delete(ALICE, first.id, "v2")
    assert len(await mappings.list_mappings(ALICE)) == 19
    assert [m.name for m in await mappings.list_mappings(BOB)] == ["Broker X"]
