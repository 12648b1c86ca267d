"""Analytics use cases: journals kept fresh by trade events, cached reports, settings, recompute.

No gRPC, database or Redis imports here: adapters implement the protocols of `ports.py` and
`server.py` wires them (docs/decisions/0060).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from trademesh.kernel.charges import load_schedule
from trademesh.kernel.errors import Aborted, InvalidArgument, Unavailable
from trademesh.services.analytics.model import (
    ChargeProfile,
    Instrument,
    Journal,
    JournalChange,
    Mark,
    NetBook,
    Report,
    ReportQuery,
    UserSettings,
    build_report,
    check_settings,
    day_date,
    ist_day,
)
from trademesh.services.analytics.model.calendar import (
    DayTrips,
    PnlCalendar,
    build_calendar,
    build_day_trips,
    check_range,
    parse_date,
)
from trademesh.services.analytics.model.excursions import UNAVAILABLE
from trademesh.services.analytics.model.slices import Slice
from trademesh.services.analytics.model.tax import TaxQuery, TaxReport, build_tax_report
from trademesh.services.analytics.ports import AnalyticsCache, Clock, QuoteSource, SettingsStore, TradeSource

if TYPE_CHECKING:
    from trademesh.services.analytics.excursions import ExcursionMeter

logger = logging.getLogger(__name__)

MAX_VERSION_WAIT_SECONDS = 5.0
VERSION_POLL_SECONDS = 0.02


@dataclass(frozen=True, slots=True)
class RecomputeResult:
    """What a recompute rebuilt."""

    user_count: int
    fill_count: int
    round_trip_count: int
    start_time_us: int
    duration_us: int


@dataclass(frozen=True, slots=True)
class CacheLookup:
    """A report request resolved against the cache: its key and the cached bytes, if any."""

    user_id: str
    query: ReportQuery
    key: str
    cached: bytes | None


def now_micros() -> int:
    """Return the current time in epoch microseconds."""
    return time.time_ns() // 1000


class AnalyticsService:
    """The analytics use cases, wired to their ports.

    Journals are cached in-process per user (LRU, bounded by total fills) and are valid for the journal
    version recorded in the shared cache; the event consumer advances them one fill at a time.
    """

    def __init__(
        self,
        *,
        trades: TradeSource,
        settings: SettingsStore,
        cache: AnalyticsCache,
        quotes: QuoteSource,
        max_cached_fills: int = 2_000_000,
        clock: Clock = now_micros,
        excursions: ExcursionMeter | None = None,
    ) -> None:
        self._trades = trades
        #: MAE/MFE of round trips (decision 0270); None leaves them unmeasured.
        self.excursions = excursions
        self._settings = settings
        self._cache = cache
        self._quotes = quotes
        self._max_cached_fills = max_cached_fills
        self._clock = clock
        self._journals: OrderedDict[str, Journal] = OrderedDict()
        # Each cached journal's instruments' charge profiles (their latest trade's), valid while that journal
        # object is the cached one; an event on an instrument drops its profile (a removal: all of the user's).
        self._profiles: dict[str, tuple[Journal, dict[Instrument, ChargeProfile]]] = {}
        # Weak values: a user's lock lives only while someone holds or waits for it (no growth per user seen).
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        #: Called with a user id whenever that user's journal changed (WatchPnl streams listen).
        self.listeners: list[Callable[[str], None]] = []

    def now(self) -> int:
        """Return the service clock in epoch microseconds."""
        return self._clock()

    async def applied_version(self, user_id: str) -> int:
        """Return the highest journal version applied for the user."""
        return (await self._cache.meta(user_id)).journal_version

    async def journal(self, user_id: str) -> Journal:
        """Return the user's journal at the applied version, rebuilding it from trades when needed."""
        meta = await self._cache.meta(user_id)
        journal = self._journals.get(user_id)
        if journal is not None and journal.version >= meta.journal_version:
            self._journals.move_to_end(user_id)
            return journal
        lock = self._lock(user_id)
        async with lock:
            journal = self._journals.get(user_id)
            if journal is not None and journal.version >= meta.journal_version:
                return journal
            return await self._load(user_id)

    async def net_book(self, user_id: str, journal: Journal) -> NetBook:
        """Return the net figures of the journal's open positions, exits charged on today's IST date.

        One query for the open instruments' charge profiles and one vectorised break-even search: what a
        WatchPnl stream pays once per position change, so a tick only re-prices the exit orders.
        """
        instruments = [cycle.instrument for cycle in journal.open_cycles()]
        held = self._profiles.get(user_id)
        known = held[1] if held is not None and held[0] is journal else {}
        missing = [instrument for instrument in instruments if instrument not in known]
        if missing:
            try:
                found = await self._trades.charge_profiles(user_id, missing)
            except Unavailable as error:
                # Without profiles there is no exit estimate: break-even and exit charges stay unset.
                logger.warning("charge profiles unavailable (%s); positions without break-even", error)
            else:
                known = {**known, **found}
                if self._journals.get(user_id) is journal:
                    self._profiles[user_id] = (journal, known)
        return NetBook.build(journal, known, day_date(ist_day(self.now())))

    def _lock(self, user_id: str) -> asyncio.Lock:
        lock = self._locks.get(user_id)
        if lock is None:
            lock = self._locks[user_id] = asyncio.Lock()
        return lock

    async def _load(self, user_id: str) -> Journal:
        # The version is read before the trades: the journal may be newer than it claims, never older.
        version = await self.applied_version(user_id)
        fills = await self._trades.load_fills(user_id)
        journal = Journal(fills, version)
        self._remember(user_id, journal)
        return journal

    def _remember(self, user_id: str, journal: Journal) -> None:
        self._journals[user_id] = journal
        self._journals.move_to_end(user_id)
        total = sum(j.fill_count for j in self._journals.values())
        while total > self._max_cached_fills and len(self._journals) > 1:
            evicted_user, evicted = self._journals.popitem(last=False)
            self._profiles.pop(evicted_user, None)
            total -= evicted.fill_count

    def _notify(self, user_id: str) -> None:
        for listener in self.listeners:
            listener(user_id)

    async def apply_change(self, change: JournalChange) -> None:
        """Apply one trade event: advance the user's version and update their cached journal (idempotent)."""
        await self.apply_changes([change])

    async def apply_changes(self, changes: Sequence[JournalChange]) -> None:
        """Apply a batch of trade events, per user: one version advance and one journal merge each.

        Per user the journal version advances once, to the batch's highest; the cached journal (if any)
        takes all the user's changes in journal-version order through `Journal.apply_changes`, so an
        import of N fills costs about one rebuild, not N (docs/decisions/0113). Idempotent like one
        event at a time: older trade versions are ignored and the version only moves forward.
        """
        by_user: dict[str, list[JournalChange]] = {}
        for change in changes:
            by_user.setdefault(change.user_id, []).append(change)
        for user_id, user_changes in by_user.items():
            user_changes.sort(key=lambda change: change.journal_version)
            highest = user_changes[-1].journal_version
            previous = await self._cache.advance_version(user_id, highest)
            journal = self._journals.get(user_id)
            if journal is not None:
                if journal.version != previous and highest > previous:
                    # Another replica applied events this one has not seen: rebuild on next read.
                    del self._journals[user_id]
                    self._profiles.pop(user_id, None)
                else:
                    journal.apply_changes(user_changes)
                    journal.version = max(journal.version, highest)
                    self._forget_profiles(user_id, user_changes)
            self._notify(user_id)

    def _forget_profiles(self, user_id: str, changes: Sequence[JournalChange]) -> None:
        held = self._profiles.get(user_id)
        if held is None:
            return
        if any(change.fill is None for change in changes):
            del self._profiles[user_id]  # a removal names no instrument
            return
        for change in changes:
            assert change.fill is not None
            held[1].pop(change.fill.instrument, None)

    # -- reports -------------------------------------------------------------------------------------

    async def wait_for_version(self, user_id: str, version: int, wait_seconds: float | None) -> None:
        """Wait until journal `version` is applied (at most 5 s or `wait_seconds`), else raise Unavailable."""
        if version <= 0:
            return
        limit = MAX_VERSION_WAIT_SECONDS if wait_seconds is None else min(wait_seconds, MAX_VERSION_WAIT_SECONDS)
        deadline = time.monotonic() + limit
        while True:
            applied = await self.applied_version(user_id)
            if applied >= version:
                return
            if time.monotonic() >= deadline:
                raise Unavailable(
                    "the requested journal version is not applied yet; retry later",
                    reason="JOURNAL_VERSION_NOT_APPLIED",
                    metadata={"requested_version": str(version), "applied_version": str(applied)},
                )
            await asyncio.sleep(VERSION_POLL_SECONDS)

    async def lookup(self, user_id: str, query: ReportQuery) -> CacheLookup:
        """Find the cached report of a query at the user's current journal version and settings."""
        meta = await self._cache.meta(user_id)
        etag = meta.settings_etag
        if etag is None:
            etag = (await self._settings.get(user_id)).etag
            await self._cache.set_settings_etag(user_id, etag)
        key = f"{user_id}:{meta.journal_version}.{meta.generation}:{etag}:{query.cache_key}"
        return CacheLookup(user_id, query, key, await self._cache.get_report(key))

    async def compute(self, lookup: CacheLookup, authorization: str) -> tuple[Report, bool]:
        """Compute a report; return it and whether it may be cached (every open position was priced)."""
        settings = await self._settings.get(lookup.user_id)
        journal = await self.journal(lookup.user_id)
        instruments = [cycle.instrument for cycle in journal.open_cycles()]
        marks: Mapping[Instrument, Mark] = {}
        complete = True
        if instruments:
            try:
                marks = await self._quotes.marks(instruments, authorization)
            except Unavailable as error:
                # An outage is expected and named: one line per report, not a traceback each time.
                logger.warning("market data unavailable (%s); open positions are reported unmarked", error)
                complete = False
        net = await self.net_book(lookup.user_id, journal) if instruments else None
        report = build_report(journal, lookup.query, settings, self.now(), marks, net)
        if self.excursions is not None:
            first, last = journal.trip_range(lookup.query.start_us, lookup.query.end_us)
            try:
                stats = await self.excursions.stats(
                    lookup.user_id, journal, first, last, settings.break_even_tolerance_micros
                )
            except Unavailable as error:
                logger.warning("excursions unavailable (%s); the report has none", error)
                complete = False
            else:
                report = replace(report, excursions=stats)
        return report, complete

    async def store(self, lookup: CacheLookup, encoded: bytes) -> None:
        """Cache an encoded report under its lookup key (a cache outage only costs a recomputation)."""
        try:
            await self._cache.put_report(lookup.key, encoded)
        except Unavailable:
            logger.warning("could not cache a report", exc_info=True)

    async def tax_report(self, user_id: str, query: TaxQuery) -> TaxReport:
        """Return the user's own tax statement of a financial year (model/tax.py has the rules)."""
        journal = await self.journal(user_id)
        return build_tax_report(journal.fills, query, load_schedule())

    async def pnl_calendar(
        self, user_id: str, start_date: str, end_date: str, chosen: Slice | None = None
    ) -> PnlCalendar:
        """Return the user's daily net P&L of an IST date range (≤ 366 days) with week and month totals."""
        start = parse_date(start_date, "start_date", "INVALID_DATE_RANGE")
        end = parse_date(end_date, "end_date", "INVALID_DATE_RANGE")
        check_range(start, end)
        settings = await self._settings.get(user_id)
        return build_calendar(await self.journal(user_id), start, end, settings.break_even_tolerance_micros, chosen)

    async def day_trips(self, user_id: str, day: str, authorization: str = "", chosen: Slice | None = None) -> DayTrips:
        """Return the user's round trips closed on one IST day (of a slice's, decision 0250), with their MAE/MFE
        when measured (decision 0270)."""
        wanted = parse_date(day, "date", "INVALID_DATE")
        settings = await self._settings.get(user_id)
        journal = await self.journal(user_id)
        trips = build_day_trips(journal, wanted, settings.break_even_tolerance_micros, chosen)
        if self.excursions is None or not trips.trips:
            return trips
        try:
            found = await self.excursions.measure_trips(user_id, journal, trips.trips, trips.risks, authorization)
        except Unavailable as error:
            logger.warning("excursions unavailable (%s); the day's round trips are unmeasured", error)
            found = [UNAVAILABLE] * len(trips.trips)
        return replace(trips, excursions=tuple(found))

    # -- settings ------------------------------------------------------------------------------------

    async def get_settings(self, user_id: str) -> UserSettings:
        """Return the user's settings."""
        return await self._settings.get(user_id)

    async def update_settings(
        self, user_id: str, settings: UserSettings, fields: frozenset[str], etag: str
    ) -> UserSettings:
        """Change some settings; reports computed afterwards use them (the cache key holds the etag)."""
        violations = [v for v in check_settings(settings) if v.field.removeprefix("settings.") in fields]
        if violations:
            raise InvalidArgument("invalid settings", violations, reason="INVALID_SETTINGS")
        # Forget the cached etag first: if the write below succeeds but recording the new etag fails,
        # readers fall back to the database instead of serving reports of the old settings.
        await self._cache.set_settings_etag(user_id, None)
        updated = await self._settings.update(user_id, settings, fields, etag)
        await self._cache.set_settings_etag(user_id, updated.etag)
        self._notify(user_id)
        return updated

    # -- recompute -----------------------------------------------------------------------------------

    async def recompute(
        self,
        user_id: str | None,
        *,
        lock_ttl_seconds: float = 3_600.0,
        on_user: Callable[[str], Awaitable[None]] | None = None,
    ) -> RecomputeResult:
        """Rebuild the journals of one user (or all) from the trades and invalidate their cached reports."""
        scope = user_id or "*"
        if not await self._cache.lock_recompute(scope, lock_ttl_seconds):
            raise Aborted("a recompute of the same users is already running", reason="RECOMPUTE_IN_PROGRESS")
        start = self.now()
        users = fills = trips = 0
        try:
            for user in [user_id] if user_id else await self._trades.user_ids():
                lock = self._lock(user)
                async with lock:
                    journal = await self._load(user)
                    # Each user's swap is atomic: readers see the old journal until the new one is stored.
                    await self._cache.bump_generation(user)
                if journal.fill_count:
                    users += 1
                    fills += journal.fill_count
                    trips += journal.round_trip_count + sum(1 for c in journal.cycles.values() if c.position)
                self._notify(user)
                if on_user is not None:
                    await on_user(user)
        finally:
            await self._cache.unlock_recompute(scope)
        return RecomputeResult(users, fills, trips, start, self.now() - start)
