"""Hand-computed contract-note charges per segment (Zerodha's plan, rates in force on 15 January 2025).

Each expectation is worked out in the comment above it from the published rates: NSE cash 0.00297 %,
futures 0.00173 %, options 0.03503 % of premium; IPFT Rs 10/crore (options Rs 50/crore); SEBI Rs 10/crore;
GST 18 % of (brokerage + exchange + SEBI). Contract-note rounding: STT/CTT to the rupee, others to the
paisa, halves up.
"""

from __future__ import annotations

from datetime import date

import pytest

from tests.charges.factory import fill, rupees
from trademesh.kernel.charges import Broker, Charges, Exchange, Fill, Segment, Side, charge_fills, load_schedule


def _contract_note(*fills: Fill) -> list[Charges]:
    schedule = load_schedule()
    return [result.charges for result in charge_fills(schedule, schedule.policy("contract_note"), fills)]


def test_equity_delivery_buy() -> None:
    # 10 x 1,500 = 15,000: STT 0.1 % = 15; exchange 0.4455 -> 0.45; IPFT 0.015 -> 0.02; SEBI 0.015 -> 0.02;
    # stamp 0.015 % = 2.25; GST 18 % of 0.47 = 0.0846 -> 0.08. Total 17.82.
    [charges] = _contract_note(fill(Segment.DELIVERY, Side.BUY, 10, 1500))
    assert charges == Charges(
        transaction_tax=rupees("15"),
        exchange_transaction=rupees("0.45"),
        ipft=rupees("0.02"),
        sebi=rupees("0.02"),
        stamp_duty=rupees("2.25"),
        gst=rupees("0.08"),
    )
    assert charges.total() == rupees("17.82")


def test_equity_delivery_sell_pays_dp_charges_once_per_scrip_and_day() -> None:
    # 10 x 1,600 = 16,000: STT 16; exchange 0.4752 -> 0.48; IPFT 0.016 -> 0.02; SEBI 0.02; GST 18 % of
    # 0.50 = 0.09; DP Rs 13 + GST 2.34. Total 31.95. A second sell order of INFY that day adds no DP fee.
    first, second = _contract_note(
        fill(Segment.DELIVERY, Side.SELL, 10, 1600),
        fill(Segment.DELIVERY, Side.SELL, 10, 1600),
    )
    # The day's one DP fee (13 + GST 2.34) is split by quantity: 6.50 + GST 1.17 on each.
    expected = Charges(
        transaction_tax=rupees("16"),
        exchange_transaction=rupees("0.48"),
        ipft=rupees("0.02"),
        sebi=rupees("0.02"),
        gst=rupees("0.09") + rupees("1.17"),
        dp=rupees("6.50"),
    )
    assert first == second == expected
    assert first.total() + second.total() == 2 * rupees("16.61") + rupees("15.34")


def test_a_single_delivery_sell_total() -> None:
    [charges] = _contract_note(fill(Segment.DELIVERY, Side.SELL, 10, 1600))
    assert charges == Charges(
        transaction_tax=rupees("16"),
        exchange_transaction=rupees("0.48"),
        ipft=rupees("0.02"),
        sebi=rupees("0.02"),
        gst=rupees("2.43"),
        dp=rupees("13"),
    )
    assert charges.total() == rupees("31.95")


def test_equity_intraday_round_trip() -> None:
    # Buy 100 x 800 = 80,000: brokerage min(24, 20) = 20; exchange 2.376 -> 2.38; IPFT 0.08; SEBI 0.08;
    # stamp 0.003 % = 2.40; GST 18 % of 22.46 = 4.0428 -> 4.04. Total 28.98.
    # Sell 100 x 810 = 81,000: brokerage 20; STT 0.025 % = 20.25 -> 20; exchange 2.4057 -> 2.41; IPFT 0.081
    # -> 0.08; SEBI 0.08; GST 18 % of 22.49 = 4.0482 -> 4.05. Total 46.62. No DP charges on intraday.
    buy, sell = _contract_note(
        fill(Segment.INTRADAY, Side.BUY, 100, 800, instrument="SBIN"),
        fill(Segment.INTRADAY, Side.SELL, 100, 810, instrument="SBIN"),
    )
    assert buy == Charges(
        brokerage=rupees("20"),
        exchange_transaction=rupees("2.38"),
        ipft=rupees("0.08"),
        sebi=rupees("0.08"),
        stamp_duty=rupees("2.40"),
        gst=rupees("4.04"),
    )
    assert buy.total() == rupees("28.98")
    assert sell == Charges(
        brokerage=rupees("20"),
        transaction_tax=rupees("20"),
        exchange_transaction=rupees("2.41"),
        ipft=rupees("0.08"),
        sebi=rupees("0.08"),
        gst=rupees("4.05"),
    )
    assert sell.total() == rupees("46.62")


