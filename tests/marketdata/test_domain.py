"""Pure market-data rules: simulator, normalisation, sessions, conflation, bars."""

from __future__ import annotations

import random
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import pytest

from trademesh.kernel.calendar import IST
from trademesh.kernel.errors import InvalidArgument
from trademesh.services.marketdata.model import (
    MINUTE_NANOS,
    BarAggregator,
    InstrumentKey,
    Normaliser,
    RawTick,
    RequestedInstrument,
    SessionPolicy,
    SimulatedMarket,
    SimulationParameters,
    Source,
    StreamConflator,
    SymbolUniverse,
    batch_cadence,
    rupees_to_micros,
    session_open,
    validate_instruments,
)
from trademesh.services.marketdata.settings import DEFAULT_UNIVERSE

NOW = 1_764_000_000_000_000_000


@pytest.fixture
def universe() -> SymbolUniverse:
    return SymbolUniverse.from_csv(DEFAULT_UNIVERSE)


def test_default_universe_is_liquid_nse_with_tokens_and_closes(universe: SymbolUniverse) -> None:
    assert len(universe) >= 50
    infy = universe.get(InstrumentKey.parse("NSE:INFY"))
    assert infy is not None
    assert infy.token == 408065
    assert infy.tick_micros == 50_000
    assert universe.by_token(738561) is not None
    assert all(item.previous_close_micros % item.tick_micros == 0 for item in universe)


def test_simulator_is_deterministic_and_on_the_tick(universe: SymbolUniverse) -> None:
    first = SimulatedMarket(universe, SimulationParameters(seed=7))
    second = SimulatedMarket(universe, SimulationParameters(seed=7))
    other = SimulatedMarket(universe, SimulationParameters(seed=8))
    a = [first.next_tick(NOW) for _ in range(2000)]
    b = [second.next_tick(NOW) for _ in range(2000)]
    c = [other.next_tick(NOW) for _ in range(50)]
    assert [(t.key, t.last_price_micros, t.volume) for t in a] == [(t.key, t.last_price_micros, t.volume) for t in b]
    assert [(t.key, t.last_price_micros) for t in a[:50]] != [(t.key, t.last_price_micros) for t in c]
    for tick in a:
        tick_size = universe.get(tick.key).tick_micros  # type: ignore[arg-type,union-attr]
        assert tick.last_price_micros % tick_size == 0
        assert tick.bids[0].price_micros < tick.last_price_micros < tick.asks[0].price_micros
        assert tick.low_micros <= tick.last_price_micros <= tick.high_micros
        assert len(tick.bids) == len(tick.asks) == 5


def test_simulated_rate_and_burstiness_keep_the_mean(universe: SymbolUniverse) -> None:
    steady = SimulatedMarket(universe, SimulationParameters(ticks_per_second=2000, burstiness=0))
    bursty = SimulatedMarket(universe, SimulationParameters(ticks_per_second=2000, burstiness=1.0))
    steady_counts = [steady.ticks_due(0.01) for _ in range(3000)]
    bursty_counts = [bursty.ticks_due(0.01) for _ in range(3000)]
    assert sum(steady_counts) / 30 == pytest.approx(2000, rel=0.05)
    assert sum(bursty_counts) / 30 == pytest.approx(2000, rel=0.25)
    spread = max(bursty_counts) - min(bursty_counts)
    assert spread > max(steady_counts) - min(steady_counts)


def test_session_hours_in_ist_with_overrides() -> None:
    def at(text: str) -> int:
        return int(datetime.fromisoformat(text).replace(tzinfo=IST).timestamp()) * 1_000_000_000

    assert session_open(at("2026-11-25T09:15:00"), SessionPolicy.EXCHANGE)  # a Wednesday
    assert not session_open(at("2026-11-25T09:14:59"), SessionPolicy.EXCHANGE)
    assert not session_open(at("2026-11-25T15:30:00"), SessionPolicy.EXCHANGE)
    assert not session_open(at("2026-11-28T11:00:00"), SessionPolicy.EXCHANGE)  # Saturday
    assert session_open(at("2026-11-28T11:00:00"), SessionPolicy.ALWAYS_OPEN)
    assert not session_open(at("2026-11-25T11:00:00"), SessionPolicy.ALWAYS_CLOSED)


def test_normaliser_sequences_and_drops_bad_ticks(universe: SymbolUniverse) -> None:
    normaliser = Normaliser(universe, Source.KITE_TICKER)
    normaliser.seed_sequences({InstrumentKey.parse("NSE:INFY"): 41})
    good = normaliser.normalise(RawTick(token=408065, last_price_micros=1_573_700_000), NOW)
    assert good is not None
    assert good.sequence == 42
    assert good.close_micros == rupees_to_micros("1573.70")  # previous close from the universe
    assert normaliser.normalise(RawTick(token=1, last_price_micros=10), NOW) is None  # unknown token
    assert normaliser.normalise(RawTick(token=408065, last_price_micros=-5), NOW) is None  # negative price
    assert normaliser.normalise(RawTick(token=408065, last_price_micros=5, volume=-1), NOW) is None
    assert normaliser.bad_ticks == 3
    assert rupees_to_micros("-0.05") == -50_000


