"""Charges on expiry settlement fills (decision 0310), hand-computed.

STT on exercise is 0.125 % of intrinsic value x quantity (0.15 % from 1 April 2026), payable by the holder
of a long option settled in the money; nothing else is charged on a settlement.
"""

from __future__ import annotations

import tomllib
from datetime import date
from importlib import resources

import pytest

from trademesh.kernel import charges as engine
from trademesh.kernel.charges import Charges, Exchange, ScheduleError, Segment, Side, charge_settlement
from trademesh.kernel.charges.schedule import build_schedule

M = 1_000_000
SCHEDULE = engine.load_schedule()
NOTE = SCHEDULE.policy("contract_note")
API = SCHEDULE.policy("kite_api")


def settle(
    *,
    quantity: int,
    price: int,
    day: date = date(2026, 2, 24),
    exchange: Exchange = Exchange.NSE,
    segment: Segment = Segment.OPTIONS,
    side: Side = Side.SELL,
    policy: engine.Policy = NOTE,
) -> Charges:
    return charge_settlement(
        SCHEDULE,
        policy,
        exchange=exchange,
        segment=segment,
        side=side,
        quantity_micros=quantity,
        price_micros=price,
        day=day,
    )


def test_a_long_call_exercised_in_the_money_pays_stt_on_its_intrinsic_value() -> None:
    # NIFTY 25,000 CE x 150, settlement price 25,512.35: intrinsic 512.35 x 150 = 76,852.50;
    # 0.125 % = 96.065625 -> a contract note rounds STT to the rupee: 96.
    charges = settle(quantity=150 * M, price=512_350_000)
    assert charges == Charges(transaction_tax=96 * M)
    assert charges.total() == 96 * M
    assert charges.fee_breakdown_items()["stt_micros"] == 96 * M
    # Unrounded (Kite's API policy): 96.065625 exactly.
    assert settle(quantity=150 * M, price=512_350_000, policy=API) == Charges(transaction_tax=96_065_625)


def test_the_rate_changes_on_1_april_2026_and_not_on_1_october_2024() -> None:
    # 75 units, intrinsic 200: value 15,000.
    assert settle(quantity=75 * M, price=200 * M, day=date(2024, 9, 30)).transaction_tax == 19 * M  # 18.75
    assert settle(quantity=75 * M, price=200 * M, day=date(2024, 10, 1)).transaction_tax == 19 * M  # still 0.125 %
    assert settle(quantity=75 * M, price=200 * M, day=date(2026, 3, 31)).transaction_tax == 19 * M  # 18.75
    assert settle(quantity=75 * M, price=200 * M, day=date(2026, 4, 1)).transaction_tax == 23 * M  # 0.15 %: 22.5


def test_bse_options_pay_the_same_exercise_stt() -> None:
    # SENSEX 80,000 PE x 20, settlement 79,123.40: intrinsic 876.60 x 20 = 17,532; 0.125 % = 21.915 -> 22.
    assert settle(quantity=20 * M, price=876_600_000, exchange=Exchange.BSE) == Charges(transaction_tax=22 * M)


@pytest.mark.parametrize(
    ("segment", "side", "price", "why"),
    [
        (Segment.OPTIONS, Side.BUY, 487_650_000, "a short option assigned: the writer pays nothing more"),
        (Segment.OPTIONS, Side.SELL, 0, "a long option out of the money lapses"),
        (Segment.FUTURES, Side.SELL, 25_515 * M, "a long future at its final settlement price"),
        (Segment.FUTURES, Side.BUY, 25_515 * M, "a short future at its final settlement price"),
    ],
)
def test_nothing_else_is_charged_on_a_settlement(segment: Segment, side: Side, price: int, why: str) -> None:
    assert settle(quantity=75 * M, price=price, segment=segment, side=side) == Charges(), why


def test_mcx_settlements_are_not_charged() -> None:
    assert SCHEDULE.exercise_rate(Exchange.MCX, date(2026, 2, 24)) is None
    assert settle(quantity=100 * M, price=150 * M, exchange=Exchange.MCX) == Charges()


def test_a_fractional_quantity_is_charged_on_its_exact_value() -> None:
    # 0.5 unit x intrinsic 1,000 = 500; 0.125 % = 0.625 (micro rounding), 1 rupee on a contract note (half up).
    assert settle(quantity=M // 2, price=1_000 * M, policy=API) == Charges(transaction_tax=625_000)
    assert settle(quantity=M // 2, price=1_000 * M) == Charges(transaction_tax=M)


def test_a_settlement_before_the_schedule_starts_is_refused() -> None:
    with pytest.raises(ScheduleError):
        settle(quantity=75 * M, price=100 * M, day=date(2020, 6, 30))


def test_settlement_fills_record_a_settlement_version() -> None:
    assert (
        engine.settlement_version(SCHEDULE, date(2026, 2, 24)) == f"settlement/{SCHEDULE.version_on(date(2026, 2, 24))}"
    )
    assert engine.settlement_version(SCHEDULE, date(2026, 4, 1)).endswith("/2026-04-01")


def test_exercise_rates_cite_their_sources_and_mcx_is_refused() -> None:
    lines = SCHEDULE.unverified()
    assert any(line.startswith("exercise tax NSE from 2026-04-01") for line in lines)
    data = resources.files("trademesh.kernel.charges") / "data"
    statutory = tomllib.loads((data / "statutory.toml").read_text(encoding="utf-8"))
    brokerage = tomllib.loads((data / "brokerage.toml").read_text(encoding="utf-8"))
    for entry in statutory["exercise_tax"]:
        assert entry["source"]
    statutory["exercise_tax"] = [{**statutory["exercise_tax"][0], "exchanges": ["MCX"]}]
    with pytest.raises(ScheduleError, match="devolve"):
        build_schedule(statutory, brokerage)
    statutory["exercise_tax"] = [{**statutory["exercise_tax"][0], "exchanges": ["NSE"], "source": ""}]
    with pytest.raises(ScheduleError, match="cites no source"):
        build_schedule(statutory, brokerage)
