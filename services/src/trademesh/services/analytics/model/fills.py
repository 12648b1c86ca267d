"""A journal's fills: the fill value, trade categories, and fills as columns (what matching works on).

Money is exact: ints in INR micros; quantities in micro-units. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from trademesh.kernel.instruments import EXCHANGE_ORDER

QUANTITY_SCALE = 1_000_000
_EXCHANGE_RANK: dict[str, int] = {exchange.value: rank for exchange, rank in EXCHANGE_ORDER.items()}

Instrument = tuple[str, str]
"""An instrument key: (symbol, exchange name)."""


def instrument_order(instrument: Instrument) -> tuple[str, int]:
    """Return the sort key "symbol, then exchange ascending" (exchanges in the proto enum's order)."""
    return instrument[0], _EXCHANGE_RANK.get(instrument[1], len(_EXCHANGE_RANK))


class FillProfile(NamedTuple):
    """A trade's attributes a slice looks at besides instrument, side, time and category."""

    broker: str = "MANUAL"
    account: str = ""
    segment: str = ""
    #: The strategy, trimmed and case-folded ("" without one).
    strategy: str = ""
    #: The tags, trimmed and case-folded.
    tags: frozenset[str] = frozenset()


NO_PROFILE = FillProfile()


def tag_key(tag: str) -> str:
    """Return the form tags and strategies are compared in (trimmed, case-folded)."""
    return tag.strip().casefold()


def profile_of(
    broker: str | None, account: str | None, segment: str | None, strategy: str | None, tags: Iterable[str]
) -> FillProfile:
    """Return a trade's profile from its stored fields (missing ones read as a manual trade's)."""
    return FillProfile(
        broker=broker or "MANUAL",
        account=account or "",
        segment=segment or "",
        strategy=tag_key(strategy or ""),
        tags=frozenset(tag_key(tag) for tag in tags if tag_key(tag)),
    )


class Category(StrEnum):
    """Holding-style category of a round trip (of its opening fill's trade)."""

    INTRADAY = "INTRADAY"
    SWING = "SWING"
    LONG_TERM = "LONG_TERM"
    UNCATEGORIZED = "UNCATEGORIZED"


@dataclass(frozen=True, slots=True)
class JournalFill:
    """One ACTIVE trade of the journal as analytics needs it."""

    trade_id: str
    symbol: str
    exchange: str
    buy: bool
    quantity_micros: int
    price_micros: int
    fees_micros: int
    time_us: int
    #: Journal order among fills with the same time: (create time, exec_seq, trade id), as the trade
    #: service sorts (trademesh.trade.v1.Trade.exec_seq).
    create_time_us: int
    category: Category
    #: The trade's version (events with an older or equal version are stale).
    trade_version: int = 1
    #: Execution order within the batch that created the trade (0 for manual trades).
    exec_seq: int = 0
    #: The planned risk (1R) of the position this fill opens, INR micros; 0: no plan (decision 0230).
    planned_risk_micros: int = 0
    #: The trade's account, segment, strategy and tags: what slices look at (decision 0250).
    profile: FillProfile = NO_PROFILE

    @property
    def order(self) -> tuple[int, int, int, str]:
        """Return the journal order key: execution time, then create time, then exec_seq, then trade id."""
        return self.time_us, self.create_time_us, self.exec_seq, self.trade_id

    @property
    def instrument(self) -> Instrument:
        """Return the instrument key."""
        return self.symbol, self.exchange


CATEGORIES = tuple(Category)
CATEGORY_CODES = {category: code for code, category in enumerate(CATEGORIES)}

Column = npt.NDArray[Any]
"""One column of a journal: int64, or exact Python ints (object) for astronomically large amounts."""


@dataclass(frozen=True, slots=True)
class FillColumns:
    """A journal's fills as columns (what the database adapter and recomputes work with)."""

    trade_ids: list[str]
    #: The distinct instruments; `instrument` holds each fill's index into this table.
    instrument_table: list[Instrument]
    instrument: npt.NDArray[np.int64]
    buy: npt.NDArray[np.bool_]
    quantity_micros: npt.NDArray[np.int64]
    price_micros: npt.NDArray[np.int64]
    fees_micros: npt.NDArray[np.int64]
    time_us: npt.NDArray[np.int64]
    create_time_us: npt.NDArray[np.int64]
    category: npt.NDArray[np.int8]
    trade_version: npt.NDArray[np.int64]
    exec_seq: npt.NDArray[np.int64]
    #: Each fill's planned risk (0: none), see JournalFill.planned_risk_micros.
    planned_risk_micros: npt.NDArray[Any]
    #: The distinct profiles (decision 0250); `profile` holds each fill's index into this table.
    profile_table: list[FillProfile] = field(default_factory=lambda: [NO_PROFILE])
    profile: npt.NDArray[np.int64] | None = None

    def profile_codes(self) -> npt.NDArray[np.int64]:
        """Return each fill's index into `profile_table` (all 0: no profile, when not given)."""
        return self.profile if self.profile is not None else np.zeros(len(self.trade_ids), dtype=np.int64)

    @classmethod
    def of(cls, fills: Sequence[JournalFill]) -> FillColumns:
        """Return fills as columns."""
        table: dict[Instrument, int] = {}
        codes = [table.setdefault((f.symbol, f.exchange), len(table)) for f in fills]
        profiles: dict[FillProfile, int] = {NO_PROFILE: 0}
        profile_codes = [profiles.setdefault(f.profile, len(profiles)) for f in fills]
        return cls(
            trade_ids=[f.trade_id for f in fills],
            instrument_table=list(table),
            instrument=np.array(codes, dtype=np.int64),
            buy=np.fromiter((f.buy for f in fills), dtype=np.bool_, count=len(fills)),
            quantity_micros=_ints([f.quantity_micros for f in fills]),
            price_micros=_ints([f.price_micros for f in fills]),
            fees_micros=_ints([f.fees_micros for f in fills]),
            time_us=np.array([f.time_us for f in fills], dtype=np.int64),
            create_time_us=np.array([f.create_time_us for f in fills], dtype=np.int64),
            category=np.array([CATEGORY_CODES[f.category] for f in fills], dtype=np.int8),
            trade_version=np.array([f.trade_version for f in fills], dtype=np.int64),
            exec_seq=np.array([f.exec_seq for f in fills], dtype=np.int64),
            planned_risk_micros=_ints([f.planned_risk_micros for f in fills]),
            profile_table=list(profiles),
            profile=np.array(profile_codes, dtype=np.int64),
        )

    def __len__(self) -> int:
        return len(self.trade_ids)

    def fill(self, index: int) -> JournalFill:
        """Return one fill as an object."""
        symbol, exchange = self.instrument_table[int(self.instrument[index])]
        return JournalFill(
            trade_id=self.trade_ids[index],
            symbol=symbol,
            exchange=exchange,
            buy=bool(self.buy[index]),
            quantity_micros=int(self.quantity_micros[index]),
            price_micros=int(self.price_micros[index]),
            fees_micros=int(self.fees_micros[index]),
            time_us=int(self.time_us[index]),
            create_time_us=int(self.create_time_us[index]),
            category=CATEGORIES[int(self.category[index])],
            trade_version=int(self.trade_version[index]),
            exec_seq=int(self.exec_seq[index]),
            planned_risk_micros=int(self.planned_risk_micros[index]),
            profile=self.profile_table[int(self.profile_codes()[index])],
        )

    def ordered(self) -> FillColumns:
        """Return the fills in journal order (time, create time, exec_seq, trade id)."""
        time, create, sequence = self.time_us, self.create_time_us, self.exec_seq
        same_time = time[1:] == time[:-1]
        same_create = same_time & (create[1:] == create[:-1])
        if not np.any(
            (time[1:] < time[:-1])
            | (same_time & (create[1:] < create[:-1]))
            | (same_create & (sequence[1:] <= sequence[:-1]))
        ):
            return self  # already in journal order without ties (what the database adapter returns)
        order = np.lexsort((sequence, create, time))
        time, create, sequence = time[order], create[order], sequence[order]
        if np.any((time[1:] == time[:-1]) & (create[1:] == create[:-1]) & (sequence[1:] == sequence[:-1])):
            # Full ties on (time, create time, exec_seq) are rare: break them by trade id in Python.
            order = np.array(
                sorted(
                    range(len(self)),
                    key=lambda i: (
                        self.time_us[i],
                        self.create_time_us[i],
                        self.exec_seq[i],
                        self.trade_ids[i],
                    ),
                ),
                dtype=np.int64,
            )
        elif np.all(order[1:] > order[:-1]):
            return self
        return self.take(order)

    def concat(self, other: FillColumns) -> FillColumns:
        """Return these fills followed by `other`'s (instrument codes remapped into one table)."""
        table = {instrument: code for code, instrument in enumerate(self.instrument_table)}
        remap = np.array(
            [table.setdefault(instrument, len(table)) for instrument in other.instrument_table], dtype=np.int64
        )
        other_codes = remap[other.instrument] if len(other) else other.instrument
        profiles = {profile: code for code, profile in enumerate(self.profile_table)}
        profile_remap = np.array(
            [profiles.setdefault(profile, len(profiles)) for profile in other.profile_table], dtype=np.int64
        )
        other_profiles = profile_remap[other.profile_codes()] if len(other) else other.profile_codes()

        def join(a: Column, b: Column) -> Column:
            if a.dtype == object or b.dtype == object:
                return np.concatenate((a.astype(object), b.astype(object)))
            return np.concatenate((a, b))

        return FillColumns(
            trade_ids=self.trade_ids + other.trade_ids,
            instrument_table=list(table),
            instrument=np.concatenate((self.instrument, other_codes)).astype(np.int64),
            buy=np.concatenate((self.buy, other.buy)),
            quantity_micros=join(self.quantity_micros, other.quantity_micros),
            price_micros=join(self.price_micros, other.price_micros),
            fees_micros=join(self.fees_micros, other.fees_micros),
            time_us=np.concatenate((self.time_us, other.time_us)),
            create_time_us=np.concatenate((self.create_time_us, other.create_time_us)),
            category=np.concatenate((self.category, other.category)),
            trade_version=np.concatenate((self.trade_version, other.trade_version)),
            exec_seq=np.concatenate((self.exec_seq, other.exec_seq)),
            planned_risk_micros=join(self.planned_risk_micros, other.planned_risk_micros),
            profile_table=list(profiles),
            profile=np.concatenate((self.profile_codes(), other_profiles)).astype(np.int64),
        )

    def take(self, indices: npt.NDArray[np.int64]) -> FillColumns:
        """Return the fills at `indices`, in that order."""
        return FillColumns(
            trade_ids=[self.trade_ids[i] for i in indices.tolist()],
            instrument_table=self.instrument_table,
            instrument=self.instrument[indices],
            buy=self.buy[indices],
            quantity_micros=self.quantity_micros[indices],
            price_micros=self.price_micros[indices],
            fees_micros=self.fees_micros[indices],
            time_us=self.time_us[indices],
            create_time_us=self.create_time_us[indices],
            category=self.category[indices],
            trade_version=self.trade_version[indices],
            exec_seq=self.exec_seq[indices],
            planned_risk_micros=self.planned_risk_micros[indices],
            profile_table=self.profile_table,
            profile=self.profile_codes()[indices],
        )


class FillColumnsBuilder:
    """Collect fills field by field (a database cursor's rows) into FillColumns without fill objects."""

    def __init__(self) -> None:
        self._table: dict[Instrument, int] = {}
        self._ids: list[str] = []
        self._codes: list[int] = []
        self._buy: list[bool] = []
        self._quantity: list[int] = []
        self._price: list[int] = []
        self._fees: list[int] = []
        self._time: list[int] = []
        self._create: list[int] = []
        self._category: list[int] = []
        self._version: list[int] = []
        self._sequence: list[int] = []
        self._risk: list[int] = []
        self._profiles: dict[FillProfile, int] = {NO_PROFILE: 0}
        self._profile: list[int] = []

    def add(
        self,
        trade_id: str,
        instrument: Instrument,
        buy: bool,
        quantity_micros: int,
        price_micros: int,
        fees_micros: int,
        time_us: int,
        create_time_us: int,
        category: Category,
        trade_version: int,
        exec_seq: int = 0,
        planned_risk_micros: int = 0,
        profile: FillProfile = NO_PROFILE,
    ) -> None:
        """Add one fill."""
        table = self._table
        self._ids.append(trade_id)
        self._codes.append(table.setdefault(instrument, len(table)))
        self._buy.append(buy)
        self._quantity.append(quantity_micros)
        self._price.append(price_micros)
        self._fees.append(fees_micros)
        self._time.append(time_us)
        self._create.append(create_time_us)
        self._category.append(CATEGORY_CODES[category])
        self._version.append(trade_version)
        self._sequence.append(exec_seq)
        self._risk.append(planned_risk_micros)
        profiles = self._profiles
        self._profile.append(profiles.setdefault(profile, len(profiles)))

    def build(self) -> FillColumns:
        """Return the collected fills as columns."""
        return FillColumns(
            trade_ids=self._ids,
            instrument_table=list(self._table),
            instrument=np.array(self._codes, dtype=np.int64),
            buy=np.array(self._buy, dtype=np.bool_),
            quantity_micros=_ints(self._quantity),
            price_micros=_ints(self._price),
            fees_micros=_ints(self._fees),
            time_us=np.array(self._time, dtype=np.int64),
            create_time_us=np.array(self._create, dtype=np.int64),
            category=np.array(self._category, dtype=np.int8),
            trade_version=np.array(self._version, dtype=np.int64),
            exec_seq=np.array(self._sequence, dtype=np.int64),
            planned_risk_micros=_ints(self._risk),
            profile_table=list(self._profiles),
            profile=np.array(self._profile, dtype=np.int64),
        )


def _ints(values: list[int]) -> npt.NDArray[Any]:
    # int64 when every value fits; exact Python ints (object) for the astronomically large.
    try:
        return np.array(values, dtype=np.int64)
    except OverflowError:
        return np.array(values, dtype=object)


class ChangeKind(StrEnum):
    """What a trade event means for the journal."""

    UPSERT = "UPSERT"
    REMOVE = "REMOVE"


@dataclass(frozen=True, slots=True)
class JournalChange:
    """One trade event, decoded: the fill to add/replace, or the trade to drop."""

    user_id: str
    journal_version: int
    kind: ChangeKind
    trade_id: str
    trade_version: int
    fill: JournalFill | None = None
