"""The instrument master: Kite's instruments CSV dump, read into lot sizes and expiries per trading symbol.

Kite Connect serves every tradable contract at `GET /instruments` (and `/instruments/{exchange}`) as CSV
with the header `instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,
lot_size,instrument_type,segment,exchange`; `expiry` is `YYYY-MM-DD` or empty, prices and strikes are
rupees as decimals (kiteconnect's `_parse_instruments` reads the same columns). Pure: no I/O.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

__all__ = [
    "KITE_INSTRUMENT_COLUMNS",
    "Instrument",
    "InstrumentMaster",
    "InstrumentMasterError",
    "parse_instruments",
    "rupees_to_micros",
]

KITE_INSTRUMENT_COLUMNS = (
    "instrument_token",
    "exchange_token",
    "tradingsymbol",
    "name",
    "last_price",
    "expiry",
    "strike",
    "tick_size",
    "lot_size",
    "instrument_type",
    "segment",
    "exchange",
)
_MICROS = Decimal(1_000_000)


class InstrumentMasterError(ValueError):
    """The text is not a Kite instruments CSV (the message names the row and column)."""


def rupees_to_micros(text: str) -> int:
    """Return a decimal rupee amount as integer micros, exactly; raise ValueError past 6 decimal places."""
    try:
        value = Decimal(text.strip()) * _MICROS
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None
    if not value.is_finite() or value != value.to_integral_value():
        raise ValueError(f"{text!r} is not a whole number of micros")
    return int(value)


@dataclass(frozen=True, slots=True)
class Instrument:
    """One row of the master (money in integer micros)."""

    instrument_token: int
    exchange_token: int
    tradingsymbol: str
    name: str
    last_price_micros: int
    expiry: date | None
    strike_micros: int
    tick_size_micros: int
    #: Units per lot; 0 for what does not trade in lots (Kite lists indices with 0).
    lot_size: int
    #: EQ, FUT, CE or PE.
    instrument_type: str
    #: Kite's segment (NSE, NFO-FUT, NFO-OPT, BFO-OPT, INDICES, ...).
    segment: str
    exchange: str


@dataclass(frozen=True, slots=True)
class InstrumentMaster:
    """The instruments of one dump, by (exchange, tradingsymbol)."""

    instruments: dict[tuple[str, str], Instrument]

    def get(self, exchange: str, tradingsymbol: str) -> Instrument | None:
        """Return the instrument listed under this exchange and trading symbol, if any."""
        return self.instruments.get((exchange.upper(), tradingsymbol.upper()))

    def lot_size(self, exchange: str, tradingsymbol: str) -> int | None:
        """Return the contract's lot size (units per lot), or None when not listed or not traded in lots."""
        instrument = self.get(exchange, tradingsymbol)
        return instrument.lot_size if instrument is not None and instrument.lot_size > 0 else None

    def expiry(self, exchange: str, tradingsymbol: str) -> date | None:
        """Return the contract's expiry date, or None when not listed or not a derivative."""
        instrument = self.get(exchange, tradingsymbol)
        return instrument.expiry if instrument is not None else None

    def __len__(self) -> int:
        return len(self.instruments)


def _row_of(number: int, row: dict[str, str]) -> Instrument:
    column = ""
    try:
        column = "instrument_token"
        token = int(row[column])
        column = "exchange_token"
        exchange_token = int(row[column] or 0)
        column = "last_price"
        last_price = rupees_to_micros(row[column] or "0")
        column = "expiry"
        expiry = date.fromisoformat(row[column]) if row[column] else None
        column = "strike"
        strike = rupees_to_micros(row[column] or "0")
        column = "tick_size"
        tick = rupees_to_micros(row[column] or "0")
        column = "lot_size"
        lot = int(row[column])
        if lot < 0:
            raise ValueError("lot_size must be >= 0")
    except (ValueError, TypeError) as error:
        raise InstrumentMasterError(f"row {number}, column {column}: {error}") from None
    symbol = row["tradingsymbol"].strip().upper()
    exchange = row["exchange"].strip().upper()
    if not symbol or not exchange:
        raise InstrumentMasterError(f"row {number}: tradingsymbol and exchange are required")
    return Instrument(
        instrument_token=token,
        exchange_token=exchange_token,
        tradingsymbol=symbol,
        name=row["name"],
        last_price_micros=last_price,
        expiry=expiry,
        strike_micros=strike,
        tick_size_micros=tick,
        lot_size=lot,
        instrument_type=row["instrument_type"].strip().upper(),
        segment=row["segment"].strip().upper(),
        exchange=exchange,
    )


def parse_instruments(text: str) -> InstrumentMaster:
    """Parse a Kite instruments CSV (header row first); a later row for the same symbol wins."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [name for name in KITE_INSTRUMENT_COLUMNS if name not in (reader.fieldnames or ())]
    if missing:
        raise InstrumentMasterError(f"missing columns: {', '.join(missing)}")
    instruments: dict[tuple[str, str], Instrument] = {}
    for number, row in enumerate(reader, start=2):
        instrument = _row_of(number, row)
        instruments[(instrument.exchange, instrument.tradingsymbol)] = instrument
    return InstrumentMaster(instruments)
