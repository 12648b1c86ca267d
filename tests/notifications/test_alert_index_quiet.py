"""The index's quiet interval (a tick reaching nothing costs two comparisons) never hides a level it reaches."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.notifications.alert_index_model import Naive, alert
from tests.notifications.test_alert_index import CONDITIONS
from trademesh.services.notifications.alert_index import AlertIndex
from trademesh.services.notifications.model import AlertCondition, Tick


def tick(price: int) -> Tick:
    return Tick("NSE:A", price, 0, 0)


def fired(index: AlertIndex, price: int) -> set[str]:
    return {firing.alert_id for firing in index.on_tick(tick(price))}


def test_a_crossing_level_equal_to_the_last_price_fires_on_the_move_back_across_it() -> None:
    index = AlertIndex()
    index.add(alert(0, AlertCondition.PRICE_CROSSING, 100, "NSE:A"))
    index.add(alert(1, AlertCondition.PRICE_ABOVE, 120, "NSE:A"))
    assert fired(index, 100) == set()  # the side is learnt on the level itself
    assert fired(index, 105) == set()  # moving away from a level does not cross it
    assert fired(index, 104) == set()
    assert fired(index, 100) == {"a0000"}  # back onto it: crossed


def test_a_level_added_inside_the_quiet_interval_is_reached_by_the_next_tick() -> None:
    index = AlertIndex()
    index.add(alert(0, AlertCondition.PRICE_ABOVE, 200, "NSE:A"))
    index.add(alert(1, AlertCondition.PRICE_BELOW, 50, "NSE:A"))
    assert fired(index, 100) == set()  # the quiet interval is now (50, 200)
    index.add(alert(2, AlertCondition.PRICE_ABOVE, 110, "NSE:A"))
    index.add(alert(3, AlertCondition.PRICE_BELOW, 95, "NSE:A"))
    assert fired(index, 110) == {"a0002"}
    assert fired(index, 95) == {"a0003"}
    index.remove("a0000")
    assert fired(index, 300) == set()
    assert fired(index, 40) == {"a0001"}


def test_a_crossing_level_between_the_last_price_and_the_quiet_bound_fires_after_the_merge() -> None:
    index = AlertIndex()
    index.add(alert(0, AlertCondition.PRICE_ABOVE, 200, "NSE:A"))
    assert fired(index, 100) == set()
    index.add(alert(1, AlertCondition.PRICE_CROSSING, 150, "NSE:A"))
    assert fired(index, 120) == set()  # the crossing alert learns its side (below)
    assert fired(index, 160) == {"a0001"}


# Long walks in a narrow range: most ticks fall inside a quiet interval, levels sit on the visited prices.
walks = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.sampled_from(CONDITIONS), st.integers(95, 105)),
        st.tuples(st.just("walk"), st.lists(st.integers(93, 107), min_size=1, max_size=12)),
        st.tuples(st.just("remove"), st.integers(0, 30)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(walks)
def test_walks_through_quiet_intervals_fire_what_checking_every_alert_fires(program: list[tuple[object, ...]]) -> None:
    index, naive = AlertIndex(), Naive()
    added = 0
    for step in program:
        if step[0] == "add":
            item = alert(added, step[1], int(step[2]), "NSE:A")  # type: ignore[arg-type,call-overload]
            added += 1
            index.add(item)
            naive.armed[item.id] = item
        elif step[0] == "remove":
            alert_id = f"a{int(step[1]):04d}"  # type: ignore[call-overload]
            index.remove(alert_id)
            naive.armed.pop(alert_id, None)
            naive.side.pop(alert_id, None)
        else:
            for price in step[1]:  # type: ignore[attr-defined]
                assert fired(index, price) == naive.on_tick(tick(price))
    assert len(index) == len(naive.armed)
