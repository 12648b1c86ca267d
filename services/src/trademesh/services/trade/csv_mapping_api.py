"""The CSV-mapping RPCs of TradeService (docs/decisions/0240): proto ⇄ domain mapping and nothing else.

`TradeServicer` inherits them; they act on `self._csv_mappings` for the caller (the token's subject).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from grpc import aio

from trademesh.common.v1 import instrument_pb2
from trademesh.kernel.errors import FieldViolation, InvalidArgument
from trademesh.services.core.identity import current_principal
from trademesh.services.trade.csv_mappings import Columns, CsvMapping, SavedMapping, check_mapping, parse_mapped
from trademesh.services.trade.import_formats import parse_file
from trademesh.services.trade.mapping import derivative_to_proto, enum_to_proto, row_error_to_proto
from trademesh.services.trade.model import ParsedRow
from trademesh.services.trade.service.csv_mappings import CsvMappingService
from trademesh.trade.v1 import csv_mapping_pb2, import_pb2, trade_pb2

Context = aio.ServicerContext[Any, Any]
RowSource = tuple[str, Callable[[], tuple[int, list[ParsedRow]]]]


def mapping_from_proto(message: csv_mapping_pb2.CsvMapping) -> CsvMapping:
    """Return the domain mapping of a CsvMapping message (not validated)."""
    c = message.columns
    return CsvMapping(
        columns=Columns(
            symbol=c.symbol,
            exchange=c.exchange,
            side=c.side,
            quantity=c.quantity,
            price=c.price,
            trade_time=c.trade_time,
            trade_date=c.trade_date,
            time_of_day=c.time_of_day,
            fees=c.fees,
            order_id=c.order_id,
            trade_id=c.trade_id,
        ),
        time_format=message.time_format,
        buy_values=tuple(message.buy_values),
        sell_values=tuple(message.sell_values),
        timezone=message.timezone,
        decimal_separator=message.decimal_separator,
        delimiter=message.delimiter,
        header_row=message.header_row,
        default_exchange=message.default_exchange,
    )


def mapping_to_proto(mapping: CsvMapping) -> csv_mapping_pb2.CsvMapping:
    """Return the CsvMapping message of a domain mapping."""
    document = mapping.to_document()
    columns = document.pop("columns")
    assert isinstance(columns, dict)
    return csv_mapping_pb2.CsvMapping(columns=csv_mapping_pb2.CsvColumns(**columns), **document)  # type: ignore[arg-type]


def saved_to_proto(saved: SavedMapping) -> csv_mapping_pb2.SavedCsvMapping:
    """Return the SavedCsvMapping message of a stored mapping."""
    message = csv_mapping_pb2.SavedCsvMapping(
        id=saved.id, name=saved.name, mapping=mapping_to_proto(saved.mapping), etag=saved.etag
    )
    message.create_time.FromDatetime(saved.create_time)
    message.update_time.FromDatetime(saved.update_time)
    return message


def mapped_source(mapping: CsvMapping, content: bytes, user_id: str) -> RowSource:
    """Return the format name (the mapping's identity, for import request hashes) and row parser of a mapping."""
    check_mapping(mapping)
    digest = hashlib.sha256(json.dumps(mapping.to_document(), sort_keys=True).encode()).hexdigest()

    def rows() -> tuple[int, list[ParsedRow]]:
        return parse_mapped(content, mapping, user_id)

    return f"CSV_MAPPING:{digest}", rows


def format_source(value: int, content: bytes, user_id: str, name: str = "format") -> RowSource:
    """Return the format name and row parser of a built-in ImportFormat."""
    try:
        format_name = import_pb2.ImportFormat.Name(value)  # type: ignore[arg-type]
    except ValueError:
        format_name = ""
    if value == import_pb2.IMPORT_FORMAT_UNSPECIFIED or not format_name:
        raise InvalidArgument("invalid import request", [FieldViolation(name, "format is required")])

    def rows() -> tuple[int, list[ParsedRow]]:
        return parse_file(format_name, content, user_id)

    return format_name, rows


def preview_row_to_proto(row: ParsedRow) -> csv_mapping_pb2.PreviewRow:
    """Return a PreviewRow (the parsed fields, unset when the row failed to parse)."""
    message = csv_mapping_pb2.PreviewRow(row_number=row.row_number)
    fields = row.fields
    if fields is None:
        return message
    trade = trade_pb2.Trade(
        side=enum_to_proto(trade_pb2.Side, fields.side, "SIDE_"),
        quantity_micros=fields.quantity_micros,
        price_micros=fields.price_micros,
        fees_micros=fields.fees_micros,
        broker_trade_id=fields.broker_trade_id,
        broker_order_id=fields.broker_order_id,
    )
    trade.instrument.symbol = fields.symbol
    trade.instrument.exchange = enum_to_proto(instrument_pb2.Exchange, fields.exchange, "EXCHANGE_")
    if fields.derivative is not None:
        trade.derivative.CopyFrom(derivative_to_proto(fields.derivative))
    if fields.trade_time is not None:
        trade.trade_time.FromDatetime(fields.trade_time)
    message.trade.CopyFrom(trade)
    return message


class CsvMappingServicer:
    """Serve the CSV-mapping RPCs of trademesh.trade.v1.TradeService."""

    _csv_mappings: CsvMappingService

    async def SaveCsvMapping(
        self, request: csv_mapping_pb2.SaveCsvMappingRequest, context: Context
    ) -> csv_mapping_pb2.SaveCsvMappingResponse:
        if not request.HasField("mapping"):
            raise InvalidArgument("mapping is required", [FieldViolation("mapping", "mapping is required")])
        saved = await self._csv_mappings.save(
            current_principal().subject, request.id, request.name, mapping_from_proto(request.mapping), request.etag
        )
        return csv_mapping_pb2.SaveCsvMappingResponse(mapping=saved_to_proto(saved))

    async def ListCsvMappings(
        self, request: csv_mapping_pb2.ListCsvMappingsRequest, context: Context
    ) -> csv_mapping_pb2.ListCsvMappingsResponse:
        mappings = await self._csv_mappings.list_mappings(current_principal().subject)
        return csv_mapping_pb2.ListCsvMappingsResponse(mappings=[saved_to_proto(m) for m in mappings])

    async def DeleteCsvMapping(
        self, request: csv_mapping_pb2.DeleteCsvMappingRequest, context: Context
    ) -> csv_mapping_pb2.DeleteCsvMappingResponse:
        await self._csv_mappings.delete(current_principal().subject, request.id, request.etag)
        return csv_mapping_pb2.DeleteCsvMappingResponse()

    async def PreviewImport(
        self, request: csv_mapping_pb2.PreviewImportRequest, context: Context
    ) -> csv_mapping_pb2.PreviewImportResponse:
        user = current_principal().subject
        content = request.content
        which = request.WhichOneof("source")
        if which == "mapping_id":
            format_name, rows = mapped_source(await self._csv_mappings.resolve(user, request.mapping_id), content, user)
        elif which == "mapping":
            format_name, rows = mapped_source(mapping_from_proto(request.mapping), content, user)
        elif which == "format":
            format_name, rows = format_source(request.format, content, user)
        else:
            raise InvalidArgument(
                "a source is required", [FieldViolation("source", "set mapping_id, mapping or format")]
            )
        preview = await self._csv_mappings.preview(user, content, format_name, rows, request.row_limit)
        result = preview.result
        return csv_mapping_pb2.PreviewImportResponse(
            rows=[preview_row_to_proto(row) for row in preview.rows],
            rows_total=result.rows_total,
            rows_created=result.rows_created,
            rows_duplicate=result.rows_duplicate,
            rows_failed=result.rows_failed,
            row_errors=[row_error_to_proto(error) for error in result.row_errors],
            row_errors_truncated=result.row_errors_truncated,
        )
