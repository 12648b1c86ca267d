"""Alert evaluation on the live tick stream: the index decides, the store's generation check commits.

Each replica evaluates the instruments it owns (sharding, decision 0340; with sharding off, or during a
handover, several replicas may reach the same crossing): the notification's id is the alert's id and
generation, and the alert moves to its next generation only if it still has the one the evaluator saw, so
a crossing makes one notification however many replicas saw it and whenever they restarted. The
notification is written before the alert's new generation: a crash in between leaves the alert armed, and
the next reaching tick writes the same notification id again (ignored) and commits.

Firing is batched (decision 0330): the tick handler only evaluates the index and queues what a tick
reached; one firing task takes everything queued (up to `BATCH_SIZE`) and fires it as one batch in a
handful of round trips — the alerts read with one `$in`, the notifications stored and their channels
queued by `Notifier.notify_many`, the commits as one conditional bulk write, the announcements in one
pipeline. A batch that fails puts its alerts back (they are re-read and re-indexed).

A winning commit updates this replica's index from the committed alert itself (no re-read), and the
announcement of that commit, when it comes back on `notify:alerts`, is not re-read either: `announced`
skips one announcement of an alert per own commit. The skipped one may be another writer's, published in
between; the own one then still comes (it is published after the commit) and is re-read, after both. The
firing itself still reads the alert first: the notification is written before the commit and cannot be
taken back, so it must not be written from an index entry made stale by an owner's change whose
announcement this replica has not followed yet (or made while the firing was queued).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from trademesh.services.notifications.alert_index import AlertIndex, Firing
from trademesh.services.notifications.model import (
    Alert,
    AlertState,
    Channel,
    Notification,
    NotificationKind,
    Tick,
)
from trademesh.services.notifications.ports import AlertChanges, AlertStore, Clock, TickSource
from trademesh.services.notifications.service.delivery import Notifier
from trademesh.services.notifications.service.guardrails import GuardrailWatch

logger = logging.getLogger(__name__)

#: How many own commits are remembered until their announcement comes back (a forgotten one is re-read).
OWN_COMMITS = 10_000
#: The most firings one batch takes (a longer queue is fired in several batches, in queue order).
BATCH_SIZE = 500

#: What firing an alert writes: ((title, body), the fired alert), from the stored alert and the moment.
Outcome = Callable[[Alert, datetime], tuple[tuple[str, str], Alert]]


@dataclass(frozen=True, slots=True)
class _Queued:
    """A firing waiting for the firing task: the alert, the generation the evaluator saw, what it writes."""

    alert_id: str
    generation: int
    outcome: Outcome


def _price_outcome(firing: Firing, alert: Alert, now: datetime) -> tuple[tuple[str, str], Alert]:
    return alert.describe(firing.price_micros, firing.change_basis_points), alert.fired(firing.price_micros, now)


class AlertEvaluator:
    """Keep the armed alerts indexed, fire them on ticks, re-arm and expire them on time."""

    def __init__(
        self,
        *,
        store: AlertStore,
        notifier: Notifier,
        changes: AlertChanges,
        ticks: TickSource,
        clock: Clock,
        guardrails: GuardrailWatch | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self._store = store
        #: P&L guardrails (decision 0300); None when no P&L feed is configured (they are then not evaluated).
        self.guardrails = guardrails
        if guardrails is not None:
            guardrails.on_reached = self.fire_guardrail
        self._notifier = notifier
        self._changes = changes
        self._ticks = ticks
        self._clock = clock
        self.index = AlertIndex()
        # (when, alert id, generation): cool-downs ending and expiries, checked against the store on pop.
        self._timers: list[tuple[datetime, str, int]] = []
        self.fired = 0
        # Alert id → generation this replica committed, until the commit's announcement comes back.
        self._own_commits: OrderedDict[str, int] = OrderedDict()
        #: Alert reads done to follow a change (announcements and lost races), for the benchmark and tests.
        self.reloads = 0
        self._queue: deque[_Queued] = deque()
        self._batch_size = batch_size
        self._firing: asyncio.Task[None] | None = None
        #: Batches fired (for the benchmark and tests).
        self.batches = 0

    async def load(self) -> int:
        """Rebuild the index from the stored active alerts (at start-up); return how many were loaded."""
        self._own_commits.clear()  # announcements missed while disconnected: nothing is skipped after a reload
        alerts = await self._store.active()
        for alert in alerts:
            self._track(alert)
        await self._ticks.watch(self.index.instruments())
        return len(alerts)

    def _track(self, alert: Alert) -> None:
        self.index.remove(alert.id)
        guardrail = alert.condition.is_guardrail
        if guardrail and self.guardrails is not None:
            self.guardrails.track(alert)
        if alert.state is AlertState.ARMED:
            if not guardrail:
                self.index.add(alert)
            if alert.expires_at is not None:
                heapq.heappush(self._timers, (alert.expires_at, alert.id, alert.generation))
        elif alert.state is AlertState.COOLING_DOWN and alert.rearm_at is not None:
            heapq.heappush(self._timers, (alert.rearm_at, alert.id, alert.generation))

    async def announced(self, alert_id: str) -> None:
        """Follow an announcement on `notify:alerts`: skip the echo of an own commit, else reload the alert."""
        if self._own_commits.pop(alert_id, None) is not None:
            return
        await self.alert_changed(alert_id)

    async def alert_changed(self, alert_id: str) -> None:
        """Reload one alert after its owner or another replica changed it."""
        before = self.index.get(alert_id)
        self.reloads += 1
        alert = await self._store.get_any(alert_id)
        await self._follow(alert_id, alert, before)

    async def _follow(self, alert_id: str, alert: Alert | None, before: Alert | None) -> None:
        """Make the index, the guardrails and the watched instruments follow `alert` (None: gone)."""
        if alert is None or not alert.state.is_active:
            self.index.remove(alert_id)
            if self.guardrails is not None:
                self.guardrails.forget(alert_id)
        else:
            self._track(alert)
            if alert.state is AlertState.ARMED and not alert.condition.is_guardrail:
                await self._ticks.watch([alert.instrument.key])
        if before is not None and before.instrument.key not in self.index.instruments():
            await self._ticks.unwatch([before.instrument.key])

    async def on_tick(self, tick: Tick) -> None:
        """Evaluate one tick: queue every alert it reaches (each at most once) for the firing task."""
        timers = self._timers
        if timers and timers[0][0] <= self._clock():
            await self.tend()  # a cool-down that ended re-arms its alert before this tick is evaluated
        firings = self.index.on_tick(tick)
        if firings:
            queue = self._queue
            for firing in firings:
                queue.append(_Queued(firing.alert_id, firing.generation, partial(_price_outcome, firing)))
            self._start_firing()

    async def fire_guardrail(self, seen: Alert, pnl_micros: int, peak_micros: int) -> None:
        """Fire a P&L guardrail the day's P&L reached (once: the generation check, as for price alerts). A batch of
        one, awaited: guardrails come one user's reading at a time, not in tick bursts."""

        def outcome(alert: Alert, now: datetime) -> tuple[tuple[str, str], Alert]:
            return alert.describe_guardrail(pnl_micros, peak_micros), alert.guardrail_fired(pnl_micros, now)

        await self._fire_or_put_back([_Queued(seen.id, seen.generation, outcome)])

    def _start_firing(self) -> None:
        if self._firing is None or self._firing.done():
            self._firing = asyncio.get_running_loop().create_task(self._drain(), name="alert-firing")

    async def _drain(self) -> None:
        queue = self._queue
        while queue:
            await self._fire_or_put_back([queue.popleft() for _ in range(min(self._batch_size, len(queue)))])

    async def _fire_or_put_back(self, batch: Sequence[_Queued]) -> None:
        try:
            await self._fire_batch(batch)
        except Exception:
            # Put them back: the next reaching tick tries again (the notification ids make it once).
            logger.warning("firing %d alerts failed; they stay armed", len(batch), exc_info=True)
            try:
                await self._reload_many({item.alert_id for item in batch})
            except Exception:
                logger.warning("re-reading the alerts of a failed batch failed; the next load has them")

    async def settled(self) -> None:
        """Wait until everything queued so far was fired (tests; shutdown)."""
        while self._firing is not None and not self._firing.done():
            await asyncio.wait([self._firing])

    async def close(self) -> None:
        """Stop the firing task (what it had not committed fires again on the next reaching tick)."""
        task, self._firing = self._firing, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _fire_batch(self, batch: Sequence[_Queued]) -> None:
        """Fire a batch: read its alerts, write the notifications of those still armed at the generation seen,
        then commit them all (the expired ones are marked EXPIRED instead)."""
        self.batches += 1
        queued: dict[str, _Queued] = {}
        for item in batch:  # an alert queued twice: the newest generation (the store's check picks the one)
            earlier = queued.get(item.alert_id)
            if earlier is None or item.generation > earlier.generation:
                queued[item.alert_id] = item
        alerts = await self._store.get_many(queued.keys())
        now = self._clock()
        notices: list[tuple[Notification, frozenset[Channel]]] = []
        commits: list[tuple[Alert, Alert]] = []
        firing: set[str] = set()
        for alert_id, item in queued.items():
            alert = alerts.get(alert_id)
            if alert is None or alert.generation != item.generation or alert.state is not AlertState.ARMED:
                if alert is not None:
                    self._track(alert)  # changed since it was indexed: follow the stored one
                continue
            if alert.is_expired_at(now):
                commits.append((alert, alert.expired(now)))
                continue
            (title, body), fired = item.outcome(alert, now)
            notification = Notification(
                id=alert.notification_id(),
                user_id=alert.user_id,
                kind=NotificationKind.PRICE_ALERT,
                title=title,
                body=body,
                created_at=now,
                alert_id=alert.id,
            )
            notices.append((notification, frozenset()))
            commits.append((alert, fired))
            firing.add(alert.id)
        if notices:
            await self._notifier.notify_many(notices)  # before the commits: a crash in between re-fires the ids
        won = await self._commit_many(commits)
        self.fired += len(firing & won)

    async def _commit_many(self, commits: Sequence[tuple[Alert, Alert]]) -> set[str]:
        """Store each (seen, changed) if the stored alert still has the seen generation; follow the winners from
        the committed alert, announce them, re-read the losers. Return the ids committed."""
        if not commits:
            return set()
        won = await self._store.replace_many([(changed, alert.generation) for alert, changed in commits])
        winners: list[str] = []
        for alert, changed in commits:
            if alert.id in won:
                # The committed alert is what the reload of its echo would return: follow it without one (the
                # tick already took a fired alert out of the index, so nothing is unwatched, as with that reload).
                await self._follow(alert.id, changed, None)
                self._own_commits[alert.id] = changed.generation
                self._own_commits.move_to_end(alert.id)
                winners.append(alert.id)
        while len(self._own_commits) > OWN_COMMITS:
            self._own_commits.popitem(last=False)
        if winners:
            try:
                await self._changes.publish_many(winners)
            except BaseException:
                for alert_id in winners:
                    self._own_commits.pop(alert_id, None)  # no echo will come to skip
                raise
        lost = [alert.id for alert, _ in commits if alert.id not in won]
        if lost:
            await self._reload_many(lost)
        return won

    async def _reload_many(self, alert_ids: Collection[str]) -> None:
        """Re-read alerts (a lost race, a failed batch) and follow what is stored."""
        self.reloads += len(alert_ids)
        alerts = await self._store.get_many(alert_ids)
        for alert_id in alert_ids:
            await self._follow(alert_id, alerts.get(alert_id), self.index.get(alert_id))

    async def tend(self) -> None:
        """Re-arm alerts whose cool-down ended and expire those whose expiry passed."""
        now = self._clock()
        while self._timers and self._timers[0][0] <= now:
            _, alert_id, generation = heapq.heappop(self._timers)
            alert = await self._store.get_any(alert_id)
            if alert is None or alert.generation != generation:
                continue  # changed since the timer was set; its newer timer (if any) is in the heap
            if alert.is_expired_at(now) and alert.state.is_active:
                await self._commit_many([(alert, alert.expired(now))])
            elif alert.state is AlertState.COOLING_DOWN:
                await self._commit_many([(alert, alert.rearmed(now))])
