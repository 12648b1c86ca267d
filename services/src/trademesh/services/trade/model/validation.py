"""The validation rules of a trade's fields (those of ``trade.proto``), normalising what they accept."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime

from trademesh.kernel.calendar import ist_day
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
from trademesh.services.trade.model.keys import to_millis
from trademesh.services.trade.model.trades import TradeFields
from trademesh.services.trade.model.vocabulary import (
    DATE_PATTERN,
    EARLIEST_TRADE_TIME,
    ISIN_PATTERN,
    MAX_BROKER_ID_LENGTH,
    MAX_FEES_MICROS,
    MAX_FUTURE_SKEW,
    MAX_NOTES_LENGTH,
    MAX_PRICE_MICROS,
    MAX_QUANTITY_MICROS,
    MAX_STRATEGY_LENGTH,
    MAX_STRIKE_MICROS,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    MAX_VALUE_MICROS,
    PRINTABLE_ASCII,
    Broker,
    ChargesSource,
)


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


def _check_plan(raw: TradeFields, bad: Callable[[str, str], None]) -> None:
    """Check the trader's plan (decision 0230): positive, stop on the losing side, target on the winning side."""
    for name in ("stop_loss_price_micros", "target_price_micros"):
        if not 0 <= getattr(raw, name) <= MAX_PRICE_MICROS:
            bad(name, f"must be > 0 and <= {MAX_PRICE_MICROS}, or 0 for none")
    if not 0 <= raw.planned_risk_micros <= MAX_VALUE_MICROS:
        bad("planned_risk_micros", f"must be > 0 and <= {MAX_VALUE_MICROS}, or 0 for none")
    entry, stop, target = raw.price_micros, raw.stop_loss_price_micros, raw.target_price_micros
    if raw.side is None or entry <= 0:
        return
    buy = raw.side is Side.BUY
    if (
        stop > 0
        and 0 < raw.quantity_micros <= MAX_QUANTITY_MICROS
        and abs(entry - stop) * raw.quantity_micros > (MAX_VALUE_MICROS * 1_000_000)
    ):
        bad("stop_loss_price_micros", f"|price - stop| x quantity must be <= {MAX_VALUE_MICROS} micros")
    if 0 < stop <= MAX_PRICE_MICROS and (stop >= entry if buy else stop <= entry):
        bad("stop_loss_price_micros", f"a {raw.side.value} stop must be {'below' if buy else 'above'} the entry price")
    if 0 < target <= MAX_PRICE_MICROS and (target <= entry if buy else target >= entry):
        bad("target_price_micros", f"a {raw.side.value} target must be {'above' if buy else 'below'} the entry price")


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

    _check_plan(raw, bad)

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
