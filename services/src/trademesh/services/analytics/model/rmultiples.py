"""Planned risk and R-multiples of closed round trips (decision 0230). Pure: no I/O.

A round trip's planned risk (1R) is its opening fill's: the trade's planned_risk_micros, else
|entry - stop| x quantity when the trade has a stop (`trademesh.kernel.trade_documents.planned_risk`);
0 means no plan, and such round trips are left out of every R figure (only counted). R-multiple = net
P&L / planned risk, reported in milli-R (1R = 1000) rounded half away from zero (saturated at the int64
limit, like every reported amount); the buckets compare
net P&L with multiples of the planned risk exactly (integers, no rounding).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from trademesh.kernel.lots import divide_half_away
from trademesh.services.analytics.model.fills import Column
from trademesh.services.analytics.model.metrics import saturate

#: One R in the integer unit R figures are reported in.
MILLI_R = 1000
#: The bucket bounds in whole R: R <= -1, -1 < R <= 0, 0 < R < 1, 1 <= R < 2, R >= 2.
BUCKET_BOUNDS: tuple[tuple[int | None, int | None], ...] = ((None, -1), (-1, 0), (0, 1), (1, 2), (2, None))


def r_multiple_milli(net_micros: int, risk_micros: int) -> int:
    """Return net P&L / planned risk in milli-R, rounded half away from zero (risk > 0)."""
    return divide_half_away(net_micros * MILLI_R, risk_micros)


def bucket_of(net_micros: int, risk_micros: int) -> int:
    """Return the index into BUCKET_BOUNDS of a round trip's R (exact comparison; risk > 0)."""
    if net_micros <= -risk_micros:
        return 0
    if net_micros <= 0:
        return 1
    if net_micros < risk_micros:
        return 2
    if net_micros < 2 * risk_micros:
        return 3
    return 4


@dataclass(frozen=True, slots=True)
class RBucket:
    """The planned round trips whose R falls in one range of BUCKET_BOUNDS."""

    min_r_milli: int | None
    max_r_milli: int | None
    round_trip_count: int
    win_count: int
    win_rate_percent: float | None
    share_percent: float | None


@dataclass(frozen=True, slots=True)
class RMultipleStats:
    """The R figures of a set of round trips (see trademesh.analytics.v1.RMultipleStats)."""

    planned_round_trip_count: int
    unplanned_round_trip_count: int
    planned_risk_micros: int
    net_pnl_micros: int
    average_r_milli: int | None
    expectancy_r_milli: int | None
    win_rate_percent: float | None
    buckets: tuple[RBucket, ...]
    #: Each planned round trip's R-multiple in milli-R, in close order.
    r_milli: tuple[int, ...] = ()


def _percent(part: int, whole: int) -> float | None:
    return part * 100.0 / whole if whole else None


def r_multiple_stats(nets: Column | Sequence[int], risks: Column | Sequence[int]) -> RMultipleStats:
    """Return the R figures of round trips given their net P&L and planned risk (0: no plan), in close order."""
    net_column, risk_column = np.asarray(nets), np.asarray(risks)
    # Only the planned round trips are visited in Python (a large journal may have none).
    chosen = np.flatnonzero(risk_column > 0).tolist() if len(risk_column) else []
    planned = [(int(net_column[i]), int(risk_column[i])) for i in chosen]
    count = len(planned)
    multiples = [r_multiple_milli(net, risk) for net, risk in planned]
    counts = [0] * len(BUCKET_BOUNDS)
    wins = [0] * len(BUCKET_BOUNDS)
    for net, risk in planned:
        bucket = bucket_of(net, risk)
        counts[bucket] += 1
        wins[bucket] += net > 0
    net_total = sum(net for net, _ in planned)
    risk_total = sum(risk for _, risk in planned)
    return RMultipleStats(
        planned_round_trip_count=count,
        unplanned_round_trip_count=len(net_column) - count,
        planned_risk_micros=saturate(risk_total),
        net_pnl_micros=saturate(net_total),
        average_r_milli=saturate(divide_half_away(sum(multiples), count)) if count else None,
        # Mean net P&L over mean planned risk: (net_total / count) / (risk_total / count).
        expectancy_r_milli=saturate(r_multiple_milli(net_total, risk_total)) if count else None,
        win_rate_percent=_percent(sum(wins), count),
        buckets=tuple(
            RBucket(
                min_r_milli=None if low is None else low * MILLI_R,
                max_r_milli=None if high is None else high * MILLI_R,
                round_trip_count=counts[index],
                win_count=wins[index],
                win_rate_percent=_percent(wins[index], counts[index]),
                share_percent=_percent(counts[index], count),
            )
            for index, (low, high) in enumerate(BUCKET_BOUNDS)
        ),
        r_milli=tuple(multiples),
    )
