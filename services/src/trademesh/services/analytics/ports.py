"""The ports of the analytics use cases: what they need from the outside, as Protocols.

Adapters: `store.py` (MongoTradeSource, MongoSettingsStore), `cache.py` (RedisAnalyticsCache),
`quotes.py` (GrpcQuoteSource: QuoteSource and QuoteStream); in-memory fakes in tests/analytics/fakes.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from trademesh.services.analytics.model import ChargeProfile, FillColumns, Instrument, JournalFill, Mark, UserSettings


class Clock(Protocol):
    """The current time."""

    def __call__(self) -> int:
        """Return the current time in epoch microseconds."""
        ...


class TradeSource(Protocol):
    """Read-only access to the trade journal (owned by the trade service; trademesh.kernel.trade_documents)."""

    async def load_fills(self, user_id: str) -> FillColumns | list[JournalFill]:
        """Return the user's ACTIVE trades as fills (any order)."""
        ...

    async def user_ids(self) -> list[str]:
        """Return every user with at least one ACTIVE trade."""
        ...

    async def charge_profiles(self, user_id: str, instruments: Sequence[Instrument]) -> dict[Instrument, ChargeProfile]:
        """Return how each instrument's latest ACTIVE trade (journal order) is charged (none: left out)."""
        ...


class SettingsStore(Protocol):
    """Per-user analytics settings."""

    async def get(self, user_id: str) -> UserSettings:
        """Return the user's settings (defaults, with an etag, when never saved)."""
        ...

    async def update(self, user_id: str, settings: UserSettings, fields: frozenset[str], etag: str) -> UserSettings:
        """Change `fields`; raise Aborted (ETAG_MISMATCH) when `etag` is set and stale."""
        ...


@dataclass(frozen=True, slots=True)
class UserMeta:
    """What keys a user's cached reports: applied journal version, recompute generation, settings etag."""

    journal_version: int = 0
    generation: int = 0
    settings_etag: str | None = None


class AnalyticsCache(Protocol):
    """The shared cache and journal bookkeeping (Redis)."""

    async def meta(self, user_id: str) -> UserMeta:
        """Return the user's cache metadata."""
        ...

    async def advance_version(self, user_id: str, version: int) -> int:
        """Record that journal `version` is applied (monotonic max); return the previous version."""
        ...

    async def set_settings_etag(self, user_id: str, etag: str | None) -> None:
        """Record (or forget, with None) the user's current settings etag."""
        ...

    async def bump_generation(self, user_id: str) -> None:
        """Invalidate every cached report of the user (after a recompute)."""
        ...

    async def get_report(self, key: str) -> bytes | None:
        """Return a cached report and count the hit or miss."""
        ...

    async def put_report(self, key: str, report: bytes) -> None:
        """Cache a report for the configured TTL."""
        ...

    async def lock_recompute(self, scope: str, ttl_seconds: float) -> bool:
        """Take the recompute lock of a scope; False when another recompute holds it."""
        ...

    async def unlock_recompute(self, scope: str) -> None:
        """Release the recompute lock of a scope."""
        ...


class QuoteSource(Protocol):
    """Latest quotes from the market-data service, called with the user's own credentials."""

    async def marks(self, instruments: Sequence[Instrument], authorization: str) -> dict[Instrument, Mark]:
        """Return the marks of the instruments that have a price (missing ones are left out)."""
        ...


class QuoteStream(Protocol):
    """Latest quotes and live ticks, with the user's own credentials (WatchPnl)."""

    async def quotes(
        self, instruments: Sequence[Instrument], authorization: str
    ) -> tuple[dict[Instrument, Mark], set[Instrument]]:
        """Return the marks of the priced instruments and the set of instruments market data knows."""
        ...

    def subscribe(
        self, instruments: Sequence[Instrument], authorization: str, rate: int
    ) -> AsyncIterator[dict[Instrument, Mark]]:
        """Yield batches of new marks as ticks arrive."""
        ...


class Quotes(QuoteSource, QuoteStream, Protocol):
    """Both quote ports (one market-data adapter serves reports and WatchPnl)."""
