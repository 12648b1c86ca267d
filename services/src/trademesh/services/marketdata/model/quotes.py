"""Quotes: modes, sources, one instrument's state after a tick, staleness, and the tick normaliser."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum

from trademesh.kernel.errors import FieldViolation, InvalidArgument
from trademesh.kernel.instruments import Exchange
from trademesh.kernel.ticks import DepthLevel, Tick
from trademesh.services.marketdata.model.instruments import InstrumentKey, ListedInstrument, SymbolUniverse
from trademesh.services.marketdata.model.session import NANOS_PER_SECOND, SessionPolicy, session_open

DEPTH_LEVELS = 5


class Mode(IntEnum):
    """How much of a quote a caller wants (values equal the proto QuoteMode numbers)."""

    LTP = 1
    QUOTE = 2
    FULL = 3


def parse_mode(value: int) -> Mode:
    """Return the mode a request asked for (0: QUOTE); raise InvalidArgument (INVALID_MODE) for unknown values."""
    if value == 0:
        return Mode.QUOTE
    try:
        return Mode(value)
    except ValueError:
        raise InvalidArgument(
            "unknown quote mode", [FieldViolation("mode", f"unknown value {value}")], reason="INVALID_MODE"
        ) from None


class Source(IntEnum):
    """Which feed produced a quote (values equal the proto QuoteSource numbers)."""

    SIMULATED = 1
    KITE_TICKER = 2


@dataclass(frozen=True, slots=True)
class Quote:
    """The full state of one instrument after one accepted tick."""

    key: InstrumentKey
    token: int
    source: Source
    sequence: int
    last_price_micros: int
    receive_time_ns: int
    exchange_time_ns: int = 0
    last_quantity: int = 0
    last_trade_time_ns: int = 0
    average_price_micros: int = 0
    volume: int = 0
    bid_price_micros: int = 0
    bid_quantity: int = 0
    ask_price_micros: int = 0
    ask_quantity: int = 0
    total_buy_quantity: int = 0
    total_sell_quantity: int = 0
    open_micros: int = 0
    high_micros: int = 0
    low_micros: int = 0
    close_micros: int = 0
    open_interest: int = 0
    oi_day_high: int = 0
    oi_day_low: int = 0
    bids: tuple[DepthLevel, ...] = ()
    asks: tuple[DepthLevel, ...] = ()
    stale: bool = False

    @property
    def change_micros(self) -> int:
        """Return last price minus previous close; 0 when either is unknown."""
        if not self.last_price_micros or not self.close_micros:
            return 0
        return self.last_price_micros - self.close_micros

    @property
    def change_percent(self) -> float:
        """Return the change in percent of the previous close (display only)."""
        if not self.last_price_micros or not self.close_micros:
            return 0.0
        return round((self.last_price_micros - self.close_micros) * 100 / self.close_micros, 4)

    def mode_view(self, mode: Mode) -> tuple[object, ...]:
        """Return the values a stream of `mode` sees, to skip ticks that change nothing for it."""
        ltp = (self.last_price_micros, self.close_micros, self.exchange_time_ns)
        if mode is Mode.LTP:
            return ltp
        quote = (
            *ltp,
            self.last_quantity,
            self.last_trade_time_ns,
            self.average_price_micros,
            self.volume,
            self.bid_price_micros,
            self.bid_quantity,
            self.ask_price_micros,
            self.ask_quantity,
            self.total_buy_quantity,
            self.total_sell_quantity,
            self.open_micros,
            self.high_micros,
            self.low_micros,
            self.open_interest,
            self.oi_day_high,
            self.oi_day_low,
        )
        if mode is Mode.QUOTE:
            return quote
        return (*quote, self.bids, self.asks)


def empty_quote(instrument: ListedInstrument, source: Source) -> Quote:
    """Return the quote of a known instrument that has no market data yet (sequence 0, prices 0)."""
    return Quote(
        key=instrument.key, token=instrument.token, source=source, sequence=0, last_price_micros=0, receive_time_ns=0
    )


def is_stale(sequence: int, receive_time_ns: int, now_ns: int, policy: SessionPolicy, threshold_seconds: float) -> bool:
    """Tell whether a quote is stale: session open and no tick for longer than the threshold."""
    if not session_open(now_ns, policy):
        return False
    if sequence == 0:
        return True
    return now_ns - receive_time_ns > threshold_seconds * NANOS_PER_SECOND


class BadTick(ValueError):
    """Raise when a raw tick cannot become a quote (negative price, unknown token, malformed)."""


@dataclass(slots=True)
class RawTick(Tick):
    """A feed-neutral tick before sequencing (prices in micros, times in ns), optionally naming its instrument."""

    key: InstrumentKey | None = None


class Normaliser:
    """Turn raw ticks into sequenced quotes, counting and dropping bad ones.

    Sequence numbers continue from `sequence_floor` per instrument, so they keep increasing across
    ingest restarts and failovers (the caller seeds it from the stored latest quotes and a clock).
    """

    def __init__(self, universe: SymbolUniverse, source: Source) -> None:
        self._universe = universe
        self._source = source
        self._sequences: dict[InstrumentKey, int] = {}
        self.bad_ticks = 0

    def seed_sequences(self, sequences: Mapping[InstrumentKey, int]) -> None:
        """Continue every instrument's sequence above the given values."""
        for key, value in sequences.items():
            self._sequences[key] = max(value, self._sequences.get(key, 0))

    def normalise(self, tick: RawTick, receive_time_ns: int) -> Quote | None:
        """Return the quote for `tick`, or None (counted in `bad_ticks`) when the tick is unusable."""
        try:
            return self._normalise(tick, receive_time_ns)
        except BadTick:
            self.bad_ticks += 1
            return None

    def _normalise(self, tick: RawTick, receive_time_ns: int) -> Quote:
        instrument = self._universe.get(tick.key) if tick.key is not None else self._universe.by_token(tick.token)
        if instrument is None:
            raise BadTick(f"unknown instrument token {tick.token}")
        prices = (tick.last_price_micros, tick.open_micros, tick.high_micros, tick.low_micros, tick.close_micros)
        if instrument.key.exchange is not Exchange.MCX and any(price < 0 for price in prices):
            raise BadTick("negative price")
        if tick.last_price_micros == 0 or tick.volume < 0 or tick.last_quantity < 0:
            raise BadTick("no price or negative quantity")
        if tick.high_micros and tick.low_micros and tick.high_micros < tick.low_micros:
            raise BadTick("day high below day low")
        sequence = self._sequences.get(instrument.key, 0) + 1
        self._sequences[instrument.key] = sequence
        bids = tuple(level for level in tick.bids if level.price_micros > 0 and level.quantity > 0)[:DEPTH_LEVELS]
        asks = tuple(level for level in tick.asks if level.price_micros > 0 and level.quantity > 0)[:DEPTH_LEVELS]
        return Quote(
            key=instrument.key,
            token=instrument.token,
            source=self._source,
            sequence=sequence,
            last_price_micros=tick.last_price_micros,
            receive_time_ns=receive_time_ns,
            exchange_time_ns=tick.exchange_time_ns,
            last_quantity=tick.last_quantity,
            last_trade_time_ns=tick.last_trade_time_ns,
            average_price_micros=tick.average_price_micros,
            volume=tick.volume,
            bid_price_micros=bids[0].price_micros if bids else 0,
            bid_quantity=bids[0].quantity if bids else 0,
            ask_price_micros=asks[0].price_micros if asks else 0,
            ask_quantity=asks[0].quantity if asks else 0,
            total_buy_quantity=tick.total_buy_quantity,
            total_sell_quantity=tick.total_sell_quantity,
            open_micros=tick.open_micros,
            high_micros=tick.high_micros,
            low_micros=tick.low_micros,
            close_micros=tick.close_micros or instrument.previous_close_micros,
            open_interest=tick.open_interest,
            oi_day_high=tick.oi_day_high,
            oi_day_low=tick.oi_day_low,
            bids=bids,
            asks=asks,
        )
