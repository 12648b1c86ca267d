"""CSV mappings through a real trade service and FerretDB (docs/decisions/0240): saved mappings per user,
preview writes nothing, a mapped import equals the generic import of the same fills, bad mappings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from tests.conftest import MeshUser
from tests.rpc import expect_failure
from tests.trade.conftest import RunningTrade, new_request_id
from tests.trade.csv_mapping_data import BROKER_FILE, COLUMN_NAMES, TIME_FORMAT
from trademesh.trade.v1 import csv_mapping_pb2, import_pb2, trade_pb2, trade_service_pb2

NewUser = Callable[[], Awaitable[MeshUser]]

MAPPING = csv_mapping_pb2.CsvMapping(
    columns=csv_mapping_pb2.CsvColumns(**COLUMN_NAMES),
    time_format=TIME_FORMAT,
    buy_values=["Bought"],
    sell_values=["Sold"],
    header_row=2,
)
GENERIC_FILE = (
    b"symbol,exchange,side,quantity,price,trade_time,trade_id\n"
    b"INFY,NSE,BUY,10,1500.5,2026-03-02 09:30:00,G1\n"
    b"INFY,NSE,SELL,10,1510,2026-03-02 10:30:00,G2\n"
    b"TCS,NSE,BUY,5,3500,2026-03-02 11:00:00,\n"
)


async def save(trade: RunningTrade, user: MeshUser, name: str, **extra: Any) -> csv_mapping_pb2.SavedCsvMapping:
    request = csv_mapping_pb2.SaveCsvMappingRequest(name=name, mapping=extra.pop("mapping", MAPPING), **extra)
    response = await trade.stub.SaveCsvMapping(request, metadata=user.metadata)
    return response.mapping


async def listed(trade: RunningTrade, user: MeshUser) -> list[str]:
    response = await trade.stub.ListCsvMappings(csv_mapping_pb2.ListCsvMappingsRequest(), metadata=user.metadata)
    return [m.name for m in response.mappings]


async def trades_of(trade: RunningTrade, user: MeshUser) -> list[trade_pb2.Trade]:
    response = await trade.stub.ListTrades(trade_service_pb2.ListTradesRequest(page_size=100), metadata=user.metadata)
    return sorted(response.trades, key=lambda t: t.trade_time.ToDatetime())


async def test_saved_mappings_are_private_to_their_user(trade: RunningTrade, new_user: NewUser) -> None:
    alice, bob = await new_user(), await new_user()
    saved = await save(trade, alice, "Broker X")
    assert (saved.etag, saved.mapping) == ("v1", MAPPING)
    await save(trade, bob, "Broker X")  # names are per user
    assert await listed(trade, alice) == ["Broker X"]

    failure = await expect_failure(
        trade.stub.DeleteCsvMapping(csv_mapping_pb2.DeleteCsvMappingRequest(id=saved.id), metadata=bob.metadata)
    )
    assert (failure.code, failure.reason) == (grpc.StatusCode.NOT_FOUND, "CSV_MAPPING_NOT_FOUND")
    failure = await expect_failure(
        trade.stub.PreviewImport(
            csv_mapping_pb2.PreviewImportRequest(content=BROKER_FILE, mapping_id=saved.id), metadata=bob.metadata
        )
    )
    assert failure.code == grpc.StatusCode.NOT_FOUND
    failure = await expect_failure(save(trade, bob, "Stolen", id=saved.id))
    assert failure.code == grpc.StatusCode.NOT_FOUND
    failure = await expect_failure(save(trade, alice, "broker x"))
    assert (failure.code, failure.reason) == (grpc.StatusCode.ALREADY_EXISTS, "CSV_MAPPING_NAME_TAKEN")

    renamed = await save(trade, alice, "Broker Y", id=saved.id, etag="v1")
    assert renamed.etag == "v2"
    failure = await expect_failure(
        trade.stub.DeleteCsvMapping(
            csv_mapping_pb2.DeleteCsvMappingRequest(id=saved.id, etag="v1"), metadata=alice.metadata
        )
    )
    assert (failure.code, failure.reason) == (grpc.StatusCode.ABORTED, "ETAG_MISMATCH")
    await trade.stub.DeleteCsvMapping(
        csv_mapping_pb2.DeleteCsvMappingRequest(id=saved.id, etag="v2"), metadata=alice.metadata
    )
    assert await listed(trade, alice) == []
    assert await listed(trade, bob) == ["Broker X"]


async def test_a_bad_mapping_is_refused_naming_the_field(trade: RunningTrade, new_user: NewUser) -> None:
    alice = await new_user()
    bad = csv_mapping_pb2.CsvMapping()
    bad.CopyFrom(MAPPING)
    bad.time_format = "%H:%M"
    bad.timezone = "Nowhere/Special"
    failure = await expect_failure(save(trade, alice, "bad", mapping=bad))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert {"mapping.time_format", "mapping.timezone"} <= set(failure.violations)

    missing = csv_mapping_pb2.CsvMapping()
    missing.CopyFrom(MAPPING)
    missing.columns.price = "Price"
    failure = await expect_failure(
        trade.stub.PreviewImport(
            csv_mapping_pb2.PreviewImportRequest(content=BROKER_FILE, mapping=missing), metadata=alice.metadata
        )
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert list(failure.violations) == ["mapping.columns.price"]
    failure = await expect_failure(
        trade.stub.ImportTrades(
            trade_service_pb2.ImportTradesRequest(
                request_id=new_request_id(),
                format=import_pb2.IMPORT_FORMAT_GENERIC_CSV,
                mapping=MAPPING,
                content=BROKER_FILE,
            ),
            metadata=alice.metadata,
        )
    )
    assert "format" in failure.violations


async def test_a_preview_shows_rows_and_errors_and_writes_nothing(
    trade: RunningTrade, new_user: NewUser, trade_db: Any
) -> None:
    alice = await new_user()
    saved = await save(trade, alice, "Broker X")
    content = BROKER_FILE + b"WIPRO,NSE,Held,1,400,02/03/2026,10:00:00 AM,G9\n"
    preview = await trade.stub.PreviewImport(
        csv_mapping_pb2.PreviewImportRequest(content=content, mapping_id=saved.id, row_limit=2),
        metadata=alice.metadata,
    )
    assert [r.row_number for r in preview.rows] == [3, 4]
    assert (preview.rows[0].trade.instrument.symbol, preview.rows[0].trade.price_micros) == ("INFY", 1_500_500_000)
    assert (preview.rows_total, preview.rows_created, preview.rows_failed) == (4, 3, 1)
    assert [(e.row_number, e.column, e.reason) for e in preview.row_errors] == [(6, "Buy/Sell", "INVALID_SIDE")]
    builtin = await trade.stub.PreviewImport(
        csv_mapping_pb2.PreviewImportRequest(content=GENERIC_FILE, format=import_pb2.IMPORT_FORMAT_GENERIC_CSV),
        metadata=alice.metadata,
    )
    assert [r.row_number for r in builtin.rows] == [2, 3, 4]
    assert await trades_of(trade, alice) == []
    assert await trade_db.trade_imports.count_documents({"_id": {"$regex": f"^{alice.user_id}:"}}) == 0


async def test_a_mapped_import_equals_the_generic_import_of_the_same_fills(
    trade: RunningTrade, new_user: NewUser, trade_db: Any
) -> None:
    alice, bob = await new_user(), await new_user()
    saved = await save(trade, bob, "Broker X")
    generic = await trade.stub.ImportTrades(
        trade_service_pb2.ImportTradesRequest(
            request_id=new_request_id(), format=import_pb2.IMPORT_FORMAT_GENERIC_CSV, content=GENERIC_FILE
        ),
        metadata=alice.metadata,
    )
    mapped = await trade.stub.ImportTrades(
        trade_service_pb2.ImportTradesRequest(request_id=new_request_id(), mapping_id=saved.id, content=BROKER_FILE),
        metadata=bob.metadata,
    )
    assert (generic.rows_created, mapped.rows_created, mapped.rows_failed) == (3, 3, 0)

    def essentials(t: trade_pb2.Trade) -> tuple[object, ...]:
        return (
            t.instrument.symbol,
            t.instrument.exchange,
            t.side,
            t.quantity_micros,
            t.price_micros,
            t.fees_micros,
            t.trade_time.ToDatetime(),
            t.category,
            t.broker,
            t.broker_trade_id,
            t.source,
        )

    assert [essentials(t) for t in await trades_of(trade, bob)] == [
        essentials(t) for t in await trades_of(trade, alice)
    ]
    again = await trade.stub.ImportTrades(
        trade_service_pb2.ImportTradesRequest(
            request_id=new_request_id(), format=import_pb2.IMPORT_FORMAT_GENERIC_CSV, content=GENERIC_FILE
        ),
        metadata=bob.metadata,
    )
    assert (again.rows_created, again.rows_duplicate) == (0, 3)
    inline = await trade.stub.ImportTrades(
        trade_service_pb2.ImportTradesRequest(request_id=new_request_id(), mapping=MAPPING, content=BROKER_FILE),
        metadata=alice.metadata,
    )
    assert (inline.rows_created, inline.rows_duplicate) == (0, 3)
    # Both of alice's imports were recorded (the preview test's zero count is of the same records).
    assert await trade_db.trade_imports.count_documents({"_id": {"$regex": f"^{alice.user_id}:"}}) == 2
