"""Filters of trades and positions, open positions, and the category a fill infers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from trademesh.kernel.instruments import (
    Derivative,
    Exchange,
    Segment,
    Side,
)
from trademesh.services.trade.model.trades import Trade
from trademesh.services.trade.model.vocabulary import Broker, Category, Source, Status


def infer_category(side: Side, same_day_sides: list[Side]) -> Category:
    """Infer a category: INTRADAY with an opposite-side trade on the same instrument and IST day, else SWING."""
    return Category.INTRADAY if any(other is not side for other in same_day_sides) else Category.SWING


def bucket_of(trade: Trade) -> tuple[str, str, str, date]:
    """Return the (user, exchange, symbol, IST day) group category inference looks at."""
    assert trade.fields.exchange is not None
    return (trade.user_id, trade.fields.exchange.value, trade.fields.symbol, trade.trading_day)


@dataclass(frozen=True, slots=True)
class TradeFilter:
    """ListTrades filters, normalized; None/empty means "any"."""

    symbol: str = ""
    exchange: Exchange | None = None
    segment: Segment | None = None
    side: Side | None = None
    category: Category | None = None
    statuses: tuple[Status, ...] = (Status.ACTIVE,)
    tag: str = ""
    strategy: str = ""
    broker: Broker | None = None
    broker_account_id: str = ""
    source: Source | None = None
    import_id: str = ""
    start_time: datetime | None = None
    end_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class PositionFilter:
    """ListPositions filters."""

    open_only: bool | None = None
    symbol: str = ""
    exchange: Exchange | None = None
    segment: Segment | None = None
    broker_account_id: str = ""


@dataclass(frozen=True, slots=True)
class Position:
    """One instrument's FIFO position (figures rounded half-to-even to micros)."""

    symbol: str
    exchange: Exchange
    segment: Segment
    derivative: Derivative | None
    net_quantity_micros: int
    average_open_price_micros: int
    open_value_micros: int
    open_fees_micros: int
    realized_pnl_micros: int
    buy_quantity_micros: int
    buy_value_micros: int
    sell_quantity_micros: int
    sell_value_micros: int
    total_fees_micros: int
    trade_count: int
    first_trade_time: datetime
    last_trade_time: datetime
    #: See proto Position.break_even_price_micros; None when closed or no schedule covers it.
    break_even_price_micros: int | None = None
    #: The contract's lot size from the instrument master (proto Position.lot_size); None when unknown.
    lot_size: int | None = None

    @property
    def is_open(self) -> bool:
        """Tell whether the position still holds quantity."""
        return self.net_quantity_micros != 0
