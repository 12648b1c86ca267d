"""A scriptable book of broker accounts, trades and faults behind the fake broker servers.

Tests (and the `make up` demo) add apps and trades, then script faults that the next requests meet:
HTTP 5xx, slow answers (client timeouts), 429 bursts, an expired token, a body that is not JSON.
Row shapes follow the real APIs (the Kite ones are checked against the kiteconnect-mocks samples in
tests/sync/data).
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

IST = timezone(timedelta(hours=5, minutes=30), "IST")
KITE_TIME = "%Y-%m-%d %H:%M:%S"
UPSTOX_TIME = "%d-%b-%Y %H:%M:%S"
_ids = itertools.count(10_000_000)


class FaultKind(StrEnum):
    """What a scripted fault does to one request."""

    STATUS = "status"  # answer with an error envelope and `status`
    SLOW = "slow"  # wait `seconds` before answering normally (beyond the client's timeout)
    MALFORMED = "malformed"  # a JSON content type with a body that is not JSON
    EXPIRED = "expired"  # the session ends now: 403 TokenException / 401, and the token is forgotten


@dataclass(frozen=True, slots=True)
class Fault:
    """One scripted fault; `path` limits it to one route (e.g. "/trades")."""

    kind: FaultKind
    status: int = 500
    seconds: float = 0.0
    path: str | None = None


@dataclass
class BrokerApp:
    """One broker app (Kite api_key / Upstox client_id) with its one user and today's book."""

    api_key: str
    api_secret: str
    user_id: str
    user_name: str
    trades: list[dict[str, Any]] = field(default_factory=list)
    #: Request tokens / auth codes that work once; None accepts any token once (the demo).
    login_tokens: set[str] | None = None
    used_login_tokens: set[str] = field(default_factory=set)
    access_tokens: set[str] = field(default_factory=set)
    #: Every token ever issued (an expired one still identifies its app).
    issued_tokens: set[str] = field(default_factory=set)
    faults: deque[Fault] = field(default_factory=deque)
    requests: int = 0
    rate_limited: int = 0
    recent: deque[float] = field(default_factory=deque)
    #: The most requests seen within any one second.
    peak_per_second: int = 0
    redirect_uri: str = "http://127.0.0.1/callback"

    def next_fault(self, path: str) -> Fault | None:
        """Take the first scripted fault that applies to `path`."""
        for fault in list(self.faults):
            if fault.path is None or fault.path == path:
                self.faults.remove(fault)
                return fault
        return None

    def count_request(self, limit: float, now: float | None = None) -> bool:
        """Count a request at `now` (monotonic seconds); False when it exceeds `limit` in the last second."""
        now = time.monotonic() if now is None else now
        self.requests += 1
        while self.recent and now - self.recent[0] >= 1.0:
            self.recent.popleft()
        if len(self.recent) >= limit:
            self.rate_limited += 1
            return False
        self.recent.append(now)
        self.peak_per_second = max(self.peak_per_second, len(self.recent))
        return True

    def new_access_token(self) -> str:
        """Issue a session token."""
        token = secrets.token_hex(16)
        self.access_tokens.add(token)
        self.issued_tokens.add(token)
        return token

    def use_login_token(self, token: str) -> bool:
        """Consume a single-use login token; False if unknown or already used."""
        if token in self.used_login_tokens:
            return False
        if self.login_tokens is not None and token not in self.login_tokens:
            return False
        self.used_login_tokens.add(token)
        return True


