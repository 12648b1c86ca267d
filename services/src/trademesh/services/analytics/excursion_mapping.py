"""MAE/MFE ⇄ proto (trademesh.analytics.v1 excursion.proto): money saturated to int64 like every reported amount."""

from __future__ import annotations

from trademesh.analytics.v1 import excursion_pb2
from trademesh.services.analytics.model import saturate
from trademesh.services.analytics.model.excursions import Excursion, ExcursionStats


def _optional(value: int | None) -> int | None:
    return None if value is None else saturate(value)


def excursion_to_proto(found: Excursion) -> excursion_pb2.TripExcursion:
    """Map one round trip's excursion."""
    prices = found.range
    return excursion_pb2.TripExcursion(
        quality=excursion_pb2.ExcursionQuality.ValueType(int(found.quality)),
        mae_micros=saturate(found.mae_micros),
        mfe_micros=saturate(found.mfe_micros),
        mae_price_micros=saturate(found.mae_price_micros),
        mfe_price_micros=saturate(found.mfe_price_micros),
        mae_r_milli=_optional(found.mae_r_milli),
        mfe_r_milli=_optional(found.mfe_r_milli),
        high_micros=prices.high_micros if prices is not None else 0,
        low_micros=prices.low_micros if prices is not None else 0,
    )


def excursion_stats_to_proto(stats: ExcursionStats) -> excursion_pb2.ExcursionStats:
    """Map a report's excursion summary."""
    return excursion_pb2.ExcursionStats(
        measured_round_trip_count=stats.measured_count,
        unmeasured_round_trip_count=stats.unmeasured_count,
        exact_round_trip_count=stats.exact_count,
        average_mae_micros=_optional(stats.average_mae_micros),
        average_mfe_micros=_optional(stats.average_mfe_micros),
        measured_win_count=stats.measured_win_count,
        left_on_table_count=stats.left_on_table_count,
        left_on_table_percent=stats.left_on_table_percent,
    )
