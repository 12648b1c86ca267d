"""Which position cycle (round trip, closed or open) each fill of a columnar match belongs to (decision 0250).

Pure: no I/O.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from trademesh.kernel.lots.columnar import PartColumns, TripColumns


def cycle_of_fills(trips: TripColumns, parts: PartColumns, fill_count: int) -> npt.NDArray[np.int64]:
    """Return, per fill, the index of its trip in `trips`: the cycle it opens, adds to or closes.

    A trip's parts are the contiguous range [first_part, last_part] and the trips' ranges cover the parts
    once; a fill crossing zero is two parts (closing, then opening) and belongs to the cycle it closes.
    """
    fill_trip = np.zeros(fill_count, dtype=np.int64)
    if not len(trips.first_part) or not fill_count:
        return fill_trip
    by_start = np.argsort(trips.first_part, kind="stable")
    rank = np.full(len(parts.fill), -1, dtype=np.int64)
    rank[trips.first_part[by_start]] = np.arange(len(by_start))
    rank = np.maximum.accumulate(rank)
    covered = rank >= 0
    part_trip = by_start[rank[covered]]
    part_fill = parts.fill[covered]
    order = np.argsort(part_fill, kind="stable")
    fills = part_fill[order]
    first = np.ones(len(fills), dtype=np.bool_)
    first[1:] = fills[1:] != fills[:-1]
    fill_trip[fills[first]] = part_trip[order[first]]
    return fill_trip
