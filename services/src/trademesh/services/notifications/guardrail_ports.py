"""The day-peak port of the P&L guardrails (decision 0300); adapter: `guardrail_peaks.RedisDayPeaks`.
Pure: no gRPC, database or Redis imports.
"""

from __future__ import annotations

from typing import Protocol


class DayPeaks(Protocol):
    """Each user's highest P&L of an IST day, shared by every replica (a stream that moves keeps its peak)."""

    async def raise_to(self, user_id: str, trading_date: str, pnl_micros: int) -> int:
        """Make the user's stored peak of `trading_date` at least `pnl_micros` (atomically); return the peak."""
