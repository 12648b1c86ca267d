"""Market-data rules: instruments, the symbol universe, quotes, the simulator, bars and conflation.

Pure logic over plain dataclasses; no gRPC, protobuf, database or Redis imports. Prices are integer
INR micros (1 INR = 1,000,000 micros) and times integer nanoseconds since the Unix epoch (0 = unset),
so nothing here rounds money through floats.
"""

from __future__ import annotations

import csv
import math
import random
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta, timezone
from enum import IntEnum, StrEnum
from pathlib import Path

from trademesh.kernel.errors import FieldViolation, InvalidArgument

MICROS_PER_RUPEE = 1_000_000
NSE_TICK_MICROS = 50_000  # ₹0.05
NANOS_PER_SECOND = 1_000_000_000
MINUTE_NANOS = 60 * NANOS_PER_SECOND
IST = timezone(timedelta(hours=5, minutes=30), "IST")
SESSION_OPEN = time(9, 15)
SESSION_CLOSE = time(15, 30)
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9&\-_.]{1,64}$")
DEPTH_LEVELS = 5


class Exchange(StrEnum):
    """Venues, named as brokers name them (the proto enum's suffixes)."""

    NSE = "NSE"
    BSE = "BSE"
    NFO = "NFO"
    BFO = "BFO"
    MCX = "MCX"
    CDS = "CDS"
    BCD = "BCD"


class Mode(IntEnum):
    """How much of a quote a caller wants (values equal the proto QuoteMode numbers)."""

    LTP = 1
    QUOTE = 2
    FULL = 3


class Source(IntEnum):
    """Which feed produced a quote (values equal the proto QuoteSource numbers)."""

    SIMULATED = 1
    KITE_TICKER = 2


class SessionPolicy(StrEnum):
    """When the market counts as open: real NSE hours, or forced open/closed for demos and tests."""

    EXCHANGE = "exchange"
    ALWAYS_OPEN = "always_open"
    ALWAYS_CLOSED = "always_closed"


def session_open(now_ns: int, policy: SessionPolicy) -> bool:
    """Tell whether the cash session is open at `now_ns` (Mon-Fri 09:15-15:30 IST; no holiday list)."""
    if policy is SessionPolicy.ALWAYS_OPEN:
        return True
    if policy is SessionPolicy.ALWAYS_CLOSED:
        return False
    local = datetime.fromtimestamp(now_ns / NANOS_PER_SECOND, IST)
    return local.weekday() < 5 and SESSION_OPEN <= local.time() < SESSION_CLOSE


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


# ---------------------------------------------------------------- requests


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
            FieldViolation(f"{path}.symbol", "must be 1-64 characters of A-Z, 0-9 and & - _ . (upper-case)")
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


def effective_rate(requested: int, default: int, maximum: int) -> int:
    """Apply the default (for 0) and clamp to the maximum."""
    if requested <= 0:
        return default
    return min(requested, maximum)


# ---------------------------------------------------------------- quotes


@dataclass(frozen=True, slots=True)
class DepthLevel:
    """One order-book level."""

    price_micros: int
    quantity: int
    orders: int


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
class RawTick:
    """A feed-neutral tick before sequencing (prices in micros, times in ns)."""

    token: int
    last_price_micros: int
    exchange_time_ns: int = 0
    last_quantity: int = 0
    last_trade_time_ns: int = 0
    average_price_micros: int = 0
    volume: int = 0
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


# ---------------------------------------------------------------- simulator


@dataclass(frozen=True, slots=True)
class SimulationParameters:
    """Shape of the simulated market."""

    seed: int = 42
    ticks_per_second: float = 200.0
    burstiness: float = 0.3
    """0 = a steady Poisson stream; towards 1 the rate swings harder between calm and busy spells."""
    volatility_ticks: float = 2.0
    """Typical size of one price move, in exchange ticks."""


@dataclass(slots=True)
class _SimState:
    instrument: ListedInstrument
    last_micros: int
    open_micros: int = 0
    high_micros: int = 0
    low_micros: int = 0
    volume: int = 0
    turnover_micros: int = 0


