"""Break-even exit price of an open position, with the estimated charges of the exit order. Pure.

The round trip of the open quantity nets zero at exit price P when (long) Q·P - cost - entry charges -
exit(P) = 0, or (short) cost - Q·P - entry charges - exit(P) = 0, where exit(P) are the charges of one
executed closing order of Q units at P (`charge_fills`, the schedule in force on the exit day, DP
charges included when the policy charges them). exit(P) is a non-decreasing step function of P whose
slope is below 1 (every rate is a small fraction of turnover), so the net is monotonic in P and the
break-even is found exactly, to the micro, by bisection on integer prices: the lowest P at which a long
nets >= 0, the highest P at which a short does. Clients round it to their tick (up for a long, down for a
short).
"""

from __future__ import annotations

from dataclasses import replace

from trademesh.kernel.charges.engine import Fill, charge_fills
from trademesh.kernel.charges.schedule import Policy, Schedule, Side


def exit_charges(schedule: Schedule, policy: Policy, exit_fill: Fill, price_micros: int) -> int:
    """Return the total charges of the closing order `exit_fill` executed at `price_micros`."""
    (charged,) = charge_fills(schedule, policy, [replace(exit_fill, price_micros=price_micros)])
    return charged.charges.total()


def _net(schedule: Schedule, policy: Policy, exit_fill: Fill, cost_micros: int, entry: int, price: int) -> int:
    proceeds = exit_fill.quantity * price
    gross = proceeds - cost_micros if exit_fill.side is Side.SELL else cost_micros - proceeds
    return gross - entry - exit_charges(schedule, policy, exit_fill, price)


def break_even_price(
    schedule: Schedule, policy: Policy, exit_fill: Fill, cost_micros: int, entry_charges_micros: int
) -> int | None:
    """Return the exit price (micros) at which the open quantity's round trip nets zero after all charges.

    `exit_fill` is the closing order (its side closes the position: SELL for a long, BUY for a short; its
    quantity is the open quantity in units; its price is ignored). `cost_micros` is Σ price x units of the
    open lots; `entry_charges_micros` their charges. None when a short cannot break even at any price >= 0.
    """
    quantity = exit_fill.quantity
    if exit_fill.side is Side.SELL:
        # Lowest P with net >= 0; the net at `high` is >= 0 once proceeds cover cost + charges twice over.
        low, high = 0, max(1, -(-(cost_micros + entry_charges_micros) * 2 // quantity))
        while _net(schedule, policy, exit_fill, cost_micros, entry_charges_micros, high) < 0:
            high *= 2
        while low < high:
            middle = (low + high) // 2
            if _net(schedule, policy, exit_fill, cost_micros, entry_charges_micros, middle) >= 0:
                high = middle
            else:
                low = middle + 1
        return low
    if _net(schedule, policy, exit_fill, cost_micros, entry_charges_micros, 0) < 0:
        return None
    # Highest P with net >= 0: below cost / quantity.
    low, high = 0, cost_micros // quantity
    while low < high:
        middle = (low + high + 1) // 2
        if _net(schedule, policy, exit_fill, cost_micros, entry_charges_micros, middle) >= 0:
            low = middle
        else:
            high = middle - 1
    return low
