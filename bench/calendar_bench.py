"""P&L calendar benchmark: GetPnlCalendar's and GetDayTrips' computation beside the report's, same journal, one run.

On generated fills (one user, 500 symbols, 1,000 trading days; `bench.analytics_bench.generate`), from an
already built journal (the service keeps it cached per user):

* the calendar of the journal's last month and of its last 366 days (`build_calendar`), against
* the baseline, the report of the same window with daily P&L (`build_report`, what a client would otherwise
  call to draw a calendar), and
* one day's round trips (`build_day_trips`).

    .venv/bin/python bench/calendar_bench.py                 # 100,000 fills
    .venv/bin/python bench/calendar_bench.py --fills 10000 1000000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.analytics_bench import generate
from trademesh.services.analytics.model import FillColumns, Journal, Period, UserSettings, build_query, build_report
from trademesh.services.analytics.model.calendar import build_calendar, build_day_trips
from trademesh.services.analytics.model.periods import day_date, day_start_us, ist_day


def timed(run: Callable[[], object], repeat: int) -> float:
    """Return the median wall time of `run` in milliseconds."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1_000)
    return statistics.median(samples)


def bench(count: int, repeat: int) -> None:
    journal = Journal(FillColumns.of(generate(count, 500)))
    last_close = int(journal.trip_columns()["close_time"][-1])
    end = day_date(ist_day(last_close))
    month_start = end.replace(day=1)
    year_start = end - timedelta(days=365)
    settings = UserSettings()
    now_us = last_close + 1

    def report(start: date) -> object:
        query = build_query(
            Period.CUSTOM,
            now_us=now_us,
            custom_range=(day_start_us(start.toordinal() - date(1970, 1, 1).toordinal()), now_us),
            include_daily_pnl=True,
        )
        return build_report(journal, query, settings, now_us, {})

    rows = [
        ("month: report with daily P&L (baseline)", timed(lambda: report(month_start), repeat)),
        ("month: calendar", timed(lambda: build_calendar(journal, month_start, end, 0), repeat)),
        ("366 days: report with daily P&L (baseline)", timed(lambda: report(year_start), repeat)),
        ("366 days: calendar", timed(lambda: build_calendar(journal, year_start, end, 0), repeat)),
        ("one day's round trips", timed(lambda: build_day_trips(journal, end, 0), repeat)),
    ]
    print(f"{count:,} fills, {journal.round_trip_count:,} round trips; median of {repeat} runs")
    for name, millis in rows:
        print(f"  {name:<44} {millis:8.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, nargs="+", default=[100_000])
    parser.add_argument("--repeat", type=int, default=21)
    arguments = parser.parse_args()
    for count in arguments.fills:
        bench(count, arguments.repeat)


if __name__ == "__main__":
    main()
