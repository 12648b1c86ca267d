"""The TradeService servicer: proto ⇄ domain mapping and nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

from grpc import aio

from trademesh.kernel.errors import FieldViolation, InvalidArgument
from trademesh.services.core.identity import current_principal
from trademesh.services.core.timestamps import timestamp_violation
from trademesh.services.trade.csv_mapping_api import (
    CsvMappingServicer,
    format_source,
    mapped_source,
    mapping_from_proto,
)
from trademesh.services.trade.day_note_api import DayNoteServicer
from trademesh.services.trade.listing import listed_trades_to_proto
from trademesh.services.trade.mapping import (
    broker_from_proto,
    category_from_proto,
    exchange_from_proto,
    fields_from_proto,
    position_to_proto,
    row_error_to_proto,
    segment_from_proto,
    side_from_proto,
    source_from_proto,
    status_from_proto,
    time_from_proto,
    trade_to_proto,
)
from trademesh.services.trade.model import PositionFilter, Status, TradeFilter
from trademesh.services.trade.service import TradeService
from trademesh.services.trade.service.csv_mappings import CsvMappingService
from trademesh.services.trade.service.day_notes import DayNoteService
from trademesh.services.trade.watch import TradeWatcher
from trademesh.trade.v1 import import_pb2, position_pb2, trade_pb2, trade_service_pb2, trade_service_pb2_grpc

Context = aio.ServicerContext[Any, Any]

_RECONCILE_OUTCOMES = {
    "CREATED": import_pb2.RECONCILE_OUTCOME_CREATED,
    "UPDATED": import_pb2.RECONCILE_OUTCOME_UPDATED,
    "UNCHANGED": import_pb2.RECONCILE_OUTCOME_UNCHANGED,
    "SKIPPED_DELETED": import_pb2.RECONCILE_OUTCOME_SKIPPED_DELETED,
    "FAILED": import_pb2.RECONCILE_OUTCOME_FAILED,
}


def _check_enum(value: int, mapped: object, name: str, violations: list[FieldViolation]) -> None:
    if value != 0 and mapped is None:
        violations.append(FieldViolation(name, f"unknown {name} value {value}"))


def _trade_fields(trade: trade_pb2.Trade) -> Any:
    return fields_from_proto(trade, has_time=trade.HasField("trade_time"))


class TradeServicer(DayNoteServicer, CsvMappingServicer, trade_service_pb2_grpc.TradeServiceServicer):
    """Serve trademesh.trade.v1.TradeService over gRPC."""

    def __init__(
        self,
        service: TradeService,
        watcher: TradeWatcher,
        day_notes: DayNoteService,
        csv_mappings: CsvMappingService,
    ) -> None:
        self._service = service
        self._watcher = watcher
        self._day_notes = day_notes
        self._csv_mappings = csv_mappings

    async def CreateTrade(
        self, request: trade_service_pb2.CreateTradeRequest, context: Context
    ) -> trade_service_pb2.CreateTradeResponse:
        user = current_principal().subject
        if not request.HasField("trade"):
            raise InvalidArgument("trade is required", [FieldViolation("trade", "trade is required")])
        trade = await self._service.create(user, request.request_id, _trade_fields(request.trade))
        return trade_service_pb2.CreateTradeResponse(trade=trade_to_proto(trade))

    async def GetTrade(
        self, request: trade_service_pb2.GetTradeRequest, context: Context
    ) -> trade_service_pb2.GetTradeResponse:
        trade = await self._service.get(current_principal().subject, request.id)
        return trade_service_pb2.GetTradeResponse(trade=trade_to_proto(trade))

    async def ListTrades(
        self, request: trade_service_pb2.ListTradesRequest, context: Context
    ) -> trade_service_pb2.ListTradesResponse:
        user = current_principal().subject
        violations: list[FieldViolation] = []
        exchange = exchange_from_proto(request.exchange)
        segment = segment_from_proto(request.segment)
        side = side_from_proto(request.side)
        category = category_from_proto(request.category)
        status = status_from_proto(request.status)
        broker = broker_from_proto(request.broker)
        source = source_from_proto(request.source)
        for value, mapped, name in (
            (request.exchange, exchange, "exchange"),
            (request.segment, segment, "segment"),
            (request.side, side, "side"),
            (request.category, category, "category"),
            (request.status, status, "status"),
            (request.broker, broker, "broker"),
            (request.source, source, "source"),
        ):
            _check_enum(value, mapped, name, violations)
        start = time_from_proto(request.start_time) if request.HasField("start_time") else None
        end = time_from_proto(request.end_time) if request.HasField("end_time") else None
        for name, stamp, given in (
            ("start_time", request.start_time, request.HasField("start_time")),
            ("end_time", request.end_time, request.HasField("end_time")),
        ):
            if given and (violation := timestamp_violation(stamp, name)):
                violations.append(violation)
        if violations:
            raise InvalidArgument("invalid filters", violations)
        if status is not None:
            statuses: tuple[Status, ...] = (status,)
        elif request.show_deleted:
            statuses = (Status.ACTIVE, Status.DELETED)
        else:
            statuses = (Status.ACTIVE,)
        filters = TradeFilter(
            symbol=request.symbol.strip().upper(),
            exchange=exchange,
            segment=segment,
            side=side,
            category=category,
            statuses=statuses,
            tag=request.tag.strip().casefold(),
            strategy=request.strategy.strip().casefold(),
            broker=broker,
            broker_account_id=request.broker_account_id.strip(),
            source=source,
            import_id=request.import_id.strip(),
            start_time=start,
            end_time=end,
        )
        trades, token = await self._service.list_trades(user, filters, request.page_size, request.page_token)
        return trade_service_pb2.ListTradesResponse(trades=listed_trades_to_proto(trades), next_page_token=token)

    async def UpdateTrade(
        self, request: trade_service_pb2.UpdateTradeRequest, context: Context
    ) -> trade_service_pb2.UpdateTradeResponse:
        user = current_principal().subject
        trade = await self._service.update(
            user,
            request.trade.id,
            request.etag,
            list(request.update_mask.paths),
            _trade_fields(request.trade),
        )
        return trade_service_pb2.UpdateTradeResponse(trade=trade_to_proto(trade))

    async def DeleteTrade(
        self, request: trade_service_pb2.DeleteTradeRequest, context: Context
    ) -> trade_service_pb2.DeleteTradeResponse:
        trade = await self._service.delete(current_principal().subject, request.id, request.etag)
        return trade_service_pb2.DeleteTradeResponse(trade=trade_to_proto(trade))

    async def UndeleteTrade(
        self, request: trade_service_pb2.UndeleteTradeRequest, context: Context
    ) -> trade_service_pb2.UndeleteTradeResponse:
        trade = await self._service.undelete(current_principal().subject, request.id, request.etag)
        return trade_service_pb2.UndeleteTradeResponse(trade=trade_to_proto(trade))

    async def ListPositions(
        self, request: trade_service_pb2.ListPositionsRequest, context: Context
    ) -> trade_service_pb2.ListPositionsResponse:
        user = current_principal().subject
        violations: list[FieldViolation] = []
        exchange = exchange_from_proto(request.exchange)
        segment = segment_from_proto(request.segment)
        _check_enum(request.exchange, exchange, "exchange", violations)
        _check_enum(request.segment, segment, "segment", violations)
        if request.status not in (
            position_pb2.POSITION_STATUS_UNSPECIFIED,
            position_pb2.POSITION_STATUS_OPEN,
            position_pb2.POSITION_STATUS_CLOSED,
        ):
            violations.append(FieldViolation("status", f"unknown status value {request.status}"))
        if violations:
            raise InvalidArgument("invalid filters", violations)
        open_only = {
            position_pb2.POSITION_STATUS_OPEN: True,
            position_pb2.POSITION_STATUS_CLOSED: False,
        }.get(request.status)
        filters = PositionFilter(
            open_only=open_only,
            symbol=request.symbol.strip().upper(),
            exchange=exchange,
            segment=segment,
            broker_account_id=request.broker_account_id.strip(),
        )
        positions, token = await self._service.positions(user, filters, request.page_size, request.page_token)
        return trade_service_pb2.ListPositionsResponse(
            positions=[position_to_proto(p) for p in positions], next_page_token=token
        )

    async def ImportTrades(
        self, request: trade_service_pb2.ImportTradesRequest, context: Context
    ) -> trade_service_pb2.ImportTradesResponse:
        user = current_principal().subject
        if len(request.file_name) > 255:
            raise InvalidArgument("invalid import request", [FieldViolation("file_name", "at most 255 characters")])
        content = request.content
        mapped = request.HasField("mapping") or bool(request.mapping_id)
        if mapped and request.format != import_pb2.IMPORT_FORMAT_UNSPECIFIED:
            raise InvalidArgument(
                "invalid import request", [FieldViolation("format", "leave unset when a mapping is given")]
            )
        if request.HasField("mapping") and request.mapping_id:
            raise InvalidArgument(
                "invalid import request", [FieldViolation("mapping_id", "give mapping or mapping_id")]
            )
        if request.HasField("mapping"):
            format_name, rows = mapped_source(mapping_from_proto(request.mapping), content, user)
        elif request.mapping_id:
            format_name, rows = mapped_source(await self._csv_mappings.resolve(user, request.mapping_id), content, user)
        else:
            format_name, rows = format_source(request.format, content, user)
        result = await self._service.import_rows(
            user,
            request.request_id,
            content,
            format_name,
            rows,
            dry_run=request.dry_run,
            broker_account_id=request.broker_account_id.strip(),
            source_hint=request.file_name,
        )
        return trade_service_pb2.ImportTradesResponse(
            import_id=result.import_id,
            dry_run=result.dry_run,
            rows_total=result.rows_total,
            rows_created=result.rows_created,
            rows_duplicate=result.rows_duplicate,
            rows_failed=result.rows_failed,
            row_errors=[row_error_to_proto(error) for error in result.row_errors],
            row_errors_truncated=result.row_errors_truncated,
        )

    async def ReconcileTrades(
        self, request: trade_service_pb2.ReconcileTradesRequest, context: Context
    ) -> trade_service_pb2.ReconcileTradesResponse:
        caller = current_principal()
        items = []
        for item in request.trades:
            message = trade_pb2.Trade(
                instrument=item.instrument,
                segment=item.segment,
                isin=item.isin,
                side=item.side,
                quantity_micros=item.quantity_micros,
                price_micros=item.price_micros,
                trade_time=item.trade_time,
                fees_micros=item.fees_micros if item.HasField("fees_micros") else 0,
                broker_trade_id=item.broker_trade_id,
                broker_order_id=item.broker_order_id,
            )
            if item.HasField("derivative"):
                message.derivative.CopyFrom(item.derivative)
            if item.HasField("fees_micros") and item.HasField("fee_breakdown"):
                message.fee_breakdown.CopyFrom(item.fee_breakdown)
            items.append(
                (
                    fields_from_proto(message, has_time=item.HasField("trade_time")),
                    item.HasField("fees_micros"),
                    category_from_proto(item.category),
                )
            )
        results = await self._service.reconcile(
            caller, request.user_id.strip(), broker_from_proto(request.broker), request.broker_account_id, items
        )
        response = trade_service_pb2.ReconcileTradesResponse()
        for result in results:
            response.results.append(
                import_pb2.ReconcileItemResult(
                    index=result.index,
                    broker_trade_id=result.broker_trade_id,
                    outcome=_RECONCILE_OUTCOMES[result.outcome],
                    trade_id=result.trade_id,
                    trade_version=result.trade_version,
                    error_reason=result.error_reason,
                    error_message=result.error_message,
                )
            )
        counts = {name: len([r for r in results if r.outcome == name]) for name in _RECONCILE_OUTCOMES}
        response.created_count = counts["CREATED"]
        response.updated_count = counts["UPDATED"]
        response.unchanged_count = counts["UNCHANGED"]
        response.skipped_deleted_count = counts["SKIPPED_DELETED"]
        response.failed_count = counts["FAILED"]
        return response

    async def RechargeTrades(
        self, request: trade_service_pb2.RechargeTradesRequest, context: Context
    ) -> trade_service_pb2.RechargeTradesResponse:
        caller = current_principal()
        violations: list[FieldViolation] = []
        days: list[date | None] = []
        for name in ("start_date", "end_date"):
            text = getattr(request, name).strip()
            try:
                days.append(date.fromisoformat(text) if text else None)
            except ValueError:
                days.append(None)
                violations.append(FieldViolation(name, f"{name} must be a YYYY-MM-DD date"))
        if violations:
            raise InvalidArgument("invalid recharge request", violations)
        result = await self._service.recharge(caller, request.user_id.strip(), days[0], days[1])
        return trade_service_pb2.RechargeTradesResponse(
            users_count=result.users_count,
            examined_count=result.examined_count,
            updated_count=result.updated_count,
            conflict_count=result.conflict_count,
        )

    async def WatchTrades(
        self, request: trade_service_pb2.WatchTradesRequest, context: Context
    ) -> AsyncIterator[trade_service_pb2.WatchTradesResponse]:
        user = current_principal().subject
        async for message in self._watcher.watch(user, request):
            yield message
