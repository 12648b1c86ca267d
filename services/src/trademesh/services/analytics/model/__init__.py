"""The analytics model: a user's journal as FIFO round trips, IST periods, metrics and the report (pure; no I/O).

Money is exact: ints in INR micros, and realized P&L is kept scaled (price micros x quantity micro-units)
until one round trip's figure is reported. Times are ints: microseconds since the Unix epoch (UTC).

- `periods`: the clock's units, IST days, report periods and the validated report query;
- `fills`: the fill value, categories, fills as columns, journal changes;
- `journal`: the journal kept up to date fill by fill;
- `metrics`: round-trip statistics and the user settings they depend on;
- `positions`: open positions marked to quotes and the live P&L;
- `netting`: the live P&L net of charges (open fees, net realized, break-even, exit charges);
- `report`: the report of one period;
- `rmultiples`: planned risk and R-multiples of round trips (decision 0230);
- `slices`, `cycles`: which round trips and fills a slice keeps, by their opening fill (decision 0250);
- `columns`: the growable columns a journal keeps its rows in.
"""

from trademesh.services.analytics.model.fills import (
    CATEGORIES,
    QUANTITY_SCALE,
    Category,
    ChangeKind,
    Column,
    FillColumns,
    FillColumnsBuilder,
    Instrument,
    JournalChange,
    JournalFill,
    instrument_order,
)
from trademesh.services.analytics.model.journal import Journal
from trademesh.services.analytics.model.metrics import (
    RoundTripStats,
    UserSettings,
    check_settings,
    round_trip_stats,
    saturate,
)
from trademesh.services.analytics.model.netting import ChargeProfile, NetBook, NetFigures
from trademesh.services.analytics.model.periods import (
    DAY_US,
    SECOND_US,
    Period,
    ReportQuery,
    build_query,
    day_date,
    day_start_us,
    ist_day,
    period_range,
    to_micros,
)
from trademesh.services.analytics.model.positions import (
    Mark,
    OpenPosition,
    PnlState,
    PnlTotals,
    mark_position,
    open_positions,
    pnl_state,
)
from trademesh.services.analytics.model.report import (
    ActivitySummary,
    DailyPnl,
    EquityCurve,
    EquityPoint,
    InstrumentPerformance,
    Report,
    RiskMetrics,
    build_report,
)
from trademesh.services.analytics.model.rmultiples import RBucket, RMultipleStats, r_multiple_stats

__all__ = [
    "CATEGORIES",
    "DAY_US",
    "QUANTITY_SCALE",
    "SECOND_US",
    "ActivitySummary",
    "Category",
    "ChangeKind",
    "ChargeProfile",
    "Column",
    "DailyPnl",
    "EquityCurve",
    "EquityPoint",
    "FillColumns",
    "FillColumnsBuilder",
    "Instrument",
    "InstrumentPerformance",
    "Journal",
    "JournalChange",
    "JournalFill",
    "Mark",
    "NetBook",
    "NetFigures",
    "OpenPosition",
    "Period",
    "PnlState",
    "PnlTotals",
    "RBucket",
    "RMultipleStats",
    "Report",
    "ReportQuery",
    "RiskMetrics",
    "RoundTripStats",
    "UserSettings",
    "build_query",
    "build_report",
    "check_settings",
    "day_date",
    "day_start_us",
    "instrument_order",
    "ist_day",
    "mark_position",
    "open_positions",
    "period_range",
    "pnl_state",
    "r_multiple_stats",
    "round_trip_stats",
    "saturate",
    "to_micros",
]
