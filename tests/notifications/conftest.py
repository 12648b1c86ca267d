"""Notification use cases wired on in-memory fakes (no servers)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.notifications.fakes import (
    FakeClock,
    InMemoryAlertStore,
    InMemoryDeliveryStore,
    InMemoryInboxSignal,
    InMemoryNotificationStore,
    InMemoryPreferencesStore,
    RecordingAlertChanges,
    RecordingMailSender,
    RecordingTickSource,
)
from trademesh.services.core.page_tokens import Codec
from trademesh.services.notifications.service import (
    AlertEvaluator,
    AlertService,
    InboxService,
    MailDispatcher,
    Notifier,
    PreferencesService,
)


@dataclass
class World:
    """Every use case over one set of fakes."""

    clock: FakeClock
    alert_store: InMemoryAlertStore
    notifications: InMemoryNotificationStore
    preferences_store: InMemoryPreferencesStore
    deliveries: InMemoryDeliveryStore
    mail: RecordingMailSender
    signal: InMemoryInboxSignal
    changes: RecordingAlertChanges
    ticks: RecordingTickSource
    alerts: AlertService
    inbox: InboxService
    preferences: PreferencesService
    notifier: Notifier
    dispatcher: MailDispatcher
    evaluator: AlertEvaluator

    def evaluator_replica(self) -> AlertEvaluator:
        """Return another replica's evaluator over the same stores."""
        return AlertEvaluator(
            store=self.alert_store, notifier=self.notifier, changes=self.changes, ticks=self.ticks, clock=self.clock
        )


@pytest.fixture
def world() -> World:
    clock = FakeClock()
    alert_store = InMemoryAlertStore()
    notifications = InMemoryNotificationStore()
    preferences_store = InMemoryPreferencesStore()
    deliveries = InMemoryDeliveryStore()
    mail = RecordingMailSender()
    signal = InMemoryInboxSignal()
    changes = RecordingAlertChanges()
    ticks = RecordingTickSource()
    tokens = Codec(b"test-secret")
    notifier = Notifier(
        notifications=notifications, preferences=preferences_store, deliveries=deliveries, signal=signal, clock=clock
    )
    return World(
        clock=clock,
        alert_store=alert_store,
        notifications=notifications,
        preferences_store=preferences_store,
        deliveries=deliveries,
        mail=mail,
        signal=signal,
        changes=changes,
        ticks=ticks,
        alerts=AlertService(store=alert_store, changes=changes, tokens=tokens, clock=clock, max_alerts_per_user=3),
        inbox=InboxService(store=notifications, signal=signal, tokens=tokens, clock=clock, heartbeat_seconds=0.05),
        preferences=PreferencesService(store=preferences_store),
        notifier=notifier,
        dispatcher=MailDispatcher(deliveries=deliveries, sender=mail, clock=clock),
        evaluator=AlertEvaluator(store=alert_store, notifier=notifier, changes=changes, ticks=ticks, clock=clock),
    )
