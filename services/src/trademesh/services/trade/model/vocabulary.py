"""The journal's enums (category, source, status, broker, event type) and the limits its rules enforce."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum

from trademesh.kernel.calendar import IST

MAX_QUANTITY_MICROS = 10**15
MAX_PRICE_MICROS = 10**14
#: quantity x price of one trade (INR 10^10, ₹1,000 crore): keeps `Trade.value_micros` and the
#: position sums of any realistic journal inside int64.
MAX_VALUE_MICROS = 10**16
MAX_FEES_MICROS = 10**13
MAX_STRIKE_MICROS = 10**14
MAX_FUTURE_SKEW = timedelta(minutes=5)
EARLIEST_TRADE_TIME = datetime(2000, 1, 1, tzinfo=IST)
PURGE_AFTER = timedelta(days=30)
MAX_TAGS = 20
MAX_TAG_LENGTH = 32
MAX_STRATEGY_LENGTH = 64
MAX_NOTES_LENGTH = 2000
MAX_BROKER_ID_LENGTH = 64

ISIN_PATTERN = re.compile(r"^[A-Z]{2}[A-Z0-9]{9}[0-9]$")
PRINTABLE_ASCII = re.compile(r"^[\x20-\x7e]*$")
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class Category(StrEnum):
    """Holding style."""

    INTRADAY = "INTRADAY"
    SWING = "SWING"
    LONG_TERM = "LONG_TERM"


class Source(StrEnum):
    """How a trade entered the journal."""

    MANUAL = "MANUAL"
    IMPORT = "IMPORT"
    SYNC = "SYNC"
    SETTLEMENT = "SETTLEMENT"


class ChargesSource(StrEnum):
    """Where a trade's charges (fees_micros and its breakdown) come from; see proto Trade.charges_source."""

    #: The broker's own figures (Kite's virtual contract note, a broker-reported fee).
    BROKER = "BROKER"
    #: Computed by trademesh.kernel.charges from the schedule in force on the trade date.
    COMPUTED = "COMPUTED"
    #: Typed by the user (or a file's fee column): never recomputed.
    MANUAL = "MANUAL"


class Status(StrEnum):
    """Lifecycle state."""

    ACTIVE = "ACTIVE"
    DELETED = "DELETED"


class Broker(StrEnum):
    """Where a trade was executed."""

    MANUAL = "MANUAL"
    ZERODHA = "ZERODHA"
    UPSTOX = "UPSTOX"


class EventType(StrEnum):
    """What happened to a trade."""

    SNAPSHOT = "SNAPSHOT"
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"
    RESTORED = "RESTORED"
    PURGED = "PURGED"
