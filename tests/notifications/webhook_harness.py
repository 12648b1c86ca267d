"""The webhook use cases wired on in-memory fakes, for the webhook use-case tests."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass

from tests.notifications.fakes import (
    FakeClock,
    InMemoryDeliveryStore,
    InMemoryInboxSignal,
    InMemoryNotificationStore,
    InMemoryPreferencesStore,
)
from tests.notifications.webhook_fakes import (
    FakeBudget,
    FakeResolver,
    InMemoryWebhookDeliveryStore,
    InMemoryWebhookStore,
    ScriptedSender,
)
from trademesh.services.core.page_tokens import Codec
from trademesh.services.core.sealing import Sealer, new_key_text
from trademesh.services.notifications.model import (
    Notification,
    NotificationKind,
    WebhookDraft,
)
from trademesh.services.notifications.ports import AddressResolver
from trademesh.services.notifications.service import AddressPolicy, Notifier, WebhookDispatcher, WebhookService

ALICE, BOB = "user-alice", "user-bob"
HOOK = "https://hooks.example.com/trademesh"
PUBLIC = {"hooks.example.com": ["93.184.216.34"], "rebind.example.com": ["93.184.216.34", "127.0.0.1"]}


@dataclass
class Hooks:
    clock: FakeClock
    store: InMemoryWebhookStore
    deliveries: InMemoryWebhookDeliveryStore
    sealer: Sealer
    sender: ScriptedSender
    budget: FakeBudget
    service: WebhookService
    notifier: Notifier
    dispatcher: WebhookDispatcher
    preferences: InMemoryPreferencesStore

    def replica(self) -> WebhookDispatcher:
        """Return another replica's dispatcher over the same stores."""
        return WebhookDispatcher(
            webhooks=self.store,
            deliveries=self.deliveries,
            sender=self.sender,
            sealer=self.sealer,
            budget=self.budget,
            clock=self.clock,
        )

    async def create(self, user: str = ALICE, url: str = HOOK, kinds: frozenset[NotificationKind] = frozenset()) -> str:
        _webhook, secret = await self.service.create(user, str(uuid.uuid4()), WebhookDraft(url, kinds))
        return secret

    async def notify(self, user: str = ALICE, kind: NotificationKind = NotificationKind.TRADE_ALERT) -> Notification:
        notification = Notification(f"n-{uuid.uuid4().hex[:8]}", user, kind, "title", "body", self.clock())
        await self.notifier.notify(notification)
        return notification


def build(
    *,
    sealer: Sealer | None = None,
    per_minute: int = 1000,
    allow_http: bool = False,
    resolver: AddressResolver | None = None,
) -> Hooks:
    clock = FakeClock()
    store = InMemoryWebhookStore()
    deliveries = InMemoryWebhookDeliveryStore()
    sealer = sealer or Sealer.from_setting(new_key_text("k1"))
    sender = ScriptedSender()
    budget = FakeBudget(clock, per_window=per_minute)
    preferences = InMemoryPreferencesStore()
    service = WebhookService(
        store=store,
        deliveries=deliveries,
        sealer=sealer,
        policy=AddressPolicy(resolver or FakeResolver(PUBLIC)),
        tokens=Codec(b"test-secret"),
        clock=clock,
        max_per_user=2,
        allow_http=allow_http,
    )
    notifier = Notifier(
        notifications=InMemoryNotificationStore(),
        preferences=preferences,
        deliveries=InMemoryDeliveryStore(),
        signal=InMemoryInboxSignal(),
        clock=clock,
        webhooks=store,
        webhook_deliveries=deliveries,
    )
    dispatcher = WebhookDispatcher(
        webhooks=store,
        deliveries=deliveries,
        sender=sender,
        sealer=sealer,
        budget=budget,
        clock=clock,
        rng=random.Random(7),
    )
    return Hooks(clock, store, deliveries, sealer, sender, budget, service, notifier, dispatcher, preferences)
