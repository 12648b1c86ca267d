"""Market-data use cases against in-memory fakes: quotes, stream admission, bar paging, conflation, sessions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.marketdata.fakes import (
    FakeQuote,
    FakeStreamFactory,
    FixedClock,
    InMemoryBarStore,
    InMemoryQuoteCache,
    InMemoryStreamCounter,
    InMemoryTickHub,
)
from trademesh.kernel.calendar import IST
from trademesh.kernel.errors import DomainError, InvalidArgument, NotFound, ResourceExhausted
from trademesh.kernel.instruments import MAX_SYMBOL_LENGTH, Exchange
from trademesh.services.core.identity import ROLE_PREMIUM, ROLE_USER, Principal
from trademesh.services.core.page_tokens import Codec
from trademesh.services.marketdata.model import (
    MINUTE_NANOS,
    NANOS_PER_SECOND,
    Bar,
    BarInterval,
    InstrumentKey,
    ListedInstrument,
    Mode,
    RequestedInstrument,
    SessionPolicy,
    Source,
    StreamConflator,
    StreamPolicy,
    SymbolUniverse,
    batch_cadence,
    session_open,
)
from trademesh.services.marketdata.service import BarQuery, MarketDataLimits, MarketDataService

INFY = InstrumentKey(Exchange.NSE, "INFY")
TCS = InstrumentKey(Exchange.NSE, "TCS")
# Tuesday 2025-11-25 11:00 IST: in session.
IN_SESSION = int(datetime(2025, 11, 25, 11, 0, tzinfo=IST).timestamp()) * NANOS_PER_SECOND
LIMITS = MarketDataLimits(
    max_instruments_per_stream=3,
    max_instruments_per_request=3,
    max_streams_per_user=2,
    max_streams_per_premium_user=3,
    default_updates_per_second=8,
    max_updates_per_second=10,
    bar_retention_days=30,
)


class World:
    """The service and its fakes."""

    def __init__(self, session_policy: SessionPolicy = SessionPolicy.ALWAYS_OPEN, now: int = IN_SESSION) -> None:
        universe = SymbolUniverse(
            [
                ListedInstrument(INFY, 408065, 50_000, 1_500_000_000),
                ListedInstrument(TCS, 2953217, 50_000, 3_000_000_000),
            ]
        )
        self.policy = StreamPolicy(
            universe,
            batch_interval=0.1,
            heartbeat=15.0,
            session_policy=session_policy,
            stale_after=30.0,
            source=Source.SIMULATED,
        )
        self.cache = InMemoryQuoteCache()
        self.hub = InMemoryTickHub()
        self.counter = InMemoryStreamCounter()
        self.bars = InMemoryBarStore()
        self.streams = FakeStreamFactory()
        self.clock = FixedClock(now)
        self.service = MarketDataService(
            self.policy,
            cache=self.cache,
            hub=self.hub,
            counter=self.counter,
            bars=self.bars,
            streams=self.streams,
            tokens=Codec(b"secret"),
            clock=self.clock,
            limits=LIMITS,
        )


def nse(*symbols: str) -> list[RequestedInstrument]:
    return [RequestedInstrument("NSE", symbol) for symbol in symbols]


def user(subject: str = "u1", *roles: str) -> Principal:
    return Principal(subject, frozenset({ROLE_USER, *roles}), "t", "s", datetime.now(UTC) + timedelta(hours=1))


def reason(error: pytest.ExceptionInfo[DomainError]) -> str | None:
    return error.value.reason


# ---- quotes


async def test_a_known_instrument_returns_its_latest_tick_fresh_in_session() -> None:
    world = World(SessionPolicy.EXCHANGE)
    world.cache.quotes["NSE:INFY"] = FakeQuote("NSE:INFY", 7, IN_SESSION - 5 * NANOS_PER_SECOND)
    view = await world.service.get_quote(nse("INFY")[0], 0)
    assert view.key == INFY
    assert view.mode is Mode.QUOTE  # 0 means QUOTE
    assert view.cached is not None
    assert view.cached.sequence == 7
    assert not view.stale


async def test_an_instrument_without_ticks_gets_an_empty_quote_stale_in_session() -> None:
    world = World(SessionPolicy.EXCHANGE)
    view = await world.service.get_quote(nse("TCS")[0], int(Mode.LTP))
    assert view.cached is None
    assert view.empty is not None
    assert (view.empty.sequence, view.empty.last_price_micros, view.empty.token) == (0, 0, 2953217)
    assert view.stale


async def test_a_quote_without_ticks_for_longer_than_the_threshold_is_stale_only_in_session() -> None:
    old = FakeQuote("NSE:INFY", 3, IN_SESSION - 31 * NANOS_PER_SECOND)
    in_session = World(SessionPolicy.EXCHANGE)
    in_session.cache.quotes["NSE:INFY"] = old
    assert (await in_session.service.get_quote(nse("INFY")[0], 0)).stale
    saturday = int(datetime(2025, 11, 29, 11, 0, tzinfo=IST).timestamp()) * NANOS_PER_SECOND
    weekend = World(SessionPolicy.EXCHANGE, now=saturday)
    weekend.cache.quotes["NSE:INFY"] = FakeQuote("NSE:INFY", 3, saturday - 3600 * NANOS_PER_SECOND)
    assert not (await weekend.service.get_quote(nse("INFY")[0], 0)).stale


async def test_an_unknown_instrument_is_not_found_and_a_malformed_one_invalid() -> None:
    world = World()
    with pytest.raises(NotFound) as missing:
        await world.service.get_quote(nse("NOPE")[0], 0)
    assert reason(missing) == "INSTRUMENT_NOT_FOUND"
    for bad in (RequestedInstrument("NSE", "infy"), RequestedInstrument("", "INFY"), None):
        with pytest.raises(InvalidArgument) as malformed:
            await world.service.get_quote(bad, 0)
        assert reason(malformed) == "INVALID_INSTRUMENT"
    with pytest.raises(InvalidArgument) as mode:
        await world.service.get_quote(nse("INFY")[0], 9)
    assert reason(mode) == "INVALID_MODE"


async def test_the_symbol_rule_is_the_kernels_forty_characters() -> None:
    world = World()
    with pytest.raises(NotFound):  # well-formed, just not served
        await world.service.get_quote(nse("A" * MAX_SYMBOL_LENGTH)[0], 0)
    with pytest.raises(InvalidArgument) as long:
        await world.service.get_quote(nse("A" * (MAX_SYMBOL_LENGTH + 1))[0], 0)
    assert reason(long) == "INVALID_INSTRUMENT"


async def test_get_quotes_keeps_request_order_drops_duplicates_and_lists_unknowns() -> None:
    world = World()
    world.cache.quotes["NSE:INFY"] = FakeQuote("NSE:INFY", 2, IN_SESSION)
    views, unknown = await world.service.get_quotes(nse("TCS", "NOPE", "INFY", "TCS"), int(Mode.FULL))
    assert [view.key for view in views] == [TCS, INFY]
    assert [view.mode for view in views] == [Mode.FULL, Mode.FULL]
    assert unknown == [InstrumentKey(Exchange.NSE, "NOPE")]
    with pytest.raises(InvalidArgument) as too_many:
        await world.service.get_quotes(nse("A", "B", "C", "D"), 0)
    assert reason(too_many) == "TOO_MANY_INSTRUMENTS"
    with pytest.raises(InvalidArgument) as empty:
        await world.service.get_quotes([], 0)
    assert reason(empty) == "NO_INSTRUMENTS"


# ---- streams


async def test_a_subscription_holds_a_slot_and_its_audience_and_releases_both() -> None:
    world = World()
    world.cache.quotes["NSE:INFY"] = FakeQuote("NSE:INFY", 4, IN_SESSION)
    async with world.service.subscribe(user(), nse("INFY", "TCS", "INFY"), 0, 0) as opened:
        assert opened.instruments == ("NSE:INFY", "NSE:TCS")
        assert opened.rate == LIMITS.default_updates_per_second
        assert set(world.hub.sinks) == {"NSE:INFY", "NSE:TCS"}
        assert len(world.counter.open) == 1
        assert [message async for message in opened.messages()] == [b"entry:NSE:INFY#4/QUOTE", b"empty:NSE:TCS"]
    stream = world.streams.opened[0]
    assert stream.closed
    assert not world.hub.sinks
    assert not world.counter.open


async def test_the_rate_defaults_for_zero_and_is_clamped_to_the_maximum() -> None:
    world = World()
    for asked, expected in ((0, 8), (3, 3), (50, 10)):
        async with world.service.subscribe(user(), nse("INFY"), 0, asked) as opened:
            assert opened.rate == expected == opened.stream.rate  # type: ignore[attr-defined]


async def test_streams_per_user_are_limited_premium_users_get_more() -> None:
    world = World()
    first = world.service.subscribe(user("a"), nse("INFY"), 0, 0)
    second = world.service.subscribe(user("a"), nse("INFY"), 0, 0)
    async with first, second:
        with pytest.raises(ResourceExhausted) as full:
            async with world.service.subscribe(user("a"), nse("INFY"), 0, 0):
                pass
        assert reason(full) == "TOO_MANY_STREAMS"
        assert full.value.metadata == {"limit": "2", "active": "2"}
        async with world.service.subscribe(user("b"), nse("INFY"), 0, 0):  # another user is not affected
            pass
        async with world.service.subscribe(user("a", ROLE_PREMIUM), nse("TCS"), 0, 0):
            pass
    assert not world.counter.open


async def test_unknown_instruments_refuse_a_stream_before_it_takes_a_slot() -> None:
    world = World()
    with pytest.raises(InvalidArgument) as unknown:
        async with world.service.subscribe(user(), nse("INFY", "NOPE"), 0, 0):
            pass
    assert reason(unknown) == "UNKNOWN_INSTRUMENTS"
    assert [v.field for v in unknown.value.violations] == ["instruments[1]"]
    with pytest.raises(InvalidArgument) as too_many:
        async with world.service.subscribe(user(), nse("A", "B", "C", "D"), 0, 0):
            pass
    assert reason(too_many) == "TOO_MANY_INSTRUMENTS"
    assert not world.counter.open
    assert not world.streams.opened


# ---- bars


def _bars(world: World, count: int, first: int) -> None:
    for index in range(count):
        start = first + index * MINUTE_NANOS
        world.bars.bars[(INFY, start)] = Bar(INFY, start, 10, 12, 9, 11, 100, 0, complete=False)


def _query(start: int, **changes: Any) -> BarQuery:
    values: dict[str, Any] = dict(
        instrument=nse("INFY")[0], interval=BarInterval.ONE_MINUTE, start_ns=start, end_ns=None, page_size=3
    )
    values.update(changes)
    return BarQuery(**values)


async def test_bars_page_with_signed_tokens_until_the_last_page() -> None:
    world = World()
    first = IN_SESSION - 60 * MINUTE_NANOS
    _bars(world, 7, first)
    seen: list[int] = []
    token = ""
    pages = 0
    while True:
        page = await world.service.get_bars(_query(first, page_token=token))
        pages += 1
        seen += [bar.start_ns for bar in page.bars]
        assert page.earliest_available_ns == first
        token = page.next_page_token
        if not token:
            break
    assert pages == 3
    assert seen == [first + index * MINUTE_NANOS for index in range(7)]


async def test_a_tampered_expired_or_foreign_page_token_is_page_token_invalid() -> None:
    world = World()
    first = IN_SESSION - 60 * MINUTE_NANOS
    _bars(world, 7, first)
    token = (await world.service.get_bars(_query(first))).next_page_token
    body, _, mac = token.partition(".")
    forged = body[:-1] + ("A" if body[-1] != "A" else "B") + "." + mac
    for query in (_query(first, page_token=forged), _query(first, page_token=token, page_size=4)):
        with pytest.raises(InvalidArgument) as invalid:
            await world.service.get_bars(query)
        assert reason(invalid) == "PAGE_TOKEN_INVALID"
        assert [v.field for v in invalid.value.violations] == ["page_token"]
    world.clock.now += 86401 * NANOS_PER_SECOND
    with pytest.raises(InvalidArgument) as expired:
        await world.service.get_bars(_query(first, page_token=token))
    assert reason(expired) == "PAGE_TOKEN_INVALID"


async def test_bars_settle_as_complete_after_their_minute_and_stop_at_the_retention_horizon() -> None:
    world = World(now=IN_SESSION + 30 * NANOS_PER_SECOND)
    current = IN_SESSION  # a whole minute
    _bars(world, 2, current - MINUTE_NANOS)  # the previous minute (ended) and the running one
    old = current - 31 * 86400 * NANOS_PER_SECOND
    _bars(world, 1, old)
    page = await world.service.get_bars(_query(old, page_size=10))
    assert [(bar.start_ns, bar.complete) for bar in page.bars] == [
        (current - MINUTE_NANOS, True),
        (current, False),
    ]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"interval": BarInterval.UNSPECIFIED}, "INVALID_INTERVAL"),
        ({"start_ns": None}, "INVALID_TIME_RANGE"),
        ({"end_ns": IN_SESSION - 2 * MINUTE_NANOS}, "INVALID_TIME_RANGE"),
        ({"page_size": -1}, "INVALID_PAGE_SIZE"),
        ({"instrument": None, "page_size": -1}, "INVALID_INSTRUMENT"),
    ],
)
async def test_bar_requests_are_checked_field_by_field(changes: dict[str, Any], expected: str) -> None:
    world = World()
    with pytest.raises(InvalidArgument) as invalid:
        await world.service.get_bars(_query(IN_SESSION - MINUTE_NANOS, **changes))
    assert reason(invalid) == expected


async def test_bars_of_an_unknown_instrument_are_not_found() -> None:
    with pytest.raises(NotFound):
        await World().service.get_bars(_query(IN_SESSION - MINUTE_NANOS, instrument=nse("NOPE")[0]))


# ---- conflation and the session


def test_conflation_keeps_the_newest_update_and_spaces_sends_by_the_rate() -> None:
    conflator = StreamConflator(rate=4)
    conflator.offer("NSE:INFY", "a")
    conflator.offer("NSE:INFY", "b")
    assert conflator.conflated == 1
    assert conflator.take(10.0) == (["b"], None)
    conflator.offer("NSE:INFY", "c")
    conflator.offer("NSE:TCS", "x")
    ready, retry_at = conflator.take(10.1)  # INFY was sent 0.1 s ago; 1/4 s must pass
    assert ready == ["x"]
    assert retry_at == pytest.approx(10.25)
    assert conflator.take(10.25) == (["c"], None)


def test_the_batch_cadence_divides_the_rate_spacing() -> None:
    assert batch_cadence(10, 0.1) == 0.1
    assert batch_cadence(4, 0.1) == pytest.approx(0.125)
    assert batch_cadence(3, 0.1) == pytest.approx(1 / 9)


def test_the_exchange_session_is_weekdays_0915_to_1530_ist_and_policies_override_it() -> None:
    def at(text: str) -> int:
        return int(datetime.fromisoformat(text).replace(tzinfo=IST).timestamp()) * NANOS_PER_SECOND

    exchange = SessionPolicy.EXCHANGE
    assert not session_open(at("2025-11-25T09:14:59"), exchange)
    assert session_open(at("2025-11-25T09:15:00"), exchange)
    assert session_open(at("2025-11-25T15:29:59"), exchange)
    assert not session_open(at("2025-11-25T15:30:00"), exchange)
    assert not session_open(at("2025-11-29T11:00:00"), exchange)  # Saturday
    assert session_open(at("2025-11-29T11:00:00"), SessionPolicy.ALWAYS_OPEN)
    assert not session_open(at("2025-11-25T11:00:00"), SessionPolicy.ALWAYS_CLOSED)
