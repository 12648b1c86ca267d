"""The ports of the trade use cases: what they need from storage, event publishing, rate limiting,
tokens and time, as Protocols (adapters: `store`, `events`, `core.page_tokens`; fakes in tests/trade).

Every write hands the store the trade *and* its change event, which the store keeps in the same
single-document write (docs/decisions/0010); the `EventSink` then publishes and clears it.
Pure: no gRPC, database or Redis imports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from trademesh.kernel.instruments import Exchange, Side
from trademesh.services.trade.model import ImportResult, ListedTrade, Trade, TradeEvent, TradeFilter
from trademesh.services.trade.model.position_fills import PositionFill

#: An (exchange, symbol, IST trading day) group of a user's trades, and its trade ids by side.
DayGroup = tuple[str, str, date]
DayIndex = dict[Side, list[str]]


class IdTaken(Exception):
    """Raise (store) when a trade with the same id already exists."""


class BrokerKeyTaken(Exception):
    """Raise (store) when another trade holds the same broker key."""

    def __init__(self, trade_id: str) -> None:
        super().__init__(trade_id)
        self.trade_id = trade_id


@dataclass(frozen=True, slots=True)
class ListCursor:
    """Keyset position after the last trade of a page: (trade_time, id), newest first."""

    trade_time: datetime
    trade_id: str


@dataclass(frozen=True, slots=True)
class BulkInsertOutcome:
    """Which trades of a bulk insert were inserted and which collided (id or broker key)."""

    inserted: list[Trade]
    collided: list[Trade]


class TradeStore(Protocol):
    """Persist trades; each write carries its change event in the same document write."""

    async def insert(self, trade: Trade, event: TradeEvent) -> None:
        """Insert a trade; raise IdTaken or BrokerKeyTaken on a collision."""

    async def insert_many(
        self, items: Sequence[tuple[Trade, TradeEvent]], *, with_outbox: bool = True
    ) -> BulkInsertOutcome:
        """Insert many trades (unordered); report collisions instead of raising.

        Without `with_outbox` the events are not stored in the documents: the caller's import
        record is their outbox (see start_import).
        """

    async def get(self, trade_id: str) -> Trade | None: ...

    async def get_many(self, trade_ids: Sequence[str]) -> list[Trade]:
        """Return the trades with these ids that exist."""
        ...

    async def replace(self, trade: Trade, expected_version: int, event: TradeEvent) -> Trade | None:
        """Store `trade` if the stored version is `expected_version`; return None when it is not."""

    async def list_trades(
        self, user_id: str, filters: TradeFilter, after: ListCursor | None, limit: int
    ) -> list[ListedTrade]:
        """Return trades matching `filters`, newest first (trade_time desc, id desc), after the cursor.

        A listing's read model (`ListedTrade`): the stored row as read, no domain `Trade` per row.
        """

    async def same_day(self, user_id: str, exchange: str, symbol: str, day: date) -> list[Trade]:
        """Return the user's ACTIVE trades on one instrument and IST trading day."""

    async def side_in_group(self, user_id: str, exchange: str, symbol: str, day: date, side: Side) -> bool:
        """Tell whether the user has an ACTIVE trade of this side on one instrument and IST trading day."""
        ...

    async def day_indexes(self, user_id: str, groups: Sequence[DayGroup]) -> dict[DayGroup, DayIndex]:
        """Return, per (exchange, symbol, day) group, the ids of its trades (any status) by side, oldest
        first; an empty group lists nothing."""
        ...

    async def active_trades(self, user_id: str, broker_account_id: str = "") -> list[Trade]:
        """Return every ACTIVE trade of the user (optionally of one broker account)."""

    async def position_fills(
        self, user_id: str, broker_account_id: str = "", exchange: Exchange | None = None, symbol: str = ""
    ) -> list[PositionFill]:
        """Return the user's ACTIVE trades as lean fills (optionally of one broker account, exchange and
        symbol), in no particular order: what ListPositions replays (decision 0370)."""

    async def journal_revision(self, user_id: str) -> int | None:
        """Return the user's journal revision: a number that changes once any write of the user's trades
        is done (None: unknown, cache nothing). What is read after seeing revision r may be cached under r
        (decision 0370)."""

    async def by_broker_keys(self, user_id: str, keys: Sequence[str]) -> dict[str, Trade]:
        """Return the user's trades (any status) holding any of `keys`, by key."""

    async def all_trades(self, user_id: str, include_deleted: bool) -> list[Trade]: ...

    async def trades_between(self, user_id: str, start: date | None, end: date | None) -> list[Trade]:
        """Return the user's ACTIVE trades whose IST trading day is in [start, end] (None: unbounded)."""
        ...

    async def user_ids_between(self, start: date | None, end: date | None) -> list[str]:
        """Return the users with an ACTIVE trade on an IST trading day in [start, end], sorted."""
        ...

    async def get_import(self, record_id: str) -> tuple[str, ImportResult | None] | None:
        """Return (content hash, finished result or None while unfinished) of an import request."""

    async def start_import(
        self, record_id: str, request_hash: str, now: datetime, import_id: str, user_id: str
    ) -> None:
        """Record an import request as started, with its events pending (before any trade is written)."""

    async def finish_import(self, record_id: str, result: ImportResult, now: datetime) -> None: ...

    async def start_batch(self, batch_id: str, user_id: str, trade_ids: Sequence[str], now: datetime) -> None:
        """Record a bulk insert's trade ids before it runs (their CREATED events are then pending)."""
        ...

    async def reserve_quota(self, user_id: str, count: int, limit: int) -> bool:
        """Count `count` new trades against the user's quota of `limit`; False if that would exceed it."""
        ...

    async def release_quota(self, user_id: str, count: int) -> None:
        """Uncount trades that were reserved but not inserted (or were purged)."""
        ...


class EventSink(Protocol):
    """Publish the pending change events of just-written trades (at least once, never raising)."""

    async def committed(self, trades: Sequence[Trade]) -> None: ...

    async def created(self, trade: Trade, event: TradeEvent) -> None:
        """Publish the CREATED event this request just wrote with `trade` (no read of the outbox), then clear it."""

    async def committed_batch(self, batch_id: str, trades: Sequence[Trade]) -> None:
        """Publish the CREATED events of a recorded bulk insert, then forget the batch record."""


class RateLimiter(Protocol):
    """Count calls per key within a window."""

    async def hit(self, key: str, limit: int, window: timedelta) -> float | None:
        """Count one call; return seconds to wait when over the limit, else None."""


class TokenCodec(Protocol):
    """Sign and check opaque page tokens (`core.page_tokens.Codec`)."""

    def encode(self, payload: dict[str, object]) -> str:
        """Return a signed token carrying `payload`."""
        ...

    def decode(self, token: str) -> dict[str, object] | None:
        """Return the payload of a token this codec signed, or None if malformed or tampered."""
        ...


class InstrumentLookup(Protocol):
    """Read the instrument master (adapter: `instruments.HttpInstrumentMaster`; lookups are in memory)."""

    def lot_size(self, exchange: str, symbol: str) -> int | None:
        """Return the contract's lot size in units, or None when the master does not list it."""
        ...


class Clock(Protocol):
    """Tell the time (UTC, millisecond precision: what BSON dates store)."""

    def __call__(self) -> datetime: ...
