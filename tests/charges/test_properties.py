"""Properties: the vectorised path equals the reference, allocation is exact, splitting follows the plan."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from trademesh.kernel.charges import (
    COMPONENTS,
    Broker,
    Exchange,
    Fill,
    Segment,
    Side,
    allocate,
    charge_fills,
    charge_order,
    load_schedule,
)
from trademesh.kernel.charges.engine import apply_rate
from trademesh.kernel.charges.schedule import SEGMENTS_OF, BrokerageModel
from trademesh.kernel.charges.vectorised import FillColumns, charge_columns

# Days around every change date, so boundaries are crossed often.
DAYS = [
    date(2020, 7, 1),
    date(2023, 3, 31),
    date(2023, 4, 1),
    date(2024, 9, 30),
    date(2024, 10, 1),
    date(2026, 3, 31),
    date(2026, 4, 1),
    date(2026, 12, 4),
]


@st.composite
def orders(draw: st.DrawFn, max_orders: int = 12) -> list[Fill]:
    """Draw executed orders of 1-4 fills each, then interleave their fills."""
    fills: list[Fill] = []
    for number in range(draw(st.integers(1, max_orders))):
        exchange = draw(st.sampled_from(list(Exchange)))
        segment = draw(st.sampled_from(SEGMENTS_OF[exchange]))
        side, broker = draw(st.sampled_from(list(Side))), draw(st.sampled_from(list(Broker)))
        instrument, day = draw(st.sampled_from(["INFY", "SBIN", "TCS"])), draw(st.sampled_from(DAYS))
        account = draw(st.sampled_from(["A1", "A2"]))
        for part in range(draw(st.integers(1, 4))):
            fills.append(
                Fill(
                    fill_id=f"{number}.{part}",
                    order_id=f"o{number}",
                    broker=broker,
                    exchange=exchange,
                    segment=segment,
                    side=side,
                    instrument=instrument,
                    quantity=draw(st.integers(1, 5_000)),
                    price_micros=draw(st.integers(1, 200_000)) * 50_000,  # 5-paise ticks up to Rs 10,000
                    trade_date=day,
                    account=account,
                )
            )
    return draw(st.permutations(fills))


@settings(max_examples=150, deadline=None)
@given(fills=orders(), policy_name=st.sampled_from(["contract_note", "kite_api"]))
def test_the_vectorised_path_equals_the_reference_to_the_micro(fills: list[Fill], policy_name: str) -> None:
    schedule = load_schedule()
    policy = schedule.policy(policy_name)

    reference = charge_fills(schedule, policy, fills)
    columns = charge_columns(schedule, policy, FillColumns.from_fills(fills))

    for name in COMPONENTS:
        assert columns.components[name].tolist() == [getattr(result.charges, name) for result in reference], name
    versions = [f"{schedule.version}/{schedule.change_dates[epoch].isoformat()}" for epoch in columns.epoch.tolist()]
    assert versions == [result.schedule_version for result in reference]
    assert columns.total().tolist() == [result.charges.total() for result in reference]


@settings(max_examples=100, deadline=None)
@given(fills=orders(), policy_name=st.sampled_from(["contract_note", "kite_api"]))
def test_the_fills_of_an_order_share_its_charges_exactly(fills: list[Fill], policy_name: str) -> None:
    schedule = load_schedule()
    policy = schedule.policy(policy_name)
    results = {result.fill_id: result.charges for result in charge_fills(schedule, policy, fills)}
    by_order: dict[tuple[str, str], list[Fill]] = {}
    for each in fills:
        by_order.setdefault((each.account, each.order_id), []).append(each)

    for members in by_order.values():
        order_charges = charge_order(schedule, policy, members)
        assert sum(results[each.fill_id].brokerage for each in members) == order_charges.brokerage
        assert sum(results[each.fill_id].transaction_tax for each in members) == order_charges.transaction_tax
        assert sum(results[each.fill_id].stamp_duty for each in members) == order_charges.stamp_duty


@settings(max_examples=150, deadline=None)
@given(
    segment=st.sampled_from(list(Segment)),
    broker=st.sampled_from(list(Broker)),
    quantities=st.lists(st.integers(1, 10_000), min_size=1, max_size=6),
    price_ticks=st.integers(1, 400_000),
    day=st.sampled_from(DAYS),
)
def test_splitting_an_order_changes_brokerage_only_as_the_plan_says(
    segment: Segment, broker: Broker, quantities: list[int], price_ticks: int, day: date
) -> None:
    schedule = load_schedule()
    policy = schedule.policy("contract_note")
    price = price_ticks * 50_000

    def fills_of(order_ids: list[str]) -> list[Fill]:
        return [
            Fill(
                f"f{index}",
                order_id,
                broker,
                Exchange.NSE,
                segment,
                Side.BUY,
                "INFY",
                quantity,
                price,
                day,
            )
            for index, (order_id, quantity) in enumerate(zip(order_ids, quantities, strict=True))
        ]

    def brokerage(fills: list[Fill]) -> int:
        return sum(result.charges.brokerage for result in charge_fills(schedule, policy, fills))

    one_order = ["o"] * len(quantities)
    own_orders = [f"o{index}" for index in range(len(quantities))]
    whole = Fill("w", "o", broker, Exchange.NSE, segment, Side.BUY, "INFY", sum(quantities), price, day)
    plan = schedule.brokerage(broker, "default", segment, day)

    def plan_says(quantity: int) -> int:
        turnover = quantity * price
        if plan.model is BrokerageModel.ZERO:
            return 0
        if plan.model is BrokerageModel.FLAT:
            return plan.flat_micros
        return min(apply_rate(turnover, plan.percent_nanos, policy.units["brokerage"]), plan.cap_micros)

    # Fills of one order: exactly the brokerage of the unsplit order, whatever the plan.
    assert brokerage(fills_of(one_order)) == brokerage([whole]) == plan_says(sum(quantities))
    # Separate orders: each pays the plan's charge for its own turnover (flat: one fee per order).
    assert brokerage(fills_of(own_orders)) == sum(plan_says(quantity) for quantity in quantities)


@given(total=st.integers(0, 10**12), weights=st.lists(st.integers(1, 10**7), min_size=1, max_size=20))
def test_allocation_is_exact_and_within_a_micro_of_pro_rata(total: int, weights: list[int]) -> None:
    shares = allocate(total, weights)
    assert sum(shares) == total
    for share, weight in zip(shares, weights, strict=True):
        exact = Fraction(total * weight, sum(weights))
        assert exact - 1 < share < exact + 1


def test_allocation_breaks_ties_towards_the_earlier_fill() -> None:
    assert allocate(5, [1, 1, 1]) == [2, 2, 1]
    assert allocate(1, [1, 2, 1]) == [0, 1, 0]
