"""MAE/MFE use cases (decision 0270): record open positions' price extremes from live ticks; measure round trips.

`ExcursionRecorder` runs once per replica: it learns from journal changes which positions are open (and
persists them through `ExcursionStore`), listens to the ticks of exactly the instruments with an open position
(any user's), and once per flush interval writes one idempotent $max/$min per instrument plus one
confirmation per instrument that it was listening. `ExcursionMeter` turns recordings (or stored 1-minute bars
where no full recording exists) into each round trip's excursion. No gRPC, database or Redis imports here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

import numpy as np

from trademesh.kernel.errors import Unavailable
from trademesh.kernel.lots import RoundTrip
from trademesh.services.analytics.excursion_ports import BarSource, ExcursionStore, TickBatch, TickFeed
from trademesh.services.analytics.model import Instrument, Journal
from trademesh.services.analytics.model.excursions import (
    UNAVAILABLE,
    BarWindow,
    Excursion,
    ExcursionQuality,
    ExcursionStats,
    excursion_stats,
    measure,
    minute_of,
    trip_shape,
)
from trademesh.services.analytics.model.trip_fills import fills_of_trips

logger = logging.getLogger(__name__)

#: Concurrent GetBars calls of one request.
BAR_CONCURRENCY = 8


class ExcursionRecorder:
    """Keep the highest and lowest traded price of every open position, from the tick backplane."""

    def __init__(
        self,
        journal: Callable[[str], Awaitable[Journal]],
        store: ExcursionStore,
        feed: TickFeed,
        clock: Callable[[], int],
        *,
        flush_seconds: float = 1.0,
        allowance_seconds: float = 5.0,
        refresh_seconds: float = 5.0,
    ) -> None:
        self._journal = journal
        self._store = store
        self._feed = feed
        self._clock = clock
        self._flush = flush_seconds
        self._allowance_us = int(allowance_seconds * 1_000_000)
        self._refresh = refresh_seconds
        self._dirty: set[str] = set()
        self._pending: dict[Instrument, list[int]] = {}
        self._watched: set[Instrument] = set()
        self._closed = False
        self._next_refresh = 0.0
        self._wake = asyncio.Event()
        feed.on_tick = self._on_tick

    @property
    def watched(self) -> frozenset[Instrument]:
        """Return the instruments whose ticks this replica records."""
        return frozenset(self._watched)

    def journal_changed(self, user_id: str) -> None:
        """Note that a user's journal changed: their open positions are re-read at the next flush."""
        self._dirty.add(user_id)
        self._wake.set()

    def _on_tick(self, instrument: Instrument, price_micros: int, time_us: int) -> None:
        if instrument not in self._watched or price_micros <= 0:
            return
        held = self._pending.get(instrument)
        if held is None:
            self._pending[instrument] = [price_micros, price_micros, time_us, time_us]
        else:
            held[0], held[1] = min(held[0], price_micros), max(held[1], price_micros)
            held[2], held[3] = min(held[2], time_us), max(held[3], time_us)

    def close(self) -> None:
        """Ask `run` to stop (after a last flush)."""
        self._closed = True
        self._wake.set()

    async def run(self) -> None:
        """Sync changed users, refresh the watched instruments and flush the extremes until closed."""
        feed = asyncio.create_task(self._feed.run())
        try:
            while not self._closed:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._flush):
                        await self._wake.wait()
                self._wake.clear()
                try:
                    await self.step()
                except Unavailable:
                    logger.warning("recording excursions failed; retrying", exc_info=True)
        finally:
            self._feed.close()
            feed.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await feed

    async def step(self) -> None:
        """Do one round: track the changed users' open positions, refresh the watched instruments, flush."""
        synced = await self._sync_users()
        now = asyncio.get_running_loop().time()
        if synced or now >= self._next_refresh:
            self._next_refresh = now + self._refresh
            self._watched = await self._store.open_instruments()
            await self._feed.watch(self._watched)
        await self.flush()

    async def _sync_users(self) -> bool:
        users, self._dirty = self._dirty, set()
        for user_id in sorted(users):
            try:
                journal = await self._journal(user_id)
                positions = [(cycle.instrument, cycle.open_time) for cycle in journal.open_cycles()]
                await self._store.track(user_id, positions, self._clock(), self._allowance_us)
            except Unavailable:
                self._dirty.add(user_id)
                raise
        return bool(users)

    async def flush(self) -> None:
        """Write the pending extremes (one write per instrument) and confirm the listening time."""
        pending, self._pending = self._pending, {}
        batches = [TickBatch(instrument, *values) for instrument, values in pending.items()]
        if batches:
            try:
                await self._store.record(batches)
            except Unavailable:
                for batch in batches:  # kept for the next flush: extremes merge without loss
                    self._on_tick(batch.instrument, batch.low_micros, batch.first_us)
                    self._on_tick(batch.instrument, batch.high_micros, batch.last_us)
                raise
        if self._watched and self._feed.listening():
            await self._store.confirm(self._watched, self._clock(), self._allowance_us)


