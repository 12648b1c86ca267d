"""FIFO lot matching shared by the trade and analytics services (pure Python, no I/O).

Exact arithmetic: quantities are micro-units and prices/fees INR micros (int); every intermediate value
is an exact `Fraction`; reported figures are rounded once, half-to-even, to whole micros.
"""

from trademesh.lots.fifo import Fill, Lot, Match, PositionBook, Side, replay, round_micros

__all__ = ["Fill", "Lot", "Match", "PositionBook", "Side", "replay", "round_micros"]
