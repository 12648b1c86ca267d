"""Market-data use cases: quote lookups, stream admission (limits, rates) and paged 1-minute, 5-minute and day bars."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

from trademesh.kernel.errors import FieldViolation, InvalidArgument, NotFound, ResourceExhausted
from trademesh.services.core.identity import ROLE_PREMIUM, Principal
from trademesh.services.core.page_tokens import Codec, page_token_invalid
from trademesh.services.marketdata.model import (
    MINUTE_NANOS,
    NANOS_PER_SECOND,
    SERVED_INTERVALS,
    Bar,
    BarInterval,
    InstrumentKey,
    Mode,
    Quote,
    RequestedInstrument,
    StreamPolicy,
    effective_rate,
    empty_quote,
    interval_floor,
    interval_nanos,
    is_stale,
    minute_floor,
    parse_mode,
    unknown_instruments_error,
    validate_instrument,
    validate_instruments,
)
from trademesh.services.marketdata.ports import (
    BarStore,
    Clock,
    QuoteCache,
    QuoteStream,
    StreamCounter,
    StreamFactory,
    TickHub,
    WireQuote,
)

DEFAULT_PAGE_SIZE = 500
MAX_PAGE_SIZE = 5000
PAGE_TOKEN_TTL_SECONDS = 86400
#: A bar whose minute ended this long ago counts as complete even if the ingest has not marked it yet.
COMPLETION_GRACE_NANOS = 5 * NANOS_PER_SECOND


@dataclass(frozen=True, slots=True)
class MarketDataLimits:
    """Per-request and per-user limits."""

    max_instruments_per_stream: int = 200
    max_instruments_per_request: int = 500
    max_streams_per_user: int = 10
    max_streams_per_premium_user: int = 50
    default_updates_per_second: int = 8
    """Per-instrument stream rate when a request asks 0."""
    max_updates_per_second: int = 10
    bar_retention_days: int = 30
    """How long 1-minute bars are kept."""
    bar_five_minute_retention_days: int = 365
    """How long 5-minute bars are kept (day bars are kept indefinitely)."""


@dataclass(frozen=True, slots=True)
class QuoteView:
    """A known instrument's quote as a caller sees it: the cached tick, or an empty quote when none yet."""

    key: InstrumentKey
    mode: Mode
    cached: WireQuote | None
    """The latest tick; None when the instrument has not ticked (then `empty` is set)."""
    empty: Quote | None
    stale: bool


@dataclass(frozen=True, slots=True)
class Subscription:
    """An admitted SubscribeQuotes stream."""

    stream: QuoteStream
    instruments: tuple[str, ...]
    rate: int
    _cache: QuoteCache

    def messages(self) -> AsyncIterator[bytes]:
        """Yield the stream's serialised responses (snapshot first)."""
        return self.stream.messages(self._cache.get_many)


@dataclass(frozen=True, slots=True)
class BarQuery:
    """A GetBars request, decoded."""

    instrument: RequestedInstrument | None
    interval: int
    start_ns: int | None
    """None when the request has no start_time."""
    end_ns: int | None
    """None when the request has no end_time (up to now)."""
    page_size: int
    page_token: str = ""
    time_error: InvalidArgument | None = None
    """A request time that could not be read (out of range): raised after the instrument, interval and
    start_time-presence checks, as the request's fields are checked in that order."""


@dataclass(frozen=True, slots=True)
class BarPage:
    """One page of bars, oldest first."""

    bars: list[Bar]
    next_page_token: str
    earliest_available_ns: int | None


