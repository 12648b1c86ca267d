"""Instruments: keys, the served symbol universe, prices in micros and how requests name instruments."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from trademesh.kernel.errors import FieldViolation, InvalidArgument
from trademesh.kernel.instruments import MAX_SYMBOL_LENGTH, SYMBOL_PATTERN, Exchange

MICROS_PER_RUPEE = 1_000_000
NSE_TICK_MICROS = 50_000  # ₹0.05


@dataclass(frozen=True, slots=True)
class InstrumentKey:
    """One instrument: exchange and trading symbol."""

    exchange: Exchange
    symbol: str

    def __str__(self) -> str:
        return f"{self.exchange.value}:{self.symbol}"

    @classmethod
    def parse(cls, text: str) -> InstrumentKey:
        """Parse `EXCHANGE:SYMBOL`."""
        exchange, _, symbol = text.partition(":")
        return cls(Exchange(exchange), symbol)


@dataclass(frozen=True, slots=True)
class ListedInstrument:
    """An instrument the service knows: its Kite token, tick size and previous close."""

    key: InstrumentKey
    token: int
    tick_micros: int
    previous_close_micros: int


class SymbolUniverse:
    """The instruments the service serves, by key and by Kite instrument token."""

    def __init__(self, instruments: Iterable[ListedInstrument]) -> None:
        self._by_key: dict[InstrumentKey, ListedInstrument] = {}
        self._by_token: dict[int, ListedInstrument] = {}
        self._by_name: dict[str, ListedInstrument] = {}
        for instrument in instruments:
            self._by_key[instrument.key] = instrument
            self._by_name[str(instrument.key)] = instrument
            if instrument.token:
                self._by_token[instrument.token] = instrument

    @classmethod
    def from_csv(cls, path: Path) -> SymbolUniverse:
        """Load `exchange,symbol,instrument_token,tick_size,previous_close` rows (prices in rupees)."""
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.DictReader(line for line in handle if not line.startswith("#"))]
        return cls(
            ListedInstrument(
                key=InstrumentKey(Exchange(row["exchange"].strip()), row["symbol"].strip()),
                token=int(row["instrument_token"] or 0),
                tick_micros=rupees_to_micros(row["tick_size"]),
                previous_close_micros=rupees_to_micros(row["previous_close"]),
            )
            for row in rows
        )

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self) -> Iterator[ListedInstrument]:
        return iter(self._by_key.values())

    def get(self, key: InstrumentKey) -> ListedInstrument | None:
        """Return the instrument, or None when unknown."""
        return self._by_key.get(key)

    def get_by_name(self, name: str) -> ListedInstrument:
        """Return the instrument named `EXCHANGE:SYMBOL` (KeyError when unknown)."""
        return self._by_name[name]

    def by_token(self, token: int) -> ListedInstrument | None:
        """Return the instrument with Kite token `token`, or None."""
        return self._by_token.get(token)

    @property
    def tokens(self) -> list[int]:
        """Return every known Kite token."""
        return list(self._by_token)


def rupees_to_micros(text: str | float) -> int:
    """Convert a rupee amount written in decimal (`"1573.70"`) to integer micros without float drift."""
    value = str(text).strip()
    negative = value.startswith("-")
    whole, _, fraction = value.lstrip("+-").partition(".")
    micros = int(whole or 0) * MICROS_PER_RUPEE + int((fraction + "000000")[:6] or 0)
    return -micros if negative else micros


@dataclass(frozen=True, slots=True)
class RequestedInstrument:
    """An instrument as a request spelled it: exchange name ("" when unspecified) and symbol."""

    exchange: str
    symbol: str


def validate_instruments(
    requested: Sequence[RequestedInstrument],
    *,
    field_name: str,
    limit: int,
) -> list[InstrumentKey]:
    """Return the distinct well-formed instruments in request order; raise InvalidArgument otherwise."""
    violations: list[FieldViolation] = []
    keys: list[InstrumentKey] = []
    seen: set[InstrumentKey] = set()
    for index, item in enumerate(requested):
        key = _validate_one(item, f"{field_name}[{index}]", violations)
        if key is not None and key not in seen:
            seen.add(key)
            keys.append(key)
    if violations:
        raise InvalidArgument("malformed instrument", violations, reason="INVALID_INSTRUMENT")
    if not requested:
        raise InvalidArgument(
            "at least one instrument is required",
            [FieldViolation(field_name, "must not be empty")],
            reason="NO_INSTRUMENTS",
        )
    if len(keys) > limit:
        raise InvalidArgument(
            f"at most {limit} distinct instruments per request",
            [FieldViolation(field_name, f"{len(keys)} distinct instruments; the limit is {limit}")],
            reason="TOO_MANY_INSTRUMENTS",
            metadata={"limit": str(limit), "requested": str(len(keys))},
        )
    return keys


def validate_instrument(item: RequestedInstrument | None, field_name: str) -> InstrumentKey:
    """Return the instrument's key or raise InvalidArgument (reason INVALID_INSTRUMENT)."""
    violations: list[FieldViolation] = []
    if item is None:
        violations.append(FieldViolation(field_name, "is required"))
        key = None
    else:
        key = _validate_one(item, field_name, violations)
    if key is None:
        raise InvalidArgument("malformed instrument", violations, reason="INVALID_INSTRUMENT")
    return key


def _validate_one(item: RequestedInstrument, path: str, violations: list[FieldViolation]) -> InstrumentKey | None:
    ok = True
    if not SYMBOL_PATTERN.match(item.symbol):
        violations.append(
            FieldViolation(
                f"{path}.symbol", f"must be 1-{MAX_SYMBOL_LENGTH} characters of A-Z, 0-9 and & - _ . (upper-case)"
            )
        )
        ok = False
    exchange: Exchange | None = None
    try:
        exchange = Exchange(item.exchange)
    except ValueError:
        violations.append(FieldViolation(f"{path}.exchange", "must be a known exchange, not EXCHANGE_UNSPECIFIED"))
        ok = False
    return InstrumentKey(exchange, item.symbol) if ok and exchange is not None else None


def unknown_instruments_error(unknown: Sequence[tuple[int, InstrumentKey]], field_name: str) -> InvalidArgument:
    """Build the UNKNOWN_INSTRUMENTS error listing each unknown instrument by its request index."""
    return InvalidArgument(
        f"{len(unknown)} unknown instruments, first {', '.join(str(key) for _, key in unknown[:5])}",
        [FieldViolation(f"{field_name}[{index}]", f"unknown instrument {key}") for index, key in unknown],
        reason="UNKNOWN_INSTRUMENTS",
    )
