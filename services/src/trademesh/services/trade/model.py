"""The trade journal's vocabulary: enums, trades, events and their validation rules.

Pure data and rules (no I/O, no gRPC/protobuf/database imports); the rules are those written in
`proto/trademesh/trade/v1/trade.proto`, which is the specification.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from trademesh.kernel.calendar import IST, ist_day
from trademesh.kernel.errors import FieldViolation
from trademesh.kernel.instruments import (
    SEGMENT_EXCHANGES,
    SYMBOL_PATTERN,
    ContractType,
    Derivative,
    Exchange,
    Segment,
    Side,
)

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


@dataclass(frozen=True, slots=True)
class FeeBreakdown:
    """Itemised charges, INR micros."""

    brokerage: int = 0
    stt: int = 0
    exchange_charges: int = 0
    sebi_charges: int = 0
    stamp_duty: int = 0
    gst: int = 0
    other: int = 0

    def items(self) -> dict[str, int]:
        """Return the components by proto field name."""
        return {
            "brokerage_micros": self.brokerage,
            "stt_micros": self.stt,
            "exchange_charges_micros": self.exchange_charges,
            "sebi_charges_micros": self.sebi_charges,
            "stamp_duty_micros": self.stamp_duty,
            "gst_micros": self.gst,
            "other_micros": self.other,
        }

    def total(self) -> int:
        """Return the sum of the components."""
        return sum(self.items().values())


@dataclass(frozen=True, slots=True)
class TradeFields:
    """The caller-settable facts of a trade. On input, None means "unspecified" for enums/times."""

    symbol: str = ""
    exchange: Exchange | None = None
    segment: Segment | None = None
    derivative: Derivative | None = None
    isin: str = ""
    side: Side | None = None
    quantity_micros: int = 0
    price_micros: int = 0
    fees_micros: int = 0
    fee_breakdown: FeeBreakdown | None = None
    trade_time: datetime | None = None
    category: Category | None = None
    strategy: str = ""
    tags: tuple[str, ...] = ()
    notes: str = ""
    broker: Broker | None = None
    broker_trade_id: str = ""
    broker_order_id: str = ""
    broker_account_id: str = ""
    #: None on input means "decide" (MANUAL when fees or a breakdown are given, else COMPUTED); None on a
    #: stored trade means no schedule covers it (currency derivatives, fractional quantities, before 2020-07-01).
    charges_source: ChargesSource | None = None
    #: The schedule version COMPUTED charges came from ("<file version>/<date>"); empty otherwise.
    charges_schedule_version: str = ""


JOURNAL_FIELDS = frozenset({"category", "strategy", "tags", "notes", "fees_micros", "fee_breakdown", "charges_source"})
BROKER_FIELDS = frozenset(
    {
        "instrument",
        "segment",
        "derivative",
        "isin",
        "side",
        "quantity_micros",
        "price_micros",
        "trade_time",
        "broker",
        "broker_trade_id",
        "broker_order_id",
        "broker_account_id",
    }
)
# Update-mask path → TradeFields attributes it replaces.
MASK_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "instrument": ("symbol", "exchange"),
    **{name: (name,) for name in (JOURNAL_FIELDS | BROKER_FIELDS) - {"instrument"}},
}


@dataclass(frozen=True, slots=True)
class Trade:
    """A stored trade: its validated fields plus server-owned state."""

    id: str
    user_id: str
    fields: TradeFields
    category_inferred: bool
    source: Source
    status: Status
    version: int
    create_time: datetime
    update_time: datetime
    delete_time: datetime | None = None
    purge_time: datetime | None = None
    request_id: str = ""
    request_hash: str = ""
    import_id: str = ""
    broker_key: str | None = None
    #: Execution order within the batch (import or reconcile) that created the trade; 0 for manual trades.
    #: See `journal_order` and the `exec_seq` field of trademesh.trade.v1.Trade.
    exec_seq: int = 0

    @property
    def etag(self) -> str:
        """Return the opaque concurrency token of this version."""
        return f"v{self.version}"

    @property
    def trading_day(self) -> date:
        """Return the IST calendar date of the trade."""
        assert self.fields.trade_time is not None
        return self.fields.trade_time.astimezone(IST).date()

    @property
    def broker_sourced(self) -> bool:
        """Tell whether broker-owned fields are read-only (imported or synced from a real broker)."""
        return self.source in (Source.IMPORT, Source.SYNC) and self.fields.broker is not Broker.MANUAL

    def purged(self, now: datetime) -> bool:
        """Tell whether a deleted trade is past its purge time (gone for callers)."""
        return self.status is Status.DELETED and self.purge_time is not None and self.purge_time <= now


@dataclass(frozen=True, slots=True)
class TradeEvent:
    """One change to a trade; `trade` is the trade as of `trade.version`."""

    event_id: str
    type: EventType
    trade: Trade
    event_time: datetime


def journal_order(trade: Trade) -> tuple[datetime, datetime, int, str]:
    """Return the order fills are matched in: execution time, then create time, then exec_seq, then id.

    Trades with the same execution time keep execution order: trades of one batch share a create time
    and are ordered by `exec_seq` (broker trade ids where they are numbers, else file/item order); trades
    of different batches by when they were recorded (docs/decisions/0110).
    """
    assert trade.fields.trade_time is not None
    return trade.fields.trade_time, trade.create_time, trade.exec_seq, trade.id


#: The largest broker trade id read as a number (beyond it, trade ids are not treated as ordered).
_MAX_NUMERIC_TRADE_ID = 10**18


def execution_sequences(broker_trade_ids: list[str]) -> list[int]:
    """Return each batch item's `exec_seq` (1-based) from the broker trade ids of the batch, in batch order.

    When every item carries a broker trade id that is a decimal number (exchange trade numbers, which
    increase with execution), items are ranked by that number (ties by batch order); otherwise the batch
    order (file row order of an import, item order of a reconcile) is the execution order.
    """
    numbers = [
        int(text) if text.isascii() and text.isdigit() and int(text) < _MAX_NUMERIC_TRADE_ID else None
        for text in (raw.strip() for raw in broker_trade_ids)
    ]
    if not numbers or any(number is None for number in numbers):
        return list(range(1, len(broker_trade_ids) + 1))
    ranked = sorted(range(len(numbers)), key=lambda index: (numbers[index], index))
    sequences = [0] * len(numbers)
    for rank, index in enumerate(ranked, start=1):
        sequences[index] = rank
    return sequences


def new_event(event_type: EventType, trade: Trade, now: datetime) -> TradeEvent:
    """Return the change event a write of `trade` produces (its id is stable per version)."""
    return TradeEvent(f"{trade.id}:{trade.version}", event_type, trade, now)


def derive_id(*parts: str) -> str:
    """Return a deterministic opaque id (32 hex characters) for the given parts."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]


