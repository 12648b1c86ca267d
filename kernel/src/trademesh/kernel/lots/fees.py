"""How a fill's fee is divided between the parts of the fill (docs/decisions/0111): the one rule every
engine uses (trade positions, analytics' fill-by-fill and columnar engines), so their fees agree to the micro.

Rule (largest remainder, Hamilton's method): a fee F (integer micros) split over parts of quantities
q1..qn (Σ = Q) gives part i floor(F x qi / Q); the micros still unallocated (fewer than n) go one each to the
parts with the largest remainders (F x qi mod Q), ties to the earlier part. The parts always sum to F exactly.
A fill crossing zero has two parts, closing then opening, so the closing part gets
floor(F x closed / Q) plus one micro when its remainder is at least half of Q (2 x (F x closed mod Q) >= Q),
i.e. round-half-up of the exact share; the opening part gets the rest.
"""

from __future__ import annotations

from collections.abc import Sequence


def allocate_fee(fee_micros: int, quantities: Sequence[int]) -> list[int]:
    """Split `fee_micros` (>= 0) over parts of the given quantities (> 0) by largest remainder."""
    total = sum(quantities)
    if total <= 0 or any(quantity <= 0 for quantity in quantities):
        raise ValueError("quantities must be > 0")
    shares = [divmod(fee_micros * quantity, total) for quantity in quantities]
    parts = [share for share, _ in shares]
    left = fee_micros - sum(parts)
    for index in sorted(range(len(shares)), key=lambda i: (-shares[i][1], i))[:left]:
        parts[index] += 1
    return parts


def split_crossing_fee(fee_micros: int, closed: int, quantity: int) -> tuple[int, int]:
    """Return (closing part, opening part) of the fee of a fill of `quantity` closing `closed` (0 < closed < quantity).

    Equal to `allocate_fee(fee_micros, [closed, quantity - closed])`, in O(1).
    """
    closing, remainder = divmod(fee_micros * closed, quantity)
    if 2 * remainder >= quantity:
        closing += 1
    return closing, fee_micros - closing