class ExcursionMeter:
    """Measure closed round trips' MAE/MFE from recordings, else from bars."""

    def __init__(self, store: ExcursionStore, bars: BarSource, *, allowance_seconds: float = 5.0) -> None:
        self._store = store
        self._bars = bars
        self._allowance_us = int(allowance_seconds * 1_000_000)

    async def measure_trips(
        self,
        user_id: str,
        journal: Journal,
        trips: Sequence[RoundTrip[Instrument]],
        risks: Sequence[int],
        authorization: str,
    ) -> list[Excursion]:
        """Return each trip's excursion (bars are read with the caller's credentials; results from bars kept)."""
        keys = [(trip.instrument, trip.open_time) for trip in trips]
        recordings = await self._store.recordings(user_id, keys) if trips else {}
        fills = dict(zip(keys, fills_of_trips(trips, journal.instrument_fills), strict=True))
        limit = asyncio.Semaphore(BAR_CONCURRENCY)

        async def one(trip: RoundTrip[Instrument], risk: int) -> Excursion:
            key = (trip.instrument, trip.open_time)
            recording = recordings.get(key)
            shape = trip_shape(fills[key], trip.long)
            times = (trip.open_time, trip.close_time)
            found = measure(trip.long, shape, times, risk, recording, None, self._allowance_us)
            if found.quality == ExcursionQuality.EXACT or (recording is not None and recording.computed is not None):
                return found
            async with limit:
                window = await self._window(trip, authorization)
            if window is None:
                return found if found.quality != ExcursionQuality.UNAVAILABLE else UNAVAILABLE
            found = measure(trip.long, shape, times, risk, recording, window, self._allowance_us)
            if found.quality in (ExcursionQuality.FROM_BARS, ExcursionQuality.PARTIAL) and found.range is not None:
                with contextlib.suppress(Unavailable):
                    await self._store.keep_computed(user_id, key, found.quality, found.range)
            return found

        return list(await asyncio.gather(*(one(trip, risk) for trip, risk in zip(trips, risks, strict=True))))

    async def _window(self, trip: RoundTrip[Instrument], authorization: str) -> BarWindow | None:
        try:
            return await self._bars.bars(trip.instrument, minute_of(trip.open_time), trip.close_time + 1, authorization)
        except Unavailable:
            logger.info("bars of %s unavailable; its excursion is not measured", trip.instrument)
            return None

    async def stats(
        self, user_id: str, journal: Journal, first: int, last: int, tolerance_micros: int
    ) -> ExcursionStats:
        """Summarise the known excursions of the round trips [first, last) of the close order (no bar reads).

        One read of the user's recordings; only the round trips that have one are built as objects, so a
        journal without recordings pays one vectorised `isin`.
        """
        total = last - first
        recordings = await self._store.user_recordings(user_id) if total else {}
        if not recordings:
            return excursion_stats([], total, tolerance_micros)
        columns = journal.trip_columns()
        opens = np.asarray(columns["open_time"][first:last], dtype=np.int64)
        wanted = np.fromiter((open_time for _, open_time in recordings), dtype=np.int64, count=len(recordings))
        known: list[tuple[RoundTrip[Instrument], int]] = []
        for offset in np.flatnonzero(np.isin(opens, wanted)).tolist():
            index = first + offset
            [trip] = journal.round_trips_in(index, index + 1)
            if (trip.instrument, trip.open_time) in recordings:
                known.append((trip, int(columns["risk"][index])))
        measured: list[tuple[Excursion, int]] = []
        for (trip, risk), fills in zip(
            known, fills_of_trips([trip for trip, _ in known], journal.instrument_fills), strict=True
        ):
            recording = recordings[(trip.instrument, trip.open_time)]
            times = (trip.open_time, trip.close_time)
            found = measure(trip.long, trip_shape(fills, trip.long), times, risk, recording, None, self._allowance_us)
            if found.quality == ExcursionQuality.EXACT or recording.computed is not None:
                measured.append((found, trip.net_pnl_micros))
        return excursion_stats(measured, total - len(measured), tolerance_micros)
