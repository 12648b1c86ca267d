"""``calendar``: daily net P&L of a month as a calendar (IST days of closing fills, net of charges), or one
day's closed round trips."""

from __future__ import annotations

import calendar as months
import re
from datetime import date
from typing import Annotated

import typer
from rich.table import Table

from trademesh.analytics.v1 import analytics_service_pb2, calendar_pb2, excursion_pb2, trade_category_pb2
from trademesh.cli.render import format_inr
from trademesh.cli.shared import enum_label, format_timestamp, out, print_json, session_client

__all__ = ["app"]

#: A top-level command (added to the root without a group name).
app = typer.Typer()

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _month(text: str | None) -> tuple[date, date]:
    if text is None:
        today = date.today()
        year, month = today.year, today.month
    else:
        match = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise typer.BadParameter(f"{text!r} is not a month YYYY-MM", param_hint="--month")
        year, month = int(match.group(1)), int(match.group(2))
    return date(year, month, 1), date(year, month, months.monthrange(year, month)[1])


def _coloured(micros: int) -> str:
    colour = "green" if micros > 0 else "red" if micros < 0 else "dim"
    return f"[{colour}]{format_inr(micros, sign=True)}[/]"


def _show_month(calendar: calendar_pb2.PnlCalendar, first: date) -> None:
    by_date = {day.date: day for day in calendar.days}
    weeks = {week.week_start: week for week in calendar.weeks}
    table = Table(title=f"P&L calendar {first:%B %Y} (net of charges, IST)", title_justify="left")
    for name in (*WEEKDAYS, "week"):
        table.add_column(name, justify="right")
    for week in months.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month):
        cells = []
        for day in week:
            found = by_date.get(day.isoformat()) if day.month == first.month else None
            label = f"[dim]{day.day}[/]" if day.month == first.month else ""
            cells.append(f"{label}\n{_coloured(found.net_pnl_micros)}" if found else label)
        total = weeks.get(week[0].isoformat())
        cells.append(f"\n{_coloured(total.net_pnl_micros)}" if total else "")
        table.add_row(*cells)
    out.print(table)
    month = calendar.months[0] if calendar.months else calendar_pb2.CalendarMonth()
    out.print(
        f"Month: {_coloured(calendar.net_pnl_micros)} over {calendar.trading_day_count} trading day(s), "
        f"{month.round_trip_count} round trip(s); {month.green_day_count} green, {month.red_day_count} red."
    )


def _excursion(trip: calendar_pb2.DayTrip) -> tuple[str, str, str]:
    """Return the MAE, MFE and quality cells (MAE/MFE in ₹ for the size, with R when planned; decision 0270)."""
    found = trip.excursion
    quality = enum_label(found.quality, excursion_pb2.ExcursionQuality, "EXCURSION_QUALITY_")
    if found.quality in (excursion_pb2.EXCURSION_QUALITY_UNSPECIFIED, excursion_pb2.EXCURSION_QUALITY_UNAVAILABLE):
        return "-", "-", quality

    def cell(micros: int, milli_r: int | None) -> str:
        text = format_inr(micros, sign=True)
        return f"{text} ({milli_r / 1000:+.2f}R)" if milli_r is not None else text

    mae_r = found.mae_r_milli if found.HasField("mae_r_milli") else None
    mfe_r = found.mfe_r_milli if found.HasField("mfe_r_milli") else None
    return cell(found.mae_micros, mae_r), cell(found.mfe_micros, mfe_r), quality


def _show_day(response: analytics_service_pb2.GetDayTripsResponse) -> None:
    table = Table(title=f"Round trips closed on {response.date} (IST)", title_justify="left")
    money = ("gross", "charges", "net", "MAE", "MFE")
    for column in ("instrument", "side", "category", "opened", "closed", *money, "measured"):
        table.add_column(column, justify="right" if column in money else "left")
    for trip in response.trips:
        table.add_row(
            trip.instrument.symbol,
            "long" if trip.long else "short",
            enum_label(trip.category, trade_category_pb2.TradeCategory, "TRADE_CATEGORY_"),
            format_timestamp(trip.open_time),
            format_timestamp(trip.close_time),
            format_inr(trip.gross_pnl_micros, sign=True),
            format_inr(trip.fees_micros),
            _coloured(trip.net_pnl_micros),
            *_excursion(trip),
        )
    out.print(table)
    out.print(f"Day: {_coloured(response.day.net_pnl_micros)} over {response.day.round_trip_count} round trip(s).")


@app.command()
def calendar(
    context: typer.Context,
    month: Annotated[str | None, typer.Option(help="The month, YYYY-MM (default: this month).")] = None,
    day: Annotated[
        str | None, typer.Option(help="Instead, list the round trips closed on this day, YYYY-MM-DD.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the calendar (or the day) as JSON.")] = False,
) -> None:
    """Show daily net P&L of a month as a calendar with weekly and monthly totals, or one day's round trips."""
    if day is not None:
        with session_client(context) as client:
            response = client.analytics.GetDayTrips(analytics_service_pb2.GetDayTripsRequest(date=day))
        if as_json:
            print_json(response)
        else:
            _show_day(response)
        return
    first, last = _month(month)
    request = analytics_service_pb2.GetPnlCalendarRequest(start_date=first.isoformat(), end_date=last.isoformat())
    with session_client(context) as client:
        calendar = client.analytics.GetPnlCalendar(request).calendar
    if as_json:
        print_json(calendar)
    else:
        _show_month(calendar, first)
