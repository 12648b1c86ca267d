"""The in-memory alert index: per instrument, armed levels kept sorted so a tick touches only what it crosses.

Each armed alert contributes one or two *levels* on an axis (the last price, or the day change in
basis points), each with a direction:
  UP     fires when the value is at or above the level   (PRICE_ABOVE; DAY_CHANGE_BEYOND at +T)
  DOWN   fires when the value is at or below the level   (PRICE_BELOW; DAY_CHANGE_BEYOND at -T)
  CROSS  fires when the value moves from one side of the level to the other side or onto it
UP levels sit in an ascending list: the ones a value v reaches are the prefix up to v, found by
bisection; DOWN levels likewise from the other end; CROSS levels reached by a move prev → v are the
slice between the two. A fired alert leaves the index (it is COOLING_DOWN or done) — the reached
slice is cut out of its list in the same step, without a search per firing — so a burst of ticks
fires it once; a re-armed crossing alert waits for one tick to learn its side before it
rejoins. Cost per tick: O(log n + k) for k alerts fired. Pure: no I/O.

Most ticks reach nothing, and in a busy process they find the index cold in the CPU caches: each axis keeps the
*quiet interval* (low, high) around its last value — high the nearest level an upward move would reach (the first
UP level, the first CROSS level above the value), low the same downwards (a CROSS level on the value included) —
so such a tick costs two comparisons of numbers held in the axis itself, not bisections through lists of tuples.
Any change of the levels makes the interval empty (the next tick recomputes it); a tick inside it reaches nothing
and keeps it valid.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass, field

from trademesh.services.notifications.model import Alert, AlertCondition, Direction, Tick

PRICE = "price"
CHANGE = "change"

#: Beyond any value on an axis (prices are int64 micros, day changes basis points).
_FAR = 1 << 64


@dataclass(frozen=True, slots=True)
class Firing:
    """An alert a tick reached: fire generation `generation` at this price."""

    alert_id: str
    generation: int
    price_micros: int
    change_basis_points: int | None


@dataclass(slots=True)
class _Axis:
    up: list[tuple[int, str]] = field(default_factory=list)
    down: list[tuple[int, str]] = field(default_factory=list)
    cross: list[tuple[int, str]] = field(default_factory=list)
    previous: int | None = None
    # The quiet interval: a value with low < value < high reaches no level (empty, 0 < v < 0, until computed).
    low: int = 0
    high: int = 0

    def levels(self, direction: Direction) -> list[tuple[int, str]]:
        """Return the level list of `direction`, making the quiet interval empty (the caller changes the list)."""
        self.low = self.high = 0
        return self.up if direction is Direction.UP else self.down if direction is Direction.DOWN else self.cross

    def reach(self, value: int, hits: list[str]) -> None:
        """`take_reached`, after the quiet interval's two comparisons (the common case: nothing reached)."""
        if self.low < value < self.high:
            self.previous = value
        else:
            self.take_reached(value, hits)

    def take_reached(self, value: int, hits: list[str]) -> None:
        """Move the ids of the levels `value` reaches into `hits`, taking those levels out (a reached level fires
        its alert, which leaves the index: deleting the slice here spares a search per firing later)."""
        # Most ticks reach nothing: each list is looked at only at its end (one comparison) first.
        up = self.up
        if up and up[0][0] <= value:
            end = bisect_right(up, (value, "\uffff"))
            hits.extend(alert_id for _, alert_id in up[:end])
            del up[:end]
        down = self.down
        if down and down[-1][0] >= value:
            start = bisect_left(down, (value, ""))
            hits.extend(alert_id for _, alert_id in down[start:])
            del down[start:]
        previous = self.previous
        cross = self.cross
        if cross and previous is not None and previous != value:
            if value > previous:  # previous < level <= value
                lo, hi = bisect_right(cross, (previous, "\uffff")), bisect_right(cross, (value, "\uffff"))
            else:  # value <= level < previous
                lo, hi = bisect_left(cross, (value, "")), bisect_left(cross, (previous, ""))
            if lo < hi:
                hits.extend(alert_id for _, alert_id in cross[lo:hi])
                del cross[lo:hi]
        self.previous = value
        self._quiet(value)

    def _quiet(self, value: int) -> None:
        """Compute the quiet interval around `value`, the axis's last value (nothing left reaches it): `high` is the
        lowest UP level or the lowest CROSS level above `value`, `low` the highest DOWN level or the highest CROSS
        level at or below it. A CROSS level equal to `value` is not crossed by a move up from it, and bounds the
        interval below: the move back onto it (or under it) is looked at."""
        up, down, cross = self.up, self.down, self.cross
        high = up[0][0] if up else _FAR
        low = down[-1][0] if down else -_FAR
        if cross:
            above = bisect_right(cross, (value, "\uffff"))  # the CROSS levels from here on are > value
            if above < len(cross):
                high = min(high, cross[above][0])
            if above > 0:
                low = max(low, cross[above - 1][0])
        self.low, self.high = low, high

    @property
    def empty(self) -> bool:
        """Tell whether no level is left on this axis."""
        return not (self.up or self.down or self.cross)