def test_instrument_validation_collapses_duplicates_and_reports_every_problem() -> None:
    keys = validate_instruments(
        [RequestedInstrument("NSE", "INFY"), RequestedInstrument("NSE", "INFY"), RequestedInstrument("BSE", "M&M")],
        field_name="instruments",
        limit=2,
    )
    assert [str(k) for k in keys] == ["NSE:INFY", "BSE:M&M"]
    with pytest.raises(InvalidArgument) as error:
        validate_instruments(
            [RequestedInstrument("", "infy"), RequestedInstrument("NSE", "")], field_name="instruments", limit=5
        )
    assert error.value.reason == "INVALID_INSTRUMENT"
    assert {v.field for v in error.value.violations} == {
        "instruments[0].symbol",
        "instruments[0].exchange",
        "instruments[1].symbol",
    }
    with pytest.raises(InvalidArgument) as too_many:
        validate_instruments([RequestedInstrument("NSE", f"S{i}") for i in range(3)], field_name="x", limit=2)
    assert too_many.value.metadata == {"limit": "2", "requested": "3"}


def test_conflator_keeps_the_newest_counts_and_spaces_sends_by_the_rate() -> None:
    conflator = StreamConflator(rate=2)
    for value in range(5):
        conflator.offer("A", value)
    conflator.offer("B", "b")
    assert conflator.conflated == 4
    ready, retry = conflator.take(100.0)
    assert ready == [4, "b"]
    assert retry is None
    conflator.offer("A", 5)
    conflator.offer("A", 6)
    ready, retry = conflator.take(100.1)  # A was sent 0.1 s ago; at 2/s it may go again at 100.5
    assert ready == []
    assert retry == pytest.approx(100.5)
    assert conflator.take(100.5) == ([6], None)
    assert conflator.conflated == 5


def test_conflator_never_exceeds_the_rate_in_any_second_nor_holds_longer_than_one_interval() -> None:
    rate = 4
    conflator = StreamConflator(rate=rate)
    ticks = random.Random(7)
    sent: list[float] = []
    waits: list[float] = []
    offered_at: dict[int, float] = {}
    for step in range(6000):  # 60 s in 10 ms flushes; bursty ticks averaging 8/s, twice the cap
        now = step * 0.01
        for _ in range(ticks.choice((0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3))):
            offered_at[len(offered_at)] = now
            conflator.offer("A", len(offered_at) - 1)
        ready, _ = conflator.take(now)
        for update in ready:
            assert isinstance(update, int)
            sent.append(now)
            waits.append(now - offered_at[update])
    assert all(later - earlier >= 1 / rate - 1e-9 for earlier, later in pairwise(sent))
    assert max(waits) <= 1 / rate + 1e-9  # the newest price is never held longer than one interval
    assert len(sent) > 0.9 * rate * 60  # and the cap is used, not undershot


def test_batch_cadence_divides_the_rate_spacing_and_is_never_below_the_interval() -> None:
    assert batch_cadence(4, 0.1) == pytest.approx(0.125)
    assert batch_cadence(10, 0.1) == pytest.approx(0.1)
    assert batch_cadence(3, 0.1) == pytest.approx(1 / 9)
    assert batch_cadence(7, 0.1) == pytest.approx(1 / 7)
    assert batch_cadence(50, 0.1) == 0.1  # every batch may carry every instrument
    for rate in range(1, 101):
        for interval in (0.02, 0.05, 0.1, 0.25, 1.0):
            cadence = batch_cadence(rate, interval)
            assert cadence >= interval
            if 1 / rate > interval:
                parts = round(1 / rate / cadence)
                assert parts >= 1
                assert parts * cadence >= 1 / rate  # whole cadences never undercut the cap
                assert parts * cadence <= 1 / rate + 1e-6  # nor add a wait


def test_a_held_instrument_goes_out_exactly_when_it_is_free_on_the_cadence() -> None:
    rate = 4
    cadence = batch_cadence(rate, 0.1)
    conflator = StreamConflator(rate=rate)
    now = 1000.0
    conflator.offer("A", "first")
    assert conflator.take(now) == (["first"], None)
    conflator.offer("A", "second")  # right after the send: held for one spacing
    for _ in range(round(1 / rate / cadence) - 1):
        now += cadence
        assert conflator.take(now)[0] == []
    now += cadence
    assert conflator.take(now) == (["second"], None)  # 0.25 s after the first, not one batch later


def test_bars_aggregate_per_minute_with_volume_increase(universe: SymbolUniverse) -> None:
    normaliser = Normaliser(universe, Source.SIMULATED)
    bars = BarAggregator()
    start = NOW - NOW % MINUTE_NANOS
    completed = []
    for offset, price, volume in [(1, 100, 1000), (20, 105, 1010), (50, 95, 1030), (61, 99, 1040)]:
        tick = RawTick(
            token=408065,
            last_price_micros=price * 1_000_000,
            volume=volume,
            exchange_time_ns=start + offset * 1_000_000_000,
        )
        quote = normaliser.normalise(tick, 0)
        assert quote is not None
        completed += bars.add(quote)
    assert len(completed) == 1
    bar = completed[0]
    assert (bar.start_ns, bar.open_micros, bar.high_micros, bar.low_micros, bar.close_micros) == (
        start,
        100_000_000,
        105_000_000,
        95_000_000,
        95_000_000,
    )
    assert bar.volume == 30  # the first tick only sets the day's baseline
    assert bar.complete
    running = bars.open_bars()
    assert [(b.start_ns, b.volume, b.complete) for b in running] == [(start + MINUTE_NANOS, 10, False)]
    assert bars.flush_due(start + 2 * MINUTE_NANOS)[0].complete


def test_universe_csv_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text("# comment\nexchange,symbol,instrument_token,tick_size,previous_close\nNSE,ABC,0,0.05,10.10\n")
    universe = SymbolUniverse.from_csv(path)
    assert universe.get(InstrumentKey.parse("NSE:ABC")).previous_close_micros == 10_100_000  # type: ignore[union-attr]
    assert universe.tokens == []
