"""In-memory fakes of the analytics ports (trademesh.services.analytics.ports), for fast use-case tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

from trademesh.kernel.errors import Aborted, Unavailable
from trademesh.services.analytics.model import Category, ChargeProfile, Instrument, JournalFill, Mark, UserSettings
from trademesh.services.analytics.ports import UserMeta

_SETTING_FIELDS = ("capital_base_micros", "risk_free_rate_bps", "break_even_tolerance_micros")


class ManualClock:
    """A clock the test moves."""

    def __init__(self, now_us: int) -> None:
        self.now_us = now_us

    def __call__(self) -> int:
        return self.now_us


class InMemoryTradeSource:
    """The TradeSource port over a dict of users' ACTIVE trades."""

    def __init__(self) -> None:
        self.fills: dict[str, dict[str, JournalFill]] = {}
        self.profiles: dict[tuple[str, Instrument], ChargeProfile] = {}
        self.loads = 0

    def put(self, user_id: str, fill: JournalFill) -> None:
        self.fills.setdefault(user_id, {})[fill.trade_id] = fill

    def drop(self, user_id: str, trade_id: str) -> None:
        self.fills.get(user_id, {}).pop(trade_id, None)

    async def load_fills(self, user_id: str) -> list[JournalFill]:
        self.loads += 1
        return list(self.fills.get(user_id, {}).values())

    async def user_ids(self) -> list[str]:
        return sorted(user for user, fills in self.fills.items() if fills)

    async def charge_profiles(self, user_id: str, instruments: Sequence[Instrument]) -> dict[Instrument, ChargeProfile]:
        # Manual equity trades on NSE/BSE (what the fake's fills are), unless a test set a profile.
        latest: dict[Instrument, JournalFill] = {}
        for fill in sorted(self.fills.get(user_id, {}).values(), key=lambda f: f.order):
            latest[fill.instrument] = fill
        found = {}
        for instrument in instruments:
            last = latest.get(instrument)
            if last is None:
                continue
            profile = self.profiles.get((user_id, instrument))
            if profile is None and instrument[1] in ("NSE", "BSE"):
                profile = ChargeProfile("EQUITY", None, "MANUAL", intraday=last.category is Category.INTRADAY)
            if profile is not None:
                found[instrument] = profile
        return found


class InMemorySettingsStore:
    """The SettingsStore port with etags, like MongoSettingsStore."""

    def __init__(self) -> None:
        self._settings: dict[str, UserSettings] = {}

    async def get(self, user_id: str) -> UserSettings:
        return self._settings.get(user_id, UserSettings(etag="default"))

    async def update(self, user_id: str, settings: UserSettings, fields: frozenset[str], etag: str) -> UserSettings:
        current = await self.get(user_id)
        if etag and etag != current.etag:
            raise Aborted("the settings changed since they were read; re-read and retry", reason="ETAG_MISMATCH")
        values = {name: getattr(settings, name) for name in _SETTING_FIELDS if name in fields}
        updated = replace(current, **values, etag=uuid.uuid4().hex, update_time_us=1)
        self._settings[user_id] = updated
        return updated


class InMemoryAnalyticsCache:
    """The AnalyticsCache port in dicts: versions only move forward, hits and misses are counted."""

    def __init__(self) -> None:
        self.meta_of: dict[str, UserMeta] = {}
        self.reports: dict[str, bytes] = {}
        self.locks: set[str] = set()
        self.hits = 0
        self.misses = 0
        self.available = True

    async def meta(self, user_id: str) -> UserMeta:
        return self.meta_of.get(user_id, UserMeta())

    async def advance_version(self, user_id: str, version: int) -> int:
        meta = await self.meta(user_id)
        self.meta_of[user_id] = replace(meta, journal_version=max(meta.journal_version, version))
        return meta.journal_version

    async def set_settings_etag(self, user_id: str, etag: str | None) -> None:
        self.meta_of[user_id] = replace(await self.meta(user_id), settings_etag=etag)

    async def bump_generation(self, user_id: str) -> None:
        meta = await self.meta(user_id)
        self.meta_of[user_id] = replace(meta, generation=meta.generation + 1)

    async def get_report(self, key: str) -> bytes | None:
        value = self.reports.get(key)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    async def put_report(self, key: str, report: bytes) -> None:
        if not self.available:
            raise Unavailable("cache down", reason="SERVICE_UNAVAILABLE")
        self.reports[key] = report

    async def lock_recompute(self, scope: str, ttl_seconds: float) -> bool:
        if scope in self.locks or "*" in self.locks:
            return False
        self.locks.add(scope)
        return True

    async def unlock_recompute(self, scope: str) -> None:
        self.locks.discard(scope)


class InMemoryQuotes:
    """The QuoteSource and QuoteStream ports: marks set by the test, ticks pushed through a queue."""

    def __init__(self) -> None:
        self.marks_of: dict[Instrument, Mark] = {}
        self.available = True
        self.ticks: asyncio.Queue[dict[Instrument, Mark]] = asyncio.Queue()
        self.authorizations: list[str] = []

    async def marks(self, instruments: Sequence[Instrument], authorization: str) -> dict[Instrument, Mark]:
        return (await self.quotes(instruments, authorization))[0]

    async def quotes(
        self, instruments: Sequence[Instrument], authorization: str
    ) -> tuple[dict[Instrument, Mark], set[Instrument]]:
        self.authorizations.append(authorization)
        if not self.available:
            raise Unavailable("market data down", reason="SERVICE_UNAVAILABLE")
        return {i: self.marks_of[i] for i in instruments if i in self.marks_of}, set(instruments)

    async def subscribe(
        self, instruments: Sequence[Instrument], authorization: str, rate: int
    ) -> AsyncIterator[dict[Instrument, Mark]]:
        while True:
            batch = await self.ticks.get()
            yield {i: mark for i, mark in batch.items() if i in instruments}