def broker_key_of(user_id: str, fields: TradeFields) -> str | None:
    """Return the broker key that deduplicates imports and syncs, or None without a broker trade id."""
    if not fields.broker_trade_id or fields.trade_time is None or fields.broker is None or fields.exchange is None:
        return None
    side = fields.side.value if fields.side else ""
    day = ist_day(fields.trade_time).isoformat()
    return f"bk|{user_id}|{fields.broker.value}|{fields.exchange.value}|{day}|{side}|{fields.broker_trade_id}"


def fingerprint_key(user_id: str, fields: TradeFields, occurrence: int) -> str:
    """Return the identity of a generic-CSV row without a trade id (see ImportTradesResponse)."""
    assert fields.trade_time is not None
    assert fields.exchange is not None
    assert fields.side is not None
    second = int(fields.trade_time.timestamp())
    return (
        f"fp|{user_id}|{fields.exchange.value}|{fields.symbol}|{fields.side.value}|"
        f"{fields.quantity_micros}|{fields.price_micros}|{second}|{occurrence}"
    )


def user_tag(user_id: str) -> str:
    """Return a short stable tag of a user id (binds page and resume tokens to their user)."""
    return hashlib.sha256(user_id.encode()).hexdigest()[:12]


def content_hash(*parts: object) -> str:
    """Return a stable hash of request content, for request-id reuse detection."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def to_millis(moment: datetime) -> datetime:
    """Truncate to whole milliseconds, the precision BSON dates store."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def now_millis() -> datetime:
    """Return the current UTC time at millisecond precision."""
    return to_millis(datetime.now(UTC))


