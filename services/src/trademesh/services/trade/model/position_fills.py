"""The lean record positions are replayed from: one ACTIVE trade as a fill, nothing else (decision 0370)."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from trademesh.kernel.instruments import Exchange, Segment, Side


class PositionFill(NamedTuple):
    """One ACTIVE trade as ListPositions reads it (a tuple: a trader's journal holds up to 10^5 of them).

    The first four fields are journal order (`trade.model.journal_order`: execution time, create time,
    exec_seq, id), so sorting the tuples sorts the fills the way FIFO matches them; the id is unique, so
    no later field is ever compared.
    """

    trade_time: datetime
    create_time: datetime
    exec_seq: int
    trade_id: str
    exchange: Exchange
    symbol: str
    segment: Segment | None
    side: Side
    quantity_micros: int
    price_micros: int
    fees_micros: int
    #: The trade's version when read: the full latest trade read next must still be this one.
    version: int
