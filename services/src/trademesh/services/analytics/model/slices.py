"""Slices of a journal: which round trips and fills a filtered report keeps (decision 0250).

A round trip belongs to a slice by the attributes of the fill that OPENED it: that trade's account (broker
and broker account id), segment, strategy, tags and category, the instrument's symbol and exchange, the
side of the opening fill, and the IST weekday and hour of the opening fill. Every fill belongs to the
position cycle it opens, adds to or closes (a fill crossing zero belongs to the cycle it closes), so a
fill is in a slice when its cycle's opening fill is: the activity of a slice is that of its positions.

Dimensions combine with AND, the values of one dimension with OR (tags: any or all). A dimension with no
values does not filter. `rest` turns a slice into its complement (what "this slice vs the rest" compares).
Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from trademesh.kernel.errors import FieldViolation, InvalidArgument
from trademesh.kernel.lots import InstrumentCycle
from trademesh.services.analytics.model.fills import (
    CATEGORIES,
    CATEGORY_CODES,
    Category,
    Column,
    FillProfile,
    Instrument,
    tag_key,
)
from trademesh.services.analytics.model.periods import DAY_US, HOUR_US, IST_OFFSET_US

if TYPE_CHECKING:
    from trademesh.services.analytics.model.journal import Journal

Cycle = InstrumentCycle[Instrument]

#: The columns holding the opening fill's attributes: of closed round trips, and of fills (their cycle's).
TRIP_KEYS = ("profile", "instrument", "category", "long", "open_time")
FILL_KEYS = ("cycle_profile", "instrument", "cycle_category", "cycle_long", "cycle_open_time")

#: At most this many values in one dimension.
MAX_VALUES = 50
MAX_TAG_LENGTH = 32
MAX_STRATEGY_LENGTH = 64
MAX_ACCOUNT_ID_LENGTH = 64
_SYMBOL = re.compile(r"[A-Z0-9][A-Z0-9&._\-]{0,63}")
BROKERS = ("MANUAL", "ZERODHA", "UPSTOX")
SEGMENTS = ("EQUITY", "FUTURES", "OPTIONS", "CURRENCY", "COMMODITY")
EXCHANGES = ("NSE", "BSE", "NFO", "BFO", "MCX", "CDS", "BCD")


@dataclass(frozen=True, slots=True)
class Slice:
    """A validated slice: each field's values are OR-ed, fields AND-ed; empty fields do not filter."""

    #: (broker, broker account id); an empty account id means every account of that broker.
    accounts: frozenset[tuple[str, str]] = frozenset()
    segments: frozenset[str] = frozenset()
    exchanges: frozenset[str] = frozenset()
    categories: frozenset[Category] = frozenset()
    strategies: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    all_tags: bool = False
    symbols: frozenset[str] = frozenset()
    #: True: opened by a BUY (long); False: by a SELL (short); None: either.
    long: bool | None = None
    #: ISO weekdays (Monday = 1) of the opening fill, IST.
    weekdays: frozenset[int] = frozenset()
    #: [start, end) IST hours of the opening fill.
    hours: tuple[int, int] | None = None
    #: The complement: everything the slice above does not keep.
    rest: bool = False

    @property
    def empty(self) -> bool:
        """Tell whether the slice keeps everything (no dimension set, not a complement)."""
        return not self.rest and self == Slice()

    @property
    def key(self) -> str:
        """Return the canonical form (sorted values; equal slices, equal keys): part of the report cache key."""

        def values(items: Iterable[Any]) -> str:
            return ",".join(sorted(repr(item) for item in items))

        return "|".join(
            (
                values(self.accounts),
                values(self.segments),
                values(self.exchanges),
                values(c.value for c in self.categories),
                values(self.strategies),
                values(self.tags),
                "all" if self.all_tags and len(self.tags) > 1 else "any",
                values(self.symbols),
                "" if self.long is None else str(int(self.long)),
                values(self.weekdays),
                "" if self.hours is None else f"{self.hours[0]}-{self.hours[1]}",
                "rest" if self.rest else "",
            )
        )

    def complement(self) -> Slice:
        """Return the rest of the journal: what this slice does not keep."""
        return Slice(
            self.accounts,
            self.segments,
            self.exchanges,
            self.categories,
            self.strategies,
            self.tags,
            self.all_tags,
            self.symbols,
            self.long,
            self.weekdays,
            self.hours,
            not self.rest,
        )

    def profile_matches(self, profile: FillProfile) -> bool:
        """Tell whether a trade profile passes the account, segment, strategy and tag dimensions."""
        if self.accounts and not any(
            profile.broker == broker and (not account or profile.account == account)
            for broker, account in self.accounts
        ):
            return False
        if self.segments and profile.segment not in self.segments:
            return False
        if self.strategies and profile.strategy not in self.strategies:
            return False
        if self.tags:
            if self.all_tags:
                return self.tags <= profile.tags
            return not self.tags.isdisjoint(profile.tags)
        return True

    def instrument_matches(self, instrument: Instrument) -> bool:
        """Tell whether an instrument passes the symbol and exchange dimensions."""
        symbol, exchange = instrument
        return (not self.symbols or symbol in self.symbols) and (not self.exchanges or exchange in self.exchanges)

    def mask(
        self,
        profiles: Sequence[FillProfile],
        instruments: Sequence[Instrument],
        profile: Column,
        instrument: Column,
        category: Column,
        long: Column,
        open_time: Column,
    ) -> npt.NDArray[np.bool_]:
        """Return which rows (round trips, or fills by their cycle's opening fill) the slice keeps.

        Each column holds the opening fill's attribute per row; the per-profile and per-instrument tests
        run once per distinct value (journals have few), the rest is vectorised.
        """
        keep = np.ones(len(profile), dtype=np.bool_)
        if any((self.accounts, self.segments, self.strategies, self.tags)):
            table = np.fromiter((self.profile_matches(p) for p in profiles), dtype=np.bool_, count=len(profiles))
            keep &= table[profile.astype(np.int64)] if len(table) else False
        if self.symbols or self.exchanges:
            table = np.fromiter(
                (self.instrument_matches(i) for i in instruments), dtype=np.bool_, count=len(instruments)
            )
            keep &= table[instrument.astype(np.int64)] if len(table) else False
        if self.categories:
            table = np.array([c in self.categories for c in CATEGORIES], dtype=np.bool_)
            keep &= table[category.astype(np.int64)]
        if self.long is not None:
            keep &= long.astype(np.bool_) == self.long
        if self.weekdays or self.hours is not None:
            local = open_time.astype(np.int64) + IST_OFFSET_US
            if self.weekdays:
                table = np.array([day in self.weekdays for day in range(1, 8)], dtype=np.bool_)
                keep &= table[(local // DAY_US + 3) % 7]
            if self.hours is not None:
                hour = local // HOUR_US % 24
                keep &= (hour >= self.hours[0]) & (hour < self.hours[1])
        return ~keep if self.rest else keep


def keep_rows(
    chosen: Slice | None, journal: Journal, columns: dict[str, Column], keys: Sequence[str]
) -> dict[str, Column]:
    """Return the rows of parallel columns (round trips or fills) a slice keeps; all of them without one."""
    if chosen is None or chosen.empty:
        return columns
    keep = chosen.mask(journal.profiles, journal.instruments, *(columns[key] for key in keys))
    return {name: column[keep] for name, column in columns.items()}


def keep_cycles(chosen: Slice | None, journal: Journal, cycles: list[Cycle]) -> list[Cycle]:
    """Return the open position cycles whose opening fill a slice keeps (one vectorised test); all without one."""
    if chosen is None or chosen.empty or not cycles:
        return cycles
    codes = {profile: code for code, profile in enumerate(journal.profiles)}
    instruments = {instrument: code for code, instrument in enumerate(journal.instruments)}
    columns = (
        np.array([codes[journal.cycle_profile(c.instrument)] for c in cycles], dtype=np.int64),
        np.array([instruments[c.instrument] for c in cycles], dtype=np.int64),
        np.array([CATEGORY_CODES[Category(c.category or Category.UNCATEGORIZED)] for c in cycles], dtype=np.int64),
        np.array([c.position > 0 for c in cycles], dtype=np.bool_),
        np.array([c.open_time for c in cycles], dtype=np.int64),
    )
    keep = chosen.mask(journal.profiles, journal.instruments, *columns)
    return [cycle for cycle, kept in zip(cycles, keep.tolist(), strict=True) if kept]


@dataclass(frozen=True, slots=True)
class SliceRequest:
    """A slice as the API hands it over, before validation (enum names without prefix; None: unknown value)."""

    accounts: Sequence[tuple[str | None, str]] = ()
    segments: Sequence[str | None] = ()
    exchanges: Sequence[str | None] = ()
    categories: Sequence[str | None] = ()
    strategies: Sequence[str] = ()
    tags: Sequence[str] = ()
    all_tags: bool = False
    symbols: Sequence[str] = ()
    side: str | None = ""
    weekdays: Sequence[int] = ()
    hours: tuple[int, int] | None = None
    tag_match_known: bool = True


def _enum_values(
    field: str, values: Sequence[str | None], allowed: Sequence[str], violations: list[FieldViolation]
) -> frozenset[str]:
    for index, value in enumerate(values):
        if value not in allowed:
            violations.append(FieldViolation(f"{field}[{index}]", f"must be one of {', '.join(allowed)}"))
    return frozenset(v for v in values if v is not None and v in allowed)


def _labels(field: str, values: Sequence[str], limit: int, violations: list[FieldViolation]) -> frozenset[str]:
    keys = set()
    for index, value in enumerate(values):
        key = tag_key(value)
        if not key or len(key) > limit or any(ord(ch) < 32 or ord(ch) == 127 for ch in key):
            violations.append(
                FieldViolation(f"{field}[{index}]", f"must be 1 to {limit} characters without control characters")
            )
        keys.add(key)
    return frozenset(keys)


def build_slice(request: SliceRequest, prefix: str = "slice") -> Slice:
    """Validate a slice request; raise InvalidArgument (reason INVALID_SLICE) naming every bad field."""
    violations: list[FieldViolation] = []
    for name in ("accounts", "segments", "exchanges", "categories", "strategies", "tags", "symbols", "weekdays"):
        if len(getattr(request, name)) > MAX_VALUES:
            violations.append(FieldViolation(f"{prefix}.{name}", f"at most {MAX_VALUES} values"))
    accounts = set()
    for index, (broker, account) in enumerate(request.accounts):
        if broker not in BROKERS:
            violations.append(
                FieldViolation(f"{prefix}.accounts[{index}].broker", f"must be one of {', '.join(BROKERS)}")
            )
        elif broker == "MANUAL" and account:
            violations.append(
                FieldViolation(f"{prefix}.accounts[{index}].broker_account_id", "must be empty for BROKER_MANUAL")
            )
        elif len(account) > MAX_ACCOUNT_ID_LENGTH or account != account.strip():
            violations.append(
                FieldViolation(
                    f"{prefix}.accounts[{index}].broker_account_id",
                    f"at most {MAX_ACCOUNT_ID_LENGTH} characters, trimmed",
                )
            )
        else:
            accounts.add((broker, account))
    segments = _enum_values(f"{prefix}.segments", request.segments, SEGMENTS, violations)
    exchanges = _enum_values(f"{prefix}.exchanges", request.exchanges, EXCHANGES, violations)
    category_names = [c.value for c in CATEGORIES]
    categories = _enum_values(f"{prefix}.categories", request.categories, category_names, violations)
    strategies = _labels(f"{prefix}.strategies", request.strategies, MAX_STRATEGY_LENGTH, violations)
    tags = _labels(f"{prefix}.tags", request.tags, MAX_TAG_LENGTH, violations)
    symbols = set()
    for index, symbol in enumerate(request.symbols):
        upper = symbol.strip().upper()
        if not _SYMBOL.fullmatch(upper):
            violations.append(
                FieldViolation(f"{prefix}.symbols[{index}]", "must be 1 to 64 letters, digits or & . _ - characters")
            )
        symbols.add(upper)
    if not request.tag_match_known:
        violations.append(FieldViolation(f"{prefix}.tag_match", "must be TAG_MATCH_ANY or TAG_MATCH_ALL"))
    long: bool | None = None
    if request.side == "BUY":
        long = True
    elif request.side == "SELL":
        long = False
    elif request.side != "":  # None: a number OpeningSide does not know
        violations.append(FieldViolation(f"{prefix}.side", "must be OPENING_SIDE_BUY or OPENING_SIDE_SELL"))
    for index, day in enumerate(request.weekdays):
        if not 1 <= day <= 7:
            violations.append(FieldViolation(f"{prefix}.weekdays[{index}]", "must be WEEKDAY_MONDAY to WEEKDAY_SUNDAY"))
    hours = request.hours
    if hours is not None:
        if not 0 <= hours[0] <= 23:
            violations.append(FieldViolation(f"{prefix}.hours.start_hour", "must be 0 to 23"))
        if not 1 <= hours[1] <= 24 or hours[1] <= hours[0]:
            violations.append(FieldViolation(f"{prefix}.hours.end_hour", "must be 1 to 24 and after start_hour"))
    if violations:
        raise InvalidArgument("invalid slice", violations, reason="INVALID_SLICE")
    return Slice(
        accounts=frozenset(accounts),
        segments=segments,
        exchanges=exchanges,
        categories=frozenset(Category(c) for c in categories),
        strategies=strategies,
        tags=tags,
        all_tags=request.all_tags,
        symbols=frozenset(symbols),
        long=long,
        weekdays=frozenset(request.weekdays),
        hours=hours,
    )