def kite_trade(
    symbol: str = "INFY",
    exchange: str = "NSE",
    side: str = "BUY",
    quantity: int = 1,
    price: float = 1500.5,
    when: datetime | None = None,
    product: str = "CNC",
    trade_id: str | None = None,
) -> dict[str, Any]:
    """Return a trade row exactly as Kite's GET /trades lists it."""
    moment = (when or datetime.now(IST) - timedelta(minutes=5)).astimezone(IST)
    number = next(_ids)
    stamp = moment.strftime(KITE_TIME)
    return {
        "trade_id": trade_id or str(number),
        "order_id": str(200_000_000_000_000 + number),
        "exchange": exchange,
        "tradingsymbol": symbol,
        "instrument_token": 408065,
        "product": product,
        "average_price": price,
        "quantity": quantity,
        "exchange_order_id": str(300_000_000_000_000 + number),
        "transaction_type": side,
        "fill_timestamp": stamp,
        "order_timestamp": moment.strftime("%H:%M:%S"),
        "exchange_timestamp": stamp,
    }


def kite_order_of(trade: dict[str, Any]) -> dict[str, Any]:
    """Return the COMPLETE order a Kite fill belongs to, as GET /orders lists it."""
    return {
        "placed_by": "XXXXXX",
        "order_id": trade.get("order_id"),
        "exchange_order_id": trade.get("exchange_order_id"),
        "parent_order_id": None,
        "status": "COMPLETE",
        "status_message": None,
        "status_message_raw": None,
        "order_timestamp": trade.get("fill_timestamp"),
        "exchange_update_timestamp": trade.get("fill_timestamp"),
        "exchange_timestamp": trade.get("exchange_timestamp"),
        "variety": "regular",
        "modified": False,
        "exchange": trade.get("exchange"),
        "tradingsymbol": trade.get("tradingsymbol"),
        "instrument_token": trade.get("instrument_token"),
        "order_type": "MARKET",
        "transaction_type": trade.get("transaction_type"),
        "validity": "DAY",
        "product": trade.get("product"),
        "quantity": trade.get("quantity"),
        "disclosed_quantity": 0,
        "price": 0,
        "trigger_price": 0,
        "average_price": trade.get("average_price"),
        "filled_quantity": trade.get("quantity"),
        "pending_quantity": 0,
        "cancelled_quantity": 0,
        "market_protection": 0,
        "meta": {},
        "tag": None,
        "guid": "XXXXXX",
    }


def upstox_trade(
    symbol: str = "INFY",
    exchange: str = "NSE",
    side: str = "BUY",
    quantity: int = 1,
    price: float = 1500.5,
    when: datetime | None = None,
    product: str = "D",
    trade_id: str | None = None,
) -> dict[str, Any]:
    """Return a trade row as Upstox's GET /v2/order/trades/get-trades-for-day lists it."""
    moment = (when or datetime.now(IST) - timedelta(minutes=5)).astimezone(IST)
    number = next(_ids)
    return {
        "exchange": exchange,
        "product": product,
        "trading_symbol": symbol,
        "tradingsymbol": symbol,
        "instrument_token": f"{exchange}_EQ|INE009A01021",
        "order_type": "MARKET",
        "transaction_type": side,
        "quantity": quantity,
        "exchange_order_id": str(1_000_000_000_000_000 + number),
        "order_id": f"2310{number}",
        "exchange_timestamp": moment.strftime(UPSTOX_TIME),
        "average_price": price,
        "trade_id": trade_id or str(number),
        "order_ref_id": "",
        "order_timestamp": moment.strftime(UPSTOX_TIME),
    }


def sample_book(count: int, row: Any = kite_trade, now: datetime | None = None) -> list[dict[str, Any]]:
    """Return `count` plausible equity fills of today, all in the past, alternating buys and sells."""
    moment = (now or datetime.now(IST)).astimezone(IST)
    symbols = ("INFY", "TCS", "RELIANCE", "HDFCBANK", "SBIN", "ITC", "LT", "AXISBANK")
    rows = []
    for index in range(count):
        when = moment - timedelta(minutes=1, seconds=index % 3600)
        rows.append(
            row(
                symbol=symbols[index % len(symbols)],
                side="BUY" if index % 2 == 0 else "SELL",
                quantity=1 + index % 7,
                price=round(100 + (index % 900) + 0.05 * (index % 20), 2),
                when=when,
            )
        )
    return rows