def _has_control(text: str, allowed: str = "") -> bool:
    return any((ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0) and ch not in allowed for ch in text)


def _parse_date(text: str) -> date | None:
    if not DATE_PATTERN.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def infer_segment(exchange: Exchange, derivative: Derivative | None) -> Segment | None:
    """Return the segment an exchange implies (None when the contract type is needed but missing)."""
    if exchange in (Exchange.NSE, Exchange.BSE):
        return Segment.EQUITY
    if exchange in (Exchange.CDS, Exchange.BCD):
        return Segment.CURRENCY
    if exchange is Exchange.MCX:
        return Segment.COMMODITY
    if derivative is None or derivative.contract_type is None:
        return None
    return Segment.FUTURES if derivative.contract_type is ContractType.FUTURE else Segment.OPTIONS


def normalize_fields(
    raw: TradeFields, now: datetime, prefix: str = "trade."
) -> tuple[TradeFields, list[FieldViolation]]:
    """Validate and normalize trade fields; return the normalized fields and every violation."""
    violations: list[FieldViolation] = []

    def bad(name: str, description: str) -> None:
        violations.append(FieldViolation(prefix + name, description))

    symbol = raw.symbol.strip().upper()
    if not symbol:
        bad("instrument.symbol", "symbol is required")
    elif not SYMBOL_PATTERN.fullmatch(symbol):
        bad("instrument.symbol", "symbol must be 1-40 characters of A-Z, 0-9, &, _, . or -")
    if raw.exchange is None:
        bad("instrument.exchange", "exchange is required")

    derivative = raw.derivative
    if derivative is not None:
        underlying = derivative.underlying.strip().upper()
        if underlying and not SYMBOL_PATTERN.fullmatch(underlying):
            bad("derivative.underlying", "underlying must be 1-40 characters of A-Z, 0-9, &, _, . or -")
        expiry = _parse_date(derivative.expiry_date.strip())
        if expiry is None or not date(2000, 1, 1) <= expiry <= date(2100, 12, 31):
            bad("derivative.expiry_date", "expiry_date must be a valid YYYY-MM-DD date in 2000-2100")
        kind = derivative.contract_type
        strike = derivative.strike_price_micros
        if kind is None:
            bad("derivative.contract_type", "contract_type is required")
        elif kind is ContractType.FUTURE and strike != 0:
            bad("derivative.strike_price_micros", "must be 0 for a future")
        elif kind is not ContractType.FUTURE and not 0 < strike <= MAX_STRIKE_MICROS:
            bad("derivative.strike_price_micros", f"must be > 0 and <= {MAX_STRIKE_MICROS} for an option")
        derivative = replace(derivative, underlying=underlying, expiry_date=derivative.expiry_date.strip())

    segment = raw.segment
    if raw.exchange is not None:
        if segment is None:
            segment = infer_segment(raw.exchange, derivative)
            if segment is None:
                bad("derivative", "derivative with a contract_type is required on NFO/BFO")
        elif raw.exchange not in SEGMENT_EXCHANGES[segment]:
            bad("segment", f"segment {segment.value} does not trade on {raw.exchange.value}")
    if segment is Segment.EQUITY and derivative is not None:
        bad("derivative", "derivative must be unset for equity")
    elif segment is not None and segment is not Segment.EQUITY:
        if derivative is None:
            bad("derivative", f"derivative is required for segment {segment.value}")
        elif segment is Segment.FUTURES and derivative.contract_type not in (None, ContractType.FUTURE):
            bad("derivative.contract_type", "must be FUTURE for segment FUTURES")
        elif segment is Segment.OPTIONS and derivative.contract_type is ContractType.FUTURE:
            bad("derivative.contract_type", "must be CALL or PUT for segment OPTIONS")

    isin = raw.isin.strip().upper()
    if isin and not ISIN_PATTERN.fullmatch(isin):
        bad("isin", "isin must be 12 characters like INE009A01021")
    if raw.side is None:
        bad("side", "side must be BUY or SELL")
    if not 0 < raw.quantity_micros <= MAX_QUANTITY_MICROS:
        bad("quantity_micros", f"must be > 0 and <= {MAX_QUANTITY_MICROS}")

    trade_time = raw.trade_time
    if trade_time is None:
        bad("trade_time", "trade_time is required")
    elif trade_time > now + MAX_FUTURE_SKEW:
        bad("trade_time", "trade_time must not be more than 5 minutes in the future")
    elif trade_time < EARLIEST_TRADE_TIME:
        bad("trade_time", "trade_time must not be before 2000-01-01 IST")

    expired_option = (
        derivative is not None
        and derivative.contract_type in (ContractType.CALL, ContractType.PUT)
        and trade_time is not None
        and (expiry := _parse_date(derivative.expiry_date)) is not None
        and ist_day(trade_time) >= expiry
    )
    if not (0 < raw.price_micros <= MAX_PRICE_MICROS or (raw.price_micros == 0 and expired_option)):
        bad("price_micros", f"must be > 0 and <= {MAX_PRICE_MICROS}")
    elif 0 < raw.quantity_micros <= MAX_QUANTITY_MICROS and raw.quantity_micros * raw.price_micros > (
        MAX_VALUE_MICROS * 1_000_000
    ):
        bad("price_micros", f"quantity x price must be <= {MAX_VALUE_MICROS} micros (INR 10^10) per trade")

    fees = raw.fees_micros
    if not 0 <= fees <= MAX_FEES_MICROS:
        bad("fees_micros", f"must be >= 0 and <= {MAX_FEES_MICROS}")
    if raw.fee_breakdown is not None:
        negative = [name for name, value in raw.fee_breakdown.items().items() if value < 0]
        for name in negative:
            bad(f"fee_breakdown.{name}", "must be >= 0")
        if not negative:
            total = raw.fee_breakdown.total()
            if fees == 0:
                fees = total
                if total > MAX_FEES_MICROS:
                    bad("fees_micros", f"fee breakdown total must be <= {MAX_FEES_MICROS}")
            elif fees != total:
                bad("fees_micros", "fees_micros must equal the sum of fee_breakdown (or be 0)")

    charges_source = raw.charges_source
    fees_typed = raw.fees_micros != 0 or raw.fee_breakdown is not None
    if charges_source is None:
        charges_source = ChargesSource.MANUAL if fees_typed else ChargesSource.COMPUTED
    elif charges_source is ChargesSource.COMPUTED and fees_typed:
        bad("charges_source", "fees_micros and fee_breakdown must be unset when charges_source is COMPUTED")

    strategy = raw.strategy.strip()
    if len(strategy) > MAX_STRATEGY_LENGTH or _has_control(strategy):
        bad("strategy", f"strategy must be at most {MAX_STRATEGY_LENGTH} characters without control characters")
    tags: list[str] = []
    seen: set[str] = set()
    if len(raw.tags) > MAX_TAGS:
        bad("tags", f"at most {MAX_TAGS} tags")
    else:
        for index, tag in enumerate(raw.tags):
            cleaned = tag.strip()
            if not 1 <= len(cleaned) <= MAX_TAG_LENGTH or _has_control(cleaned) or "," in cleaned:
                bad(
                    f"tags[{index}]", f"tags must be 1-{MAX_TAG_LENGTH} characters without commas or control characters"
                )
            elif cleaned.casefold() not in seen:
                seen.add(cleaned.casefold())
                tags.append(cleaned)
    notes = raw.notes
    if len(notes) > MAX_NOTES_LENGTH or _has_control(notes, allowed="\n\r"):
        bad("notes", f"notes must be at most {MAX_NOTES_LENGTH} characters; only newlines are allowed as controls")
    for name in ("broker_trade_id", "broker_order_id"):
        value = getattr(raw, name)
        if len(value) > MAX_BROKER_ID_LENGTH or not PRINTABLE_ASCII.fullmatch(value):
            bad(name, f"must be at most {MAX_BROKER_ID_LENGTH} printable ASCII characters")
    account = raw.broker_account_id.strip()
    if len(account) > MAX_BROKER_ID_LENGTH or _has_control(account):
        bad("broker_account_id", f"must be at most {MAX_BROKER_ID_LENGTH} characters")

    normalized = replace(
        raw,
        symbol=symbol,
        segment=segment,
        derivative=derivative,
        isin=isin,
        fees_micros=fees,
        charges_source=charges_source,
        charges_schedule_version=raw.charges_schedule_version if charges_source is ChargesSource.COMPUTED else "",
        strategy=strategy,
        tags=tuple(tags),
        broker=raw.broker or Broker.MANUAL,
        broker_account_id=account,
        trade_time=to_millis(trade_time.astimezone(UTC)) if trade_time is not None else None,
    )
    return normalized, violations


