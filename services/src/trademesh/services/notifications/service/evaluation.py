"""Alert evaluation on the live tick stream: the index decides, the store's generation check commits.

Every replica evaluates every alert (the index is cheap) and all of them may reach the same crossing;
the notification's id is the alert's id and generation, and the alert moves to its next generation
only if it still has the one the evaluator saw, so a crossing makes one notification however many
replicas saw it and whenever they restarted. The notification is written before the alert's new
generation: a crash in between leaves the alert armed, and the next reaching tick writes the same
notification id again (ignored) and commits.

A winning commit updates this replica's index from the committed alert itself (no re-read), and the
announcement of that commit, when it comes back on `notify:alerts`, is not re-read either: `announced`
skips one announcement of an alert per own commit. The skipped one may be another writer's, published in
between; the own one then still comes (it is published after the commit) and is re-read, after both. The
firing itself still reads the alert first: the notification is written before the commit and cannot be
taken back, so it must not be written from an index entry made stale by an owner's change whose
announcement this replica has not followed yet.
"""

from __future__ import annotations

import heapq
import logging
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

from trademesh.services.notifications.alert_index import AlertIndex, Firing
from trademesh.services.notifications.model import Alert, AlertState, Notification, NotificationKind, Tick
from trademesh.services.notifications.ports import AlertChanges, AlertStore, Clock, TickSource
from trademesh.services.notifications.service.delivery import Notifier
from trademesh.services.notifications.service.guardrails import GuardrailWatch

logger = logging.getLogger(__name__)

#: How many own commits are remembered until their announcement comes back (a forgotten one is re-read).
OWN_COMMITS = 10_000


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
        """Evaluate one tick: fire every alert it reaches (each at most once)."""
        await self.tend()
        for firing in self.index.on_tick(tick):
            try:
                await self._fire(firing)
            except Exception:
                # Put it back: the next reaching tick tries again (the notification id makes it once).
                logger.warning("firing alert %s failed; it stays armed", firing.alert_id, exc_info=True)
                await self.alert_changed(firing.alert_id)

    async def _fire(self, firing: Firing) -> None:
        def outcome(alert: Alert, now: datetime) -> tuple[tuple[str, str], Alert]:
            fired = alert.fired(firing.price_micros, now)
            return alert.describe(firing.price_micros, firing.change_basis_points), fired

        await self._fire_checked(firing.alert_id, firing.generation, outcome)

    async def fire_guardrail(self, seen: Alert, pnl_micros: int, peak_micros: int) -> None:
        """Fire a P&L guardrail the day's P&L reached (once: the generation check, as for price alerts)."""

        def outcome(alert: Alert, now: datetime) -> tuple[tuple[str, str], Alert]:
            return alert.describe_guardrail(pnl_micros, peak_micros), alert.guardrail_fired(pnl_micros, now)

        try:
            await self._fire_checked(seen.id, seen.generation, outcome)
        except Exception:
            logger.warning("firing guardrail %s failed; it stays armed", seen.id, exc_info=True)
            await self.alert_changed(seen.id)

    async def _fire_checked(
        self, alert_id: str, generation: int, outcome: Callable[[Alert, datetime], tuple[tuple[str, str], Alert]]
    ) -> None:
        alert = await self._store.get_any(alert_id)
        now = self._clock()
        if alert is None or alert.generation != generation or alert.state is not AlertState.ARMED:
            if alert is not None:
                self._track(alert)
            return
        if alert.is_expired_at(now):
            await self._commit(alert, alert.expired(now))
            return
        (title, body), fired = outcome(alert, now)
        await self._notifier.notify(
            Notification(
                id=alert.notification_id(),
                user_id=alert.user_id,
                kind=NotificationKind.PRICE_ALERT,
                title=title,
                body=body,
                created_at=now,
                alert_id=alert.id,
            )
        )
        if await self._commit(alert, fired):
            self.fired += 1

    async def _commit(self, alert: Alert, changed: Alert) -> bool:
        won = await self._store.replace(changed, alert.generation)
        if won:
            # The committed alert is what the reload of its echo would return: follow it without one (the
            # tick already took a fired alert out of the index, so nothing is unwatched, as with that reload).
            await self._follow(alert.id, changed, None)
            self._own_commits[alert.id] = changed.generation
            self._own_commits.move_to_end(alert.id)
            if len(self._own_commits) > OWN_COMMITS:
                self._own_commits.popitem(last=False)
            try:
                await self._changes.publish(alert.id)
            except BaseException:
                self._own_commits.pop(alert.id, None)  # no echo will come to skip
                raise
        else:
            await self.alert_changed(alert.id)
        return won

    async def tend(self) -> None:
        """Re-arm alerts whose cool-down ended and expire those whose expiry passed."""
        now = self._clock()
        while self._timers and self._timers[0][0] <= now:
            _, alert_id, generation = heapq.heappop(self._timers)
            alert = await self._store.get_any(alert_id)
            if alert is None or alert.generation != generation:
                continue  # changed since the timer was set; its newer timer (if any) is in the heap
            if alert.is_expired_at(now) and alert.state.is_active:
                await self._commit(alert, alert.expired(now))
            elif alert.state is AlertState.COOLING_DOWN:
                await self._commit(alert, alert.rearmed(now))
