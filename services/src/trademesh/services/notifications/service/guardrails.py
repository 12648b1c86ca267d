"""P&L guardrails on analytics' live P&L: one WatchPnl stream per user with an armed guardrail (decision 0300).

The evaluator of alerts (`AlertEvaluator`) owns the life cycle (firing with the generation check, re-arming,
expiry); this module only keeps each user's running day — the latest P&L and the day's peak — and tells it
which armed guardrail a reading reaches. A reached guardrail leaves the armed set at once, so a burst of
readings fires it once; it comes back only when the evaluator tracks it armed again (next IST day).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from trademesh.services.notifications.guardrail_ports import DayPeaks
from trademesh.services.notifications.model import Alert, AlertState
from trademesh.services.notifications.model.guardrails import (
    DayPnl,
    DayTrack,
    UserGuardrails,
    guardrail_reached,
    ist_day,
)
from trademesh.services.notifications.ports import PnlFeed

logger = logging.getLogger(__name__)

#: Called with (alert, day P&L, day peak) when an armed guardrail is reached.
OnReached = Callable[[Alert, int, int], Awaitable[None]]


class GuardrailWatch:
    """Armed guardrails per user, each user's P&L stream, and the running day they are checked against."""

    def __init__(
        self,
        feed: PnlFeed,
        *,
        retry_seconds: float = 1.0,
        max_retry_seconds: float = 30.0,
        owns: Callable[[str], bool] | None = None,
        peaks: DayPeaks | None = None,
    ) -> None:
        self._feed = feed
        #: The day peaks shared by the replicas; None: each replica's own since it began watching the user.
        self._peaks = peaks
        #: Whether this replica opens the user's stream (sharding, decision 0340); None: every user's.
        self._owns = owns
        self._retry = retry_seconds
        self._max_retry = max_retry_seconds
        self._users: dict[str, UserGuardrails] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.on_reached: OnReached | None = None
        self.readings = 0

    def users(self) -> frozenset[str]:
        """Return the users with an armed guardrail (each has a P&L stream at the replica owning the user)."""
        return frozenset(self._users)

    def streaming(self) -> frozenset[str]:
        """Return the users whose P&L stream this replica runs."""
        return frozenset(user for user, task in self._tasks.items() if not task.done())

    async def rebalance(self) -> None:
        """Open the streams of the guarded users now owned; close the ones no longer owned (decision 0340).

        A user handed over loses the running day kept here: the new owner starts the peak from its first
        reading (as after a restart, decision 0300), and so would this replica if the user came back.
        """
        for user_id, state in self._users.items():
            if self._owned(user_id):
                self._start(user_id)
            elif (task := self._tasks.pop(user_id, None)) is not None:
                task.cancel()
                state.track = DayTrack()

    def peak(self, user_id: str) -> int | None:
        """Return the user's highest day P&L seen today (None when not watched)."""
        state = self._users.get(user_id)
        return None if state is None or not state.track.readings else state.track.peak_micros

    def track(self, alert: Alert) -> None:
        """Evaluate an ARMED guardrail from now on; forget it in any other state."""
        if alert.state is not AlertState.ARMED:
            self.forget(alert.id, alert.user_id)
            return
        state = self._users.get(alert.user_id)
        if state is None:
            state = self._users[alert.user_id] = UserGuardrails()
        state.alerts[alert.id] = alert
        self._start(alert.user_id)

    def forget(self, alert_id: str, user_id: str | None = None) -> None:
        """Stop evaluating an alert; a user left without armed guardrails loses the P&L stream."""
        for user in [user_id] if user_id is not None else list(self._users):
            state = self._users.get(user)
            if state is None:
                continue
            state.alerts.pop(alert_id, None)
            if not state.alerts:
                del self._users[user]
                task = self._tasks.pop(user, None)
                # The stream's own task (firing from a reading) ends by itself after the reading.
                if task is not None and task is not _current_task():
                    task.cancel()

    async def on_reading(self, user_id: str, reading: DayPnl) -> None:
        """Take one P&L reading of the user: fire every armed guardrail it reaches (each once)."""
        state = self._users.get(user_id)
        if state is None:
            return
        self.readings += 1
        track = state.track
        track.observe(reading)
        if self._peaks is not None and (track.readings == 1 or track.peak_micros == reading.pnl_micros):
            # The day's first reading here (another replica may have seen a higher one) or a new high.
            try:
                track.peak_micros = max(
                    track.peak_micros, await self._peaks.raise_to(user_id, track.trading_date, reading.pnl_micros)
                )
            except Exception as error:
                logger.warning("day peak of user %s not shared (%s); using this replica's", user_id, error)
        for alert in list(state.alerts.values()):
            if alert.last_trigger_at is not None and ist_day(alert.last_trigger_at).isoformat() >= track.trading_date:
                continue  # once per IST day, even when a stale reading of the day it fired arrives
            if guardrail_reached(alert, track):
                del state.alerts[alert.id]
                if self.on_reached is not None:
                    await self.on_reached(alert, track.pnl_micros, track.peak_micros)

    def _owned(self, user_id: str) -> bool:
        return self._owns is None or self._owns(user_id)

    def _start(self, user_id: str) -> None:
        if not self._owned(user_id):
            return
        if user_id in self._tasks and not self._tasks[user_id].done():
            return
        self._tasks[user_id] = asyncio.get_running_loop().create_task(self._follow(user_id), name=f"pnl-{user_id}")

    async def _follow(self, user_id: str) -> None:
        delay = self._retry
        while user_id in self._users:
            try:
                async for reading in self._feed.watch(user_id):
                    delay = self._retry
                    await self.on_reading(user_id, reading)
                    if self._tasks.get(user_id) is not asyncio.current_task():
                        return  # no armed guardrail left (or a newer stream took over)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                logger.info("P&L stream of user %s ended (%s); reconnecting in %.0fs", user_id, error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_retry)

    async def close(self) -> None:
        """Stop every P&L stream."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _current_task() -> asyncio.Task[object] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running loop
        return None