def infer_category(side: Side, same_day_sides: list[Side]) -> Category:
    """Infer a category: INTRADAY with an opposite-side trade on the same instrument and IST day, else SWING."""
    return Category.INTRADAY if any(other is not side for other in same_day_sides) else Category.SWING


def bucket_of(trade: Trade) -> tuple[str, str, str, date]:
    """Return the (user, exchange, symbol, IST day) group category inference looks at."""
    assert trade.fields.exchange is not None
    return (trade.user_id, trade.fields.exchange.value, trade.fields.symbol, trade.trading_day)


@dataclass(frozen=True, slots=True)
class TradeFilter:
    """ListTrades filters, normalized; None/empty means "any"."""

    symbol: str = ""
    exchange: Exchange | None = None
    segment: Segment | None = None
    side: Side | None = None
    category: Category | None = None
    statuses: tuple[Status, ...] = (Status.ACTIVE,)
    tag: str = ""
    strategy: str = ""
    broker: Broker | None = None
    broker_account_id: str = ""
    source: Source | None = None
    import_id: str = ""
    start_time: datetime | None = None
    end_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class PositionFilter:
    """ListPositions filters."""

    open_only: bool | None = None
    symbol: str = ""
    exchange: Exchange | None = None
    segment: Segment | None = None
    broker_account_id: str = ""


