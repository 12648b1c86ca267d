"""The model the alert-index property tests check `AlertIndex` against: every armed alert checked on every tick.

`alert(...)` builds an armed alert; `Naive` is the obvious evaluator (price alerts), `NaiveWithDayChange` adds
day-change alerts; `Lockstep` feeds the same steps (add, remove, tick) to an index and a naive evaluator and
asserts, on every tick, that both fire the same alerts, and at the end that both hold the same alerts.
"""

from __future__ import annotations

from datetime import UTC, datetime

from trademesh.services.notifications.alert_index import AlertIndex
from trademesh.services.notifications.model import Alert, AlertCondition, AlertState, InstrumentRef, Tick

NOW = datetime(2024, 7, 1, tzinfo=UTC)


def alert(number: int, condition: AlertCondition, level: int, instrument: str) -> Alert:
    return Alert(
        id=alert_id(number),
        user_id="u",
        instrument=InstrumentRef.parse(instrument),
        condition=condition,
        level_micros=level,
        change_basis_points=0,
        rearm=False,
        cool_down=None,
        expires_at=None,
        note="",
        state=AlertState.ARMED,
        created_at=NOW,
        updated_at=NOW,
    )


def alert_id(number: int) -> str:
    """The id of the `number`-th alert added."""
    return f"a{number:04d}"


class Naive:
    """Check every armed alert on every tick; a crossing alert learns its side from its first tick."""

    def __init__(self) -> None:
        self.armed: dict[str, Alert] = {}
        self.side: dict[str, int] = {}

    def on_tick(self, tick: Tick) -> set[str]:
        fired = set()
        for alert_id, item in list(self.armed.items()):
            if item.instrument.key != tick.instrument:
                continue
            level, price = item.level_micros, tick.price_micros
            if item.condition is AlertCondition.PRICE_ABOVE:
                hit = price >= level
            elif item.condition is AlertCondition.PRICE_BELOW:
                hit = price <= level
            else:
                previous = self.side.get(alert_id)
                hit = previous is not None and (previous < level <= price or price <= level < previous)
                self.side[alert_id] = price
            if hit:
                fired.add(alert_id)
                del self.armed[alert_id]
        return fired


class NaiveWithDayChange(Naive):
    """`Naive`, plus day-change alerts: fired when |change| in basis points (toward zero) reaches the threshold."""

    def on_tick(self, tick: Tick) -> set[str]:
        fired = set()
        change = tick.change_basis_points
        for alert_id, item in list(self.armed.items()):
            if (
                item.condition is AlertCondition.DAY_CHANGE_BEYOND
                and item.instrument.key == tick.instrument
                and change is not None
                and abs(change) >= item.change_basis_points
            ):
                fired.add(alert_id)
                del self.armed[alert_id]
        return fired | super().on_tick(tick)


class Lockstep:
    """An `AlertIndex` and a naive evaluator given the same steps."""

    def __init__(self, naive: Naive) -> None:
        self.index = AlertIndex()
        self.naive = naive
        self.added = 0

    def next_alert(self, condition: AlertCondition, level: int, instrument: str) -> Alert:
        """A new armed alert (the next number), not yet added."""
        item = alert(self.added, condition, level, instrument)
        self.added += 1
        return item

    def arm(self, item: Alert) -> None:
        """Add (or arm again under the same id) `item` in both."""
        self.index.add(item)
        self.naive.armed[item.id] = item

    def remove(self, number: int) -> str:
        """Remove the `number`-th alert from both (if there); its id."""
        removed = alert_id(number)
        self.index.remove(removed)
        self.naive.armed.pop(removed, None)
        self.naive.side.pop(removed, None)
        return removed

    def tick(self, tick: Tick) -> None:
        """Both fire exactly the same alerts on `tick`."""
        assert {firing.alert_id for firing in self.index.on_tick(tick)} == self.naive.on_tick(tick)

    def check_same_alerts(self) -> None:
        """Both hold exactly the same armed alerts."""
        assert len(self.index) == len(self.naive.armed)
        assert {alert_id for alert_id in self.naive.armed if alert_id in self.index} == set(self.naive.armed)
