"""Market-data model: instruments and the universe, the session, quotes, the simulator, bars and conflation.

Pure logic over plain dataclasses; no gRPC, protobuf, database or Redis imports. Prices are integer
INR micros (1 INR = 1,000,000 micros) and times integer nanoseconds since the Unix epoch (0 = unset),
so nothing here rounds money through floats. Exchanges, IST and the symbol rule come from the kernel.
"""

from trademesh.kernel.ticks import DepthLevel
from trademesh.services.marketdata.model.bars import (
    DAY_NANOS,
    FIVE_MINUTE_NANOS,
    SERVED_INTERVALS,
    Bar,
    BarAggregator,
    BarInterval,
    interval_floor,
    interval_nanos,
    ist_day,
    minute_floor,
    roll_up,
    utc_day,
)
from trademesh.services.marketdata.model.conflation import StreamConflator, StreamPolicy, batch_cadence, effective_rate
from trademesh.services.marketdata.model.instruments import (
    MICROS_PER_RUPEE,
    NSE_TICK_MICROS,
    InstrumentKey,
    ListedInstrument,
    RequestedInstrument,
    SymbolUniverse,
    rupees_to_micros,
    unknown_instruments_error,
    validate_instrument,
    validate_instruments,
)
from trademesh.services.marketdata.model.quotes import (
    DEPTH_LEVELS,
    BadTick,
    Mode,
    Normaliser,
    Quote,
    RawTick,
    Source,
    empty_quote,
    is_stale,
    parse_mode,
)
from trademesh.services.marketdata.model.session import MINUTE_NANOS, NANOS_PER_SECOND, SessionPolicy, session_open
from trademesh.services.marketdata.model.simulation import SimulatedMarket, SimulationParameters

__all__ = [
    "DAY_NANOS",
    "DEPTH_LEVELS",
    "FIVE_MINUTE_NANOS",
    "MICROS_PER_RUPEE",
    "MINUTE_NANOS",
    "NANOS_PER_SECOND",
    "NSE_TICK_MICROS",
    "SERVED_INTERVALS",
    "BadTick",
    "Bar",
    "BarAggregator",
    "BarInterval",
    "DepthLevel",
    "InstrumentKey",
    "ListedInstrument",
    "Mode",
    "Normaliser",
    "Quote",
    "RawTick",
    "RequestedInstrument",
    "SessionPolicy",
    "SimulatedMarket",
    "SimulationParameters",
    "Source",
    "StreamConflator",
    "StreamPolicy",
    "SymbolUniverse",
    "batch_cadence",
    "effective_rate",
    "empty_quote",
    "interval_floor",
    "interval_nanos",
    "is_stale",
    "ist_day",
    "minute_floor",
    "parse_mode",
    "roll_up",
    "rupees_to_micros",
    "session_open",
    "unknown_instruments_error",
    "utc_day",
    "validate_instrument",
    "validate_instruments",
]
