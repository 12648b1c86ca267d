"""The sync service's vocabulary: accounts, runs, normalised broker trades and their rules.

Pure data and functions (no gRPC, database, Redis or HTTP): the use cases in `domain.py`, the
adapters and the servicer all speak these types.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

IST = timezone(timedelta(hours=5, minutes=30), "IST")
#: Logs are kept this long after they start (SyncLog.expire_time).
LOG_RETENTION = timedelta(days=180)
#: Row failures kept per run (counters.failed has the full count).
MAX_ROW_FAILURES = 1000
#: Trades per ReconcileTrades call (the trade service's maximum).
RECONCILE_BATCH = 1000
#: Non-UNLINKED accounts a user may have.
MAX_ACCOUNTS_PER_USER = 10
#: The original run plus this many retries; the last failure is dead-lettered.
MAX_ATTEMPTS = 5
#: Delay before retry n (1-based): 1, 5, 15 and 60 minutes (sync_log.proto).
RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(minutes=60))
UUID_PATTERN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
PRINTABLE_ASCII = re.compile(r"^[\x20-\x7e]+$")
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9&_.-]{1,40}$")


class Broker(StrEnum):
    """A broker the service can sync from."""

    ZERODHA = "ZERODHA"
    UPSTOX = "UPSTOX"


class AccountStatus(StrEnum):
    """The state of a linked account."""

    ACTIVE = "ACTIVE"
    ERROR = "ERROR"
    UNLINKED = "UNLINKED"


class SyncType(StrEnum):
    """What started a run."""

    SCHEDULED = "SCHEDULED"
    MANUAL = "MANUAL"
    RETRY = "RETRY"


class SyncStatus(StrEnum):
    """A run's state or outcome."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"
    DEAD_LETTERED = "DEAD_LETTERED"


class SyncPhase(StrEnum):
    """How far a run has got."""

    QUEUED = "QUEUED"
    FETCHING = "FETCHING"
    RECONCILING = "RECONCILING"
    DONE = "DONE"


class Side(StrEnum):
    """Buy or sell."""

    BUY = "BUY"
    SELL = "SELL"


class Exchange(StrEnum):
    """Indian exchanges the journal knows."""

    NSE = "NSE"
    BSE = "BSE"
    NFO = "NFO"
    BFO = "BFO"
    MCX = "MCX"
    CDS = "CDS"
    BCD = "BCD"


class Segment(StrEnum):
    """Market segment of a trade."""

    EQUITY = "EQUITY"
    FUTURES = "FUTURES"
    OPTIONS = "OPTIONS"
    CURRENCY = "CURRENCY"
    COMMODITY = "COMMODITY"


class ContractType(StrEnum):
    """Derivative contract kind."""

    FUTURE = "FUTURE"
    CALL = "CALL"
    PUT = "PUT"


class CategoryHint(StrEnum):
    """The trade category a broker's product type implies: only intraday products (Kite MIS, Upstox I/CO)
    say anything; delivery (CNC/D) may be a swing or a long-term trade, so it gives no hint."""

    INTRADAY = "INTRADAY"


@dataclass(frozen=True, slots=True)
class Derivative:
    """A futures or options contract."""

    underlying: str
    expiry_date: str
    contract_type: ContractType
    strike_price_micros: int


@dataclass(frozen=True, slots=True)
class NormalisedTrade:
    """One broker fill mapped to the journal's terms, ready for ReconcileTrades."""

    broker_trade_id: str
    broker_order_id: str
    symbol: str
    exchange: Exchange
    segment: Segment
    derivative: Derivative | None
    side: Side
    quantity_micros: int
    price_micros: int
    trade_time: datetime
    category: CategoryHint | None = None


@dataclass(frozen=True, slots=True)
class RowFailure:
    """One broker row a run could not reconcile."""

    row_ref: str
    symbol: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class SyncError:
    """A run-level failure; `retryable` errors lead to a RETRY run."""

    reason: str
    message: str
    retryable: bool


@dataclass(slots=True)
class SyncCounters:
    """What a run did so far."""

    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_deleted: int = 0
    failed: int = 0


@dataclass(frozen=True, slots=True)
class EncryptedSecret:
    """A ciphertext with the id of the key that sealed it (so keys can rotate)."""

    key_id: str
    nonce: bytes
    ciphertext: bytes