@dataclass(frozen=True, slots=True)
class Position:
    """One instrument's FIFO position (figures rounded half-to-even to micros)."""

    symbol: str
    exchange: Exchange
    segment: Segment
    derivative: Derivative | None
    net_quantity_micros: int
    average_open_price_micros: int
    open_value_micros: int
    open_fees_micros: int
    realized_pnl_micros: int
    buy_quantity_micros: int
    buy_value_micros: int
    sell_quantity_micros: int
    sell_value_micros: int
    total_fees_micros: int
    trade_count: int
    first_trade_time: datetime
    last_trade_time: datetime
    #: See proto Position.break_even_price_micros; None when closed or no schedule covers it.
    break_even_price_micros: int | None = None
    #: The contract's lot size from the instrument master (proto Position.lot_size); None when unknown.
    lot_size: int | None = None

    @property
    def is_open(self) -> bool:
        """Tell whether the position still holds quantity."""
        return self.net_quantity_micros != 0


@dataclass(frozen=True, slots=True)
class ImportRowError:
    """One problem with one row of an imported file."""

    row_number: int
    column: str
    value: str
    reason: str
    message: str


@dataclass(slots=True)
class ImportResult:
    """What an import did (see ImportTradesResponse)."""

    import_id: str
    dry_run: bool
    rows_total: int = 0
    rows_created: int = 0
    rows_duplicate: int = 0
    rows_failed: int = 0
    row_errors: list[ImportRowError] = field(default_factory=list)
    row_errors_truncated: bool = False


@dataclass(frozen=True, slots=True)
class ParsedRow:
    """One data row of an import: its number, fields (None when invalid) and problems."""

    row_number: int
    fields: TradeFields | None
    errors: list[ImportRowError]
    broker_key: str | None = None
    #: Field path (as in a FieldViolation) -> the file's column holding it, for row errors.
    columns: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReconcileItem:
    """The outcome of one reconcile item."""

    index: int
    broker_trade_id: str
    outcome: str
    trade_id: str = ""
    trade_version: int = 0
    error_reason: str = ""
    error_message: str = ""
