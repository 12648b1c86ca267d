"""In-memory fakes of the push and SMS ports, and the push use cases wired on them."""

from __future__ import annotations

import random
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import datetime

from tests.notifications.fakes import (
    FakeClock,
    InMemoryDeliveryStore,
    InMemoryInboxSignal,
    InMemoryNotificationStore,
    InMemoryPreferencesStore,
)
from tests.notifications.leased_fakes import InMemoryLeasedDeliveries
from tests.notifications.webhook_fakes import FakeBudget, FakeResolver
from trademesh.services.notifications.model import BUILT_CHANNELS, Notification, NotificationKind
from trademesh.services.notifications.model.push import (
    ChannelDelivery,
    ChannelDeliveryState,
    PushSubscription,
    SendOutcome,
)
from trademesh.services.notifications.service import AddressPolicy, Notifier, PreferencesService
from trademesh.services.notifications.service.push import ChannelDispatcher, ChannelQueue, PushService

ALICE, BOB = "user-alice", "user-bob"
VAPID_PUBLIC = "BPublicKeyOfTheServer"
PUBLIC = {"push.example.com": ["93.184.216.34"], "rebind.example.com": ["93.184.216.34", "10.0.0.7"]}


class InMemoryPushSubscriptionStore:
    """Subscriptions by id, unique per (user, endpoint)."""

    def __init__(self) -> None:
        self.subscriptions: dict[str, PushSubscription] = {}

    async def upsert(self, subscription: PushSubscription) -> PushSubscription:
        for stored in self.subscriptions.values():
            if stored.user_id == subscription.user_id and stored.endpoint == subscription.endpoint:
                updated = replace(
                    stored, p256dh=subscription.p256dh, auth=subscription.auth, user_agent=subscription.user_agent
                )
                self.subscriptions[stored.id] = updated
                return updated
        self.subscriptions[subscription.id] = subscription
        return subscription

    async def get_any(self, subscription_id: str) -> PushSubscription | None:
        return self.subscriptions.get(subscription_id)

    async def for_user(self, user_id: str) -> list[PushSubscription]:
        return sorted((s for s in self.subscriptions.values() if s.user_id == user_id), key=lambda s: s.id)[::-1]

    async def for_users(self, user_ids: Collection[str]) -> dict[str, list[PushSubscription]]:
        found = {user_id: await self.for_user(user_id) for user_id in user_ids}
        return {user_id: subscriptions for user_id, subscriptions in found.items() if subscriptions}

    async def delete(self, user_id: str, subscription_id: str) -> bool:
        found = self.subscriptions.get(subscription_id)
        if found is None or found.user_id != user_id:
            return False
        del self.subscriptions[subscription_id]
        return True


class InMemoryChannelDeliveryStore(InMemoryLeasedDeliveries[ChannelDelivery]):
    """Push and SMS deliveries (the leased store)."""

    def __init__(self) -> None:
        super().__init__(ChannelDeliveryState.DROPPED)

    async def drop_pending(self, target: str, reason: str, now: datetime) -> int:
        return self.drop_pending_where(lambda d: d.target == target, reason, now)


@dataclass
class Push:
    subscription: PushSubscription
    payload: bytes
    topic: str
    ttl_seconds: int


@dataclass
class ScriptedPushSender:
    """Records pushes; answers from a script of statuses (then 201)."""

    statuses: list[int] = field(default_factory=list)
    pushes: list[Push] = field(default_factory=list)

    async def push(self, subscription: PushSubscription, payload: bytes, topic: str, ttl_seconds: int) -> SendOutcome:
        self.pushes.append(Push(subscription, payload, topic, ttl_seconds))
        status = self.statuses.pop(0) if self.statuses else 201
        return SendOutcome(status, "" if status < 300 else f"HTTP {status}", gone=status in (404, 410))


@dataclass
class ScriptedSmsSender:
    """Records texts; answers from a script of outcomes (then 201)."""

    outcomes: list[SendOutcome] = field(default_factory=list)
    sent: list[tuple[str, str]] = field(default_factory=list)

    async def send(self, to: str, body: str) -> SendOutcome:
        self.sent.append((to, body))
        return self.outcomes.pop(0) if self.outcomes else SendOutcome(201)


@dataclass
class PushWorld:
    clock: FakeClock
    subscriptions: InMemoryPushSubscriptionStore
    deliveries: InMemoryChannelDeliveryStore
    pusher: ScriptedPushSender
    texter: ScriptedSmsSender
    budget: FakeBudget
    service: PushService
    queue: ChannelQueue
    notifier: Notifier
    dispatcher: ChannelDispatcher
    preferences: PreferencesService
    preferences_store: InMemoryPreferencesStore
    notifications: InMemoryNotificationStore

    def replica(self) -> ChannelDispatcher:
        """Return another replica's dispatcher over the same stores."""
        return ChannelDispatcher(
            subscriptions=self.subscriptions,
            deliveries=self.deliveries,
            push=self.pusher,
            sms=self.texter,
            budget=self.budget,
            clock=self.clock,
        )

    async def notify(self, user: str = ALICE, kind: NotificationKind = NotificationKind.TRADE_ALERT) -> Notification:
        notification = Notification(
            f"n-{uuid.uuid4().hex[:8]}", user, kind, "INFY crossed 1600.00", "body", self.clock()
        )
        await self.notifier.notify(notification)
        return notification


def build_push_world(
    *, push: bool = True, sms: bool = True, per_minute: int = 1000, max_per_user: int = 3
) -> PushWorld:
    clock = FakeClock()
    subscriptions = InMemoryPushSubscriptionStore()
    deliveries = InMemoryChannelDeliveryStore()
    pusher, texter = ScriptedPushSender(), ScriptedSmsSender()
    budget = FakeBudget(clock, per_window=per_minute)
    service = PushService(
        store=subscriptions,
        deliveries=deliveries,
        policy=AddressPolicy(FakeResolver(PUBLIC)),
        clock=clock,
        vapid_public_key=VAPID_PUBLIC if push else "",
        sms_enabled=sms,
        max_per_user=max_per_user,
    )
    queue = ChannelQueue(
        subscriptions=subscriptions, deliveries=deliveries, clock=clock, push_enabled=push, sms_enabled=sms
    )
    preferences_store = InMemoryPreferencesStore()
    notifications = InMemoryNotificationStore()
    notifier = Notifier(
        notifications=notifications,
        preferences=preferences_store,
        deliveries=InMemoryDeliveryStore(),
        signal=InMemoryInboxSignal(),
        clock=clock,
        channels=queue,
    )
    dispatcher = ChannelDispatcher(
        subscriptions=subscriptions,
        deliveries=deliveries,
        push=pusher if push else None,
        sms=texter if sms else None,
        budget=budget,
        clock=clock,
        rng=random.Random(7),
    )
    preferences = PreferencesService(store=preferences_store, available=BUILT_CHANNELS | queue.available())
    return PushWorld(
        clock, subscriptions, deliveries, pusher, texter, budget, service, queue, notifier, dispatcher, preferences,
        preferences_store, notifications,
    )  # fmt: skip