class SimulatedMarket:
    """A deterministic random-walk market over a universe: same seed, same tick sequence.

    Prices move on the instrument's tick size (₹0.05 for NSE cash), never below one tick; each tick
    carries a bid/ask one to three ticks around the last price, a 5-level book, a traded quantity
    and the day's OHLC, volume and VWAP.
    """

    def __init__(self, universe: SymbolUniverse, parameters: SimulationParameters) -> None:
        self._parameters = parameters
        self._random = random.Random(parameters.seed)
        self._states = [
            _SimState(instrument, instrument.previous_close_micros or 100 * MICROS_PER_RUPEE)
            for instrument in sorted(universe, key=lambda item: str(item.key))
        ]
        self._intensity = 1.0

    def next_tick(self, exchange_time_ns: int) -> RawTick:
        """Return the next tick of the sequence (the instrument is chosen uniformly at random)."""
        rng = self._random
        state = self._states[rng.randrange(len(self._states))]
        tick_size = state.instrument.tick_micros or NSE_TICK_MICROS
        step = round(rng.gauss(0.0, self._parameters.volatility_ticks))
        # A gentle pull back towards the previous close keeps a long run from drifting off.
        anchor = state.instrument.previous_close_micros or state.last_micros
        if state.last_micros > anchor * 1.08:
            step -= 1
        elif state.last_micros < anchor * 0.92:
            step += 1
        price = max(tick_size, state.last_micros + step * tick_size)
        quantity = int(rng.choice((1, 1, 2, 5, 10, 25, 50, 100)) * rng.randint(1, 20))
        state.last_micros = price
        if not state.open_micros:
            state.open_micros = state.high_micros = state.low_micros = price
        state.high_micros = max(state.high_micros, price)
        state.low_micros = min(state.low_micros, price)
        state.volume += quantity
        state.turnover_micros += price * quantity
        bids = []
        asks = []
        bid = price - tick_size * rng.randint(1, 3)
        ask = price + tick_size * rng.randint(1, 3)
        for level in range(DEPTH_LEVELS):
            bid_price = bid - level * tick_size
            if bid_price > 0:
                bids.append(DepthLevel(bid_price, rng.randint(1, 60) * 25, rng.randint(1, 30)))
            asks.append(DepthLevel(ask + level * tick_size, rng.randint(1, 60) * 25, rng.randint(1, 30)))
        average = state.turnover_micros // state.volume
        return RawTick(
            token=state.instrument.token,
            key=state.instrument.key,
            last_price_micros=price,
            exchange_time_ns=exchange_time_ns,
            last_quantity=quantity,
            last_trade_time_ns=exchange_time_ns,
            average_price_micros=average - average % 10_000,
            volume=state.volume,
            total_buy_quantity=sum(level.quantity for level in bids) * 40,
            total_sell_quantity=sum(level.quantity for level in asks) * 40,
            open_micros=state.open_micros,
            high_micros=state.high_micros,
            low_micros=state.low_micros,
            close_micros=state.instrument.previous_close_micros,
            bids=tuple(bids),
            asks=tuple(asks),
        )

    def ticks_due(self, elapsed_seconds: float) -> int:
        """Return how many ticks to emit in the next `elapsed_seconds` (Poisson, bursty intensity)."""
        rng = self._random
        burstiness = self._parameters.burstiness
        if burstiness > 0:
            # A mean-one log-normal intensity that drifts: calm and busy spells, same average rate.
            sigma = burstiness
            target = math.exp(rng.gauss(-sigma * sigma / 2, sigma))
            self._intensity += (target - self._intensity) * min(1.0, elapsed_seconds * 2)
        mean = self._parameters.ticks_per_second * elapsed_seconds * max(self._intensity, 0.0)
        return _poisson(rng, mean)


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit = math.exp(-mean)
    count = 0
    product = rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


# ---------------------------------------------------------------- bars


@dataclass(slots=True)
class Bar:
    """One 1-minute OHLCV bar (volume = increase of the day's cumulative volume)."""

    key: InstrumentKey
    start_ns: int
    open_micros: int
    high_micros: int
    low_micros: int
    close_micros: int
    volume: int = 0
    open_interest: int = 0
    complete: bool = False


@dataclass(slots=True)
class _BarState:
    bar: Bar
    last_cumulative_volume: int


