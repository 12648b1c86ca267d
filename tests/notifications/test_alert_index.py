"""The alert index against the obvious evaluator (every alert checked on every tick): the same firings, always."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.notifications.alert_index_model import Lockstep, Naive
from trademesh.services.notifications.model import AlertCondition, Tick

CONDITIONS = [AlertCondition.PRICE_ABOVE, AlertCondition.PRICE_BELOW, AlertCondition.PRICE_CROSSING]
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
    both = Lockstep(Naive())
    for step in program:
        if step[0] == "add":
            _, condition, level, instrument = step
            both.arm(both.next_alert(condition, int(level), str(instrument)))  # type: ignore[arg-type,call-overload]
        elif step[0] == "remove":
            both.remove(int(step[1]))  # type: ignore[call-overload]
        else:
            _, price, instrument = step
            both.tick(Tick(str(instrument), int(price), 0, 0))  # type: ignore[call-overload]
    both.check_same_alerts()
