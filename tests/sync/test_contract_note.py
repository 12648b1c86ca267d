"""Kite's virtual contract note onto fills: one row per order, each order's charges split exactly over its fills."""

from __future__ import annotations

from typing import Any

from trademesh.services.brokers.zerodha.contract_note import (
    CHARGES_KEY,
    attach_charges,
    breakdown_of,
    contract_note_orders,
)
from trademesh.services.brokers.zerodha.rows import normalise_kite_trade


def fill(trade_id: str, order_id: str, quantity: int, price: float) -> dict[str, Any]:
    return {
        "trade_id": trade_id,
        "order_id": order_id,
        "exchange": "NSE",
        "tradingsymbol": "SBIN",
        "transaction_type": "BUY",
        "product": "MIS",
        "quantity": quantity,
        "average_price": price,
        "fill_timestamp": "2026-03-02 09:30:00",
    }


NOTE_ROW = {
    "charges": {
        "transaction_tax": 0,
        "transaction_tax_type": "stt",
        "exchange_turnover_charge": 0.07575,
        "sebi_turnover_charge": 0.00015,
        "brokerage": 20,
        "stamp_duty": 0,
        "gst": {"igst": 3.613527, "cgst": 0, "sgst": 0, "total": 3.613527},
        "total": 23.689427,
    }
}


def test_one_request_row_per_order_at_its_quantity_weighted_price() -> None:
    trades = [fill("1", "O1", 1, 100.0), fill("2", "O1", 3, 104.0), fill("3", "O2", 2, 50.0)]
    orders = contract_note_orders(trades)
    assert [(o["order_id"], o["quantity"], o["average_price"]) for o in orders] == [("O1", 4, 103.0), ("O2", 2, 50.0)]


def test_an_orders_charges_are_split_over_its_fills_by_largest_remainder_to_the_micro() -> None:
    trades = [fill("1", "O1", 1, 100.0), fill("2", "O1", 2, 100.0)]
    orders = contract_note_orders(trades)
    assert attach_charges(trades, orders, [NOTE_ROW]) == 1
    whole = breakdown_of(NOTE_ROW["charges"])
    assert whole["gst_micros"] == 3_613_527
    assert whole["exchange_charges_micros"] == 75_750
    shares = [trade[CHARGES_KEY] for trade in trades]
    for field, amount in whole.items():
        assert shares[0][field] + shares[1][field] == amount
    # ₹20 brokerage over 1:2 → 6.666667 / 13.333333 (the larger remainder gets the extra micro).
    assert (shares[0]["brokerage_micros"], shares[1]["brokerage_micros"]) == (6_666_667, 13_333_333)
    mapped = normalise_kite_trade(trades[1])
    assert mapped.fee_breakdown == shares[1]


def test_a_short_or_malformed_answer_attaches_nothing() -> None:
    trades = [fill("1", "O1", 1, 100.0)]
    orders = contract_note_orders(trades)
    assert attach_charges(trades, orders, []) == 0
    assert attach_charges(trades, orders, [{"charges": {"brokerage": "x"}}]) == 0
    assert CHARGES_KEY not in trades[0]
    assert normalise_kite_trade(trades[0]).fee_breakdown is None
