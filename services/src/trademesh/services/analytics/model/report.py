"""The report of one period: performance, risk, activity, breakdowns, daily P&L, equity curve, positions.

The definitions are those written in `proto/trademesh/analytics/v1/report.proto` (the specification)
and summarised in this service's README. Floats appear only where a ratio is formed. Pure: no I/O.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from trademesh.kernel.lots import divide_half_away
from trademesh.services.analytics.model.excursions import ExcursionStats
from trademesh.services.analytics.model.fills import CATEGORIES, Category, Column, Instrument, instrument_order
from trademesh.services.analytics.model.journal import Journal
from trademesh.services.analytics.model.metrics import (
    RoundTripStats,
    UserSettings,
    downsample,
    round_trip_stats,
    saturate,
    total,
)
from trademesh.services.analytics.model.netting import NetBook
from trademesh.services.analytics.model.periods import DAY_US, HOUR_US, IST_OFFSET_US, ReportQuery, day_date, ist_day
from trademesh.services.analytics.model.positions import Mark, OpenPosition, open_positions
from trademesh.services.analytics.model.rmultiples import RMultipleStats, r_multiple_stats
from trademesh.services.analytics.model.slices import FILL_KEYS, TRIP_KEYS, keep_rows

TRADING_DAYS_PER_YEAR = 252


@dataclass(frozen=True, slots=True)
class RiskMetrics:
    """Equity-curve and return based metrics of a period (see RiskMetrics in report.proto)."""

    max_drawdown_micros: int = 0
    max_drawdown_percent: float | None = None
    max_drawdown_peak_time_us: int | None = None
    max_drawdown_trough_time_us: int | None = None
    return_percent: float | None = None
    annualized_return_percent: float | None = None
    sharpe_ratio: float | None = None
    calmar_ratio: float | None = None
    calmar_ratio_unbounded: bool = False
    recovery_factor: float | None = None
    recovery_factor_unbounded: bool = False


@dataclass(frozen=True, slots=True)
class ActivitySummary:
    """The fills of a period."""

    fill_count: int = 0
    trading_day_count: int = 0
    average_fills_per_trading_day: float | None = None
    average_round_trips_per_trading_day: float | None = None
    total_fees_micros: int = 0
    turnover_micros: int = 0
    symbols_traded: tuple[Instrument, ...] = ()
    most_traded_instrument: Instrument | None = None
    most_traded_instrument_fill_count: int = 0


@dataclass(frozen=True, slots=True)
class InstrumentPerformance:
    """One instrument's round trips and fills in the period."""

    instrument: Instrument
    stats: RoundTripStats
    fill_count: int


@dataclass(frozen=True, slots=True)
class DailyPnl:
    """One trading day of the period."""

    date: str
    net_pnl_micros: int
    round_trip_count: int
    win_count: int
    loss_count: int
    fill_count: int
    fees_micros: int
    return_percent: float | None


@dataclass(frozen=True, slots=True)
class EquityPoint:
    """The equity curve right after one round trip closed."""

    round_trip_index: int
    close_time_us: int
    instrument: Instrument
    round_trip_net_pnl_micros: int
    cumulative_net_pnl_micros: int
    drawdown_micros: int


@dataclass(frozen=True, slots=True)
class EquityCurve:
    """The (possibly downsampled) equity curve of the period."""

    points: tuple[EquityPoint, ...]
    total_point_count: int
    downsampled: bool


