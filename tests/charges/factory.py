"""Building fills for the charges tests."""

from __future__ import annotations

import itertools
from datetime import date

from trademesh.kernel.charges import Broker, Exchange, Fill, Segment, Side

_ids = itertools.count(1)
RUPEE = 1_000_000


def fill(
    segment: Segment,
    side: Side,
    quantity: int,
    price_rupees: str | int,
    *,
    exchange: Exchange = Exchange.NSE,
    day: date = date(2025, 1, 15),
    order_id: str | None = None,
    broker: Broker = Broker.ZERODHA,
    instrument: str = "INFY",
    account: str = "A1",
) -> Fill:
    """Return a fill of its own order unless `order_id` is given; prices in rupees ("1500.05")."""
    number = next(_ids)
    whole, _, paise = str(price_rupees).partition(".")
    price = int(whole) * RUPEE + int((paise + "000000")[:6])
    return Fill(
        fill_id=f"f{number}",
        order_id=order_id or f"o{number}",
        broker=broker,
        exchange=exchange,
        segment=segment,
        side=side,
        instrument=instrument,
        quantity=quantity,
        price_micros=price,
        trade_date=day,
        account=account,
    )


def rupees(text: str) -> int:
    """Return "17.83" as micros."""
    whole, _, fraction = text.partition(".")
    return int(whole) * RUPEE + int((fraction + "000000")[:6])
