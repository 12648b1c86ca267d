"""What is traded: exchanges, segments, contract kinds, sides, trading symbols and derivative contracts.

One vocabulary for every service (names as in `trademesh.common.v1` without the enum prefixes) and one
symbol rule. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "EXCHANGE_ORDER",
    "MAX_SYMBOL_LENGTH",
    "SEGMENT_EXCHANGES",
    "SYMBOL_PATTERN",
    "ContractType",
    "Derivative",
    "Exchange",
    "Segment",
    "Side",
]

#: The longest trading symbol accepted anywhere (Kite's and Upstox's F&O symbols are about 25 characters).
MAX_SYMBOL_LENGTH = 40
#: A trading symbol as brokers and exchanges write it: upper-case letters, digits and & _ . -
SYMBOL_PATTERN = re.compile(rf"^[A-Z0-9&_.-]{{1,{MAX_SYMBOL_LENGTH}}}$")


class Side(StrEnum):
    """Buy or sell."""

    BUY = "BUY"
    SELL = "SELL"


class Exchange(StrEnum):
    """Trading venue, named as brokers name it (NFO/BFO: NSE/BSE derivatives; CDS/BCD: currency)."""

    NSE = "NSE"
    BSE = "BSE"
    NFO = "NFO"
    BFO = "BFO"
    MCX = "MCX"
    CDS = "CDS"
    BCD = "BCD"


#: The order exchanges sort in (the proto enum's order).
EXCHANGE_ORDER = {exchange: index for index, exchange in enumerate(Exchange)}


class Segment(StrEnum):
    """Market segment."""

    EQUITY = "EQUITY"
    FUTURES = "FUTURES"
    OPTIONS = "OPTIONS"
    CURRENCY = "CURRENCY"
    COMMODITY = "COMMODITY"


#: Where each segment trades.
SEGMENT_EXCHANGES: dict[Segment, frozenset[Exchange]] = {
    Segment.EQUITY: frozenset({Exchange.NSE, Exchange.BSE}),
    Segment.FUTURES: frozenset({Exchange.NFO, Exchange.BFO}),
    Segment.OPTIONS: frozenset({Exchange.NFO, Exchange.BFO}),
    Segment.CURRENCY: frozenset({Exchange.CDS, Exchange.BCD}),
    Segment.COMMODITY: frozenset({Exchange.MCX}),
}


class ContractType(StrEnum):
    """Derivative contract kind."""

    FUTURE = "FUTURE"
    CALL = "CALL"
    PUT = "PUT"


@dataclass(frozen=True, slots=True)
class Derivative:
    """A futures or options contract; `contract_type` None means unspecified (a request may leave it out,
    which validation rejects)."""

    underlying: str
    #: ISO date (YYYY-MM-DD).
    expiry_date: str
    contract_type: ContractType | None
    #: 0 for futures.
    strike_price_micros: int
