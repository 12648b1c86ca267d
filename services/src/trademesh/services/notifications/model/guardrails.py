"""P&L guardrails: a day's loss beyond a limit, a drawdown from the day's peak (decision 0300). Pure.

The day's P&L is analytics' (WatchPnl is the source of truth): realized today (net of charges) +
net unrealized of the open positions, marked with the marks WatchPnl uses. A guardrail fires at most
once per IST day; a re-arming one arms again at the start of the next IST day (or after its cool-down,
whichever is later).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from trademesh.kernel.calendar import IST
from trademesh.kernel.errors import FieldViolation

if TYPE_CHECKING:
    from trademesh.services.notifications.model.notices import Alert

#: The largest loss limit or drawdown amount accepted: ₹1,000,000,000 (10^15 micros).
MAX_GUARDRAIL_MICROS = 10**15
MAX_DRAWDOWN_BASIS_POINTS = 10_000


def guardrail_violations(
    *, drawdown: bool, exchange: str, symbol: str, level_micros: int, basis_points: int, prefix: str
) -> list[FieldViolation]:
    """Return what is wrong with a guardrail's fields (empty when valid)."""
    violations: list[FieldViolation] = []
    if exchange or symbol.strip():
        violations.append(FieldViolation(f"{prefix}.instrument", "must be unset for a P&L guardrail"))
    if level_micros and not 0 < level_micros <= MAX_GUARDRAIL_MICROS:
        violations.append(FieldViolation(f"{prefix}.level_micros", f"must be 1..{MAX_GUARDRAIL_MICROS} micros"))
    if not drawdown:
        if level_micros <= 0 and not violations:
            violations.append(FieldViolation(f"{prefix}.level_micros", "must be a positive loss limit in micros"))
        if basis_points:
            violations.append(FieldViolation(f"{prefix}.change_basis_points", "must be 0 for a daily loss limit"))
        return violations
    if basis_points and not 1 <= basis_points <= MAX_DRAWDOWN_BASIS_POINTS:
        violations.append(FieldViolation(f"{prefix}.change_basis_points", f"must be 1..{MAX_DRAWDOWN_BASIS_POINTS}"))
    if bool(level_micros) == bool(basis_points):
        violations.append(
            FieldViolation(f"{prefix}.level_micros", "set exactly one of level_micros and change_basis_points")
        )
    return violations


def ist_day(moment: datetime) -> date:
    """Return the IST calendar day of `moment`."""
    return moment.astimezone(IST).date()


def next_ist_day_start(moment: datetime) -> datetime:
    """Return the next IST midnight after `moment`."""
    return datetime.combine(ist_day(moment) + timedelta(days=1), time(0), IST)


@dataclass(frozen=True, slots=True)
class DayPnl:
    """One reading of a user's P&L of an IST day (from analytics' WatchPnl)."""

    trading_date: str
    pnl_micros: int


@dataclass(slots=True)
class DayTrack:
    """A user's running P&L of one IST day: the latest reading and the highest seen since watching began."""

    trading_date: str = ""
    pnl_micros: int = 0
    peak_micros: int = 0
    readings: int = 0

    def observe(self, reading: DayPnl) -> None:
        """Take a reading; a new trading date starts a new day (peak = that reading)."""
        if reading.trading_date != self.trading_date:
            self.trading_date, self.peak_micros, self.readings = reading.trading_date, reading.pnl_micros, 0
        self.pnl_micros = reading.pnl_micros
        self.peak_micros = max(self.peak_micros, reading.pnl_micros)
        self.readings += 1

    @property
    def drawdown_micros(self) -> int:
        """Return how far the P&L is below the day's peak (≥ 0)."""
        return self.peak_micros - self.pnl_micros


def guardrail_reached(alert: Alert, track: DayTrack) -> bool:
    """Tell whether the day's running P&L reaches the armed guardrail."""
    from trademesh.services.notifications.model.notices import AlertCondition

    if not track.readings:
        return False
    if alert.condition is AlertCondition.DAILY_LOSS_BEYOND:
        return -track.pnl_micros >= alert.level_micros
    if alert.level_micros:
        return track.drawdown_micros >= alert.level_micros
    return track.peak_micros > 0 and track.drawdown_micros * 10_000 >= alert.change_basis_points * track.peak_micros


def describe_guardrail(alert: Alert, pnl_micros: int, peak_micros: int) -> tuple[str, str]:
    """Return the (title, body) of a guardrail's notification."""
    from trademesh.services.notifications.model.notices import AlertCondition, format_micros

    if alert.condition is AlertCondition.DAILY_LOSS_BEYOND:
        title = f"Daily loss limit reached: {format_micros(pnl_micros)}"
        detail = f"Today's P&L (net of charges, open positions marked live) is {format_micros(pnl_micros)}, "
        detail += f"a loss of at least your limit of {format_micros(alert.level_micros)}."
    else:
        fall = peak_micros - pnl_micros
        limit = format_micros(alert.level_micros) if alert.level_micros else f"{alert.change_basis_points / 100:.2f}%"
        title = f"Drawdown from today's peak: {format_micros(fall)}"
        detail = f"Today's P&L fell from its peak of {format_micros(peak_micros)} to {format_micros(pnl_micros)} "
        detail += f"(net of charges; your drawdown limit: {limit})."
    if alert.note:
        detail += f"\n\n{alert.note}"
    return title, detail


@dataclass(slots=True)
class UserGuardrails:
    """The armed guardrails of one user and that user's running day."""

    alerts: dict[str, Alert] = field(default_factory=dict)
    track: DayTrack = field(default_factory=DayTrack)