@dataclass(frozen=True, slots=True)
class Report:
    """A user's analytics for one period."""

    query: ReportQuery
    computed_time_us: int
    journal_version: int
    settings: UserSettings
    performance: RoundTripStats
    risk: RiskMetrics
    activity: ActivitySummary
    by_category: tuple[tuple[Category, RoundTripStats], ...]
    top_instruments: tuple[InstrumentPerformance, ...]
    worst_instruments: tuple[InstrumentPerformance, ...]
    by_hour_of_day: tuple[RoundTripStats, ...]
    by_weekday: tuple[RoundTripStats, ...]
    by_month: tuple[RoundTripStats, ...]
    daily_pnl: tuple[DailyPnl, ...]
    equity_curve: EquityCurve | None
    open_positions: tuple[OpenPosition, ...]
    unrealized_pnl_micros: int
    unmarked_position_count: int
    #: The R figures of the period's round trips (decision 0230).
    r_multiples: RMultipleStats | None = None
    #: Net unrealized (after open and estimated exit charges) and its two charge totals (decision 0310).
    net_unrealized_pnl_micros: int = 0
    estimated_exit_charges_micros: int = 0
    open_fees_micros: int = 0

    #: The MAE/MFE summary of the period's round trips (decision 0270; set by the use case, not here).
    excursions: ExcursionStats | None = None


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator


@dataclass(frozen=True, slots=True)
class _Trips:
    """The period's closed round trips as parallel columns, in close order."""

    nets: Column
    grosses: Column
    fees: Column
    holds: Column
    closes: Column
    instruments: Column
    categories: Column
    risks: Column
    tolerance: int

    @classmethod
    def of(cls, journal: Journal, query: ReportQuery, tolerance: int) -> _Trips:
        first, last = journal.trip_range(query.start_us, query.end_us)
        trips = {name: column[first:last] for name, column in journal.trip_columns().items()}
        trips = keep_rows(query.slice, journal, trips, TRIP_KEYS)
        return cls(
            trips["net"],
            trips["gross"],
            trips["fees"],
            trips["hold"],
            trips["close_time"],
            trips["instrument"],
            trips["category"],
            trips["risk"],
            tolerance,
        )

    @property
    def count(self) -> int:
        return len(self.nets)

    def stats(self, mask: npt.NDArray[Any] | slice = slice(None)) -> RoundTripStats:
        return round_trip_stats(self.nets[mask], self.grosses[mask], self.fees[mask], self.holds[mask], self.tolerance)

    def grouped(self, keys: Column, size: int) -> list[RoundTripStats]:
        # One stable (radix) sort by bucket, then contiguous slices: close order is kept within a bucket.
        order = np.argsort(keys.astype(np.int16), kind="stable")
        bounds = np.searchsorted(keys[order], np.arange(size + 1), side="left")
        return [self.stats(order[bounds[b] : bounds[b + 1]]) for b in range(size)]

    def close_days(self) -> Column:
        return (self.closes + IST_OFFSET_US) // DAY_US


@dataclass(frozen=True, slots=True)
class _Fills:
    """The period's fills as parallel columns, in journal order, and their trading days."""

    times: Column
    instruments: Column
    fees: Column
    values: Column
    trading_days: Column
    day_starts: Column
    day_fill_counts: Column
    #: Fills per instrument code of the journal.
    instrument_fill_counts: Column

    @classmethod
    def of(cls, journal: Journal, query: ReportQuery) -> _Fills:
        first, last = journal.fill_range(query.start_us, query.end_us)
        columns = {name: column[first:last] for name, column in journal.fill_columns().items()}
        columns = keep_rows(query.slice, journal, columns, FILL_KEYS)
        times = columns["time"]
        instruments = columns["instrument"]
        days = (times + IST_OFFSET_US) // DAY_US
        trading_days, day_starts, day_fill_counts = np.unique(days, return_index=True, return_counts=True)
        return cls(
            times=times,
            instruments=instruments,
            fees=columns["fees"],
            values=columns["value"],
            trading_days=trading_days,
            day_starts=day_starts,
            day_fill_counts=day_fill_counts,
            instrument_fill_counts=np.bincount(instruments.astype(np.int64), minlength=len(journal.instruments)),
        )

    @property
    def count(self) -> int:
        return len(self.times)


