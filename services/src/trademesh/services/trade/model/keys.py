"""Identifiers and keys: derived ids, broker and fingerprint keys, content hashes, millisecond timestamps."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from trademesh.kernel.calendar import ist_day
from trademesh.services.trade.model.trades import TradeFields


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
