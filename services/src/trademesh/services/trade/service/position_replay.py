"""The FIFO replay of one instrument's lean fills: the totals a Position shows (decisions 0370, 0380).

The replay is the kernel's one FIFO engine (`trademesh.kernel.lots`: `InstrumentCycle`, the engine analytics'
round trips run on, under `PositionBook`), told to keep no matches: quantities, lot fees and P&L stay integers
through FIFO and each total is made exact (a `Fraction`) once, at the end, so it is the very value the
whole-trade path (`compute_position`, a `PositionBook` of whole trades) reports, rounded the same way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from trademesh.kernel.instruments import Exchange
from trademesh.kernel.lots import FifoTotals, PositionBook
from trademesh.services.trade.model.position_fills import PositionFill

__all__ = ["FifoTotals", "group_fills", "replay_fills"]


def group_fills(fills: Iterable[PositionFill]) -> dict[tuple[Exchange, str], list[PositionFill]]:
    """Group fills by instrument (exchange, symbol)."""
    groups: dict[tuple[Exchange, str], list[PositionFill]] = defaultdict(list)
    for fill in fills:
        groups[(fill.exchange, fill.symbol)].append(fill)
    return groups


def replay_fills(ordered: Sequence[PositionFill]) -> FifoTotals:
    """Replay one instrument's fills, in journal order, first in first out."""
    book = PositionBook(record_matches=False)
    book.extend(ordered)
    return book.totals()