@dataclass(frozen=True, slots=True)
class _Equity:
    """Equity curve and drawdown: E(k) cumulative net, P(k) = max(0, E(1..k)), D(k) = P(k) - E(k)."""

    equity: Column
    peaks: Column
    drawdowns: Column
    #: Index of the deepest drawdown's trough and of its peak (-1: none).
    trough: int
    peak_index: int

    @classmethod
    def of(cls, nets: Column) -> _Equity:
        count = len(nets)
        equity = np.cumsum(nets)
        peaks = np.maximum.accumulate(np.concatenate((np.zeros(1, dtype=nets.dtype), equity)))[1:]
        drawdowns = peaks - equity
        trough = int(np.argmax(drawdowns)) if count and drawdowns.max() > 0 else -1
        peak_index = -1
        if trough >= 0 and peaks[trough] > 0:
            peak_index = int(np.flatnonzero(equity[: trough + 1] == peaks[trough])[-1])
        return cls(equity, peaks, drawdowns, trough, peak_index)

    @property
    def max_drawdown(self) -> int:
        return int(self.drawdowns[self.trough]) if self.trough >= 0 else 0


def _activity(journal: Journal, trips: _Trips, fills: _Fills) -> ActivitySummary:
    counts = fills.instrument_fill_counts
    most_traded: Instrument | None = None
    most_traded_count = 0
    if fills.count:
        most_traded_count = int(counts.max())
        candidates = np.flatnonzero(counts == most_traded_count).tolist()
        if len(candidates) > 1:
            turnover_of = {code: total(fills.values[fills.instruments == code]) for code in candidates}
            candidates.sort(key=lambda code: (-turnover_of[code], *instrument_order(journal.instruments[code])))
        most_traded = journal.instruments[candidates[0]]
    day_count = len(fills.trading_days)
    return ActivitySummary(
        fill_count=fills.count,
        trading_day_count=day_count,
        average_fills_per_trading_day=fills.count / day_count if day_count else None,
        average_round_trips_per_trading_day=trips.count / day_count if day_count else None,
        total_fees_micros=saturate(total(fills.fees)),
        turnover_micros=saturate(divide_half_away(total(fills.values), journal.value_scale)),
        symbols_traded=tuple(sorted((journal.instruments[c] for c in np.flatnonzero(counts)), key=instrument_order)),
        most_traded_instrument=most_traded,
        most_traded_instrument_fill_count=most_traded_count,
    )


def _ranked_instruments(
    journal: Journal, trips: _Trips, fills: _Fills, limit: int
) -> tuple[tuple[InstrumentPerformance, ...], tuple[InstrumentPerformance, ...]]:
    # Per instrument: net P&L and count from one sort, full statistics only for the chosen few.
    instruments, nets = trips.instruments, trips.nets
    by_instrument = np.argsort(instruments.astype(np.int32), kind="stable")
    codes, starts, trip_counts = np.unique(instruments[by_instrument], return_index=True, return_counts=True)
    instrument_nets = np.add.reduceat(nets[by_instrument], starts) if trips.count else nets[:0]
    net_of = {int(code): int(net) for code, net in zip(codes.tolist(), instrument_nets, strict=True)}
    count_of = dict(zip(codes.tolist(), trip_counts.tolist(), strict=True))

    def ranked(sign: int) -> tuple[InstrumentPerformance, ...]:
        chosen = sorted(
            (code for code, net in net_of.items() if net * sign > 0),
            key=lambda code: (-sign * net_of[code], -count_of[code], *instrument_order(journal.instruments[code])),
        )[:limit]
        return tuple(
            InstrumentPerformance(
                journal.instruments[code], trips.stats(instruments == code), int(fills.instrument_fill_counts[code])
            )
            for code in chosen
        )

    return ranked(1), ranked(-1)


