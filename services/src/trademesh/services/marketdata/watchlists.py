"""Watchlist use cases: create, list, read, rename/refill, delete and reorder a user's watchlists.

Every change is read-modify-write of the user's book, stored only over the revision it read (see
`model.watchlists`); a write that lost a race is retried on the fresh book, so concurrent changes of
different lists both land, and a stale etag on the same list is reported, never overwritten.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from trademesh.kernel.errors import Aborted, FieldViolation, InvalidArgument
from trademesh.services.marketdata.model import InstrumentKey, RequestedInstrument, SymbolUniverse
from trademesh.services.marketdata.model.watchlists import (
    Watchlist,
    WatchlistBook,
    WatchlistLimits,
    validate_items,
    validate_name,
    validate_watchlist_id,
)
from trademesh.services.marketdata.ports import Clock, WatchlistStore

#: How often a change is re-applied after losing a write race before giving up with ABORTED.
MAX_WRITE_ATTEMPTS = 8
UPDATABLE_PATHS = frozenset({"name", "instruments"})


@dataclass(frozen=True, slots=True)
class WatchlistDraft:
    """A watchlist as a request spelled it (before validation)."""

    id: str = ""
    name: str = ""
    instruments: tuple[RequestedInstrument, ...] = ()
    etag: str = ""


class WatchlistService:
    """Keep each user's watchlists."""

    def __init__(
        self,
        store: WatchlistStore,
        universe: SymbolUniverse,
        *,
        clock: Clock,
        limits: WatchlistLimits | None = None,
        new_id: Callable[[], str] | None = None,
    ) -> None:
        self._store = store
        self._universe = universe
        self._clock = clock
        self._limits = limits or WatchlistLimits()
        self._new_id = new_id or (lambda: secrets.token_hex(8))

    async def _write(self, user_id: str, apply: Callable[[WatchlistBook], WatchlistBook]) -> WatchlistBook:
        for _ in range(MAX_WRITE_ATTEMPTS):
            book = await self._store.load(user_id)
            changed = apply(book)
            stored = WatchlistBook(user_id, book.revision + 1, changed.lists)
            if await self._store.save(stored, book.revision):
                return stored
        raise Aborted("too many concurrent changes to your watchlists; retry", reason="CONCURRENT_UPDATE")

    async def create(self, user_id: str, draft: WatchlistDraft) -> Watchlist:
        """Store a new watchlist after the user's others (FAILED_PRECONDITION at the per-user limit)."""
        name = validate_name(draft.name, "watchlist.name")
        instruments = validate_items(draft.instruments, "watchlist.instruments", self._universe, self._limits)
        now_ns = self._clock.now_ns()
        created = Watchlist(self._new_id(), name, instruments, 1, now_ns, now_ns)
        await self._write(user_id, lambda book: book.add(created, self._limits))
        return created

    async def list(self, user_id: str) -> tuple[Watchlist, ...]:
        """Return the user's watchlists in their order."""
        return (await self._store.load(user_id)).lists

    async def get(self, user_id: str, watchlist_id: str) -> Watchlist:
        """Return one of the user's watchlists (NOT_FOUND for an unknown or another user's id)."""
        validate_watchlist_id(watchlist_id)
        return (await self._store.load(user_id)).find(watchlist_id)

    async def update(self, user_id: str, draft: WatchlistDraft, paths: Sequence[str]) -> Watchlist:
        """Rename and/or refill a watchlist as `paths` say (ABORTED when `draft.etag` is stale)."""
        validate_watchlist_id(draft.id, "watchlist.id")
        unknown = sorted(set(paths) - UPDATABLE_PATHS)
        if not paths or unknown:
            raise InvalidArgument(
                "update_mask must name name and/or instruments",
                [FieldViolation("update_mask", f"unknown paths {unknown}" if unknown else "must not be empty")],
                reason="INVALID_UPDATE_MASK",
            )
        name = validate_name(draft.name, "watchlist.name") if "name" in paths else None
        instruments = None
        if "instruments" in paths:
            instruments = validate_items(draft.instruments, "watchlist.instruments", self._universe, self._limits)
        now_ns = self._clock.now_ns()
        result: list[Watchlist] = []

        def apply(book: WatchlistBook) -> WatchlistBook:
            changed, watchlist = book.change(draft.id, draft.etag, now_ns, name=name, instruments=instruments)
            result[:] = [watchlist]
            return changed

        await self._write(user_id, apply)
        return result[0]

    async def delete(self, user_id: str, watchlist_id: str, etag: str) -> None:
        """Delete a watchlist (ABORTED when `etag` is set and stale)."""
        validate_watchlist_id(watchlist_id)
        await self._write(user_id, lambda book: book.remove(watchlist_id, etag))

    async def reorder(self, user_id: str, ids: Sequence[str]) -> tuple[Watchlist, ...]:
        """Put the user's watchlists in the order of `ids` (each of them exactly once)."""
        return (await self._write(user_id, lambda book: book.reorder(ids))).lists

    async def instruments_of(self, user_id: str, watchlist_id: str) -> tuple[RequestedInstrument, ...]:
        """Return a watchlist's instruments as a SubscribeQuotes request would name them."""
        watchlist = (await self._store.load(user_id)).find(watchlist_id)
        return tuple(_requested(key) for key in watchlist.instruments)


def _requested(key: InstrumentKey) -> RequestedInstrument:
    return RequestedInstrument(key.exchange.value, key.symbol)
