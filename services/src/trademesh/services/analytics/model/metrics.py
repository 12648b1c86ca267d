"""Round-trip statistics and the user settings they depend on (break-even tolerance, capital, risk-free rate).

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trademesh.kernel.errors import FieldViolation
from trademesh.kernel.lots import divide_half_away
from trademesh.services.analytics.model.fills import Column

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
MAX_CAPITAL_BASE_MICROS = 10**18
MAX_RISK_FREE_RATE_BPS = 2_000
MAX_BREAK_EVEN_TOLERANCE_MICROS = 10**11


def saturate(value: int) -> int:
    """Clamp an exact amount to the int64 range (the defined answer for astronomically large figures)."""
    return INT64_MAX if value > INT64_MAX else INT64_MIN if value < INT64_MIN else value


def total(values: Column) -> int:
    """Return the exact sum of a column (0 when empty)."""
    return int(values.sum()) if len(values) else 0


@dataclass(frozen=True, slots=True)
class UserSettings:
    """A user's analytics inputs (defaults when never saved)."""

    capital_base_micros: int | None = None
    risk_free_rate_bps: int = 0
    break_even_tolerance_micros: int = 0
    etag: str = ""
    update_time_us: int | None = None


def check_settings(settings: UserSettings, prefix: str = "settings.") -> list[FieldViolation]:
    """Return one violation per out-of-range setting."""
    violations = []
    capital = settings.capital_base_micros
    if capital is not None and not 1 <= capital <= MAX_CAPITAL_BASE_MICROS:
        violations.append(FieldViolation(prefix + "capital_base_micros", "must be in [1, 10^18] when set"))
    if not 0 <= settings.risk_free_rate_bps <= MAX_RISK_FREE_RATE_BPS:
        violations.append(FieldViolation(prefix + "risk_free_rate_bps", "must be in [0, 2000]"))
    if not 0 <= settings.break_even_tolerance_micros <= MAX_BREAK_EVEN_TOLERANCE_MICROS:
        violations.append(FieldViolation(prefix + "break_even_tolerance_micros", "must be in [0, 10^11]"))
    return violations


@dataclass(frozen=True, slots=True)
class RoundTripStats:
    """Statistics over a set of round trips (see RoundTripStats in report.proto)."""

    round_trip_count: int = 0
    win_count: int = 0
    loss_count: int = 0
    break_even_count: int = 0
    win_rate_percent: float | None = None
    realized_pnl_micros: int = 0
    fees_micros: int = 0
    net_pnl_micros: int = 0
    gross_profit_micros: int = 0
    gross_loss_micros: int = 0
    profit_factor: float | None = None
    profit_factor_unbounded: bool = False
    expectancy_micros: int | None = None
    average_win_micros: int | None = None
    average_loss_micros: int | None = None
    largest_win_micros: int | None = None
    largest_loss_micros: int | None = None
    max_consecutive_wins: int = 0
    max_consecutive_losses: int = 0
    average_hold_us: int | None = None


EMPTY_STATS = RoundTripStats()


def round_trip_stats(nets: Column, grosses: Column, fees: Column, holds: Column, tolerance: int) -> RoundTripStats:
    """Compute the statistics of round trips given in close order (parallel columns)."""
    count = len(nets)
    if count == 0:
        return EMPTY_STATS
    win_mask = np.asarray(nets > tolerance, dtype=bool)
    loss_mask = np.asarray(nets < -tolerance, dtype=bool)
    wins, losses = nets[win_mask], nets[loss_mask]
    win_count, loss_count = len(wins), len(losses)
    # Streaks: runs of equal outcomes (1 win, -1 loss, 0 break-even, which ends both kinds of run).
    outcome = win_mask.astype(np.int8) - loss_mask.astype(np.int8)
    run_starts = np.r_[0, np.flatnonzero(np.diff(outcome)) + 1]
    run_lengths = np.diff(np.r_[run_starts, count])
    run_outcomes = outcome[run_starts]
    gross_profit, gross_loss = total(wins), total(losses)
    decided = win_count + loss_count
    realized, fee_total = total(grosses), total(fees)
    return RoundTripStats(
        round_trip_count=count,
        win_count=win_count,
        loss_count=loss_count,
        break_even_count=count - decided,
        win_rate_percent=win_count * 100 / decided if decided else None,
        realized_pnl_micros=realized,
        fees_micros=fee_total,
        net_pnl_micros=realized - fee_total,
        gross_profit_micros=gross_profit,
        gross_loss_micros=gross_loss,
        profit_factor=gross_profit / -gross_loss if loss_count else None,
        profit_factor_unbounded=bool(win_count) and not loss_count,
        expectancy_micros=divide_half_away(realized - fee_total, count),
        average_win_micros=divide_half_away(gross_profit, win_count) if win_count else None,
        average_loss_micros=divide_half_away(gross_loss, loss_count) if loss_count else None,
        largest_win_micros=int(wins.max()) if win_count else None,
        largest_loss_micros=int(losses.min()) if loss_count else None,
        max_consecutive_wins=int(run_lengths[run_outcomes == 1].max(initial=0)),
        max_consecutive_losses=int(run_lengths[run_outcomes == -1].max(initial=0)),
        # Truncated to whole milliseconds, as the contract says.
        average_hold_us=total(holds) // count // 1000 * 1000,
    )


def downsample(count: int, keep: set[int], limit: int) -> list[int]:
    """Return at most `limit` of the indices 0..count-1: first, last and `keep` always, the rest evenly spaced."""
    chosen = {0, count - 1} | keep
    room = limit - len(chosen)
    if room > 0:
        step = count / (room + 1)
        chosen.update(min(count - 1, int(step * (k + 1))) for k in range(room))
    return sorted(chosen)[:limit] if len(chosen) > limit else sorted(chosen)