def _daily(
    trips: _Trips, fills: _Fills, settings: UserSettings, include_daily_pnl: bool
) -> tuple[tuple[DailyPnl, ...], list[float]]:
    # Daily figures and returns; every round trip closes on a trading day (its closing fill's day).
    capital = settings.capital_base_micros
    nets, count, tolerance = trips.nets, trips.count, trips.tolerance
    close_days = trips.close_days()
    close_day_values, close_day_starts = np.unique(close_days, return_index=True)
    day_nets = np.add.reduceat(nets, close_day_starts) if count else nets[:0]
    day_wins = np.add.reduceat((nets > tolerance).astype(np.int64), close_day_starts) if count else close_days[:0]
    day_losses = np.add.reduceat((nets < -tolerance).astype(np.int64), close_day_starts) if count else close_days[:0]
    day_trips = np.diff(np.r_[close_day_starts, count])
    closed_on = {int(day): index for index, day in enumerate(close_day_values.tolist())}
    daily: list[DailyPnl] = []
    daily_returns: list[float] = []
    risk_free_daily = settings.risk_free_rate_bps / 10_000 / TRADING_DAYS_PER_YEAR
    if include_daily_pnl or capital is not None:
        day_fees = np.add.reduceat(fills.fees, fills.day_starts) if fills.count else fills.fees[:0]
        for position, day in enumerate(fills.trading_days.tolist()):
            index = closed_on.get(day)
            day_net = int(day_nets[index]) if index is not None else 0
            if capital is not None:
                daily_returns.append(day_net / capital - risk_free_daily)
            if include_daily_pnl:
                daily.append(
                    DailyPnl(
                        date=day_date(day).isoformat(),
                        net_pnl_micros=saturate(day_net),
                        round_trip_count=int(day_trips[index]) if index is not None else 0,
                        win_count=int(day_wins[index]) if index is not None else 0,
                        loss_count=int(day_losses[index]) if index is not None else 0,
                        fill_count=int(fills.day_fill_counts[position]),
                        fees_micros=saturate(int(day_fees[position])),
                        return_percent=day_net * 100 / capital if capital is not None else None,
                    )
                )
    return tuple(daily), daily_returns


def _annualized_return(journal: Journal, query: ReportQuery, now_us: int, return_percent: float) -> float | None:
    first_day = ist_day(query.start_us) if query.start_us is not None else None
    all_times = journal.fill_columns()["time"]
    if first_day is None and len(all_times):
        first_day = ist_day(int(all_times[0]))
    if first_day is None:
        return None
    last_day = ist_day(now_us)
    if query.end_us is not None:
        last_day = min(last_day, ist_day(query.end_us - 1))
    period_days = max(1, last_day - first_day + 1)
    return return_percent * 365 / period_days


def _sharpe(daily_returns: list[float]) -> float | None:
    if len(daily_returns) >= 2:
        deviation = statistics.stdev(daily_returns)
        if deviation > 0:
            return statistics.fmean(daily_returns) / deviation * math.sqrt(TRADING_DAYS_PER_YEAR)
    return None


def _risk(
    journal: Journal,
    query: ReportQuery,
    capital: int | None,
    now_us: int,
    trips: _Trips,
    equity: _Equity,
    daily_returns: list[float],
    net_total: int,
) -> RiskMetrics:
    count = trips.count
    max_drawdown = equity.max_drawdown
    drawdown_percent: float | None = None
    return_percent: float | None = None
    annualized: float | None = None
    if capital is not None:
        float_peaks = equity.peaks.astype(np.float64)
        drawdown_percent = (
            float(np.max(equity.drawdowns.astype(np.float64) * 100 / (capital + float_peaks))) if count else 0.0
        )
        return_percent = net_total * 100 / capital
        annualized = _annualized_return(journal, query, now_us, return_percent)
    calmar: float | None = None
    calmar_unbounded = False
    if count and annualized is not None and drawdown_percent is not None:
        if drawdown_percent > 0:
            calmar = annualized / drawdown_percent
        elif annualized > 0:
            calmar_unbounded = True
    return RiskMetrics(
        max_drawdown_micros=saturate(max_drawdown),
        max_drawdown_percent=drawdown_percent,
        max_drawdown_peak_time_us=int(trips.closes[equity.peak_index]) if equity.peak_index >= 0 else None,
        max_drawdown_trough_time_us=int(trips.closes[equity.trough]) if equity.trough >= 0 else None,
        return_percent=return_percent,
        annualized_return_percent=annualized,
        sharpe_ratio=_sharpe(daily_returns),
        calmar_ratio=calmar,
        calmar_ratio_unbounded=calmar_unbounded,
        recovery_factor=_ratio(net_total, max_drawdown) if count and max_drawdown > 0 else None,
        recovery_factor_unbounded=bool(count) and max_drawdown == 0 and net_total > 0,
    )


