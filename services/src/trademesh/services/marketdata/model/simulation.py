"""The simulated market: a deterministic, bursty random walk over the universe."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from trademesh.kernel.ticks import DepthLevel
from trademesh.services.marketdata.model.instruments import (
    MICROS_PER_RUPEE,
    NSE_TICK_MICROS,
    ListedInstrument,
    SymbolUniverse,
)
from trademesh.services.marketdata.model.quotes import DEPTH_LEVELS, RawTick


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
