"""Indian trade charges (brokerage, STT/CTT, exchange, IPFT, SEBI, stamp duty, GST, DP) from dated schedules.

Pure: no I/O except reading the packaged schedule files once (`load_schedule`). Money is integer INR
micros. `charge_fills` is the per-fill reference; `trademesh.kernel.charges.vectorised.charge_columns`
charges numpy columns with the same results (numpy is the kernel's `columnar` extra, so it is not
imported here: the slim images have no numpy). The rules are in engine.py and docs/decisions/0100-charges-engine.md.
"""

from trademesh.kernel.charges.breakeven import break_even_price, exit_charges
from trademesh.kernel.charges.engine import (
    COMPONENTS,
    COMPUTED,
    Charges,
    Fill,
    FillCharges,
    allocate,
    charge_fills,
    charge_order,
    ist_date,
)
from trademesh.kernel.charges.market import charges_market
from trademesh.kernel.charges.schedule import (
    Broker,
    Exchange,
    Policy,
    Schedule,
    ScheduleError,
    Segment,
    Side,
    load_schedule,
)
from trademesh.kernel.charges.settlement import SETTLEMENT_VERSION_PREFIX, charge_settlement, settlement_version

__all__ = [
    "COMPONENTS",
    "COMPUTED",
    "SETTLEMENT_VERSION_PREFIX",
    "Broker",
    "Charges",
    "Exchange",
    "Fill",
    "FillCharges",
    "Policy",
    "Schedule",
    "ScheduleError",
    "Segment",
    "Side",
    "allocate",
    "break_even_price",
    "charge_fills",
    "charge_order",
    "charge_settlement",
    "charges_market",
    "exit_charges",
    "ist_date",
    "load_schedule",
    "settlement_version",
]
