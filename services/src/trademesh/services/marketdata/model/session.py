"""Time units and the trading session: when the market counts as open (NSE cash hours, IST, from the kernel)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from trademesh.kernel.calendar import IST, SESSION_CLOSE, SESSION_OPEN

NANOS_PER_SECOND = 1_000_000_000
MINUTE_NANOS = 60 * NANOS_PER_SECOND


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
