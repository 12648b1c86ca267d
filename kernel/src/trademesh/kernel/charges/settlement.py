"""Charges on expiry settlement fills: what a contract note shows when the exchange settles a contract.

A settlement is not a trade: no order is placed, so none of a trade's charges (brokerage, STT/CTT on a sale,
exchange transaction charges, IPFT, SEBI fee, stamp duty, GST on them) applies to it as such. What does
(decision 0310, with sources):

* **An option held long that is exercised in the money** (the settlement fill sells it at its intrinsic
  value): STT on exercise, payable by the purchaser, at the `exercise_tax` rate in force on the expiry day
  (0.125 %, 0.15 % from 1 April 2026) of the intrinsic value x quantity, rounded as the policy rounds the
  transaction tax (to the rupee on a contract note). Brokers' pages list STT as the only charge of an
  exercise ("no charges for the client outside of STT", Upstox; Zerodha lists STT only). Exchange
  transaction charges, SEBI fee and stamp duty on an exercise are left out: no source states their
  treatment, so none is charged (and GST, which is levied on brokerage + exchange + SEBI, is 0).
* **An option written (short) and assigned, or any option that lapses out of the money**: nothing (the
  writer paid STT on the premium when selling; a lapse is no transaction).
* **A future at its final settlement**: nothing. A cash-settled future that expires pays no STT and no
  brokerage (Zerodha's answer on tradingqna, "STT charges on futures that are allowed to expire"). The
  delivery leg of physically settled stock futures and options (NSE since 2019) is not in the journal,
  so its delivery charges are not either.
* **MCX and currency (CDS/BCD) settlements**: nothing. Currency derivatives pay no STT; for commodity
  futures' final settlement no source states a CTT or exchange charge; in-the-money MCX options devolve
  into futures and are not settled by the journal at all (`trademesh.kernel.settlement`).

Money is integer INR micros; quantities are micro-units (so a fractional quantity is charged exactly on its
value and rounded once). Pure: no I/O.
"""

from __future__ import annotations

from datetime import date
from fractions import Fraction

from trademesh.kernel.charges.engine import Charges, round_to_unit
from trademesh.kernel.charges.schedule import NANO, Exchange, Policy, Schedule, Segment, Side

__all__ = ["SETTLEMENT_VERSION_PREFIX", "charge_settlement", "settlement_version"]

#: Settlement fills record `settlement/<schedule version>/<date the in-force set began>` as their
#: schedule version, so a recharge can tell them from trades (they are charged by this module's rules).
SETTLEMENT_VERSION_PREFIX = "settlement/"
_MICRO_UNITS = 1_000_000


def settlement_version(schedule: Schedule, day: date) -> str:
    """Return the schedule version a settlement fill on `day` records."""
    return f"{SETTLEMENT_VERSION_PREFIX}{schedule.version_on(day)}"


def charge_settlement(
    schedule: Schedule,
    policy: Policy,
    *,
    exchange: Exchange,
    segment: Segment,
    side: Side,
    quantity_micros: int,
    price_micros: int,
    day: date,
) -> Charges:
    """Return the charges of one settlement fill (closing `side`, `quantity_micros` at `price_micros` on `day`).

    Only a long option exercised in the money (a SELL settlement fill at an intrinsic value > 0) on NSE/BSE
    pays anything: STT on exercise. Raises ScheduleError for a day before the schedule starts.
    """
    schedule.check_day(day)
    if segment is not Segment.OPTIONS or side is not Side.SELL or price_micros <= 0 or quantity_micros <= 0:
        return Charges()
    rate = schedule.exercise_rate(exchange, day)
    if rate is None:
        return Charges()
    # intrinsic value x quantity (micros) x rate: exact, rounded once to the policy's unit.
    value = Fraction(price_micros * quantity_micros * rate.rate_nanos, _MICRO_UNITS * NANO)
    return Charges(transaction_tax=round_to_unit(value, policy.units["transaction_tax"]))
