"""1-minute bars in MongoDB: one document per instrument per UTC day, swept after the retention.

Layout `bars` collection: `_id = "<EXCHANGE>:<SYMBOL>:<YYYY-MM-DD>"`, `day`, `instrument`, and
`bars` = {"<HHMM>": {o, h, l, c, v, oi, complete}}. A range query is then one `_id` lookup per
day (FerretDB indexes only exact `_id` filters; see decision 0002), and a write is one upsert by
`_id` per instrument per flush. Neither FerretDB nor this layout has TTL indexes, so the sweeper
deletes whole days older than the retention.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from trademesh.services.marketdata.model import (
    MINUTE_NANOS,
    NANOS_PER_SECOND,
    Bar,
    InstrumentKey,
    minute_floor,
    utc_day,
)

DAY_NANOS = 86400 * NANOS_PER_SECOND


def _slot(start_ns: int) -> str:
    return datetime.fromtimestamp(start_ns / NANOS_PER_SECOND, UTC).strftime("%H%M")


class MongoBarStore:
    """Store and read bars."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self._bars = database["bars"]

    async def save(self, bars: Sequence[Bar]) -> None:
        """Upsert bars (a later write of the same minute replaces the earlier one)."""
        grouped: dict[str, dict[str, Any]] = defaultdict(dict)
        meta: dict[str, tuple[str, str]] = {}
        for bar in bars:
            day = utc_day(bar.start_ns)
            doc_id = f"{bar.key}:{day}"
            meta[doc_id] = (str(bar.key), day)
            grouped[doc_id][f"bars.{_slot(bar.start_ns)}"] = {
                "o": bar.open_micros,
                "h": bar.high_micros,
                "l": bar.low_micros,
                "c": bar.close_micros,
                "v": bar.volume,
                "oi": bar.open_interest,
                "complete": bar.complete,
            }
        for doc_id, fields in grouped.items():
            instrument, day = meta[doc_id]
            await self._bars.update_one(
                {"_id": doc_id}, {"$set": {**fields, "instrument": instrument, "day": day}}, upsert=True
            )

    async def range(self, key: InstrumentKey, start_ns: int, end_ns: int, limit: int) -> tuple[list[Bar], bool]:
        """Return up to `limit` bars with start in [start_ns, end_ns), oldest first, and whether more exist."""
        result: list[Bar] = []
        day_ns = start_ns - start_ns % DAY_NANOS
        while day_ns < end_ns:
            document = await self._bars.find_one({"_id": f"{key}:{utc_day(day_ns)}"})
            if document is not None:
                for slot in sorted(document.get("bars", {})):
                    start = day_ns + (int(slot[:2]) * 60 + int(slot[2:])) * MINUTE_NANOS
                    if start < start_ns or start >= end_ns:
                        continue
                    if len(result) == limit:
                        return result, True
                    raw = document["bars"][slot]
                    result.append(
                        Bar(key, start, raw["o"], raw["h"], raw["l"], raw["c"], raw["v"], raw["oi"], raw["complete"])
                    )
            day_ns += DAY_NANOS
        return result, False

    async def earliest(self, key: InstrumentKey, horizon_ns: int, now_ns: int) -> int | None:
        """Return the start of the oldest retained bar at or after `horizon_ns`, or None."""
        day_ns = horizon_ns - horizon_ns % DAY_NANOS
        while day_ns <= now_ns:
            document = await self._bars.find_one({"_id": f"{key}:{utc_day(day_ns)}"})
            if document and document.get("bars"):
                for slot in sorted(document["bars"]):
                    start = day_ns + (int(slot[:2]) * 60 + int(slot[2:])) * MINUTE_NANOS
                    if start >= minute_floor(horizon_ns):
                        return start
            day_ns += DAY_NANOS
        return None

    async def delete_before(self, cutoff: datetime) -> int:
        """Delete every day document older than the cutoff's day; return how many."""
        day = (cutoff - timedelta(days=1)).strftime("%Y-%m-%d")
        result = await self._bars.delete_many({"day": {"$lte": day}})
        return result.deleted_count
