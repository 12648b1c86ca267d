"""What every trade use case shares: its ports, the service's limits and the errors they raise."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from trademesh.kernel.calendar import ist_day
from trademesh.kernel.errors import Aborted, AlreadyExists, NotFound, ResourceExhausted
from trademesh.services.trade.model import Status, Trade, TradeFields
from trademesh.services.trade.ports import (
    DayGroup,
    EventSink,
    InstrumentLookup,
    RateLimiter,
    TokenCodec,
    TradeStore,
)

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
DEFAULT_POSITION_PAGE_SIZE = 100
MAX_POSITION_PAGE_SIZE = 1000
MAX_RECONCILE_ITEMS = 1000
MAX_ROW_ERRORS = 1000
DEFAULT_TRADE_QUOTA = 1_000_000
REINFER_ATTEMPTS = 5
#: Inference reads take the newest 2 listed trades of a side, then 8, 32, ... until an ACTIVE one turns up.
INFERENCE_FIRST_READ = 2
INFERENCE_READ_GROWTH = 4


class UseCases:
    """The ports and settings every use-case group reads (`TradeService` declares them as fields)."""

    store: TradeStore
    events: EventSink
    limiter: RateLimiter
    codec: TokenCodec
    import_limit_per_minute: int
    trade_quota: int
    clock: Callable[[], datetime]
    instruments: InstrumentLookup | None

    async def _reserve(self, user_id: str, count: int) -> None:
        if not await self.store.reserve_quota(user_id, count, self.trade_quota):
            raise quota_exceeded(self.trade_quota)


def not_found() -> NotFound:
    """Return the one error every missing, purged or foreign trade gives."""
    return NotFound("trade not found", reason="TRADE_NOT_FOUND")


def quota_exceeded(limit: int) -> ResourceExhausted:
    """Return the error of a write that would take the user's journal past `limit` trades."""
    return ResourceExhausted(
        f"the journal already holds the maximum of {limit:,} trades; delete trades to add more",
        reason="TRADE_QUOTA_EXCEEDED",
        metadata={"limit": str(limit)},
    )


def etag_mismatch() -> Aborted:
    """Return the error of a write guarded by a stale etag (or that lost a race)."""
    return Aborted("the trade changed since it was read; re-read and retry", reason="ETAG_MISMATCH")


def duplicate_broker_trade(trade_id: str) -> AlreadyExists:
    """Return the error of a write whose broker key another trade holds."""
    return AlreadyExists(
        "another trade already has this broker trade id",
        reason="DUPLICATE_BROKER_TRADE",
        metadata={"trade_id": trade_id},
    )


def in_day_group(trade: Trade, user_id: str, group: DayGroup) -> bool:
    """Tell whether `trade` is an ACTIVE trade of the user in the (exchange, symbol, day) group."""
    exchange, symbol, day = group
    return (
        trade.user_id == user_id
        and trade.status is Status.ACTIVE
        and trade.fields.exchange is not None
        and trade.fields.exchange.value == exchange
        and trade.fields.symbol == symbol
        and trade.trading_day == day
    )


def day_of(fields: TradeFields) -> date:
    """Return the IST trading day of validated fields."""
    assert fields.trade_time is not None
    return ist_day(fields.trade_time)


def group_of(fields: TradeFields) -> DayGroup:
    """Return the (exchange, symbol, IST day) group of validated fields."""
    assert fields.exchange is not None
    return (fields.exchange.value, fields.symbol, day_of(fields))


def day_group(trade: Trade) -> DayGroup:
    """Return the (exchange, symbol, IST day) group of a stored trade."""
    assert trade.fields.exchange is not None
    return (trade.fields.exchange.value, trade.fields.symbol, trade.trading_day)


def epoch_micros(moment: datetime) -> int:
    """Return microseconds since the Unix epoch (page token cursors)."""
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
