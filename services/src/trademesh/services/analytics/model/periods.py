"""Time on the analytics clock and report periods: epoch microseconds, IST days, period windows, queries.

Times are ints: microseconds since the Unix epoch (UTC). A day is an IST calendar day, numbered from
1970-01-01. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from trademesh.kernel.calendar import IST
from trademesh.kernel.errors import FieldViolation, InvalidArgument

if TYPE_CHECKING:
    from trademesh.services.analytics.model.slices import Slice

SECOND_US = 1_000_000
HOUR_US = 3_600 * SECOND_US
DAY_US = 24 * HOUR_US
_IST_OFFSET = IST.utcoffset(None)
assert _IST_OFFSET is not None
IST_OFFSET_US = int(_IST_OFFSET.total_seconds()) * SECOND_US
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

DEFAULT_EQUITY_POINTS = 1_000
MIN_EQUITY_POINTS = 4
MAX_EQUITY_POINTS = 10_000
DEFAULT_INSTRUMENT_LIMIT = 5
MAX_INSTRUMENT_LIMIT = 50


def ist_day(time_us: int) -> int:
    """Return the IST calendar day of an instant as days since 1970-01-01."""
    return (time_us + IST_OFFSET_US) // DAY_US


def day_start_us(day: int) -> int:
    """Return the instant 00:00 IST of a day number."""
    return day * DAY_US - IST_OFFSET_US


def day_date(day: int) -> date:
    """Return the calendar date of a day number."""
    return date.fromordinal(EPOCH_ORDINAL + day)


def to_micros(moment: datetime) -> int:
    """Return an aware datetime as epoch microseconds."""
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * SECOND_US + delta.microseconds


class Period(StrEnum):
    """The window of a report."""

    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"
    YEARLY = "YEARLY"
    FINANCIAL_YEAR = "FINANCIAL_YEAR"
    ALL_TIME = "ALL_TIME"
    CUSTOM = "CUSTOM"


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """A validated GetAnalytics request."""

    period: Period
    start_us: int | None
    end_us: int | None
    include_equity_curve: bool = False
    equity_curve_max_points: int = DEFAULT_EQUITY_POINTS
    include_daily_pnl: bool = False
    instrument_limit: int = DEFAULT_INSTRUMENT_LIMIT
    #: The round trips and fills kept (decision 0250); None or an empty slice: all of them.
    slice: Slice | None = None

    @property
    def cache_key(self) -> str:
        """Return a string naming everything the report depends on besides the journal and settings."""
        key = (
            f"{self.period.value}:{self.start_us}:{self.end_us}:{int(self.include_equity_curve)}:"
            f"{self.equity_curve_max_points}:{int(self.include_daily_pnl)}:{self.instrument_limit}"
        )
        if self.slice is not None and not self.slice.empty:
            key += ":slice=" + self.slice.key
        return key


def period_range(period: Period, reference_us: int) -> tuple[int | None, int | None]:
    """Return [start, end) of a calendar period containing the reference instant (IST boundaries)."""
    if period is Period.ALL_TIME:
        return None, None
    day = day_date(ist_day(reference_us))
    if period is Period.DAILY:
        first, last = day, day + timedelta(days=1)
    elif period is Period.WEEKLY:
        first = day - timedelta(days=day.weekday())
        last = first + timedelta(days=7)
    elif period is Period.MONTHLY:
        first = day.replace(day=1)
        last = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    elif period is Period.YEARLY:
        first, last = date(day.year, 1, 1), date(day.year + 1, 1, 1)
    elif period is Period.FINANCIAL_YEAR:
        year = day.year if day.month >= 4 else day.year - 1
        first, last = date(year, 4, 1), date(year + 1, 4, 1)
    else:
        raise ValueError(f"{period} has no calendar range")
    return day_start_us(first.toordinal() - EPOCH_ORDINAL), day_start_us(last.toordinal() - EPOCH_ORDINAL)


def build_query(
    period: Period | None,
    *,
    now_us: int,
    reference_us: int | None = None,
    custom_range: tuple[int | None, int | None] | None = None,
    include_equity_curve: bool = False,
    equity_curve_max_points: int = 0,
    include_daily_pnl: bool = False,
    instrument_limit: int = 0,
    min_journal_version: int = 0,
) -> ReportQuery:
    """Validate a report request and resolve its window; raise InvalidArgument naming each bad field."""
    if period is None:
        raise InvalidArgument("period is required", [FieldViolation("period", "must be set")], reason="INVALID_PERIOD")
    if period is Period.CUSTOM:
        violations = []
        if custom_range is None:
            violations.append(FieldViolation("custom_range", "required for PERIOD_CUSTOM"))
        else:
            if custom_range[0] is None:
                violations.append(FieldViolation("custom_range.start_time", "required"))
            if custom_range[1] is None:
                violations.append(FieldViolation("custom_range.end_time", "required"))
            if custom_range[0] is not None and custom_range[1] is not None and custom_range[1] <= custom_range[0]:
                violations.append(FieldViolation("custom_range.end_time", "must be after start_time"))
        if violations:
            raise InvalidArgument("invalid custom range", violations, reason="INVALID_TIME_RANGE")
        assert custom_range is not None
        start, end = custom_range
    elif custom_range is not None:
        raise InvalidArgument(
            "custom_range is only allowed with PERIOD_CUSTOM",
            [FieldViolation("custom_range", "must be unset unless period is PERIOD_CUSTOM")],
            reason="INVALID_TIME_RANGE",
        )
    else:
        start, end = period_range(period, now_us if reference_us is None else reference_us)
    limits = [
        FieldViolation(name, "must not be negative")
        for name, value in (
            ("equity_curve_max_points", equity_curve_max_points),
            ("instrument_limit", instrument_limit),
        )
        if value < 0
    ]
    if limits:
        raise InvalidArgument("invalid limits", limits, reason="INVALID_LIMIT")
    if min_journal_version < 0:
        raise InvalidArgument(
            "min_journal_version must not be negative",
            [FieldViolation("min_journal_version", "must not be negative")],
            reason="INVALID_JOURNAL_VERSION",
        )
    points = DEFAULT_EQUITY_POINTS if equity_curve_max_points == 0 else equity_curve_max_points
    limit = DEFAULT_INSTRUMENT_LIMIT if instrument_limit == 0 else min(instrument_limit, MAX_INSTRUMENT_LIMIT)
    return ReportQuery(
        period=period,
        start_us=start,
        end_us=end,
        include_equity_curve=include_equity_curve,
        equity_curve_max_points=min(max(points, MIN_EQUITY_POINTS), MAX_EQUITY_POINTS),
        include_daily_pnl=include_daily_pnl,
        instrument_limit=limit,
    )
