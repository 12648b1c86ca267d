"""Indian market time: IST, the trading day of an instant, the cash session and the monthly F&O expiry.

Pure: no I/O. Every service that speaks of "a day" means an IST calendar day.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta, timezone

__all__ = [
    "IST",
    "SESSION_CLOSE",
    "SESSION_OPEN",
    "ist_day",
    "last_thursday",
    "last_weekday",
    "next_ist_time_after",
]

#: India Standard Time (no daylight saving).
IST = timezone(timedelta(hours=5, minutes=30), "IST")
#: NSE/BSE cash session, IST.
SESSION_OPEN = time(9, 15)
SESSION_CLOSE = time(15, 30)


def ist_day(moment: datetime) -> date:
    """Return the IST calendar day of an aware instant."""
    return moment.astimezone(IST).date()


def last_thursday(year: int, month: int) -> date:
    """Return the last Thursday of a month (the classic monthly F&O expiry)."""
    day = date(year, month, calendar.monthrange(year, month)[1])
    return day - timedelta(days=(day.weekday() - 3) % 7)


def last_weekday(year: int, month: int, weekday: int) -> date:
    """Return the last day of a month that falls on `weekday` (Monday = 0 … Sunday = 6)."""
    day = date(year, month, calendar.monthrange(year, month)[1])
    return day - timedelta(days=(day.weekday() - weekday) % 7)


def next_ist_time_after(moment: datetime, at: time) -> datetime:
    """Return the first instant strictly after `moment` whose IST wall-clock time is `at` (in UTC)."""
    local = moment.astimezone(IST)
    candidate = datetime.combine(local.date(), at, IST)
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate.astimezone(UTC)
