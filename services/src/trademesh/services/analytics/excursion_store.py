"""MongoDB adapter of ExcursionStore: `analytics_excursions`, one document per recorded position (decision 0270).

`_id` = "<user>|<EXCHANGE:SYMBOL>|<open time µs>"; `analytics_excursion_coverage` holds, per instrument, how
long replicas have listened to its ticks without interruption (a write per instrument, not per position, each
flush; snapshotted into a position's document when it closes). Every write is idempotent so any number of replicas can
repeat each other: positions are created with `$setOnInsert`, extremes only move outwards (`$min`/`$max`),
the listening time only forward (`$max`). Operators MongoDB and FerretDB both implement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pymongo import ASCENDING, UpdateMany, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from trademesh.kernel.errors import Unavailable
from trademesh.services.analytics.excursion_ports import TickBatch
from trademesh.services.analytics.model import Instrument
from trademesh.services.analytics.model.excursions import ExcursionQuality, PriceRange, Recording

Document = dict[str, Any]
COLLECTION = "analytics_excursions"
#: One document per watched instrument: its current uninterrupted listening run [since_us, until_us].
COVERAGE = "analytics_excursion_coverage"


def instrument_key(instrument: Instrument) -> str:
    """Return "EXCHANGE:SYMBOL" (the tick backplane's channel suffix)."""
    return f"{instrument[1]}:{instrument[0]}"


def instrument_of(key: str) -> Instrument:
    """Return the instrument of an "EXCHANGE:SYMBOL" key."""
    exchange, _, symbol = key.partition(":")
    return symbol, exchange


def _id(user_id: str, instrument: Instrument, open_time_us: int) -> str:
    return f"{user_id}|{instrument_key(instrument)}|{open_time_us}"


def _recording(document: Document) -> Recording:
    computed = document.get("computed")
    return Recording(
        user_id=document["user_id"],
        instrument=instrument_of(document["instrument"]),
        open_time_us=int(document["open_time_us"]),
        watch_from_us=int(document["watch_from_us"]),
        covered_until_us=int(document["covered_until_us"]),
        gap=bool(document["gap"]),
        closed_us=None if document.get("closed_us") is None else int(document["closed_us"]),
        range=(
            PriceRange(int(document["low_micros"]), int(document["high_micros"]))
            if "low_micros" in document and "high_micros" in document
            else None
        ),
        computed=(
            (ExcursionQuality(int(computed["quality"])), PriceRange(int(computed["low"]), int(computed["high"])))
            if computed
            else None
        ),
    )


async def ensure_excursion_indexes(database: AsyncDatabase[Document]) -> None:
    """Create the collection's indexes (idempotent; run at start-up)."""
    excursions = database[COLLECTION]
    await excursions.create_index([("instrument", ASCENDING), ("closed_us", ASCENDING)], name="excursions_open")
    await excursions.create_index([("user_id", ASCENDING), ("closed_us", ASCENDING)], name="excursions_user")


class MongoExcursionStore:
    """Recorded price extremes of open positions in `analytics_excursions`."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._excursions = database[COLLECTION]
        self._coverage = database[COVERAGE]
        self._covered: set[str] = set()

    async def track(
        self, user_id: str, open_positions: Sequence[tuple[Instrument, int]], now_us: int, allowance_us: int
    ) -> None:
        """Create the positions' documents (recording from now), reopen any closed one, close the user's others."""
        ids = [_id(user_id, instrument, open_time) for instrument, open_time in open_positions]
        operations: list[UpdateOne | UpdateMany] = [
            UpdateOne(
                {"_id": document_id},
                {
                    "$setOnInsert": {
                        "user_id": user_id,
                        "instrument": instrument_key(instrument),
                        "open_time_us": open_time,
                        "watch_from_us": now_us,
                        "covered_until_us": now_us,
                        "gap": False,
                        "closed_us": None,
                    }
                },
                upsert=True,
            )
            for document_id, (instrument, open_time) in zip(ids, open_positions, strict=True)
        ]
        if ids:
            # A position that was closed and is open again (a deleted exit) missed the time in between.
            operations.append(
                UpdateMany(
                    {"_id": {"$in": ids}, "closed_us": {"$ne": None}}, {"$set": {"closed_us": None, "gap": True}}
                )
            )
        operations.extend(await self._closings(user_id, ids, now_us, allowance_us))
        await self._write(operations)

    async def _closings(self, user_id: str, keep: list[str], now_us: int, allowance_us: int) -> list[UpdateOne]:
        try:
            closing = [
                document
                async for document in self._excursions.find(
                    {"user_id": user_id, "closed_us": None, "_id": {"$nin": keep}},
                    {"instrument": 1, "watch_from_us": 1},
                )
            ]
            instruments = sorted({document["instrument"] for document in closing})
            runs = (
                {document["_id"]: document async for document in self._coverage.find({"_id": {"$in": instruments}})}
                if instruments
                else {}
            )
        except PyMongoError as error:
            raise Unavailable("the excursion store could not be read", reason="SERVICE_UNAVAILABLE") from error
        operations = []
        for document in closing:
            run = runs.get(document["instrument"])
            values: Document = {"closed_us": now_us, "covered_until_us": int(run["until_us"]) if run else 0}
            if run is None or int(run["since_us"]) > int(document["watch_from_us"]) + allowance_us:
                values["gap"] = True  # listening restarted (or never ran) after recording began
            operations.append(UpdateOne({"_id": document["_id"], "closed_us": None}, {"$set": values}))
        return operations

    async def open_instruments(self) -> set[Instrument]:
        """Return the instruments of every open position (one aggregation; `distinct` is avoided on FerretDB)."""
        try:
            cursor = await self._excursions.aggregate(
                [{"$match": {"closed_us": None}}, {"$group": {"_id": "$instrument"}}]
            )
            return {instrument_of(str(document["_id"])) async for document in cursor}
        except PyMongoError as error:
            raise Unavailable("the excursion store could not be read", reason="SERVICE_UNAVAILABLE") from error

    async def record(self, batches: Sequence[TickBatch]) -> None:
        """Widen the open positions' ranges: one $min/$max per instrument, for positions open before the batch."""
        await self._write(
            [
                UpdateMany(
                    {
                        "instrument": instrument_key(batch.instrument),
                        "closed_us": None,
                        "open_time_us": {"$lte": batch.first_us},
                    },
                    {"$min": {"low_micros": batch.low_micros}, "$max": {"high_micros": batch.high_micros}},
                )
                for batch in batches
            ]
        )

    async def confirm(self, instruments: Iterable[Instrument], now_us: int, allowance_us: int) -> None:
        """Extend each instrument's listening run to now, restarting it after a gap longer than the allowance.

        One small document per instrument; it is rewritten only once its run is half an allowance old.
        """
        keys = sorted(instrument_key(instrument) for instrument in instruments)
        if not keys:
            return
        operations: list[UpdateOne | UpdateMany] = [
            UpdateOne({"_id": key}, {"$setOnInsert": {"since_us": now_us, "until_us": now_us}}, upsert=True)
            for key in keys
            if key not in self._covered
        ]
        operations += [
            UpdateMany(
                {"_id": {"$in": keys}, "until_us": {"$lt": now_us - allowance_us}}, {"$set": {"since_us": now_us}}
            ),
            UpdateMany(
                {"_id": {"$in": keys}, "until_us": {"$lt": now_us - allowance_us // 2}}, {"$max": {"until_us": now_us}}
            ),
        ]
        try:
            await self._coverage.bulk_write(operations, ordered=True)
        except PyMongoError as error:
            raise Unavailable("the excursion store could not be written", reason="SERVICE_UNAVAILABLE") from error
        self._covered.update(keys)

    async def recordings(
        self, user_id: str, keys: Sequence[tuple[Instrument, int]]
    ) -> dict[tuple[Instrument, int], Recording]:
        """Return the user's recordings of the given positions."""
        if not keys:
            return {}
        ids = [_id(user_id, instrument, open_time) for instrument, open_time in keys]
        found: dict[tuple[Instrument, int], Recording] = {}
        try:
            async for document in self._excursions.find({"_id": {"$in": ids}, "user_id": user_id}):
                recording = _recording(document)
                found[(recording.instrument, recording.open_time_us)] = recording
        except PyMongoError as error:
            raise Unavailable("the excursion store could not be read", reason="SERVICE_UNAVAILABLE") from error
        return found

    async def user_recordings(self, user_id: str) -> dict[tuple[Instrument, int], Recording]:
        """Return every recording of the user with a range or a kept bars result."""
        query = {"user_id": user_id, "$or": [{"high_micros": {"$exists": True}}, {"computed": {"$exists": True}}]}
        found: dict[tuple[Instrument, int], Recording] = {}
        try:
            async for document in self._excursions.find(query):
                recording = _recording(document)
                found[(recording.instrument, recording.open_time_us)] = recording
        except PyMongoError as error:
            raise Unavailable("the excursion store could not be read", reason="SERVICE_UNAVAILABLE") from error
        return found

    async def keep_computed(
        self, user_id: str, key: tuple[Instrument, int], quality: ExcursionQuality, prices: PriceRange
    ) -> None:
        """Keep a closed round trip's result from bars (a new document is closed and never exact)."""
        instrument, open_time = key
        await self._write(
            [
                UpdateOne(
                    {"_id": _id(user_id, instrument, open_time)},
                    {
                        "$set": {
                            "computed": {"quality": int(quality), "low": prices.low_micros, "high": prices.high_micros}
                        },
                        "$setOnInsert": {
                            "user_id": user_id,
                            "instrument": instrument_key(instrument),
                            "open_time_us": open_time,
                            "watch_from_us": 0,
                            "covered_until_us": 0,
                            "gap": True,
                            "closed_us": 0,
                        },
                    },
                    upsert=True,
                )
            ]
        )

    async def _write(self, operations: Sequence[UpdateOne | UpdateMany]) -> None:
        if not operations:
            return
        try:
            await self._excursions.bulk_write(list(operations), ordered=False)
        except PyMongoError as error:
            raise Unavailable("the excursion store could not be written", reason="SERVICE_UNAVAILABLE") from error
