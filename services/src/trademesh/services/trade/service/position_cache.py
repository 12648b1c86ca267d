"""ListPositions' cache of replayed journals, per user and read, checked against the journal revision
(decision 0370).

An entry is what one lean read of a user's fills replays to: per instrument, its FIFO totals and its
latest fill. It is served only to a request that finds the same journal revision it was read under
(`TradeStore.journal_revision`: every write of the user's trades moves it on once done), so it is never
stale. The positions summarized from it (the page's latest trades read whole, the break-even, which depends
on the IST day) are kept with it for the day they were computed on. `MAX_AGE` only bounds what a writer
unaware of revisions (a replica of an older version during a rolling upgrade) could leave behind. Bounded:
least recently used entries go first.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from trademesh.kernel.instruments import Exchange
from trademesh.services.trade.model import Position
from trademesh.services.trade.model.position_fills import PositionFill
from trademesh.services.trade.service.position_replay import FifoTotals

#: One instrument replayed: its totals and its latest fill in journal order.
Replayed = tuple[FifoTotals, PositionFill]
#: What a read is keyed by: user, broker account, exchange, symbol (the filters the read itself applies).
ReadKey = tuple[str, str, Exchange | None, str]

CAPACITY = 512
MAX_AGE = timedelta(minutes=10)


@dataclass(slots=True)
class CachedReplay:
    """One read's replay, and the positions summarized from it on one IST day (by latest trade id).

    A position's derivative and break-even come from its latest trade, which cannot change while the
    journal revision stands still: under one revision it is summarized once a day, then served as is.
    """

    replayed: list[Replayed]
    day: date | None = None
    positions: dict[str, Position] = field(default_factory=dict)

    def summarized_on(self, day: date) -> dict[str, Position]:
        """Return the positions summarized for `day` (a new day starts empty)."""
        if self.day != day:
            self.day, self.positions = day, {}
        return self.positions


@dataclass(frozen=True, slots=True)
class _Entry:
    revision: int
    read_at: datetime
    replay: CachedReplay


class PositionCache:
    """Replayed journals by read, each valid for one journal revision."""

    def __init__(self, capacity: int = CAPACITY, max_age: timedelta = MAX_AGE) -> None:
        self._entries: OrderedDict[ReadKey, _Entry] = OrderedDict()
        self._capacity = capacity
        self._max_age = max_age
        #: Requests served from the cache, and those that replayed (for tests and the benchmark).
        self.hits = 0
        self.misses = 0

    def get(self, key: ReadKey, revision: int | None, now: datetime) -> CachedReplay | None:
        """Return the replay read under `revision` (None: unknown, never served), if still held."""
        entry = self._entries.get(key)
        if entry is None or revision is None or entry.revision != revision or now - entry.read_at > self._max_age:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry.replay

    def put(self, key: ReadKey, revision: int | None, now: datetime, replay: CachedReplay) -> None:
        """Hold a replay read after seeing `revision` (nothing is held for an unknown revision)."""
        if revision is None:
            self._entries.pop(key, None)
            return
        self._entries[key] = _Entry(revision, now, replay)
        self._entries.move_to_end(key)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)
