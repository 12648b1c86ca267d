"""Notification entities and value objects with their rules: alerts, notifications, ticks (`preferences.py`: the rest).

Pure: no gRPC, database or Redis imports.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum
from typing import NamedTuple

from trademesh.kernel.errors import FieldViolation, InvalidArgument
from trademesh.kernel.instruments import SYMBOL_PATTERN, Exchange
from trademesh.services.notifications.model.guardrails import (
    describe_guardrail,
    guardrail_violations,
    next_ist_day_start,
)

NOTE_MAX_LENGTH = 200
EMAIL_MAX_LENGTH = 254
MIN_COOL_DOWN = timedelta(minutes=1)
MAX_COOL_DOWN = timedelta(days=7)
MAX_EXPIRY_AHEAD = timedelta(days=365)
MAX_CHANGE_BASIS_POINTS = 10_000
#: How long notifications are kept (a sweeper deletes older ones; the database has no TTL index).
RETENTION = timedelta(days=90)
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+$")


class AlertCondition(StrEnum):
    """When an alert fires (see trademesh.notifications.v1.AlertCondition)."""

    PRICE_ABOVE = "price_above"
    PRICE_BELOW = "price_below"
    PRICE_CROSSING = "price_crossing"
    DAY_CHANGE_BEYOND = "day_change_beyond"
    #: P&L guardrails (decision 0300): over the user's whole book, evaluated on analytics' WatchPnl.
    DAILY_LOSS_BEYOND = "daily_loss_beyond"
    DRAWDOWN_FROM_PEAK = "drawdown_from_peak"

    @property
    def is_price(self) -> bool:
        """Tell whether the condition compares the last price with a level."""
        return self in (AlertCondition.PRICE_ABOVE, AlertCondition.PRICE_BELOW, AlertCondition.PRICE_CROSSING)

    @property
    def is_guardrail(self) -> bool:
        """Tell whether the condition is a P&L guardrail (no instrument; fires at most once per IST day)."""
        return self in (AlertCondition.DAILY_LOSS_BEYOND, AlertCondition.DRAWDOWN_FROM_PEAK)


class AlertState(StrEnum):
    """Where an alert is in its life cycle."""

    ARMED = "armed"
    COOLING_DOWN = "cooling_down"
    TRIGGERED = "triggered"
    EXPIRED = "expired"

    @property
    def is_active(self) -> bool:
        """Tell whether the alert still counts against the per-user limit and may fire."""
        return self in (AlertState.ARMED, AlertState.COOLING_DOWN)


class NotificationKind(StrEnum):
    """What a notification is about."""

    PRICE_ALERT = "price_alert"
    TRADE_ALERT = "trade_alert"
    SYNC_COMPLETE = "sync_complete"
    SYSTEM = "system"


class Channel(StrEnum):
    """A way a notification reaches its user."""

    IN_APP = "in_app"
    EMAIL = "email"
    WEBHOOK = "webhook"
    #: Web Push (model/push.py): refused in preferences unless the server has a VAPID key (CHANNEL_NOT_CONFIGURED).
    PUSH = "push"
    #: SMS (model/push.py): refused in preferences unless the server has an SMS provider (CHANNEL_NOT_CONFIGURED).
    SMS = "sms"


#: The channels a user may always choose in preferences (push and SMS only where configured).
BUILT_CHANNELS = frozenset({Channel.IN_APP, Channel.EMAIL, Channel.WEBHOOK})


class DeliveryStatus(StrEnum):
    """Where one (notification, channel) delivery is."""

    PENDING = "pending"
    SENT = "sent"
    DROPPED = "dropped"


@dataclass(frozen=True, slots=True)
class InstrumentRef:
    """An instrument as `EXCHANGE:SYMBOL` (the backplane's key)."""

    exchange: str
    symbol: str

    @property
    def key(self) -> str:
        """Return the backplane key `EXCHANGE:SYMBOL`."""
        return f"{self.exchange}:{self.symbol}"

    @classmethod
    def parse(cls, key: str) -> InstrumentRef:
        """Split a backplane key."""
        exchange, _, symbol = key.partition(":")
        return cls(exchange, symbol)


@dataclass(frozen=True, slots=True)
class AlertDraft:
    """The caller-settable fields of an alert, as decoded from a request (unvalidated)."""

    exchange: str = ""
    symbol: str = ""
    condition: AlertCondition | None = None
    level_micros: int = 0
    change_basis_points: int = 0
    rearm: bool = False
    cool_down: timedelta | None = None
    expires_at: datetime | None = None
    note: str = ""

    def validated(self, now: datetime, prefix: str = "alert") -> AlertDraft:
        """Return the draft normalised, or raise INVALID_ARGUMENT naming every bad field."""
        violations: list[FieldViolation] = []
        symbol = self.symbol.strip().upper()
        guardrail = self.condition is not None and self.condition.is_guardrail
        if not guardrail and self.exchange not in {exchange.value for exchange in Exchange}:
            violations.append(FieldViolation(f"{prefix}.instrument.exchange", "must be a known exchange"))
        if not guardrail and not SYMBOL_PATTERN.fullmatch(symbol):
            violations.append(FieldViolation(f"{prefix}.instrument.symbol", "must be a valid trading symbol"))
        if self.condition is None:
            violations.append(FieldViolation(f"{prefix}.condition", "is required"))
        elif guardrail:
            violations += guardrail_violations(
                drawdown=self.condition is AlertCondition.DRAWDOWN_FROM_PEAK,
                exchange=self.exchange,
                symbol=self.symbol,
                level_micros=self.level_micros,
                basis_points=self.change_basis_points,
                prefix=prefix,
            )
        elif self.condition.is_price:
            if self.level_micros <= 0:
                violations.append(FieldViolation(f"{prefix}.level_micros", "must be > 0 for a price condition"))
            if self.change_basis_points:
                violations.append(FieldViolation(f"{prefix}.change_basis_points", "must be 0 for a price condition"))
        else:
            if not 1 <= self.change_basis_points <= MAX_CHANGE_BASIS_POINTS:
                violations.append(
                    FieldViolation(f"{prefix}.change_basis_points", f"must be 1..{MAX_CHANGE_BASIS_POINTS}")
                )
            if self.level_micros:
                violations.append(FieldViolation(f"{prefix}.level_micros", "must be 0 for a day-change condition"))
        if self.rearm and guardrail and self.cool_down is None:
            pass  # a guardrail re-arms at the next IST day by itself
        elif self.rearm:
            if self.cool_down is None or not MIN_COOL_DOWN <= self.cool_down <= MAX_COOL_DOWN:
                violations.append(FieldViolation(f"{prefix}.cool_down", "must be 1 minute .. 7 days when rearm is set"))
        elif self.cool_down is not None:
            violations.append(FieldViolation(f"{prefix}.cool_down", "must be unset for a one-shot alert"))
        if self.expires_at is not None and not now < self.expires_at <= now + MAX_EXPIRY_AHEAD:
            violations.append(FieldViolation(f"{prefix}.expire_time", "must be in the future, at most 365 days ahead"))
        if len(self.note) > NOTE_MAX_LENGTH:
            violations.append(FieldViolation(f"{prefix}.note", f"must be at most {NOTE_MAX_LENGTH} characters"))
        if violations:
            raise InvalidArgument("the alert is invalid", violations)
        return replace(self, symbol=symbol)


def new_id(prefix: str, now: datetime) -> str:
    """Return a fresh id that sorts by creation time."""
    return f"{prefix}{int(now.timestamp() * 1000):012x}{secrets.token_hex(6)}"


@dataclass(frozen=True, slots=True)
class Alert:
    """A user's alert. `generation` changes whenever it fires, re-arms or is updated: an evaluator
    that saw generation g may fire it only while it still is g (the store checks), which makes a
    crossing fire once across replicas and restarts."""

    id: str
    user_id: str
    instrument: InstrumentRef
    condition: AlertCondition
    level_micros: int
    change_basis_points: int
    rearm: bool
    cool_down: timedelta | None
    expires_at: datetime | None
    note: str
    state: AlertState
    created_at: datetime
    updated_at: datetime
    request_id: str = ""
    generation: int = 1
    trigger_count: int = 0
    last_trigger_at: datetime | None = None
    last_trigger_price_micros: int = 0
    rearm_at: datetime | None = None
    #: For a guardrail: the day's P&L when it last fired.
    last_trigger_pnl_micros: int = 0

    @classmethod
    def create(cls, user_id: str, draft: AlertDraft, request_id: str, now: datetime) -> Alert:
        """Return a new ARMED alert from a validated draft."""
        assert draft.condition is not None
        return cls(
            id=new_id("al_", now),
            user_id=user_id,
            instrument=InstrumentRef(draft.exchange, draft.symbol),
            condition=draft.condition,
            level_micros=draft.level_micros,
            change_basis_points=draft.change_basis_points,
            rearm=draft.rearm,
            cool_down=draft.cool_down,
            expires_at=draft.expires_at,
            note=draft.note,
            state=AlertState.ARMED,
            created_at=now,
            updated_at=now,
            request_id=request_id,
        )

    def draft(self) -> AlertDraft:
        """Return the caller-settable fields."""
        return AlertDraft(
            exchange=self.instrument.exchange,
            symbol=self.instrument.symbol,
            condition=self.condition,
            level_micros=self.level_micros,
            change_basis_points=self.change_basis_points,
            rearm=self.rearm,
            cool_down=self.cool_down,
            expires_at=self.expires_at,
            note=self.note,
        )

    def updated(self, draft: AlertDraft, now: datetime) -> Alert:
        """Return the alert with the draft's values, armed again (a new generation)."""
        return replace(
            self,
            level_micros=draft.level_micros,
            change_basis_points=draft.change_basis_points,
            rearm=draft.rearm,
            cool_down=draft.cool_down,
            expires_at=draft.expires_at,
            note=draft.note,
            state=AlertState.ARMED,
            rearm_at=None,
            generation=self.generation + 1,
            updated_at=now,
        )

    def fired(self, price_micros: int, now: datetime) -> Alert:
        """Return the alert after firing: cooling down until now + cool_down, or TRIGGERED if one-shot.
        A re-arming guardrail cools down at least until the next IST day (once per day)."""
        if self.rearm and self.condition.is_guardrail:
            rearm_at = next_ist_day_start(now)
            if self.cool_down is not None:
                rearm_at = max(rearm_at, now + self.cool_down)
            state = AlertState.COOLING_DOWN
        elif self.rearm and self.cool_down is not None:
            state, rearm_at = AlertState.COOLING_DOWN, now + self.cool_down
        else:
            state, rearm_at = AlertState.TRIGGERED, None
        return replace(
            self,
            state=state,
            rearm_at=rearm_at,
            generation=self.generation + 1,
            trigger_count=self.trigger_count + 1,
            last_trigger_at=now,
            last_trigger_price_micros=price_micros,
            updated_at=now,
        )

    def rearmed(self, now: datetime) -> Alert:
        """Return the alert armed again after its cool-down."""
        return replace(self, state=AlertState.ARMED, rearm_at=None, generation=self.generation + 1, updated_at=now)

    def expired(self, now: datetime) -> Alert:
        """Return the alert EXPIRED."""
        return replace(self, state=AlertState.EXPIRED, rearm_at=None, generation=self.generation + 1, updated_at=now)

    def is_expired_at(self, now: datetime) -> bool:
        """Tell whether the alert's expiry has passed."""
        return self.expires_at is not None and self.expires_at <= now

    def notification_id(self) -> str:
        """Return the id of the notification firing this generation makes (the same on every replica)."""
        return f"{self.id}.{self.generation}"

    def guardrail_fired(self, pnl_micros: int, now: datetime) -> Alert:
        """Return a guardrail after firing at a day's P&L of `pnl_micros`."""
        return replace(self.fired(0, now), last_trigger_pnl_micros=pnl_micros)

    def describe_guardrail(self, pnl_micros: int, peak_micros: int) -> tuple[str, str]:
        """Return the (title, body) of the notification a guardrail makes when it fires."""
        return describe_guardrail(self, pnl_micros, peak_micros)

    def describe(self, price_micros: int, change_basis_points: int | None) -> tuple[str, str]:
        """Return the (title, body) of the notification this alert makes when it fires."""
        name = self.instrument.symbol
        price = format_micros(price_micros)
        if self.condition is AlertCondition.DAY_CHANGE_BEYOND:
            change = "" if change_basis_points is None else f"{change_basis_points / 100:+.2f}%"
            title = f"{name} moved {change} today"
            detail = f"{name} ({self.instrument.exchange}) is at {price}, {change} versus the previous close "
            detail += f"(alert: beyond ±{self.change_basis_points / 100:.2f}%)."
        else:
            verb = {
                AlertCondition.PRICE_ABOVE: "is at or above",
                AlertCondition.PRICE_BELOW: "is at or below",
                AlertCondition.PRICE_CROSSING: "crossed",
            }[self.condition]
            title = f"{name} {verb} {format_micros(self.level_micros)}"
            detail = f"{name} ({self.instrument.exchange}) traded at {price}."
        if self.note:
            detail += f"\n\n{self.note}"
        return title, detail


def format_micros(micros: int) -> str:
    """Format INR micros as rupees with paise (e.g. 1600.50)."""
    sign = "-" if micros < 0 else ""
    rupees, rest = divmod(abs(micros), 1_000_000)
    return f"{sign}{rupees}.{rest // 10_000:02d}"


class Tick(NamedTuple):
    """One quote update of the backplane, reduced to what alerts look at (a named tuple: one is built per tick,
    and a frozen dataclass's construction costs about four times as much)."""

    instrument: str
    price_micros: int
    change_micros: int
    received_ns: int

    @property
    def change_basis_points(self) -> int | None:
        """Return the change versus the previous close in basis points (None when the close is unknown)."""
        close = self.price_micros - self.change_micros
        if self.price_micros <= 0 or close <= 0:
            return None
        # Rounded toward zero, so a threshold is reached only when truly reached.
        return int(self.change_micros * 10_000 / close)


@dataclass(frozen=True, slots=True)
class Notification:
    """One inbox item. `sequence` orders a user's notifications (allocated per user, increasing)."""

    id: str
    user_id: str
    kind: NotificationKind
    title: str
    body: str
    created_at: datetime
    alert_id: str = ""
    read: bool = False
    sequence: int = 0

    @property
    def expires_at(self) -> datetime:
        """Return when the sweeper deletes it."""
        return self.created_at + RETENTION


class Direction(IntEnum):
    """How a level is reached on an axis."""

    UP = 1
    DOWN = -1
    CROSS = 0
