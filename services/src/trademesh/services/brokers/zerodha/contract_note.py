"""Kite's own charges: the day's executed orders for `get_virtual_contract_note`, and its answer per fill. Pure.

`POST /charges/orders` takes one row per executed order and answers, in the same order, the order's
charges (brokerage, STT/CTT, exchange turnover charge incl. IPFT, SEBI fee, stamp duty, GST). A contract
note charges the order, not the fill: each component is split over the order's fills by quantity with the
largest-remainder method (`trademesh.kernel.charges.allocate`), so the fills of an order add up to Kite's
figure to the micro (Kite's amounts are rounded half up to whole micros first). The breakdown rides on
each trade row under `CHARGES_KEY` (Kite's rows never carry that key) until `normalise_kite_trade` reads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from trademesh.kernel.charges import allocate

CHARGES_KEY = "trademesh_charges"
#: Breakdown field (trademesh.trade.v1.FeeBreakdown) → Kite's charges key.
_COMPONENTS = {
    "brokerage_micros": "brokerage",
    "stt_micros": "transaction_tax",
    "exchange_charges_micros": "exchange_turnover_charge",
    "sebi_charges_micros": "sebi_turnover_charge",
    "stamp_duty_micros": "stamp_duty",
}


def _micros(value: Any) -> int:
    if isinstance(value, bool) or value is None:
        raise ValueError("missing amount")
    amount = Decimal(str(value)) * 1_000_000
    micros = int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if micros < 0:
        raise ValueError("negative amount")
    return micros


def _fills_by_order(trades: Sequence[Any]) -> dict[str, list[dict[str, Any]]]:
    by_order: dict[str, list[dict[str, Any]]] = {}
    for trade in trades:
        if isinstance(trade, dict) and trade.get("order_id") and trade.get("quantity"):
            by_order.setdefault(str(trade["order_id"]), []).append(trade)
    return by_order


def contract_note_orders(trades: Sequence[Any]) -> list[dict[str, Any]]:
    """Return the virtual-contract-note request: one row per order of the day's fills (quantity-weighted price)."""
    rows = []
    for order_id, fills in _fills_by_order(trades).items():
        first = fills[0]
        try:
            quantities = [int(Decimal(str(fill["quantity"]))) for fill in fills]
            value = sum(Decimal(str(fill["average_price"])) * q for fill, q in zip(fills, quantities, strict=True))
        except (KeyError, InvalidOperation, ValueError):
            continue  # the row mapper reports the bad fill; its order is charged by the journal instead
        quantity = sum(quantities)
        if quantity <= 0:
            continue
        rows.append(
            {
                "order_id": order_id,
                "exchange": first.get("exchange"),
                "tradingsymbol": first.get("tradingsymbol"),
                "transaction_type": first.get("transaction_type"),
                "variety": first.get("variety") or "regular",
                "product": first.get("product") or "CNC",
                "order_type": first.get("order_type") or "MARKET",
                "quantity": quantity,
                "average_price": float(value / quantity),
            }
        )
    return rows


def breakdown_of(charges: dict[str, Any]) -> dict[str, int]:
    """Return a contract-note row's `charges` as FeeBreakdown fields (micros); IPFT stays in exchange charges."""
    breakdown = {field: _micros(charges[key]) for field, key in _COMPONENTS.items()}
    gst = charges["gst"]
    breakdown["gst_micros"] = _micros(gst["total"] if isinstance(gst, dict) else gst)
    breakdown["other_micros"] = 0
    return breakdown


def attach_charges(trades: Sequence[Any], orders: Sequence[dict[str, Any]], answer: Sequence[Any]) -> int:
    """Split each order's answered charges over its fills (in place, under CHARGES_KEY); return orders charged."""
    if len(answer) != len(orders):
        return 0
    by_order = _fills_by_order(trades)
    charged = 0
    for order, row in zip(orders, answer, strict=True):
        try:
            breakdown = breakdown_of(row["charges"])
        except (KeyError, TypeError, ValueError, InvalidOperation):
            continue
        fills = by_order.get(str(order["order_id"]), [])
        weights = [int(Decimal(str(fill["quantity"]))) for fill in fills]
        if not fills or min(weights) <= 0:
            continue
        shares = {field: allocate(amount, weights) for field, amount in breakdown.items()}
        for index, fill in enumerate(fills):
            fill[CHARGES_KEY] = {field: parts[index] for field, parts in shares.items()}
        charged += 1
    return charged
