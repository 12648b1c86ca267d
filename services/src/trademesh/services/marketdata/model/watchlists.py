"""Watchlists: a user's named, ordered lists of instruments, kept together in one book per user.

The book is the unit of storage and of concurrency: every change reads the book, applies one of the
pure operations below and writes it back only if nobody wrote it meanwhile (its `revision`), so the
per-user list limit and the order hold under concurrent calls. Each list has its own `version`, the
etag a client sends back to refuse overwriting a change made to that list since it read it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace

from trademesh.kernel.errors import Aborted, FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from trademesh.kernel.instruments import Exchange
from trademesh.services.marketdata.model.instruments import (
    InstrumentKey,
    RequestedInstrument,
    SymbolUniverse,
    unknown_instruments_error,
    validate_instruments,
)

MAX_NAME_LENGTH = 64
MAX_ID_LENGTH = 64


@dataclass(frozen=True, slots=True)
class WatchlistLimits:
    """How many lists a user may keep and how many instruments a list may hold."""

    max_watchlists_per_user: int = 20
    max_instruments_per_watchlist: int = 100


@dataclass(frozen=True, slots=True)
class Watchlist:
    """One named, ordered list of instruments."""

    id: str
    name: str
    instruments: tuple[InstrumentKey, ...]
    version: int
    create_ns: int
    update_ns: int

    @property
    def etag(self) -> str:
        """Return the etag of this version of the list."""
        return f"{self.id}.{self.version}"


@dataclass(frozen=True, slots=True)
class WatchlistBook:
    """Every watchlist of one user, in the user's order; `revision` counts writes of the whole book."""

    user_id: str
    revision: int
    lists: tuple[Watchlist, ...]

    def find(self, watchlist_id: str) -> Watchlist:
        """Return the list with this id, or raise NOT_FOUND (another user's id is simply not here)."""
        for watchlist in self.lists:
            if watchlist.id == watchlist_id:
                return watchlist
        raise watchlist_not_found(watchlist_id)

    def add(self, watchlist: Watchlist, limits: WatchlistLimits) -> WatchlistBook:
        """Return the book with `watchlist` appended; FAILED_PRECONDITION when the user is at the limit."""
        if len(self.lists) >= limits.max_watchlists_per_user:
            raise FailedPrecondition(
                f"at most {limits.max_watchlists_per_user} watchlists per user",
                reason="WATCHLIST_LIMIT_REACHED",
                metadata={"limit": str(limits.max_watchlists_per_user)},
            )
        return replace(self, lists=(*self.lists, watchlist))

    def change(
        self,
        watchlist_id: str,
        etag: str,
        now_ns: int,
        *,
        name: str | None = None,
        instruments: tuple[InstrumentKey, ...] | None = None,
    ) -> tuple[WatchlistBook, Watchlist]:
        """Return the book with one list renamed and/or refilled, and that list (ABORTED on a stale etag)."""
        current = self.find(watchlist_id)
        check_etag(current, etag)
        changed = replace(
            current,
            name=current.name if name is None else name,
            instruments=current.instruments if instruments is None else instruments,
            version=current.version + 1,
            update_ns=now_ns,
        )
        lists = tuple(changed if item.id == watchlist_id else item for item in self.lists)
        return replace(self, lists=lists), changed

    def remove(self, watchlist_id: str, etag: str) -> WatchlistBook:
        """Return the book without the list (ABORTED on a stale etag)."""
        check_etag(self.find(watchlist_id), etag)
        return replace(self, lists=tuple(item for item in self.lists if item.id != watchlist_id))

    def reorder(self, ids: Sequence[str]) -> WatchlistBook:
        """Return the book in the order of `ids`, which must name each list exactly once."""
        by_id = {item.id: item for item in self.lists}
        if len(ids) != len(by_id) or set(ids) != set(by_id):
            raise InvalidArgument(
                "ids must name each of your watchlists exactly once",
                [FieldViolation("ids", f"must be a permutation of your {len(by_id)} watchlist ids")],
                reason="WATCHLIST_ORDER_MISMATCH",
            )
        return replace(self, lists=tuple(by_id[item] for item in ids))


def watchlist_not_found(watchlist_id: str) -> NotFound:
    """Build the NOT_FOUND error of an unknown (or another user's) watchlist."""
    return NotFound(f"no watchlist {watchlist_id[:MAX_ID_LENGTH]!r}", reason="WATCHLIST_NOT_FOUND")


def check_etag(watchlist: Watchlist, etag: str) -> None:
    """Raise ABORTED (ETAG_MISMATCH) when `etag` is set and is not the list's current one."""
    if etag and etag != watchlist.etag:
        raise Aborted(
            "the watchlist changed since it was read; read it again and retry",
            reason="ETAG_MISMATCH",
            metadata={"current_etag": watchlist.etag},
        )


def validate_watchlist_id(watchlist_id: str, field_name: str = "id") -> str:
    """Return the id, or raise INVALID_ARGUMENT when it is empty (an unknown id is NOT_FOUND later)."""
    if not watchlist_id:
        raise InvalidArgument(
            "a watchlist id is required", [FieldViolation(field_name, "is required")], reason="INVALID_WATCHLIST_ID"
        )
    return watchlist_id


def validate_name(name: str, field_name: str) -> str:
    """Return the name trimmed, or raise INVALID_ARGUMENT (empty, too long or with control characters)."""
    trimmed = name.strip()
    problem = ""
    if not trimmed:
        problem = "is required"
    elif len(trimmed) > MAX_NAME_LENGTH:
        problem = f"must be at most {MAX_NAME_LENGTH} characters"
    elif any(unicodedata.category(char).startswith("C") for char in trimmed):
        problem = "must not contain control characters"
    if problem:
        raise InvalidArgument(
            f"watchlist name {problem}", [FieldViolation(field_name, problem)], reason="INVALID_WATCHLIST_NAME"
        )
    return trimmed


def validate_items(
    requested: Sequence[RequestedInstrument], field_name: str, universe: SymbolUniverse, limits: WatchlistLimits
) -> tuple[InstrumentKey, ...]:
    """Return the distinct, well-formed, known instruments in order (an empty list is allowed)."""
    if not requested:
        return ()
    keys = validate_instruments(requested, field_name=field_name, limit=limits.max_instruments_per_watchlist)
    missing = {key for key in keys if universe.get(key) is None}
    if missing:
        unknown: list[tuple[int, InstrumentKey]] = []
        for index, item in enumerate(requested):
            key = InstrumentKey(Exchange(item.exchange), item.symbol)
            if key in missing:
                missing.discard(key)
                unknown.append((index, key))
        raise unknown_instruments_error(unknown, field_name)
    return tuple(keys)
