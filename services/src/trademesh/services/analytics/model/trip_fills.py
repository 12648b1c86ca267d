"""The fills of closed round trips, replayed from an instrument's fills in journal order (for MAE/MFE, decision 0270).

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from trademesh.kernel.lots import RoundTrip
from trademesh.services.analytics.model.fills import Instrument

__all__ = ["TripFill", "fills_of_trips"]

#: One fill of a round trip: (buy, quantity micros, price micros).
TripFill = tuple[bool, int, int]
#: An instrument's fills in journal order: (buy, quantity micros, price micros, journal sequence).
InstrumentFills = Callable[[Instrument], list[tuple[bool, int, int, int]]]


def fills_of_trips(trips: Sequence[RoundTrip[Instrument]], instrument_fills: InstrumentFills) -> list[list[TripFill]]:
    """Return each trip's fills; a fill that crossed zero counts with the part that opened (first fill) or closed
    (last fill) the trip. Each instrument's fills are replayed once, however many of its trips are asked for."""
    wanted: dict[Instrument, set[int]] = {}
    for trip in trips:
        wanted.setdefault(trip.instrument, set()).add(trip.close_sequence)
    found: dict[tuple[Instrument, int], list[TripFill]] = {}
    for instrument, closes in wanted.items():
        for close, fills in _cycles(instrument_fills(instrument), max(closes)):
            if close in closes:
                found[(instrument, close)] = fills
    return [found[(trip.instrument, trip.close_sequence)] for trip in trips]


def _cycles(rows: list[tuple[bool, int, int, int]], until: int) -> Iterable[tuple[int, list[TripFill]]]:
    position, current = 0, list[TripFill]()
    for buy, quantity, price, index in rows:
        if index > until:
            return
        if position == 0 or (position > 0) == buy:
            current = current if position else []
            current.append((buy, quantity, price))
            position += quantity if buy else -quantity
            continue
        closing = min(quantity, abs(position))
        current.append((buy, closing, price))
        position += closing if buy else -closing
        if position == 0:
            yield index, current
            if quantity > closing:
                current = [(buy, quantity - closing, price)]
                position = quantity - closing if buy else closing - quantity