class BarAggregator:
    """Build 1-minute bars from quotes; a bar completes when its instrument's next minute begins.

    `add` returns the bars that completed; `flush_due(now)` also completes bars whose minute has
    ended without a newer tick, so quiet instruments' bars are not held open forever.
    """

    def __init__(self) -> None:
        self._open: dict[InstrumentKey, _BarState] = {}
        self._volumes: dict[InstrumentKey, int] = {}

    def add(self, quote: Quote) -> list[Bar]:
        """Fold one quote into its instrument's bar; return bars that completed."""
        timestamp = quote.exchange_time_ns or quote.receive_time_ns
        start = timestamp - timestamp % MINUTE_NANOS
        price = quote.last_price_micros
        previous_volume = self._volumes.get(quote.key)
        # The first tick seen carries the day's volume so far: only later increases belong to bars.
        traded = 0 if previous_volume is None else max(0, quote.volume - previous_volume)
        if previous_volume is None or quote.volume >= previous_volume:
            self._volumes[quote.key] = quote.volume
        completed: list[Bar] = []
        state = self._open.get(quote.key)
        if state is not None and state.bar.start_ns != start:
            if start < state.bar.start_ns:
                return completed  # out-of-order tick from an earlier minute: its bar is gone
            state.bar.complete = True
            completed.append(state.bar)
            state = None
        if state is None:
            bar = Bar(quote.key, start, price, price, price, price, traded, quote.open_interest)
            self._open[quote.key] = _BarState(bar, quote.volume)
        else:
            bar = state.bar
            bar.high_micros = max(bar.high_micros, price)
            bar.low_micros = min(bar.low_micros, price)
            bar.close_micros = price
            bar.volume += traded
            bar.open_interest = quote.open_interest
        return completed

    def flush_due(self, now_ns: int) -> list[Bar]:
        """Complete and return bars whose minute ended before `now_ns`."""
        current = now_ns - now_ns % MINUTE_NANOS
        completed = []
        for key, state in list(self._open.items()):
            if state.bar.start_ns < current:
                state.bar.complete = True
                completed.append(state.bar)
                del self._open[key]
        return completed

    def open_bars(self) -> list[Bar]:
        """Return copies of the running (incomplete) bars."""
        return [replace(state.bar) for state in self._open.values()]


def minute_floor(ns: int) -> int:
    """Return the start of the minute containing `ns`."""
    return ns - ns % MINUTE_NANOS


def utc_day(ns: int) -> str:
    """Return the UTC calendar day (YYYY-MM-DD) of `ns`; bars are stored one document per day."""
    return datetime.fromtimestamp(ns / NANOS_PER_SECOND, UTC).strftime("%Y-%m-%d")


# ---------------------------------------------------------------- streams


def batch_cadence(rate: int, batch_interval: float) -> float:
    """Return a stream's time between batches: `batch_interval` stretched to divide `1 / rate`.

    An instrument may be sent again `1 / rate` after its last send. With batches every 0.1 s and
    a cap of 4/s (0.25 s), a held instrument is free between two batches and waits for the next
    one: 0.3 s, not 0.25 s - the tail of the tick-to-client latency. The cadence is the shortest
    whole fraction of `1 / rate` that is not shorter than `batch_interval` (4/s: 0.125 s; 10/s:
    0.1 s; 3/s: 0.111 s), so a held instrument leaves exactly when it is free, fewer batches are
    sent, and there is still at most one batch per `batch_interval`.
    """
    spacing = 1.0 / rate
    if spacing <= batch_interval:
        return batch_interval
    # A hair over the exact fraction, so `parts` cadences never add up to less than the spacing.
    return spacing / int(spacing / batch_interval + 1e-9) + 1e-9


@dataclass(slots=True)
class StreamConflator:
    """Per-stream pending updates with per-instrument conflation and a per-instrument rate cap.

    `offer` is O(1): the newest update of an instrument replaces an unsent older one (counted as
    conflated). `take` returns the updates that may be sent now. The cap spaces an instrument's
    sends at least `1 / rate` seconds apart (a GCRA with a burst of one), so there are never more
    than `rate` in any one-second window *and* an update never waits longer than one interval.
    (A "`rate` sends per sliding second" window would allow a burst of `rate` and then hold the
    newest price for most of a second: that was the p99 latency of the fan-out benchmark.)
    Memory is bounded by the number of instruments, whatever the tick rate or client speed.
    """

    rate: int
    pending: dict[str, object] = field(default_factory=dict)
    conflated: int = 0
    _last_sent: dict[str, float] = field(default_factory=dict)

    def offer(self, key: str, update: object) -> None:
        """Queue `update` for instrument `key`, replacing (and counting) an unsent older one."""
        if key in self.pending:
            self.conflated += 1
        self.pending[key] = update

    def take(self, now: float) -> tuple[list[object], float | None]:
        """Return the sendable updates and, when some must wait, the earliest time to try again."""
        pending = self.pending  # emptied in place: a stream's `deliver` keeps a reference to it
        ready: list[object] = []
        retry_at: float | None = None
        spacing = 1.0 / self.rate
        last_sent = self._last_sent
        held: list[str] = []
        for key in pending:
            last = last_sent.get(key)
            if last is None or last + spacing <= now:
                last_sent[key] = now
            else:
                held.append(key)
                free_at = last + spacing
                retry_at = free_at if retry_at is None or free_at < retry_at else retry_at
        if not held:
            ready = list(pending.values())
            pending.clear()
        else:
            waiting = {key: pending[key] for key in held}
            ready = [update for key, update in pending.items() if key not in waiting]
            pending.clear()
            pending.update(waiting)
        return ready, retry_at
