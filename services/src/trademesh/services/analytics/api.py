"""The AnalyticsService servicer (thin): decode with mapping, call the use cases, encode."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from grpc import aio

from trademesh.analytics.v1 import analytics_service_pb2, analytics_service_pb2_grpc, tax_pb2
from trademesh.kernel.errors import FieldViolation, InvalidArgument, PermissionDenied
from trademesh.services.analytics.calendar_mapping import calendar_to_proto, day_trips_to_proto
from trademesh.services.analytics.mapping import (
    PERIODS,
    heartbeat_to_proto,
    report_to_proto,
    settings_from_proto,
    settings_to_proto,
    update_to_proto,
)
from trademesh.services.analytics.model import ReportQuery, build_query, to_micros
from trademesh.services.analytics.model.slices import Slice
from trademesh.services.analytics.service import AnalyticsService
from trademesh.services.analytics.slice_mapping import slice_from_proto
from trademesh.services.analytics.tax_mapping import tax_query_from_proto, tax_report_to_proto
from trademesh.services.analytics.watch import PnlHeartbeat, PnlWatcher
from trademesh.services.core.identity import ROLE_ADMIN, current_principal
from trademesh.services.core.interceptors import metadata_value
from trademesh.services.core.service_token import ON_BEHALF_OF
from trademesh.services.core.timestamps import micros_of

Context = aio.ServicerContext[Any, Any]

SETTINGS_PATHS = frozenset({"capital_base_micros", "risk_free_rate_bps", "break_even_tolerance_micros"})
MAX_USER_ID_LENGTH = 128


def _reader(context: Context) -> str:
    """Return whose data a read is for: the caller, or for a service identity the user named in
    `trademesh-on-behalf-of` (the notifications digest reads a user's day, decision 0220)."""
    principal = current_principal()
    named = metadata_value(context, ON_BEHALF_OF) if principal.is_service else None
    if not named:
        return principal.subject
    if len(named) > MAX_USER_ID_LENGTH:
        raise InvalidArgument(
            "the user id is too long",
            [FieldViolation(ON_BEHALF_OF, "at most 128 characters")],
            reason="INVALID_USER_ID",
        )
    return named


def _authorization(context: Context) -> str:
    # Forwarded to market data as is: the caller's own token (the auth interceptor already checked it).
    return metadata_value(context, "authorization") or ""


class AnalyticsServicer(analytics_service_pb2_grpc.AnalyticsServiceServicer):
    """Serve trademesh.analytics.v1.AnalyticsService over gRPC."""

    def __init__(self, service: AnalyticsService, watcher: PnlWatcher) -> None:
        self._service = service
        self._watcher = watcher

    def _query(self, request: analytics_service_pb2.GetAnalyticsRequest) -> ReportQuery:
        custom = None
        if request.HasField("custom_range"):
            bounds = request.custom_range
            custom = (
                micros_of(bounds.start_time, "custom_range.start_time") if bounds.HasField("start_time") else None,
                micros_of(bounds.end_time, "custom_range.end_time") if bounds.HasField("end_time") else None,
            )
        query = build_query(
            PERIODS.get(request.period),
            now_us=self._service.now(),
            reference_us=(
                micros_of(request.reference_time, "reference_time") if request.HasField("reference_time") else None
            ),
            custom_range=custom,
            include_equity_curve=request.include_equity_curve,
            equity_curve_max_points=request.equity_curve_max_points,
            include_daily_pnl=request.include_daily_pnl,
            instrument_limit=request.instrument_limit,
            min_journal_version=request.min_journal_version,
        )
        if request.HasField("slice"):
            query = replace(query, slice=slice_from_proto(request.slice))
        return query

    async def _response(
        self, user: str, query: ReportQuery, context: Context
    ) -> analytics_service_pb2.GetAnalyticsResponse:
        lookup = await self._service.lookup(user, query)
        if lookup.cached is not None:
            return analytics_service_pb2.GetAnalyticsResponse.FromString(lookup.cached)
        report, cacheable = await self._service.compute(lookup, _authorization(context))
        response = analytics_service_pb2.GetAnalyticsResponse(report=report_to_proto(report))
        if cacheable:
            await self._service.store(lookup, response.SerializeToString())
        return response

    async def GetAnalytics(
        self, request: analytics_service_pb2.GetAnalyticsRequest, context: Context
    ) -> analytics_service_pb2.GetAnalyticsResponse:
        user = _reader(context)
        query = self._query(request)
        await self._service.wait_for_version(user, request.min_journal_version, context.time_remaining())
        return await self._response(user, query, context)

    async def CompareAnalytics(
        self, request: analytics_service_pb2.CompareAnalyticsRequest, context: Context
    ) -> analytics_service_pb2.CompareAnalyticsResponse:
        user = _reader(context)
        try:
            first = self._query(request.query)
        except InvalidArgument as error:
            error.violations = [FieldViolation("query." + v.field, v.description) for v in error.violations]
            raise
        against = request.WhichOneof("against")
        if against == "other":
            second = replace(first, slice=slice_from_proto(request.other, "other"))
        elif against == "rest" and request.rest:
            second = replace(first, slice=(first.slice or Slice()).complement())
        else:
            raise InvalidArgument(
                "name a second slice or ask for the rest",
                [FieldViolation("against", "set `other`, or `rest` to true")],
                reason="INVALID_COMPARISON",
            )
        await self._service.wait_for_version(user, request.query.min_journal_version, context.time_remaining())
        reports = [(await self._response(user, query, context)).report for query in (first, second)]
        return analytics_service_pb2.CompareAnalyticsResponse(first=reports[0], second=reports[1])

    async def RecomputeAnalytics(
        self, request: analytics_service_pb2.RecomputeAnalyticsRequest, context: Context
    ) -> analytics_service_pb2.RecomputeAnalyticsResponse:
        principal = current_principal()
        if not principal.is_service and ROLE_ADMIN not in principal.roles:
            raise PermissionDenied("RecomputeAnalytics needs an admin or service identity", reason="ADMIN_REQUIRED")
        if len(request.user_id) > MAX_USER_ID_LENGTH:
            raise InvalidArgument(
                "user_id is too long",
                [FieldViolation("user_id", "at most 128 characters")],
                reason="INVALID_USER_ID",
            )
        result = await self._service.recompute(request.user_id or None)
        response = analytics_service_pb2.RecomputeAnalyticsResponse(
            user_count=result.user_count, fill_count=result.fill_count, round_trip_count=result.round_trip_count
        )
        response.start_time.FromMicroseconds(result.start_time_us)
        response.duration.FromMicroseconds(result.duration_us)
        return response

    async def WatchPnl(
        self, request: analytics_service_pb2.WatchPnlRequest, context: Context
    ) -> AsyncIterator[analytics_service_pb2.WatchPnlResponse]:
        principal = current_principal()
        messages = self._watcher.watch(
            _reader(context),
            _authorization(context),
            request.max_updates_per_second,
            to_micros(principal.expires_at),
            slice_from_proto(request.slice) if request.HasField("slice") else None,
        )
        async for message in messages:
            if isinstance(message, PnlHeartbeat):
                yield analytics_service_pb2.WatchPnlResponse(heartbeat=heartbeat_to_proto(message))
            else:
                yield analytics_service_pb2.WatchPnlResponse(update=update_to_proto(message))

    async def GetAnalyticsSettings(
        self, request: analytics_service_pb2.GetAnalyticsSettingsRequest, context: Context
    ) -> analytics_service_pb2.GetAnalyticsSettingsResponse:
        settings = await self._service.get_settings(current_principal().subject)
        return analytics_service_pb2.GetAnalyticsSettingsResponse(settings=settings_to_proto(settings))

    async def UpdateAnalyticsSettings(
        self, request: analytics_service_pb2.UpdateAnalyticsSettingsRequest, context: Context
    ) -> analytics_service_pb2.UpdateAnalyticsSettingsResponse:
        user = current_principal().subject
        paths = list(request.update_mask.paths)
        bad = [path for path in paths if path not in SETTINGS_PATHS and path != "*"]
        if not paths or bad:
            violations = [FieldViolation("update_mask", f"unknown or output-only path {path!r}") for path in bad]
            raise InvalidArgument(
                "update_mask must name settings fields",
                violations or [FieldViolation("update_mask", "must not be empty")],
                reason="INVALID_UPDATE_MASK",
            )
        fields = SETTINGS_PATHS if "*" in paths else frozenset(paths)
        updated = await self._service.update_settings(
            user, settings_from_proto(request.settings), fields, request.settings.etag
        )
        return analytics_service_pb2.UpdateAnalyticsSettingsResponse(settings=settings_to_proto(updated))

    async def GetTaxReport(
        self, request: tax_pb2.GetTaxReportRequest, context: Context
    ) -> tax_pb2.GetTaxReportResponse:
        query = tax_query_from_proto(request, now_us=self._service.now())
        report = await self._service.tax_report(current_principal().subject, query)
        return tax_pb2.GetTaxReportResponse(report=tax_report_to_proto(report))

    async def GetPnlCalendar(
        self, request: analytics_service_pb2.GetPnlCalendarRequest, context: Context
    ) -> analytics_service_pb2.GetPnlCalendarResponse:
        chosen = slice_from_proto(request.slice) if request.HasField("slice") else None
        calendar = await self._service.pnl_calendar(_reader(context), request.start_date, request.end_date, chosen)
        return calendar_to_proto(calendar)

    async def GetDayTrips(
        self, request: analytics_service_pb2.GetDayTripsRequest, context: Context
    ) -> analytics_service_pb2.GetDayTripsResponse:
        chosen = slice_from_proto(request.slice) if request.HasField("slice") else None
        trips = await self._service.day_trips(_reader(context), request.date, _authorization(context), chosen)
        return day_trips_to_proto(trips)
