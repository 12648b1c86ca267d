"""Wiring of the Web Push and SMS channels (kept out of server.py): adapters from settings, the use cases, and the
runtime's dispatcher loop."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from redis.asyncio import Redis

from trademesh.services.core.settings import SettingsError
from trademesh.services.notifications.budget import RedisSendBudget
from trademesh.services.notifications.model import BUILT_CHANNELS, Channel
from trademesh.services.notifications.model.webhooks import parse_networks
from trademesh.services.notifications.ports import AddressResolver, Clock, SendBudget
from trademesh.services.notifications.push_http import VapidKeyError, WebPushSender, load_vapid, vapid_public_key
from trademesh.services.notifications.push_ports import (
    ChannelDeliveryStore,
    PushSender,
    PushSubscriptionStore,
    SmsSender,
)
from trademesh.services.notifications.service.push import ChannelDispatcher, ChannelQueue, PushService
from trademesh.services.notifications.service.webhooks import AddressPolicy
from trademesh.services.notifications.settings import NotificationsSettings
from trademesh.services.notifications.sms_twilio import TwilioSmsSender
from trademesh.services.notifications.webhook_http import SystemResolver

logger = logging.getLogger(__name__)


@dataclass
class PushChannels:
    """The wired push and SMS use cases and their adapters."""

    service: PushService
    queue: ChannelQueue
    dispatcher: ChannelDispatcher
    subscriptions: PushSubscriptionStore
    deliveries: ChannelDeliveryStore
    push_sender: PushSender | None
    sms_sender: SmsSender | None

    @property
    def available(self) -> frozenset[Channel]:
        """Return every channel users may choose on this server."""
        return BUILT_CHANNELS | self.queue.available()

    async def close(self) -> None:
        """Close the senders' HTTP sessions."""
        for sender in (self.push_sender, self.sms_sender):
            if isinstance(sender, WebPushSender | TwilioSmsSender):
                await sender.close()


def build_sms_sender(settings: NotificationsSettings) -> SmsSender | None:
    """Return the Twilio sender the settings describe (None when no account is set), or raise SettingsError."""
    if not settings.twilio_account_sid:
        return None
    token = settings.twilio_auth_token.get_secret_value()
    if not token or not (settings.twilio_from_number or settings.twilio_messaging_service_sid):
        raise SettingsError(
            "TRADEMESH_TWILIO_ACCOUNT_SID needs TRADEMESH_TWILIO_AUTH_TOKEN and TRADEMESH_TWILIO_FROM_NUMBER "
            "(or TRADEMESH_TWILIO_MESSAGING_SERVICE_SID)"
        )
    return TwilioSmsSender(
        account_sid=settings.twilio_account_sid,
        auth_token=token,
        from_number=settings.twilio_from_number,
        messaging_service_sid=settings.twilio_messaging_service_sid,
        api_base_url=settings.twilio_api_base_url,
        timeout_seconds=settings.webhook_timeout_seconds,
    )


def build_push_channels(
    settings: NotificationsSettings,
    *,
    subscriptions: PushSubscriptionStore,
    deliveries: ChannelDeliveryStore,
    budget: SendBudget,
    redis: Redis | None,
    clock: Clock,
    resolver: AddressResolver | None = None,
    push_sender: PushSender | None = None,
    sms_sender: SmsSender | None = None,
    sms_budget: SendBudget | None = None,
) -> PushChannels:
    """Wire push and SMS: push is on with a VAPID key, SMS with a Twilio account (fakes may be given for tests)."""
    allowed = parse_networks(settings.push_allowed_networks) if settings.dev_mode else []
    public_key = ""
    key_text = settings.vapid_private_key.get_secret_value()
    if key_text.strip():
        try:
            vapid = load_vapid(key_text)
        except VapidKeyError as error:
            raise SettingsError(f"TRADEMESH_VAPID_PRIVATE_KEY: {error}") from None
        public_key = vapid_public_key(vapid)
        push_sender = push_sender or WebPushSender(
            vapid=vapid,
            subject=settings.vapid_subject,
            allowed=allowed,
            timeout_seconds=settings.webhook_timeout_seconds,
        )
    else:
        push_sender = None
    sms_sender = sms_sender or build_sms_sender(settings)
    push_budget, sms_budget = budget, sms_budget or budget
    if redis is not None:  # each channel its own rate (SMS cost money); fakes share the one given
        push_budget = RedisSendBudget(redis, settings.redis_url, per_minute=settings.push_budget_per_minute)
        sms_budget = RedisSendBudget(redis, settings.redis_url, per_minute=settings.sms_budget_per_minute)
    service = PushService(
        store=subscriptions,
        deliveries=deliveries,
        policy=AddressPolicy(resolver or SystemResolver(), allowed),
        clock=clock,
        vapid_public_key=public_key,
        sms_enabled=sms_sender is not None,
        max_per_user=settings.max_push_subscriptions_per_user,
        http_networks=allowed,
    )
    queue = ChannelQueue(
        subscriptions=subscriptions,
        deliveries=deliveries,
        clock=clock,
        push_enabled=push_sender is not None,
        sms_enabled=sms_sender is not None,
    )
    dispatcher = ChannelDispatcher(
        subscriptions=subscriptions,
        deliveries=deliveries,
        push=push_sender,
        sms=sms_sender,
        budget=push_budget,
        sms_budget=sms_budget,
        clock=clock,
        send_timeout=timedelta(seconds=settings.webhook_timeout_seconds),
    )
    return PushChannels(service, queue, dispatcher, subscriptions, deliveries, push_sender, sms_sender)


async def dispatch_channels(channels: PushChannels, interval: float) -> None:
    """Send due push and SMS deliveries: at once when one is queued, and every `interval` for retries and held ones."""
    while True:
        try:
            await channels.dispatcher.dispatch_due()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("dispatching push and SMS failed; retrying", exc_info=True)
        channels.queue.due.clear()
        try:
            async with asyncio.timeout(interval):
                await channels.queue.due.wait()
        except TimeoutError:
            pass