@dataclass(frozen=True, slots=True)
class BrokerSession:
    """What a broker login yields: the session to store and who logged in.

    The session was created by the exchange that returned it, so its expiry is computed from the
    service's clock at that moment (Kite: next 06:00 IST, Upstox: next 03:30 IST).
    """

    api_key: str
    access_token: str
    broker_user_id: str
    display_name: str


@dataclass(slots=True)
class BrokerAccount:
    """A user's linked broker login. `secret` holds the encrypted api key and access token."""

    id: str
    user_id: str
    broker: Broker
    broker_user_id: str
    display_name: str
    nickname: str
    masked_api_key: str
    status: AccountStatus
    error_reason: str
    error_message: str
    token_expire_time: datetime | None
    sync_enabled: bool
    link_time: datetime
    create_time: datetime
    update_time: datetime
    version: int = 1
    unlink_time: datetime | None = None
    last_sync_time: datetime | None = None
    last_sync_status: SyncStatus | None = None
    last_sync_log_id: str = ""
    last_successful_sync_time: datetime | None = None
    next_sync_time: datetime | None = None
    #: The RUNNING run, if any: at most one per account.
    running_log_id: str = ""
    #: The attempt the next (retry) run will be, and the run it retries; 0 / "" when none is due.
    retry_attempt: int = 0
    retry_of: str = ""
    secret: EncryptedSecret | None = None

    @property
    def etag(self) -> str:
        """Return the opaque concurrency token (changes with user-visible state, not sync bookkeeping)."""
        return f"v{self.version}"


@dataclass(slots=True)
class SyncLog:
    """The record of one run."""

    id: str
    user_id: str
    broker_account_id: str
    broker: Broker
    type: SyncType
    status: SyncStatus
    phase: SyncPhase
    start_time: datetime
    attempt: int = 1
    counters: SyncCounters = field(default_factory=SyncCounters)
    end_time: datetime | None = None
    error: SyncError | None = None
    row_failures: list[RowFailure] = field(default_factory=list)
    row_failures_truncated: bool = False
    retry_of: str = ""
    next_retry_time: datetime | None = None
    request_id: str = ""

    @property
    def expire_time(self) -> datetime:
        """Return when the log is deleted."""
        return self.start_time + LOG_RETENTION

    @property
    def finished(self) -> bool:
        """Tell whether the run has ended."""
        return self.status is not SyncStatus.RUNNING


@dataclass(frozen=True, slots=True)
class SyncJob:
    """A queued run: which log to execute for which account."""

    log_id: str
    account_id: str


# ---------------------------------------------------------------------------- pure rules


def mask_api_key(key: str) -> str:
    """Show the first and last 2 characters of a key around four '*' ("****" for 6 or fewer)."""
    return "****" if len(key) <= 6 else f"{key[:2]}****{key[-2:]}"


def next_ist_time_after(moment: datetime, at: time) -> datetime:
    """Return the first instant strictly after `moment` whose IST wall-clock time is `at`."""
    local = moment.astimezone(IST)
    candidate = datetime.combine(local.date(), at, IST)
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate.astimezone(UTC)


def token_expiry(broker: Broker, created: datetime) -> datetime:
    """Return when a session created at `created` expires: Kite 06:00 IST, Upstox 03:30 IST next."""
    return next_ist_time_after(created, time(6, 0) if broker is Broker.ZERODHA else time(3, 30))


def retry_delay(attempt: int) -> timedelta:
    """Return the wait before retry run `attempt` (2..MAX_ATTEMPTS)."""
    return RETRY_DELAYS[min(attempt - 2, len(RETRY_DELAYS) - 1)]


def ist_day(moment: datetime) -> date:
    """Return the IST calendar day of an instant."""
    return moment.astimezone(IST).date()


class RowProblem(Exception):
    """Raise from a row mapper: one broker row cannot become a trade (the run goes on)."""

    def __init__(self, message: str, reason: str = "UNMAPPABLE") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def to_micros(value: Any, name: str) -> int:
    """Convert a broker number (int, float or string, rupees or units) to exact micros."""
    if isinstance(value, bool) or value is None or value == "":
        raise RowProblem(f"{name} is missing")
    try:
        # str() first: a float like 420.65 must become exactly 420650000, not its binary neighbour.
        amount = Decimal(str(value))
    except InvalidOperation:
        raise RowProblem(f"{name} is not a number: {str(value)[:40]!r}") from None
    if not amount.is_finite():
        raise RowProblem(f"{name} is not a finite number")
    micros = amount * 1_000_000
    if micros != micros.to_integral_value():
        raise RowProblem(f"{name} has more than 6 decimal places")
    if micros <= 0:
        raise RowProblem(f"{name} must be positive")
    return int(micros)


