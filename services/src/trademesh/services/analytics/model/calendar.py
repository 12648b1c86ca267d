"""The P&L calendar: closed round trips' net P&L per IST day of a date range, with week and month totals.

A round trip counts on the IST day of its closing fill; its P&L is net of the charges of all its fills
(the journal's `net` column, as in the report). Days without a closed round trip are left out: the
calendar's days, weeks and months are exactly the ones that have one. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from trademesh.kernel.errors import FieldViolation, InvalidArgument
from trademesh.kernel.lots import RoundTrip
from trademesh.services.analytics.model.excursions import Excursion
from trademesh.services.analytics.model.fills import Column, Instrument
from trademesh.services.analytics.model.journal import Journal
from trademesh.services.analytics.model.periods import DAY_US, EPOCH_ORDINAL, IST_OFFSET_US, day_start_us
from trademesh.services.analytics.model.slices import TRIP_KEYS, Slice, keep_rows

MAX_CALENDAR_DAYS = 366


@dataclass(frozen=True, slots=True)
class CalendarDay:
    """One IST day with at least one closed round trip."""

    date: date
    net_pnl_micros: int
    gross_pnl_micros: int
    fees_micros: int
    round_trip_count: int
    win_count: int
    loss_count: int


@dataclass(frozen=True, slots=True)
class CalendarTotal:
    """The days of one week (key: its Monday) or one month (key: its first day) added up."""

    start: date
    net_pnl_micros: int
    trading_day_count: int
    round_trip_count: int
    green_day_count: int
    red_day_count: int


@dataclass(frozen=True, slots=True)
class PnlCalendar:
    """A date range's calendar days, week totals and month totals."""

    start: date
    end: date
    days: tuple[CalendarDay, ...]
    weeks: tuple[CalendarTotal, ...]
    months: tuple[CalendarTotal, ...]
    journal_version: int

    @property
    def net_pnl_micros(self) -> int:
        """Return the range's net P&L."""
        return sum(day.net_pnl_micros for day in self.days)


@dataclass(frozen=True, slots=True)
class DayTrips:
    """One IST day's closed round trips in close order, and the day's totals."""

    date: date
    trips: tuple[RoundTrip[Instrument], ...]
    day: CalendarDay
    #: Each trip's planned risk (0: no plan; decision 0230), parallel to `trips`.
    risks: tuple[int, ...]
    #: Each trip's MAE/MFE (decision 0270), parallel to `trips`; empty when not measured.
    excursions: tuple[Excursion, ...] = ()


def parse_date(text: str, field: str, reason: str) -> date:
    """Return the date of a "YYYY-MM-DD" field, or raise INVALID_ARGUMENT."""
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(
            f"{field} must be a date YYYY-MM-DD", [FieldViolation(field, "must be a date YYYY-MM-DD")], reason=reason
        ) from None


def check_range(start: date, end: date) -> None:
    """Raise INVALID_ARGUMENT unless start ≤ end and the range holds at most MAX_CALENDAR_DAYS days."""
    if end < start:
        raise InvalidArgument(
            "end_date must not be before start_date",
            [FieldViolation("end_date", "must not be before start_date")],
            reason="INVALID_DATE_RANGE",
        )
    if (end - start).days + 1 > MAX_CALENDAR_DAYS:
        raise InvalidArgument(
            f"a calendar covers at most {MAX_CALENDAR_DAYS} days",
            [FieldViolation("end_date", f"must be at most {MAX_CALENDAR_DAYS} days from start_date, inclusive")],
            reason="INVALID_DATE_RANGE",
            metadata={"limit": str(MAX_CALENDAR_DAYS)},
        )


def _day_number(day: date) -> int:
    return day.toordinal() - EPOCH_ORDINAL


def _slice(journal: Journal, start: date, end: date) -> tuple[int, int]:
    return journal.trip_range(day_start_us(_day_number(start)), day_start_us(_day_number(end) + 1))


def _days(journal: Journal, first: int, last: int, tolerance: int, chosen: Slice | None = None) -> list[CalendarDay]:
    columns = keep_rows(chosen, journal, {k: c[first:last] for k, c in journal.trip_columns().items()}, TRIP_KEYS)
    closes = columns["close_time"]
    if len(closes) == 0:
        return []
    nets, grosses, fees = (columns[name] for name in ("net", "gross", "fees"))
    numbers = (closes + IST_OFFSET_US) // DAY_US
    values, starts = np.unique(numbers, return_index=True)
    counts = np.diff(np.r_[starts, len(closes)])
    day_nets, day_grosses, day_fees = (np.add.reduceat(column, starts) for column in (nets, grosses, fees))
    wins = np.add.reduceat((nets > tolerance).astype(np.int64), starts)
    losses = np.add.reduceat((nets < -tolerance).astype(np.int64), starts)
    return [
        CalendarDay(
            date.fromordinal(EPOCH_ORDINAL + int(number)),
            int(day_nets[index]),
            int(day_grosses[index]),
            int(day_fees[index]),
            int(counts[index]),
            int(wins[index]),
            int(losses[index]),
        )
        for index, number in enumerate(values.tolist())
    ]


def _totals(days: list[CalendarDay], *, weekly: bool) -> tuple[CalendarTotal, ...]:
    grouped: dict[date, list[CalendarDay]] = {}
    for day in days:
        key = day.date - timedelta(days=day.date.weekday()) if weekly else day.date.replace(day=1)
        grouped.setdefault(key, []).append(day)
    return tuple(
        CalendarTotal(
            start,
            sum(day.net_pnl_micros for day in members),
            len(members),
            sum(day.round_trip_count for day in members),
            sum(1 for day in members if day.net_pnl_micros > 0),
            sum(1 for day in members if day.net_pnl_micros < 0),
        )
        for start, members in grouped.items()
    )


def build_calendar(
    journal: Journal, start: date, end: date, tolerance: int, chosen: Slice | None = None
) -> PnlCalendar:
    """Return the calendar of [start, end] (inclusive IST dates; the range is checked by the caller).

    With a slice, only its round trips count (decision 0250).
    """
    first, last = _slice(journal, start, end)
    days = _days(journal, first, last, tolerance, chosen)
    return PnlCalendar(
        start, end, tuple(days), _totals(days, weekly=True), _totals(days, weekly=False), journal.version
    )


def build_day_trips(journal: Journal, day: date, tolerance: int, chosen: Slice | None = None) -> DayTrips:
    """Return the round trips closed on one IST day with the day's totals (of a slice's, decision 0250)."""
    first, last = _slice(journal, day, day)
    days = _days(journal, first, last, tolerance, chosen)
    totals = days[0] if days else CalendarDay(day, 0, 0, 0, 0, 0, 0)
    kept = keep_rows(chosen, journal, {"index": np.arange(first, last)} | _trip_keys(journal, first, last), TRIP_KEYS)
    risks = journal.trip_columns()["risk"]
    trips = [trip for index in kept["index"].tolist() for trip in journal.round_trips_in(index, index + 1)]
    return DayTrips(day, tuple(trips), totals, tuple(int(risks[index]) for index in kept["index"].tolist()))


def _trip_keys(journal: Journal, first: int, last: int) -> dict[str, Column]:
    return {key: journal.trip_columns()[key][first:last] for key in TRIP_KEYS}