def _equity_curve(journal: Journal, trips: _Trips, equity: _Equity, max_points: int) -> EquityCurve:
    count = trips.count
    keep = {i for i in (equity.trough, equity.peak_index) if i >= 0}
    indices = list(range(count)) if count <= max_points else downsample(count, keep, max_points)
    return EquityCurve(
        points=tuple(
            EquityPoint(
                round_trip_index=i + 1,
                close_time_us=int(trips.closes[i]),
                instrument=journal.instruments[int(trips.instruments[i])],
                round_trip_net_pnl_micros=saturate(int(trips.nets[i])),
                cumulative_net_pnl_micros=saturate(int(equity.equity[i])),
                drawdown_micros=saturate(int(equity.drawdowns[i])),
            )
            for i in indices
        ),
        total_point_count=count,
        downsampled=len(indices) < count,
    )


def build_report(
    journal: Journal,
    query: ReportQuery,
    settings: UserSettings,
    now_us: int,
    marks: Mapping[Instrument, Mark],
    net: NetBook | None = None,
) -> Report:
    """Compute the report of one period from the journal (pure; `marks` are the latest quotes).

    With `net`, the open positions carry their net figures and break-even prices (decision 0150).
    """
    trips = _Trips.of(journal, query, settings.break_even_tolerance_micros)
    fills = _Fills.of(journal, query)
    performance = trips.stats()
    # Breakdowns by the IST close time.
    local = trips.closes + IST_OFFSET_US
    close_days = local // DAY_US
    months = close_days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12
    top, worst = _ranked_instruments(journal, trips, fills, query.instrument_limit)
    daily, daily_returns = _daily(trips, fills, settings, query.include_daily_pnl)
    equity = _Equity.of(trips.nets)
    risk = _risk(
        journal, query, settings.capital_base_micros, now_us, trips, equity, daily_returns, performance.net_pnl_micros
    )
    curve = _equity_curve(journal, trips, equity, query.equity_curve_max_points) if query.include_equity_curve else None
    positions = open_positions(journal, marks, now_us, net, query.slice)
    marked = [p.unrealized_pnl_micros for p in positions if p.unrealized_pnl_micros is not None]
    return Report(
        query=query,
        computed_time_us=now_us,
        journal_version=journal.version,
        settings=settings,
        performance=performance,
        risk=risk,
        activity=_activity(journal, trips, fills),
        by_category=tuple(zip(CATEGORIES, trips.grouped(trips.categories, len(CATEGORIES)), strict=True)),
        top_instruments=top,
        worst_instruments=worst,
        by_hour_of_day=tuple(trips.grouped(local // HOUR_US % 24, 24)),
        by_weekday=tuple(trips.grouped((close_days + 3) % 7, 7)),
        by_month=tuple(trips.grouped(months, 12)),
        daily_pnl=daily,
        equity_curve=curve,
        open_positions=positions,
        unrealized_pnl_micros=saturate(sum(marked)),
        unmarked_position_count=len(positions) - len(marked),
        r_multiples=r_multiple_stats(trips.nets, trips.risks),
        net_unrealized_pnl_micros=saturate(sum(p.net_unrealized_pnl_micros or 0 for p in positions)),
        estimated_exit_charges_micros=saturate(sum(p.estimated_exit_charges_micros or 0 for p in positions)),
        open_fees_micros=saturate(sum(p.open_fees_micros for p in positions)),
    )