def required_text(row: dict[str, Any], name: str) -> str:
    """Return a non-empty string field of a broker row."""
    value = row.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RowProblem(f"{name} is missing")
    return str(value).strip()


def parse_exchange(text: str) -> Exchange:
    """Return the exchange named by a broker (upper-case code)."""
    try:
        return Exchange(text.strip().upper())
    except ValueError:
        raise RowProblem(f"unknown exchange {text[:20]!r}") from None


def parse_side(text: str) -> Side:
    """Return BUY/SELL from a broker's transaction type."""
    value = text.strip().upper()
    if value in ("BUY", "B"):
        return Side.BUY
    if value in ("SELL", "S"):
        return Side.SELL
    raise RowProblem(f"unknown transaction type {text[:20]!r}")


def ist_timestamp(value: Any, formats: tuple[str, ...]) -> datetime:
    """Parse a broker timestamp given in IST (a datetime, or text in one of `formats`)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        for pattern in formats:
            try:
                moment = datetime.strptime(value.strip(), pattern)  # naive: IST is attached below
                break
            except ValueError:
                continue
        else:
            raise RowProblem(f"unparsable timestamp {value[:40]!r}")
    else:
        raise RowProblem("timestamp is missing")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=IST)
    return moment.astimezone(UTC)


_MONTHS = {name: index for index, name in enumerate(
    ("", "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")) if name}  # fmt: skip
_MONTHLY = re.compile(
    r"^(?P<u>[A-Z][A-Z&-]*?)(?P<yy>\d{2})(?P<mon>JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)"
    r"(?P<strike>\d+(\.\d+)?)?(?P<kind>FUT|CE|PE)$"
)
_WEEKLY = re.compile(
    r"^(?P<u>[A-Z][A-Z&-]*?)(?P<yy>\d{2})(?P<m>[1-9OND])(?P<dd>\d{2})(?P<strike>\d+(\.\d+)?)(?P<kind>CE|PE)$"
)
_WEEKLY_MONTH = {**{str(n): n for n in range(1, 10)}, "O": 10, "N": 11, "D": 12}
_KINDS = {"FUT": ContractType.FUTURE, "CE": ContractType.CALL, "PE": ContractType.PUT}
_DERIVATIVE_SEGMENT = {
    Exchange.NFO: None,
    Exchange.BFO: None,
    Exchange.MCX: Segment.COMMODITY,
    Exchange.CDS: Segment.CURRENCY,
    Exchange.BCD: Segment.CURRENCY,
}


def _last_thursday(year: int, month: int) -> date:
    next_month = date(year + month // 12, month % 12 + 1, 1)
    last = next_month - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - 3) % 7)


def parse_contract(symbol: str) -> Derivative:
    """Derive the contract from a Kite/NSE-style derivative symbol (e.g. NIFTY21JUN15000CE).

    Monthly contracts are given the month's last Thursday as expiry (the exchange's exact expiry is
    not in the symbol); weekly symbols carry the day.
    """
    match = _MONTHLY.fullmatch(symbol) or _WEEKLY.fullmatch(symbol)
    if match is None:
        raise RowProblem(f"cannot derive the contract from symbol {symbol!r}")
    kind = _KINDS[match["kind"]]
    strike = to_micros(match["strike"], "strike") if match["strike"] else 0
    if kind is not ContractType.FUTURE and strike == 0:
        raise RowProblem(f"option symbol {symbol!r} has no strike")
    year = 2000 + int(match["yy"])
    try:
        if match.groupdict().get("mon"):
            expiry = _last_thursday(year, _MONTHS[match["mon"]])
        else:
            expiry = date(year, _WEEKLY_MONTH[match["m"]], int(match["dd"]))
    except ValueError:
        raise RowProblem(f"symbol {symbol!r} has an invalid expiry") from None
    return Derivative(match["u"], expiry.isoformat(), kind, strike)


def instrument_of(symbol: str, exchange: Exchange) -> tuple[str, Segment, Derivative | None]:
    """Return (symbol, segment, contract) of a broker symbol on an exchange."""
    symbol = symbol.strip().upper()
    if not SYMBOL_PATTERN.fullmatch(symbol):
        raise RowProblem(f"invalid trading symbol {symbol[:40]!r}")
    if exchange in (Exchange.NSE, Exchange.BSE):
        return symbol, Segment.EQUITY, None
    contract = parse_contract(symbol)
    segment = _DERIVATIVE_SEGMENT[exchange] or (
        Segment.FUTURES if contract.contract_type is ContractType.FUTURE else Segment.OPTIONS
    )
    return symbol, segment, contract


_KITE_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S",)
_KITE_PRODUCTS = {"MIS": CategoryHint.INTRADAY, "CO": CategoryHint.INTRADAY, "BO": CategoryHint.INTRADAY}


def normalise_kite_trade(row: dict[str, Any]) -> NormalisedTrade:
    """Map one row of Kite's GET /trades (as the kiteconnect client returns it) to a trade."""
    exchange = parse_exchange(required_text(row, "exchange"))
    symbol, segment, contract = instrument_of(required_text(row, "tradingsymbol"), exchange)
    # fill_timestamp is when the exchange matched the fill; exchange_timestamp is the order's.
    stamp = row.get("fill_timestamp") or row.get("exchange_timestamp")
    return NormalisedTrade(
        broker_trade_id=_broker_id(row, "trade_id"),
        broker_order_id=str(row.get("order_id") or ""),
        symbol=symbol,
        exchange=exchange,
        segment=segment,
        derivative=contract,
        side=parse_side(required_text(row, "transaction_type")),
        quantity_micros=to_micros(row.get("quantity"), "quantity"),
        price_micros=to_micros(row.get("average_price"), "average_price"),
        trade_time=ist_timestamp(stamp, _KITE_TIME_FORMATS),
        category=_KITE_PRODUCTS.get(str(row.get("product") or "").upper()),
    )


