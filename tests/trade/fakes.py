"""In-memory fakes of the trade service's ports (`trademesh.services.trade.ports`), for use-case tests.

They keep the rules the real adapters keep (unique ids and broker keys, optimistic versions, keyset
order, quota counters, the per-request import record) and nothing else; they never raise I/O errors.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from trademesh.kernel.instruments import Exchange, Side
from trademesh.services.trade.model import ImportResult, ListedTrade, Status, Trade, TradeEvent, TradeFilter
from trademesh.services.trade.model.position_fills import PositionFill
from trademesh.services.trade.ports import (
    BrokerKeyTaken,
    BulkInsertOutcome,
    DayGroup,
    DayIndex,
    IdTaken,
    ListCursor,
)
from trademesh.services.trade.store import trade_to_document


def _in_group(trade: Trade, user_id: str, exchange: str, symbol: str, day: date) -> bool:
    fields = trade.fields
    return (
        trade.user_id == user_id
        and fields.exchange is not None
        and fields.exchange.value == exchange
        and fields.symbol == symbol
        and trade.trading_day == day
    )


def _matches(trade: Trade, user_id: str, filters: TradeFilter) -> bool:
    fields = trade.fields
    assert fields.trade_time is not None
    checks = [
        trade.user_id == user_id,
        len(filters.statuses) != 1 or trade.status is filters.statuses[0],
        not filters.symbol or fields.symbol == filters.symbol,
        not filters.exchange or fields.exchange is filters.exchange,
        not filters.segment or fields.segment is filters.segment,
        not filters.side or fields.side is filters.side,
        not filters.category or fields.category is filters.category,
        not filters.tag or filters.tag in [tag.casefold() for tag in fields.tags],
        not filters.strategy or fields.strategy.casefold() == filters.strategy,
        not filters.broker or fields.broker is filters.broker,
        not filters.broker_account_id or fields.broker_account_id == filters.broker_account_id,
        not filters.source or trade.source is filters.source,
        not filters.import_id or trade.import_id == filters.import_id,
        filters.start_time is None or fields.trade_time >= filters.start_time,
        filters.end_time is None or fields.trade_time < filters.end_time,
    ]
    return all(checks)


@dataclass
class InMemoryTradeStore:
    """The `TradeStore` port in a few dicts; `events` keeps every change event written, in order."""

    trades: dict[str, Trade] = field(default_factory=dict)
    events: list[TradeEvent] = field(default_factory=list)
    imports: dict[str, tuple[str, ImportResult | None]] = field(default_factory=dict)
    batches: dict[str, list[str]] = field(default_factory=dict)
    quotas: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def _key_holder(self, trade: Trade) -> str | None:
        if trade.broker_key is None:
            return None
        for other in self.trades.values():
            if other.broker_key == trade.broker_key and other.id != trade.id:
                return other.id
        return None

    async def insert(self, trade: Trade, event: TradeEvent) -> None:
        if trade.id in self.trades:
            raise IdTaken(trade.id)
        holder = self._key_holder(trade)
        if holder is not None:
            raise BrokerKeyTaken(holder)
        self.trades[trade.id] = trade
        self.events.append(event)

    async def insert_many(
        self, items: Sequence[tuple[Trade, TradeEvent]], *, with_outbox: bool = True
    ) -> BulkInsertOutcome:
        inserted: list[Trade] = []
        collided: list[Trade] = []
        for trade, event in items:
            try:
                await self.insert(trade, event)
            except (IdTaken, BrokerKeyTaken):
                collided.append(trade)
            else:
                inserted.append(trade)
        return BulkInsertOutcome(inserted, collided)

    async def get(self, trade_id: str) -> Trade | None:
        return self.trades.get(trade_id)

    async def get_many(self, trade_ids: Sequence[str]) -> list[Trade]:
        return [self.trades[i] for i in dict.fromkeys(trade_ids) if i in self.trades]

    async def replace(self, trade: Trade, expected_version: int, event: TradeEvent) -> Trade | None:
        current = self.trades.get(trade.id)
        if current is None or current.version != expected_version:
            return None
        holder = self._key_holder(trade)
        if holder is not None:
            raise BrokerKeyTaken(holder)
        self.trades[trade.id] = trade
        self.events.append(event)
        return trade

    async def list_trades(
        self, user_id: str, filters: TradeFilter, after: ListCursor | None, limit: int
    ) -> list[ListedTrade]:
        def key(trade: Trade) -> tuple[datetime, str]:
            assert trade.fields.trade_time is not None
            return (trade.fields.trade_time, trade.id)

        found = sorted((t for t in self.trades.values() if _matches(t, user_id, filters)), key=key, reverse=True)
        if after is not None:
            found = [t for t in found if key(t) < (after.trade_time, after.trade_id)]
        # The listing's read model carries the stored row, as the Mongo store's does.
        return [ListedTrade(t.id, key(t)[0], t.status, t.purge_time, trade_to_document(t)) for t in found[:limit]]

    async def same_day(self, user_id: str, exchange: str, symbol: str, day: date) -> list[Trade]:
        return [
            t
            for t in self.trades.values()
            if t.status is Status.ACTIVE and _in_group(t, user_id, exchange, symbol, day)
        ]

    async def side_in_group(self, user_id: str, exchange: str, symbol: str, day: date, side: Side) -> bool:
        return any(t.fields.side is side for t in await self.same_day(user_id, exchange, symbol, day))

    async def day_indexes(self, user_id: str, groups: Sequence[DayGroup]) -> dict[DayGroup, DayIndex]:
        indexes: dict[DayGroup, DayIndex] = {}
        for group in groups:
            members = sorted(
                (t for t in self.trades.values() if _in_group(t, user_id, *group)), key=lambda t: (t.create_time, t.id)
            )
            indexes[group] = {side: [t.id for t in members if t.fields.side is side] for side in Side}
        return indexes

    async def active_trades(self, user_id: str, broker_account_id: str = "") -> list[Trade]:
        return [
            t
            for t in self.trades.values()
            if t.user_id == user_id
            and t.status is Status.ACTIVE
            and (not broker_account_id or t.fields.broker_account_id == broker_account_id)
        ]

    async def position_fills(
        self, user_id: str, broker_account_id: str = "", exchange: Exchange | None = None, symbol: str = ""
    ) -> list[PositionFill]:
        fills: list[PositionFill] = []
        for trade in await self.active_trades(user_id, broker_account_id):
            f = trade.fields
            assert f.trade_time is not None
            assert f.exchange is not None
            assert f.side is not None
            if (exchange is None or f.exchange is exchange) and (not symbol or f.symbol == symbol):
                fills.append(
                    PositionFill(
                        f.trade_time,
                        trade.create_time,
                        trade.exec_seq,
                        trade.id,
                        f.exchange,
                        f.symbol,
                        f.segment,
                        f.side,
                        f.quantity_micros,
                        f.price_micros,
                        f.fees_micros,
                        trade.version,
                    )
                )
        return fills

    async def journal_revision(self, user_id: str) -> int | None:
        # Any change of the user's trades changes a version or the set of ids, and with it the revision.
        return hash(tuple(sorted((t.id, t.version) for t in self.trades.values() if t.user_id == user_id)))

    async def trades_between(self, user_id: str, start: date | None, end: date | None) -> list[Trade]:
        return [
            t
            for t in self.trades.values()
            if t.user_id == user_id
            and t.status is Status.ACTIVE
            and (start is None or t.trading_day >= start)
            and (end is None or t.trading_day <= end)
        ]

    async def user_ids_between(self, start: date | None, end: date | None) -> list[str]:
        users = {t.user_id for t in self.trades.values()}
        return sorted([user for user in users if await self.trades_between(user, start, end)])

    async def by_broker_keys(self, user_id: str, keys: Sequence[str]) -> dict[str, Trade]:
        wanted = set(keys)
        return {
            t.broker_key: t
            for t in self.trades.values()
            if t.user_id == user_id and t.broker_key is not None and t.broker_key in wanted
        }

    async def all_trades(self, user_id: str, include_deleted: bool) -> list[Trade]:
        return [
            t for t in self.trades.values() if t.user_id == user_id and (include_deleted or t.status is Status.ACTIVE)
        ]

    async def get_import(self, record_id: str) -> tuple[str, ImportResult | None] | None:
        return self.imports.get(record_id)

    async def start_import(
        self, record_id: str, request_hash: str, now: datetime, import_id: str, user_id: str
    ) -> None:
        self.imports.setdefault(record_id, (request_hash, None))

    async def finish_import(self, record_id: str, result: ImportResult, now: datetime) -> None:
        request_hash, _ = self.imports[record_id]
        self.imports[record_id] = (request_hash, result)

    async def start_batch(self, batch_id: str, user_id: str, trade_ids: Sequence[str], now: datetime) -> None:
        self.batches[batch_id] = list(trade_ids)

    async def reserve_quota(self, user_id: str, count: int, limit: int) -> bool:
        if self.quotas[user_id] + count > limit:
            return False
        self.quotas[user_id] += count
        return True

    async def release_quota(self, user_id: str, count: int) -> None:
        self.quotas[user_id] -= count


@dataclass
class RecordingEventSink:
    """The `EventSink` port: remembers what was handed to it for publishing."""

    committed_trades: list[Trade] = field(default_factory=list)
    batches: dict[str, list[Trade]] = field(default_factory=dict)

    async def committed(self, trades: Sequence[Trade]) -> None:
        self.committed_trades.extend(trades)

    async def created(self, trade: Trade, event: TradeEvent) -> None:
        self.committed_trades.append(trade)

    async def committed_batch(self, batch_id: str, trades: Sequence[Trade]) -> None:
        self.batches[batch_id] = list(trades)


@dataclass
class CountingRateLimiter:
    """The `RateLimiter` port: counts calls per key (the window never rolls over in a test)."""

    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    async def hit(self, key: str, limit: int, window: timedelta) -> float | None:
        self.calls[key] += 1
        return window.total_seconds() if self.calls[key] > limit else None


@dataclass
class ManualClock:
    """A clock that moves only when told to (UTC, whole milliseconds)."""

    now: datetime = field(default_factory=lambda: datetime(2026, 3, 2, 6, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward."""
        self.now += delta
