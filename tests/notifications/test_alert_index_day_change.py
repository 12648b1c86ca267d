"""The alert index with day-change alerts (two levels each, ±T basis points) among price alerts, against checking
every alert on every tick: the same firings, and a fired day-change alert leaves both of its levels (the one the
tick reached is cut with the reached slice; the other is removed by search)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.notifications.alert_index_model import Lockstep, NaiveWithDayChange
from trademesh.services.notifications.model import AlertCondition, Tick

CONDITIONS = [
    AlertCondition.PRICE_ABOVE,
    AlertCondition.PRICE_BELOW,
    AlertCondition.PRICE_CROSSING,
    AlertCondition.DAY_CHANGE_BEYOND,
]


INSTRUMENTS = st.sampled_from(["NSE:A", "NSE:B"])
steps = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.sampled_from(CONDITIONS), st.integers(90, 110), INSTRUMENTS),
        # price, previous close (the change is price - close)
        st.tuples(st.just("tick"), st.integers(85, 115), st.integers(95, 105), INSTRUMENTS),
        st.tuples(st.just("remove"), st.integers(0, 40)),
        # the owner changes an alert's threshold: armed again under the same id (as a reload after an update)
        st.tuples(st.just("readd"), st.integers(0, 40), st.integers(90, 110)),
    ),
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_day_change_alerts_fire_exactly_what_checking_every_alert_fires(program: list[tuple[object, ...]]) -> None:
    both = Lockstep(NaiveWithDayChange())
    index, naive = both.index, both.naive
    sided: set[str] = set()  # crossing alerts that saw a tick of their instrument since armed (side known)
    for step in program:
        if step[0] == "add":
            _, condition, level, instrument = step
            item = both.next_alert(condition, int(level), str(instrument))  # type: ignore[arg-type,call-overload]
            if condition is AlertCondition.DAY_CHANGE_BEYOND:  # thresholds 0.25 % .. 5.25 %
                item = replace(item, level_micros=0, change_basis_points=(int(level) - 89) * 25)  # type: ignore[call-overload]
            else:
                item = replace(item, level_micros=int(level) * 1_000_000)  # type: ignore[call-overload]
            both.arm(item)
        elif step[0] == "remove":
            both.remove(int(step[1]))  # type: ignore[call-overload]
        elif step[0] == "readd":
            alert_id = f"a{int(step[1]):04d}"  # type: ignore[call-overload]
            known = naive.armed.get(alert_id) or index.get(alert_id)
            if known is not None:
                if known.condition is AlertCondition.DAY_CHANGE_BEYOND:
                    item = replace(known, change_basis_points=(int(step[2]) - 89) * 25)  # type: ignore[call-overload]
                else:
                    item = replace(known, level_micros=int(step[2]) * 1_000_000)  # type: ignore[call-overload]
                both.arm(item)
                naive.side.pop(alert_id, None)
                sided.discard(alert_id)
        else:
            _, price, close, instrument = step
            tick = Tick(str(instrument), int(price) * 1_000_000, (int(price) - int(close)) * 1_000_000, 0)  # type: ignore[call-overload]
            sided.update(i for i, a in naive.armed.items() if a.instrument.key == tick.instrument)
            both.tick(tick)
        # No level outlives its alert: the indexed levels are exactly those of the armed alerts (a crossing alert's
        # once its side is known).
        assert index.level_count() == sum(
            2 if item.condition is AlertCondition.DAY_CHANGE_BEYOND else 1
            for item in naive.armed.values()
            if item.condition is not AlertCondition.PRICE_CROSSING or item.id in sided
        )
    both.check_same_alerts()
