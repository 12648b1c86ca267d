"""P&L calendar ⇄ proto (trademesh.analytics.v1 calendar.proto): money saturated to int64, times as Timestamps."""

from __future__ import annotations

from google.protobuf import timestamp_pb2

from trademesh.analytics.v1 import analytics_service_pb2, calendar_pb2
from trademesh.kernel.lots import RoundTrip
from trademesh.services.analytics.excursion_mapping import excursion_to_proto
from trademesh.services.analytics.mapping import CATEGORIES, instrument_to_proto
from trademesh.services.analytics.model import saturate
from trademesh.services.analytics.model.calendar import CalendarDay, CalendarTotal, DayTrips, PnlCalendar
from trademesh.services.analytics.model.excursions import Excursion
from trademesh.services.analytics.model.fills import Category, Instrument
from trademesh.services.analytics.model.rmultiples import r_multiple_milli


def _timestamp(time_us: int) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromMicroseconds(time_us)
    return stamp


def day_to_proto(day: CalendarDay) -> calendar_pb2.CalendarDay:
    """Map one calendar day."""
    return calendar_pb2.CalendarDay(
        date=day.date.isoformat(),
        net_pnl_micros=saturate(day.net_pnl_micros),
        gross_pnl_micros=saturate(day.gross_pnl_micros),
        fees_micros=saturate(day.fees_micros),
        round_trip_count=day.round_trip_count,
        win_count=day.win_count,
        loss_count=day.loss_count,
    )


def _week(total: CalendarTotal) -> calendar_pb2.CalendarWeek:
    return calendar_pb2.CalendarWeek(
        week_start=total.start.isoformat(),
        net_pnl_micros=saturate(total.net_pnl_micros),
        trading_day_count=total.trading_day_count,
        round_trip_count=total.round_trip_count,
    )


def _month(total: CalendarTotal) -> calendar_pb2.CalendarMonth:
    return calendar_pb2.CalendarMonth(
        month=total.start.strftime("%Y-%m"),
        net_pnl_micros=saturate(total.net_pnl_micros),
        trading_day_count=total.trading_day_count,
        round_trip_count=total.round_trip_count,
        green_day_count=total.green_day_count,
        red_day_count=total.red_day_count,
    )


def calendar_to_proto(calendar: PnlCalendar) -> analytics_service_pb2.GetPnlCalendarResponse:
    """Map a calendar to its response."""
    return analytics_service_pb2.GetPnlCalendarResponse(
        calendar=calendar_pb2.PnlCalendar(
            start_date=calendar.start.isoformat(),
            end_date=calendar.end.isoformat(),
            days=[day_to_proto(day) for day in calendar.days],
            weeks=[_week(week) for week in calendar.weeks],
            months=[_month(month) for month in calendar.months],
            net_pnl_micros=saturate(calendar.net_pnl_micros),
            trading_day_count=len(calendar.days),
            journal_version=calendar.journal_version,
        )
    )


def _trip(trip: RoundTrip[Instrument], risk: int, found: Excursion | None) -> calendar_pb2.DayTrip:
    message = calendar_pb2.DayTrip(
        instrument=instrument_to_proto(trip.instrument),
        long=trip.long,
        opening_trade_id=trip.opening_trade_id,
        category=CATEGORIES[Category(trip.category)],
        open_time=_timestamp(trip.open_time),
        close_time=_timestamp(trip.close_time),
        gross_pnl_micros=saturate(trip.gross_pnl_micros),
        fees_micros=saturate(trip.fees_micros),
        net_pnl_micros=saturate(trip.net_pnl_micros),
        fill_count=trip.fill_count,
        planned_risk_micros=saturate(risk),
        r_multiple_milli=saturate(r_multiple_milli(trip.net_pnl_micros, risk)) if risk > 0 else None,
    )
    if found is not None:
        message.excursion.CopyFrom(excursion_to_proto(found))
    return message


def day_trips_to_proto(day: DayTrips) -> analytics_service_pb2.GetDayTripsResponse:
    """Map a day's round trips to the response."""
    return analytics_service_pb2.GetDayTripsResponse(
        date=day.date.isoformat(),
        trips=[
            _trip(trip, risk, day.excursions[index] if day.excursions else None)
            for index, (trip, risk) in enumerate(zip(day.trips, day.risks, strict=True))
        ],
        day=day_to_proto(day.day),
    )