class MarketDataService:
    """Serve quotes, quote streams and bars of the instruments of one universe."""

    def __init__(
        self,
        policy: StreamPolicy,
        *,
        cache: QuoteCache,
        hub: TickHub,
        counter: StreamCounter,
        bars: BarStore,
        streams: StreamFactory,
        tokens: Codec,
        clock: Clock,
        limits: MarketDataLimits,
    ) -> None:
        self.policy = policy
        self._cache = cache
        self._hub = hub
        self._counter = counter
        self._bars = bars
        self._streams = streams
        self._tokens = tokens
        self._clock = clock
        self._limits = limits
        self._retention_ns = limits.bar_retention_days * 86400 * NANOS_PER_SECOND
        self._five_minute_retention_ns = limits.bar_five_minute_retention_days * 86400 * NANOS_PER_SECOND

    # ---- quotes

    def _known(self, key: InstrumentKey) -> None:
        if self.policy.universe.get(key) is None:
            raise NotFound(
                f"unknown instrument {key}",
                reason="INSTRUMENT_NOT_FOUND",
                metadata={"symbol": key.symbol, "exchange": key.exchange.value},
            )

    def _view(self, key: InstrumentKey, cached: WireQuote | None, mode: Mode, now_ns: int) -> QuoteView:
        policy = self.policy
        if cached is None:
            listed = policy.universe.get(key)
            assert listed is not None
            stale = is_stale(0, 0, now_ns, policy.session_policy, policy.stale_after)
            return QuoteView(key, mode, None, empty_quote(listed, policy.source), stale)
        stale = is_stale(cached.sequence, cached.receive_time_ns, now_ns, policy.session_policy, policy.stale_after)
        return QuoteView(key, mode, cached, None, stale)

    async def get_quote(self, requested: RequestedInstrument | None, mode: int) -> QuoteView:
        """Return one known instrument's quote (INVALID_ARGUMENT when malformed, NOT_FOUND when unknown)."""
        key = validate_instrument(requested, "instrument")
        chosen = parse_mode(mode)
        self._known(key)
        quotes = await self._cache.get_many([str(key)])
        return self._view(key, quotes.get(str(key)), chosen, self._clock.now_ns())

    async def get_quotes(
        self, requested: Sequence[RequestedInstrument], mode: int
    ) -> tuple[list[QuoteView], list[InstrumentKey]]:
        """Return the known instruments' quotes in request order, and the unknown instruments."""
        keys = validate_instruments(requested, field_name="instruments", limit=self._limits.max_instruments_per_request)
        chosen = parse_mode(mode)
        universe = self.policy.universe
        known = [key for key in keys if universe.get(key) is not None]
        unknown = [key for key in keys if universe.get(key) is None]
        quotes = await self._cache.get_many([str(key) for key in known])
        now_ns = self._clock.now_ns()
        return [self._view(key, quotes.get(str(key)), chosen, now_ns) for key in known], unknown

    # ---- streams

    def stream_limit(self, principal: Principal) -> int:
        """Return how many concurrent streams `principal` may hold."""
        if ROLE_PREMIUM in principal.roles:
            return self._limits.max_streams_per_premium_user
        return self._limits.max_streams_per_user

    @asynccontextmanager
    async def subscribe(
        self, principal: Principal, requested: Sequence[RequestedInstrument], mode: int, rate: int
    ) -> AsyncIterator[Subscription]:
        """Admit a quote stream (instrument, mode and per-user limits), hold it while open, release it after."""
        keys = validate_instruments(requested, field_name="instruments", limit=self._limits.max_instruments_per_stream)
        chosen = parse_mode(mode)
        unknown = self._unknown(requested, keys)
        if unknown:
            raise unknown_instruments_error(unknown, "instruments")
        limit = self.stream_limit(principal)
        stream_id, active = await self._counter.acquire(principal.subject, limit)
        if stream_id is None:
            raise ResourceExhausted(
                f"at most {limit} concurrent quote streams per user",
                reason="TOO_MANY_STREAMS",
                retry_after_seconds=1.0,
                metadata={"limit": str(limit), "active": str(active)},
            )
        names = tuple(str(key) for key in keys)
        effective = effective_rate(rate, self._limits.default_updates_per_second, self._limits.max_updates_per_second)
        stream = self._streams(names, chosen, effective, expires_at=principal.expires_at.timestamp())
        try:
            await self._hub.subscribe(names, stream)
            yield Subscription(stream, names, effective, self._cache)
        finally:
            stream.close()
            await self._hub.unsubscribe(names, stream)
            await self._counter.release(stream_id)

    def _unknown(
        self, requested: Sequence[RequestedInstrument], keys: Sequence[InstrumentKey]
    ) -> list[tuple[int, InstrumentKey]]:
        missing = {key for key in keys if self.policy.universe.get(key) is None}
        result = []
        for index, item in enumerate(requested):
            key = validate_instrument(item, f"instruments[{index}]")
            if key in missing:
                missing.discard(key)
                result.append((index, key))
        return result

    # ---- bars

    def _horizon(self, interval: BarInterval, now_ns: int) -> int:
        """Return the start of the oldest bar of `interval` still retained (0: day bars are kept indefinitely)."""
        if interval is BarInterval.ONE_MINUTE:
            return minute_floor(now_ns - self._retention_ns) + MINUTE_NANOS
        if interval is BarInterval.FIVE_MINUTES:
            oldest = now_ns - self._five_minute_retention_ns
            return interval_floor(oldest, interval) + interval_nanos(interval)
        return 0

    async def get_bars(self, query: BarQuery) -> BarPage:
        """Return a page of bars of one interval in [start, end), clipped to now and the retention horizon."""
        key = validate_instrument(query.instrument, "instrument")
        if query.interval not in SERVED_INTERVALS:
            raise InvalidArgument(
                "interval must be BAR_INTERVAL_ONE_MINUTE, BAR_INTERVAL_FIVE_MINUTES or BAR_INTERVAL_ONE_DAY",
                [FieldViolation("interval", "must be ONE_MINUTE, FIVE_MINUTES or ONE_DAY")],
                reason="INVALID_INTERVAL",
            )
        interval = BarInterval(query.interval)
        length = interval_nanos(interval)
        now_ns = self._clock.now_ns()
        if query.start_ns is None and query.time_error is None:
            raise InvalidArgument(
                "start_time is required", [FieldViolation("start_time", "is required")], reason="INVALID_TIME_RANGE"
            )
        if query.time_error is not None:
            raise query.time_error
        assert query.start_ns is not None
        start_ns = query.start_ns
        end_ns = query.end_ns if query.end_ns is not None else now_ns
        if end_ns <= start_ns:
            raise InvalidArgument(
                "end_time must be after start_time",
                [FieldViolation("end_time", "must be after start_time")],
                reason="INVALID_TIME_RANGE",
            )
        if query.page_size < 0:
            raise InvalidArgument(
                "page_size must not be negative",
                [FieldViolation("page_size", "must not be negative")],
                reason="INVALID_PAGE_SIZE",
            )
        page_size = min(query.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        self._known(key)
        fingerprint = _fingerprint(key, query)
        cursor = self._cursor(query.page_token, fingerprint, now_ns) if query.page_token else start_ns
        horizon = self._horizon(interval, now_ns)
        end_ns = min(end_ns, now_ns)
        if interval is BarInterval.ONE_MINUTE:
            # Exactly the behaviour of v1 (other services read 1-minute bars through it).
            bars, more = await self._bars.range(key, max(cursor, start_ns, horizon), end_ns, page_size)
        else:
            bars, more = await self._bars.range(key, max(cursor, start_ns, horizon), end_ns, page_size, interval)
        settled = now_ns - COMPLETION_GRACE_NANOS
        # A roll-up's stored flag says only that its minutes so far are complete: its window decides.
        page = [
            replace(bar, complete=bar.start_ns + length <= settled)
            if interval is not BarInterval.ONE_MINUTE
            else bar
            if bar.complete or bar.start_ns + length > settled
            else replace(bar, complete=True)
            for bar in bars
        ]
        token = ""
        if more and bars:
            token = self._tokens.encode(
                {"k": "bars", "c": bars[-1].start_ns + length, "f": fingerprint, "t": now_ns // NANOS_PER_SECOND}
            )
        if interval is BarInterval.ONE_MINUTE:
            earliest = await self._bars.earliest(key, horizon, now_ns)
        else:
            earliest = await self._bars.earliest(key, horizon, now_ns, interval)
        return BarPage(page, token, earliest)

    def _cursor(self, token: str, fingerprint: str, now_ns: int) -> int:
        payload = self._tokens.decode(token)
        if payload is None:
            raise page_token_invalid()
        cursor, issued = payload.get("c"), payload.get("t")
        # Signed, so only this service made it; the types are still checked (bool is an int in Python).
        if (
            payload.get("k") != "bars"
            or payload.get("f") != fingerprint
            or type(cursor) is not int
            or type(issued) is not int
            or not 0 <= now_ns // NANOS_PER_SECOND - issued <= PAGE_TOKEN_TTL_SECONDS
        ):
            raise page_token_invalid()
        return cursor


def _fingerprint(key: InstrumentKey, query: BarQuery) -> str:
    """Return what ties a page token to its request: every field but the token itself."""
    fields = [str(key), int(query.interval), query.start_ns, query.end_ns, query.page_size]
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:16]
