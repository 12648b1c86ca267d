"""The alert index against the obvious evaluator (every alert checked on every tick): the same firings, always."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from trademesh.services.notifications.alert_index import AlertIndex
from trademesh.services.notifications.model import Alert, AlertCondition, AlertState, InstrumentRef, Tick

NOW = datetime(2024, 7, 1, tzinfo=UTC)
CONDITIONS = [AlertCondition.PRICE_ABOVE, AlertCondition.PRICE_BELOW, AlertCondition.PRICE_CROSSING]


def alert(number: int, condition: AlertCondition, level: int, instrument: str) -> Alert:
    return Alert(
        id=f"a{number:04d}",
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


INSTRUMENTS = st.sampled_from(["NSE:A", "NSE:B"])
steps = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.sampled_from(CONDITIONS), st.integers(90, 110), INSTRUMENTS),
        st.tuples(st.just("tick"), st.integers(85, 115), INSTRUMENTS),
        st.tuples(st.just("remove"), st.integers(0, 40)),
    ),
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_the_index_fires_exactly_what_checking_every_alert_fires(program: list[tuple[object, ...]]) -> None:
    index, naive = AlertIndex(), Naive()
    added = 0
    for step in program:
        if step[0] == "add":
            _, condition, level, instrument = step
            item = alert(added, condition, int(level), str(instrument))  # type: ignore[arg-type,call-overload]
            added += 1
            index.add(item)
            naive.armed[item.id] = item
        elif step[0] == "remove":
            alert_id = f"a{int(step[1]):04d}"  # type: ignore[call-overload]
            index.remove(alert_id)
            naive.armed.pop(alert_id, None)
            naive.side.pop(alert_id, None)
        else:
            _, price, instrument = step
            tick = Tick(str(instrument), int(price), 0, 0)  # type: ignore[call-overload]
            assert {firing.alert_id for firing in index.on_tick(tick)} == naive.on_tick(tick)
    assert set(naive.armed) == {alert_id for alert_id in naive.armed if alert_id in index}
    assert len(index) == len(naive.armed)
