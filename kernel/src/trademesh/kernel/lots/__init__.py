"""FIFO lot matching and round trips shared by the trade and analytics services (pure Python, no I/O).

One engine (decision 0380): `InstrumentCycle` matches lots in integers; `PositionBook` (ListPositions, tax
lots, the lean replay) is that engine plus totals and matches; `columnar` is its vectorized form for rebuilds.

Exact arithmetic: quantities are micro-units and prices/fees INR micros (int); every intermediate value
is an exact `Fraction`; reported figures are rounded once, half-to-even, to whole micros.
"""

from trademesh.kernel.instruments import Side
from trademesh.kernel.lots.fees import allocate_fee, split_crossing_fee
from trademesh.kernel.lots.fifo import FifoTotals, Fill, FillRecord, Lot, Match, PositionBook, replay, round_micros
from trademesh.kernel.lots.roundtrips import InstrumentCycle, OpenLot, RoundTrip, divide_half_away, divide_half_even

__all__ = [
    "FifoTotals",
    "Fill",
    "FillRecord",
    "InstrumentCycle",
    "Lot",
    "Match",
    "OpenLot",
    "PositionBook",
    "RoundTrip",
    "Side",
    "allocate_fee",
    "divide_half_away",
    "divide_half_even",
    "replay",
    "round_micros",
    "split_crossing_fee",
]