def test_index_futures() -> None:
    # 75 x 24,000 = 18,00,000: brokerage min(540, 20) = 20; exchange 0.00173 % = 31.14; IPFT 1.80; SEBI 1.80;
    # GST 18 % of 52.94 = 9.5292 -> 9.53. Sell: STT 0.02 % = 360 (total 424.27). Buy: stamp 0.002 % = 36
    # (total 100.27).
    sell, buy = _contract_note(
        fill(Segment.FUTURES, Side.SELL, 75, 24000, instrument="NIFTY25JANFUT"),
        fill(Segment.FUTURES, Side.BUY, 75, 24000, instrument="NIFTY25JANFUT"),
    )
    common = Charges(
        brokerage=rupees("20"),
        exchange_transaction=rupees("31.14"),
        ipft=rupees("1.80"),
        sebi=rupees("1.80"),
        gst=rupees("9.53"),
    )
    assert sell == common + Charges(transaction_tax=rupees("360"))
    assert sell.total() == rupees("424.27")
    assert buy == common + Charges(stamp_duty=rupees("36"))
    assert buy.total() == rupees("100.27")


def test_index_options() -> None:
    # Buy 75 x 100 = 7,500 premium: brokerage 20 flat; exchange 2.62725 -> 2.63; IPFT 0.0375 -> 0.04; SEBI
    # 0.0075 -> 0.01; stamp 0.003 % = 0.225 -> 0.23; GST 18 % of 22.64 = 4.0752 -> 4.08. Total 26.99.
    # Sell 75 x 120 = 9,000: STT 0.1 % = 9; exchange 3.1527 -> 3.15; IPFT 0.045 -> 0.05; SEBI 0.009 -> 0.01;
    # GST 18 % of 23.16 = 4.1688 -> 4.17. Total 36.38.
    buy, sell = _contract_note(
        fill(Segment.OPTIONS, Side.BUY, 75, 100, instrument="NIFTY25JAN23000CE"),
        fill(Segment.OPTIONS, Side.SELL, 75, 120, instrument="NIFTY25JAN23000CE"),
    )
    assert buy == Charges(
        brokerage=rupees("20"),
        exchange_transaction=rupees("2.63"),
        ipft=rupees("0.04"),
        sebi=rupees("0.01"),
        stamp_duty=rupees("0.23"),
        gst=rupees("4.08"),
    )
    assert buy.total() == rupees("26.99")
    assert sell == Charges(
        brokerage=rupees("20"),
        transaction_tax=rupees("9"),
        exchange_transaction=rupees("3.15"),
        ipft=rupees("0.05"),
        sebi=rupees("0.01"),
        gst=rupees("4.17"),
    )
    assert sell.total() == rupees("36.38")


def test_bse_delivery_buy() -> None:
    # 10 x 1,500 on BSE: exchange 0.00375 % = 0.5625 -> 0.56; no IPFT; SEBI 0.02; STT 15; stamp 2.25;
    # GST 18 % of 0.58 = 0.1044 -> 0.10. Total 17.93.
    [charges] = _contract_note(fill(Segment.DELIVERY, Side.BUY, 10, 1500, exchange=Exchange.BSE))
    assert charges == Charges(
        transaction_tax=rupees("15"),
        exchange_transaction=rupees("0.56"),
        sebi=rupees("0.02"),
        stamp_duty=rupees("2.25"),
        gst=rupees("0.10"),
    )
    assert charges.total() == rupees("17.93")


def test_mcx_commodity_futures_sell_pays_ctt() -> None:
    # 100 x 6,000 = 6,00,000: brokerage min(180, 20) = 20; CTT 0.01 % = 60; exchange 0.0021 % = 12.60;
    # SEBI 0.60; GST 18 % of 33.20 = 5.976 -> 5.98. Total 99.18.
    schedule = load_schedule()
    [result] = charge_fills(
        schedule,
        schedule.policy("contract_note"),
        [fill(Segment.FUTURES, Side.SELL, 100, 6000, exchange=Exchange.MCX, instrument="CRUDEOIL25JANFUT")],
    )
    assert result.transaction_tax_type == "ctt"
    assert result.charges == Charges(
        brokerage=rupees("20"),
        transaction_tax=rupees("60"),
        exchange_transaction=rupees("12.60"),
        sebi=rupees("0.60"),
        gst=rupees("5.98"),
    )
    assert result.charges.total() == rupees("99.18")


@pytest.mark.parametrize(("broker", "brokerage"), [(Broker.ZERODHA, "0.30"), (Broker.UPSTOX, "0.50")])
def test_percent_plans_charge_below_their_cap(broker: Broker, brokerage: str) -> None:
    # 10 x 100 = 1,000 intraday: Zerodha 0.03 % = 0.30, Upstox 0.05 % = 0.50 (both under the Rs 20 cap).
    [charges] = _contract_note(fill(Segment.INTRADAY, Side.BUY, 10, 100, broker=broker))
    assert charges.brokerage == rupees(brokerage)


def test_mcx_has_no_equity_segments() -> None:
    with pytest.raises(ValueError, match="MCX has no delivery segment"):
        _contract_note(fill(Segment.DELIVERY, Side.BUY, 1, 100, exchange=Exchange.MCX, day=date(2025, 1, 15)))


def test_fee_breakdown_items_sum_to_the_total_and_fold_ipft_and_dp_into_other() -> None:
    charges = Charges(brokerage=1, transaction_tax=2, exchange_transaction=3, ipft=4, sebi=5, stamp_duty=6, gst=7, dp=8)
    items = charges.fee_breakdown_items()
    assert items["other_micros"] == 12
    assert sum(items.values()) == charges.total() == 36
