"""Bars in MongoDB: 1-minute bars and their 5-minute and IST-day roll-ups (decision 0260).

Collections (FerretDB indexes only exact `_id` filters, decision 0002, so every read is by `_id`):

- `bars`: 1-minute bars, one document per instrument per UTC day, `_id = "<EXCHANGE>:<SYMBOL>:<YYYY-MM-DD>"`,
  `day`, `instrument`, `bars` = {"<HHMM UTC>": {o, h, l, c, v, oi, complete}}; swept after
  `TRADEMESH_BAR_RETENTION_DAYS` (30).
- `bars_5m`: 5-minute bars, one document per instrument per IST day, `_id = "<EXCHANGE>:<SYMBOL>:<YYYY-MM-DD IST>"`,
  `day` (IST), `bars` = {"<HHMM IST>": {...}}; swept after `TRADEMESH_BAR_FIVE_MINUTE_RETENTION_DAYS` (365).
- `bars_1d`: day bars, one document per instrument per IST year, `_id = "<EXCHANGE>:<SYMBOL>:<YYYY>"`,
  `bars` = {"<MMDD>": {...}}; kept indefinitely.
- `bar_extents`: `_id = "<EXCHANGE>:<SYMBOL>"`, `five_ns` / `day_ns`: a lower bound of the start of the
  instrument's oldest 5-minute / day bar, so reads need not walk a year of empty days.

Roll-ups are a pure function of the stored 1-minute bars (`model.roll_up`): each save of 1-minute bars
re-reads the day document it wrote and rewrites the 5-minute windows it touched, then the IST day's bar
from that day's 5-minute bars. Re-saving the same bars (duplicate ticks, a restarted ingest) therefore
writes the same roll-ups, and the sweeper rolls every expiring 1-minute document up once more before
deleting it, so the roll-ups outlive the 1-minute bars exactly.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from trademesh.services.marketdata.model import (
    DAY_NANOS,
    FIVE_MINUTE_NANOS,
    MINUTE_NANOS,
    NANOS_PER_SECOND,
    Bar,
    BarInterval,
    InstrumentKey,
    interval_floor,
    ist_day,
    minute_floor,
    roll_up,
    utc_day,
)
from trademesh.services.marketdata.model.bars import IST_OFFSET_NANOS


def _slot(start_ns: int) -> str:
    return datetime.fromtimestamp(start_ns / NANOS_PER_SECOND, UTC).strftime("%H%M")


def _ist_slot(start_ns: int) -> str:
    return _slot(start_ns + IST_OFFSET_NANOS)


def _ist_year(start_ns: int) -> str:
    return _slot_date(start_ns)[:4]


def _slot_date(start_ns: int) -> str:
    return datetime.fromtimestamp((start_ns + IST_OFFSET_NANOS) / NANOS_PER_SECOND, UTC).strftime("%Y-%m-%d")


def _encode(bar: Bar) -> dict[str, Any]:
    return {
        "o": bar.open_micros,
        "h": bar.high_micros,
        "l": bar.low_micros,
        "c": bar.close_micros,
        "v": bar.volume,
        "oi": bar.open_interest,
        "complete": bar.complete,
    }


def _decode(key: InstrumentKey, start: int, raw: dict[str, Any]) -> Bar:
    return Bar(key, start, raw["o"], raw["h"], raw["l"], raw["c"], raw["v"], raw["oi"], raw["complete"])


def _hhmm_nanos(slot: str) -> int:
    return (int(slot[:2]) * 60 + int(slot[2:])) * MINUTE_NANOS


def _day_start(day: str, offset_ns: int) -> int:
    """Return the start of calendar day `day` (YYYY-MM-DD) in a zone `offset_ns` ahead of UTC."""
    midnight = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
    return int(midnight.timestamp()) * NANOS_PER_SECOND - offset_ns


def _document_bars(key: InstrumentKey, document: dict[str, Any] | None, day_start_ns: int) -> list[Bar]:
    """Return the bars of a day document (1-minute or 5-minute), oldest first."""
    if not document:
        return []
    slots = document.get("bars", {})
    return [_decode(key, day_start_ns + _hhmm_nanos(slot), slots[slot]) for slot in sorted(slots)]


def _year_bars(key: InstrumentKey, document: dict[str, Any] | None) -> list[Bar]:
    if not document:
        return []
    slots = document.get("bars", {})
    year = document["year"]
    return [
        _decode(key, _day_start(f"{year}-{slot[:2]}-{slot[2:]}", IST_OFFSET_NANOS), slots[slot])
        for slot in sorted(slots)
    ]


class MongoBarStore:
    """Store and read bars of every served interval."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self._bars = database["bars"]
        self._five = database["bars_5m"]
        self._days = database["bars_1d"]
        self._extents = database["bar_extents"]
        # Lower bounds already written, per instrument: skips the extent write on almost every save.
        self._known_extents: dict[InstrumentKey, tuple[int, int]] = {}

    async def save(self, bars: Sequence[Bar]) -> None:
        """Upsert 1-minute bars (a later write of the same minute replaces the earlier one) and their roll-ups."""
        grouped: dict[str, dict[str, Any]] = defaultdict(dict)
        meta: dict[str, tuple[InstrumentKey, str, set[int]]] = {}
        for bar in bars:
            day = utc_day(bar.start_ns)
            doc_id = f"{bar.key}:{day}"
            meta.setdefault(doc_id, (bar.key, day, set()))[2].add(
                interval_floor(bar.start_ns, BarInterval.FIVE_MINUTES)
            )
            grouped[doc_id][f"bars.{_slot(bar.start_ns)}"] = _encode(bar)
        for doc_id, fields in grouped.items():
            key, day, windows = meta[doc_id]
            document = await self._bars.find_one_and_update(
                {"_id": doc_id},
                {"$set": {**fields, "instrument": str(key), "day": day}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
            await self._roll(key, _document_bars(key, document, _day_start(day, 0)), windows)

    async def _roll(self, key: InstrumentKey, minutes: list[Bar], windows: Iterable[int]) -> None:
        """Rewrite the 5-minute bars of `windows` from `minutes` (one UTC day's bars), then their IST days' bars."""
        wanted = set(windows)
        five = [bar for bar in roll_up(minutes, BarInterval.FIVE_MINUTES) if bar.start_ns in wanted]
        by_day: dict[str, list[Bar]] = defaultdict(list)
        for bar in five:
            by_day[ist_day(bar.start_ns)].append(bar)
        for day, day_bars in by_day.items():
            document = await self._five.find_one_and_update(
                {"_id": f"{key}:{day}"},
                {
                    "$set": {
                        **{f"bars.{_ist_slot(bar.start_ns)}": _encode(bar) for bar in day_bars},
                        "instrument": str(key),
                        "day": day,
                    }
                },
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
            day_start = _day_start(day, IST_OFFSET_NANOS)
            (day_bar,) = roll_up(_document_bars(key, document, day_start), BarInterval.ONE_DAY)
            year = _ist_year(day_start)
            await self._days.update_one(
                {"_id": f"{key}:{year}"},
                {"$set": {f"bars.{day[5:7]}{day[8:10]}": _encode(day_bar), "instrument": str(key), "year": year}},
                upsert=True,
            )
            await self._widen_extent(key, min(bar.start_ns for bar in day_bars), day_start)

    async def _widen_extent(self, key: InstrumentKey, five_ns: int, day_ns: int) -> None:
        known = self._known_extents.get(key)
        if known is not None and known[0] <= five_ns and known[1] <= day_ns:
            return
        await self._extents.update_one({"_id": str(key)}, {"$min": {"five_ns": five_ns, "day_ns": day_ns}}, upsert=True)
        self._known_extents[key] = (
            min(five_ns, known[0]) if known else five_ns,
            min(day_ns, known[1]) if known else day_ns,
        )

    async def _extent(self, key: InstrumentKey, interval: BarInterval) -> int | None:
        document = await self._extents.find_one({"_id": str(key)})
        if document is None:
            return None
        return int(document["five_ns" if interval is BarInterval.FIVE_MINUTES else "day_ns"])

    async def range(
        self,
        key: InstrumentKey,
        start_ns: int,
        end_ns: int,
        limit: int,
        interval: BarInterval = BarInterval.ONE_MINUTE,
    ) -> tuple[list[Bar], bool]:
        """Return up to `limit` bars with start in [start_ns, end_ns), oldest first, and whether more exist."""
        if interval is not BarInterval.ONE_MINUTE:
            return await self._range_rollups(key, start_ns, end_ns, limit, interval)
        result: list[Bar] = []
        day_ns = start_ns - start_ns % DAY_NANOS
        while day_ns < end_ns:
            document = await self._bars.find_one({"_id": f"{key}:{utc_day(day_ns)}"})
            for bar in _document_bars(key, document, day_ns):
                if bar.start_ns < start_ns or bar.start_ns >= end_ns:
                    continue
                if len(result) == limit:
                    return result, True
                result.append(bar)
            day_ns += DAY_NANOS
        return result, False

    async def _range_rollups(
        self, key: InstrumentKey, start_ns: int, end_ns: int, limit: int, interval: BarInterval
    ) -> tuple[list[Bar], bool]:
        first = await self._extent(key, interval)
        if first is None:
            return [], False
        result: list[Bar] = []
        cursor = interval_floor(max(start_ns, first), BarInterval.ONE_DAY)
        while cursor < end_ns:
            if interval is BarInterval.FIVE_MINUTES:
                document = await self._five.find_one({"_id": f"{key}:{ist_day(cursor)}"})
                found = _document_bars(key, document, cursor)
                step_to = cursor + DAY_NANOS
            else:
                year = _ist_year(cursor)
                found = _year_bars(key, await self._days.find_one({"_id": f"{key}:{year}"}))
                step_to = _day_start(f"{int(year) + 1}-01-01", IST_OFFSET_NANOS)
            for bar in found:
                if bar.start_ns < start_ns or bar.start_ns >= end_ns:
                    continue
                if len(result) == limit:
                    return result, True
                result.append(bar)
            cursor = step_to
        return result, False

    async def earliest(
        self, key: InstrumentKey, horizon_ns: int, now_ns: int, interval: BarInterval = BarInterval.ONE_MINUTE
    ) -> int | None:
        """Return the start of the oldest retained bar at or after `horizon_ns`, or None."""
        if interval is not BarInterval.ONE_MINUTE:
            bars, _ = await self._range_rollups(key, horizon_ns, now_ns + 1, 1, interval)
            return bars[0].start_ns if bars else None
        day_ns = horizon_ns - horizon_ns % DAY_NANOS
        while day_ns <= now_ns:
            document = await self._bars.find_one({"_id": f"{key}:{utc_day(day_ns)}"})
            for bar in _document_bars(key, document, day_ns):
                if bar.start_ns >= minute_floor(horizon_ns):
                    return bar.start_ns
            day_ns += DAY_NANOS
        return None

    async def delete_before(self, cutoff: datetime) -> int:
        """Roll up, then delete, every 1-minute day document older than the cutoff's day; return how many."""
        day = (cutoff - timedelta(days=1)).strftime("%Y-%m-%d")
        expiring = self._bars.find({"day": {"$lte": day}})
        async for document in expiring:
            key = InstrumentKey.parse(document["instrument"])
            minutes = _document_bars(key, document, _day_start(document["day"], 0))
            await self._roll(key, minutes, {interval_floor(bar.start_ns, BarInterval.FIVE_MINUTES) for bar in minutes})
        result = await self._bars.delete_many({"day": {"$lte": day}})
        return result.deleted_count

    async def delete_five_minute_before(self, cutoff: datetime) -> int:
        """Delete every 5-minute IST-day document older than the cutoff's IST day; return how many."""
        cutoff_ns = int(cutoff.timestamp()) * NANOS_PER_SECOND
        day_start = interval_floor(cutoff_ns, BarInterval.ONE_DAY)
        result = await self._five.delete_many({"day": {"$lt": ist_day(day_start)}})
        # The extents are lower bounds: raise them to the new horizon so reads start there.
        await self._extents.update_many({}, {"$max": {"five_ns": day_start - day_start % FIVE_MINUTE_NANOS}})
        self._known_extents.clear()
        return result.deleted_count
