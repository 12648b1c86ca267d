"""Web Push and SMS use cases: register, list and delete push subscriptions; queue a notification on the push and
SMS channels; the dispatcher that sends what is due.

Delivery is the webhooks' at-least-once machinery (decision 0170) on its own collection: the Notifier writes one
PENDING delivery per (notification, push subscription) and per (notification, SMS) before anything is sent — a
redelivered notification collides on the id. The dispatcher claims due deliveries with a lease under a fresh token
and records an outcome only while the token still holds it; retries are scheduled in the store (exponential
backoff with jitter), the 8th failure is DEAD_LETTER. A push service answering 404 or 410 has expired the
subscription (RFC 8030 §7.3): the subscription is deleted and its pending pushes dropped. A resend after a crash
carries the same RFC 8030 `Topic`, so the push service replaces the copy it still holds instead of adding one, and
the payload's `tag` (the notification id) makes the browser show it once. Each send spends one unit of the user's
budget for the channel; over budget the delivery waits for the window to refill (no attempt counted).
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from trademesh.kernel.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound, ResourceExhausted
from trademesh.services.notifications.model import Channel, Notification, NotificationKind, Preferences, new_id
from trademesh.services.notifications.model.push import (
    PUSH_TTL_SECONDS,
    ChannelDelivery,
    ChannelDeliveryState,
    PushSubscription,
    PushSubscriptionDraft,
    SendOutcome,
    push_payload,
    push_topic,
    sms_body,
)
from trademesh.services.notifications.model.webhooks import MAX_ATTEMPTS, Network, retry_delay
from trademesh.services.notifications.ports import Clock, SendBudget
from trademesh.services.notifications.push_ports import (
    ChannelDeliveryStore,
    PushSender,
    PushSubscriptionStore,
    SmsSender,
)
from trademesh.services.notifications.service.webhooks import AddressPolicy

logger = logging.getLogger(__name__)

#: How long a claimed delivery is held from other replicas while it is being sent.
SEND_LEASE = timedelta(minutes=2)
PUSH_CHANNEL = "push"
SMS_CHANNEL = "sms"


def push_not_configured() -> FailedPrecondition:
    """Return the error of the push subscription RPCs on a server without a VAPID key."""
    return FailedPrecondition(
        "Web Push is not configured on this server (TRADEMESH_VAPID_PRIVATE_KEY)", reason="PUSH_NOT_CONFIGURED"
    )


def subscription_not_found() -> NotFound:
    """Return the error for an unknown push subscription (or another user's: indistinguishable)."""
    return NotFound("push subscription not found", reason="PUSH_SUBSCRIPTION_NOT_FOUND")


class PushService:
    """Register, list and delete a user's push subscriptions; tell what a browser needs to subscribe."""

    def __init__(
        self,
        *,
        store: PushSubscriptionStore,
        deliveries: ChannelDeliveryStore,
        policy: AddressPolicy,
        clock: Clock,
        vapid_public_key: str = "",
        sms_enabled: bool = False,
        max_per_user: int = 10,
        http_networks: Sequence[Network] = (),
    ) -> None:
        self._store = store
        self._deliveries = deliveries
        self._policy = policy
        self._clock = clock
        self.vapid_public_key = vapid_public_key
        self.sms_enabled = sms_enabled
        self._max = max_per_user
        #: Development only: networks an endpoint may reach over http (the local push service).
        self._http_networks = list(http_networks)

    @property
    def push_enabled(self) -> bool:
        """Tell whether this server sends Web Push (it has a VAPID key)."""
        return bool(self.vapid_public_key)

    def _require(self) -> None:
        if not self.push_enabled:
            raise push_not_configured()

    async def register(self, user_id: str, draft: PushSubscriptionDraft) -> PushSubscription:
        """Register the subscription (its endpoint's keys replaced if the user registered it before)."""
        self._require()
        draft = draft.validated(http_networks=self._http_networks)
        try:
            await self._policy.check(draft.host, draft.port)
        except InvalidArgument as refused:
            problem = refused.violations[0].description if refused.violations else "is refused"
            raise InvalidArgument(
                "the push endpoint is refused",
                [FieldViolation("subscription.endpoint", problem)],
                reason="PUSH_ENDPOINT_REFUSED",
            ) from None
        mine = await self._store.for_user(user_id)
        if all(item.endpoint != draft.endpoint for item in mine) and len(mine) >= self._max:
            raise ResourceExhausted(
                f"at most {self._max} push subscriptions per user; delete one first",
                reason="PUSH_SUBSCRIPTION_LIMIT_REACHED",
            )
        now = self._clock()
        subscription = PushSubscription(
            id=new_id("ps_", now),
            user_id=user_id,
            endpoint=draft.endpoint,
            p256dh=draft.p256dh,
            auth=draft.auth,
            user_agent=draft.user_agent,
            created_at=now,
        )
        return await self._store.upsert(subscription)

    async def list_subscriptions(self, user_id: str) -> list[PushSubscription]:
        """Return the user's push subscriptions, newest first."""
        self._require()
        return await self._store.for_user(user_id)

    async def delete(self, user_id: str, subscription_id: str) -> None:
        """Delete the user's subscription; its pending pushes are dropped."""
        self._require()
        if not subscription_id or not await self._store.delete(user_id, subscription_id):
            raise subscription_not_found()
        await self._deliveries.drop_pending(subscription_id, "the push subscription was deleted", self._clock())


class ChannelQueue:
    """Queue a notification's push and SMS deliveries (called by the Notifier for the channels its kind lists)."""

    def __init__(
        self,
        *,
        subscriptions: PushSubscriptionStore,
        deliveries: ChannelDeliveryStore,
        clock: Clock,
        push_enabled: bool,
        sms_enabled: bool,
    ) -> None:
        self._subscriptions = subscriptions
        self._deliveries = deliveries
        self._clock = clock
        self.push_enabled = push_enabled
        self.sms_enabled = sms_enabled
        #: Set when a delivery became due now (the dispatcher wakes up).
        self.due = asyncio.Event()

    def available(self) -> frozenset[Channel]:
        """Return the channels of this queue the server can send."""
        return frozenset(
            channel
            for channel, enabled in ((Channel.PUSH, self.push_enabled), (Channel.SMS, self.sms_enabled))
            if enabled
        )

    async def queue_many(self, batch: Sequence[tuple[Notification, Preferences, frozenset[Channel]]]) -> None:
        """Write a PENDING delivery per push subscription and for SMS of each notification, as its channels and
        preferences say (quiet hours hold them; a price alert is dropped then, its moment has passed by morning).
        The users' subscriptions are read once and the deliveries written in one go."""
        pushing = self.push_enabled and any(Channel.PUSH in channels for _, _, channels in batch)
        subscriptions_of = (
            await self._subscriptions.for_users(
                {notification.user_id for notification, _, channels in batch if Channel.PUSH in channels}
            )
            if pushing
            else {}
        )
        now = self._clock()
        deliveries: list[ChannelDelivery] = []
        due: set[str] = set()
        for notification, preferences, channels in batch:
            targets: list[tuple[Channel, str, str]] = []
            if Channel.PUSH in channels and self.push_enabled:
                for subscription in subscriptions_of.get(notification.user_id, ()):
                    targets.append(
                        (Channel.PUSH, subscription.id, ChannelDelivery.push_id(notification.id, subscription.id))
                    )
            if Channel.SMS in channels and self.sms_enabled and preferences.phone_number:
                targets.append((Channel.SMS, preferences.phone_number, ChannelDelivery.sms_id(notification.id)))
            if not targets:
                continue
            dropped = False
            send_after = now
            if preferences.quiet_hours.holds(now):
                dropped = notification.kind is NotificationKind.PRICE_ALERT
                send_after = now if dropped else preferences.quiet_hours.ends_after(now)
            for channel, target, delivery_id in targets:
                deliveries.append(
                    ChannelDelivery(
                        id=delivery_id,
                        user_id=notification.user_id,
                        channel=channel,
                        target=target,
                        notification=notification,
                        state=ChannelDeliveryState.DROPPED if dropped else ChannelDeliveryState.PENDING,
                        next_attempt_at=send_after,
                        created_at=now,
                        last_error="quiet hours: a price alert is not sent late" if dropped else "",
                        finished_at=now if dropped else None,
                    )
                )
                if not dropped and send_after <= now:
                    due.add(delivery_id)
        if deliveries and due & await self._deliveries.add_many(deliveries):
            self.due.set()


class ChannelDispatcher:
    """Send the push and SMS deliveries that are due."""

    def __init__(
        self,
        *,
        subscriptions: PushSubscriptionStore,
        deliveries: ChannelDeliveryStore,
        push: PushSender | None,
        sms: SmsSender | None,
        budget: SendBudget,
        clock: Clock,
        sms_budget: SendBudget | None = None,
        rng: random.Random | None = None,
        batch_size: int = 100,
        lease: timedelta = SEND_LEASE,
        send_timeout: timedelta = timedelta(seconds=10),
        concurrency: int = 8,
    ) -> None:
        self._subscriptions = subscriptions
        self._deliveries = deliveries
        self._push = push
        self._sms = sms
        self._budget = budget
        #: SMS cost money: their own (smaller) budget; the push budget when not given.
        self._sms_budget = sms_budget or budget
        self._clock = clock
        self._rng = rng or random.Random()
        self._batch = batch_size
        self._lease = lease
        self._send_timeout = send_timeout
        self._slots = asyncio.Semaphore(concurrency)

    async def dispatch_due(self) -> int:
        """Send every due delivery (a batch at a time, side by side); return how many were sent."""
        sent = 0
        while True:
            now = self._clock()
            token = secrets.token_hex(12)
            lease_until = now + self._lease
            batch = await self._deliveries.claim_due(now, lease_until, token, self._batch)
            results = await asyncio.gather(*(self._send(delivery, token, lease_until) for delivery in batch))
            sent += sum(results)
            if len(batch) < self._batch:
                return sent

    async def _send(self, delivery: ChannelDelivery, token: str, lease_until: datetime) -> int:
        async with self._slots:
            if self._clock() + self._send_timeout >= lease_until:
                # The lease could end mid-send and another replica send it too: hand it back instead.
                await self._deliveries.postpone(delivery.id, token, self._clock())
                return 0
            if delivery.channel is Channel.PUSH:
                return await self._send_push(delivery, token)
            return await self._send_sms(delivery, token)

    async def _drop(self, delivery: ChannelDelivery, token: str, reason: str) -> int:
        await self._deliveries.finish(delivery.id, token, ChannelDeliveryState.DROPPED, 0, reason, self._clock())
        return 0

    async def _send_push(self, delivery: ChannelDelivery, token: str) -> int:
        subscription = await self._subscriptions.get_any(delivery.target)
        if subscription is None or self._push is None:
            return await self._drop(delivery, token, "the push subscription was deleted")
        if not await self._within_budget(delivery, token, PUSH_CHANNEL, self._budget):
            return 0
        outcome = await self._push.push(
            subscription, push_payload(delivery.notification), push_topic(delivery.id), PUSH_TTL_SECONDS
        )
        if outcome.gone:
            # RFC 8030 §7.3: the push service expired the subscription; sending to it again is pointless.
            logger.info("push subscription %s is gone (HTTP %d); deleting it", subscription.id, outcome.status_code)
            await self._subscriptions.delete(subscription.user_id, subscription.id)
            now = self._clock()
            reason = f"the push service answered HTTP {outcome.status_code}: the subscription expired"
            await self._deliveries.finish(
                delivery.id, token, ChannelDeliveryState.DROPPED, outcome.status_code, reason, now
            )
            await self._deliveries.drop_pending(subscription.id, reason, now)
            return 0
        return await self._record(delivery, token, outcome)

    async def _send_sms(self, delivery: ChannelDelivery, token: str) -> int:
        if self._sms is None:
            return await self._drop(delivery, token, "SMS is not configured on this server")
        if not await self._within_budget(delivery, token, SMS_CHANNEL, self._sms_budget):
            return 0
        outcome = await self._sms.send(delivery.target, sms_body(delivery.notification))
        return await self._record(delivery, token, outcome)

    async def _within_budget(self, delivery: ChannelDelivery, token: str, channel: str, budget: SendBudget) -> bool:
        retry_at = await budget.take(delivery.user_id, channel)
        if retry_at is None:
            return True
        await self._deliveries.postpone(delivery.id, token, retry_at)
        return False

    async def _record(self, delivery: ChannelDelivery, token: str, outcome: SendOutcome) -> int:
        now = self._clock()
        if outcome.ok:
            await self._deliveries.finish(delivery.id, token, ChannelDeliveryState.SENT, outcome.status_code, "", now)
            return 1
        problem = outcome.error or f"the provider answered HTTP {outcome.status_code}"
        attempts = delivery.attempts + 1
        if outcome.permanent or attempts >= MAX_ATTEMPTS:
            logger.warning("%s delivery %s dead-lettered after %d attempts: %s", delivery.channel, delivery.id,
                           attempts, problem)  # fmt: skip
            await self._deliveries.finish(
                delivery.id, token, ChannelDeliveryState.DEAD_LETTER, outcome.status_code, problem, now
            )
        else:
            await self._deliveries.retry_later(
                delivery.id, token, now + retry_delay(attempts, self._rng), outcome.status_code, problem
            )
        return 0