def levels_of(alert: Alert) -> list[tuple[str, int, Direction]]:
    """Return the (axis, level, direction) entries an armed alert puts in the index."""
    match alert.condition:
        case AlertCondition.PRICE_ABOVE:
            return [(PRICE, alert.level_micros, Direction.UP)]
        case AlertCondition.PRICE_BELOW:
            return [(PRICE, alert.level_micros, Direction.DOWN)]
        case AlertCondition.PRICE_CROSSING:
            return [(PRICE, alert.level_micros, Direction.CROSS)]
        case AlertCondition.DAY_CHANGE_BEYOND:
            return [
                (CHANGE, alert.change_basis_points, Direction.UP),
                (CHANGE, -alert.change_basis_points, Direction.DOWN),
            ]
        case _:  # P&L guardrails are evaluated on analytics' WatchPnl, not on ticks
            return []


class AlertIndex:
    """Armed alerts by instrument, levels sorted per axis and direction."""

    def __init__(self) -> None:
        self._axes: dict[str, dict[str, _Axis]] = {}
        self._alerts: dict[str, Alert] = {}
        # Crossing alerts armed since the instrument's last tick: the next tick tells their side.
        self._pending: dict[str, dict[str, Alert]] = {}

    def __len__(self) -> int:
        return len(self._alerts)

    def __contains__(self, alert_id: object) -> bool:
        return alert_id in self._alerts

    def get(self, alert_id: str) -> Alert | None:
        """Return the indexed (armed) alert with this id."""
        return self._alerts.get(alert_id)

    def level_count(self) -> int:
        """Return how many levels are indexed (each armed alert's `levels_of`, once its side is known)."""
        axes = [axis for by_name in self._axes.values() for axis in by_name.values()]
        return sum(len(axis.up) + len(axis.down) + len(axis.cross) for axis in axes)

    def instruments(self) -> frozenset[str]:
        """Return the instruments with at least one armed alert."""
        return frozenset(self._axes) | frozenset(self._pending)

    def add(self, alert: Alert) -> None:
        """Index an ARMED alert (replacing an older generation of it)."""
        self.remove(alert.id)
        self._alerts[alert.id] = alert
        if alert.condition is AlertCondition.PRICE_CROSSING:
            self._pending.setdefault(alert.instrument.key, {})[alert.id] = alert
        else:
            self._insert(alert)

    def _insert(self, alert: Alert) -> None:
        axes = self._axes.setdefault(alert.instrument.key, {})
        for axis_name, level, direction in levels_of(alert):
            axis = axes.get(axis_name)
            if axis is None:
                axis = axes[axis_name] = _Axis()
            insort(axis.levels(direction), (level, alert.id))

    def remove(self, alert_id: str) -> Alert | None:
        """Take an alert out of the index; return it if it was there."""
        alert = self._alerts.pop(alert_id, None)
        if alert is None:
            return None
        key = alert.instrument.key
        pending = self._pending.get(key)
        if pending is not None and alert.id in pending:
            del pending[alert.id]
            if not pending:
                del self._pending[key]
            return alert
        axes = self._axes.get(key, {})
        self._remove_levels(alert, axes)
        self._prune(key, axes)
        return alert

    @staticmethod
    def _remove_levels(alert: Alert, axes: dict[str, _Axis]) -> None:
        """Delete the alert's levels still in `axes` (a fired one's reached level is gone already)."""
        for axis_name, level, direction in levels_of(alert):
            axis = axes.get(axis_name)
            if axis is None:
                continue
            levels = axis.levels(direction)
            position = bisect_left(levels, (level, alert.id))
            if position < len(levels) and levels[position] == (level, alert.id):
                del levels[position]

    def _prune(self, key: str, axes: dict[str, _Axis]) -> None:
        if all(axis.empty for axis in axes.values()) and key not in self._pending:
            self._axes.pop(key, None)

    def on_tick(self, tick: Tick) -> list[Firing]:
        """Return the alerts `tick` fires and take them out of the index (each alert at most once)."""
        key = tick.instrument
        axes = self._axes.get(key)
        hits: list[str] = []
        change: int | None = None
        if axes is not None:
            price_axis = axes.get(PRICE)
            if price_axis is not None:
                price_axis.reach(tick.price_micros, hits)
            change_axis = axes.get(CHANGE)
            if change_axis is not None:
                change = tick.change_basis_points
                if change is not None:
                    change_axis.reach(change, hits)
        firings: list[Firing] = []
        if hits:
            assert axes is not None
            if change is None:
                change = tick.change_basis_points
            alerts = self._alerts
            for alert_id in dict.fromkeys(hits):  # a day-change alert may be reached on both of its levels
                alert = alerts.pop(alert_id, None)
                if alert is None:
                    continue
                if alert.condition is AlertCondition.DAY_CHANGE_BEYOND:
                    self._remove_levels(alert, axes)  # its other level, if that one was not reached
                firings.append(Firing(alert.id, alert.generation, tick.price_micros, change))
            self._prune(key, axes)
        if not self._pending:
            return firings
        pending = self._pending.pop(tick.instrument, None)
        if pending:
            axes = self._axes.setdefault(tick.instrument, {})
            price_axis = axes.get(PRICE)
            if price_axis is None:
                price_axis = axes[PRICE] = _Axis()
            price_axis.previous = tick.price_micros
            price_axis.low = price_axis.high = 0  # the levels change: the next tick computes the quiet interval
            # Only crossing alerts wait here (one CROSS price level each): merged at once, not one insort each.
            price_axis.cross.extend((alert.level_micros, alert.id) for alert in pending.values())
            price_axis.cross.sort()
        return firings
