"""Lot sizes: NFO/BFO quantities are whole lots of the contract the instrument master lists."""

from __future__ import annotations

from trademesh.kernel.errors import FieldViolation
from trademesh.kernel.instruments import Exchange
from trademesh.services.trade.model import TradeFields
from trademesh.services.trade.ports import InstrumentLookup

UNITS = 1_000_000
#: Exchanges whose contracts trade in lots checked against the master (equity derivatives).
LOT_EXCHANGES = frozenset({Exchange.NFO, Exchange.BFO})


def lot_size_of(instruments: InstrumentLookup | None, fields: TradeFields) -> int | None:
    """Return the lot size of an NFO/BFO contract, or None (no master, another exchange, not listed)."""
    if instruments is None or fields.exchange not in LOT_EXCHANGES or not fields.symbol:
        return None
    assert fields.exchange is not None
    return instruments.lot_size(fields.exchange.value, fields.symbol)


def lot_violations(instruments: InstrumentLookup | None, fields: TradeFields, prefix: str) -> list[FieldViolation]:
    """Return a violation on `<prefix>quantity_micros` when the quantity is not a whole number of lots.

    A contract the master does not list (an expired one, or no master configured) is not checked.
    """
    lot = lot_size_of(instruments, fields)
    if lot is None or fields.quantity_micros <= 0 or fields.quantity_micros % (lot * UNITS) == 0:
        return []
    return [
        FieldViolation(
            f"{prefix}quantity_micros",
            f"quantity must be a multiple of the lot size of {fields.symbol}: {lot} units "
            f"({lot * UNITS} quantity_micros)",
        )
    ]