_UPSTOX_TIME_FORMATS = ("%d-%b-%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")
_UPSTOX_PRODUCTS = {"I": CategoryHint.INTRADAY, "CO": CategoryHint.INTRADAY, "OCO": CategoryHint.INTRADAY}


def normalise_upstox_trade(row: dict[str, Any]) -> NormalisedTrade:
    """Map one row of Upstox's GET /v2/order/trades/get-trades-for-day to a trade."""
    exchange = parse_exchange(required_text(row, "exchange"))
    raw_symbol = row.get("tradingsymbol") or row.get("trading_symbol") or ""
    symbol, segment, contract = instrument_of(required_text({"tradingsymbol": raw_symbol}, "tradingsymbol"), exchange)
    return NormalisedTrade(
        broker_trade_id=_broker_id(row, "trade_id"),
        broker_order_id=str(row.get("order_id") or ""),
        symbol=symbol,
        exchange=exchange,
        segment=segment,
        derivative=contract,
        side=parse_side(required_text(row, "transaction_type")),
        quantity_micros=to_micros(row.get("quantity"), "quantity"),
        price_micros=to_micros(row.get("average_price"), "average_price"),
        trade_time=ist_timestamp(row.get("exchange_timestamp"), _UPSTOX_TIME_FORMATS),
        category=_UPSTOX_PRODUCTS.get(str(row.get("product") or "").upper()),
    )


def _broker_id(row: dict[str, Any], name: str) -> str:
    value = required_text(row, name)
    if len(value) > 64 or not PRINTABLE_ASCII.fullmatch(value):
        raise RowProblem(f"{name} is not 1-64 printable ASCII characters")
    return value


def row_ref(row: Any, index: int) -> str:
    """Return how a failure names a row: its trade id if it has one, else `#<index>`."""
    if isinstance(row, dict):
        value = row.get("trade_id")
        if isinstance(value, str | int) and str(value).strip() and len(str(value)) <= 64:
            return str(value).strip()
    return f"#{index}"


def row_symbol(row: Any) -> str:
    """Return a row's symbol as reported (for failure reports)."""
    if isinstance(row, dict):
        value = row.get("tradingsymbol") or row.get("trading_symbol") or ""
        return str(value)[:40]
    return ""
