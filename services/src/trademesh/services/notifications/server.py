"""Notifications wiring: `bootstrap` (settings → adapters → use cases), the runtime (gRPC server, tick
evaluation, trade-event consumer, mail and webhook dispatchers, sweeper), `serve`."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from trademesh.notifications.v1 import notifications_service_pb2, notifications_service_pb2_grpc
from trademesh.services.core.access import public_methods
from trademesh.services.core.connections import LazyConnections, ensure_collections, required_dependencies
from trademesh.services.core.page_tokens import Codec
from trademesh.services.core.revocations import RevocationList
from trademesh.services.core.sealing import KeyConfigError, Sealer
from trademesh.services.core.server import (
    ServiceHost,
    ServiceRegistration,
    build_remote_verifier,
    run_service,
    serve_host,
    start_server,
)
from trademesh.services.core.settings import SettingsError
from trademesh.services.core.smtp import SmtpSender
from trademesh.services.notifications.api import NotificationsServicer
from trademesh.services.notifications.backplane import RedisAlertChanges, RedisBackplane
from trademesh.services.notifications.budget import RedisSendBudget
from trademesh.services.notifications.events import TradeEventConsumer
from trademesh.services.notifications.guardrail_peaks import RedisDayPeaks
from trademesh.services.notifications.mail import NoMailSender, SmtpMailSender
from trademesh.services.notifications.model import RETENTION
from trademesh.services.notifications.model.webhooks import parse_networks
from trademesh.services.notifications.pnl_feed import GrpcPnlFeed, build_pnl_feed
from trademesh.services.notifications.ports import (
    AddressResolver,
    AlertChanges,
    AlertStore,
    Clock,
    DeliveryStore,
    InboxSignal,
    MailSender,
    NotificationStore,
    PnlFeed,
    PreferencesStore,
    SendBudget,
    TickSource,
    WebhookDeliveryStore,
    WebhookSender,
    WebhookStore,
)
from trademesh.services.notifications.push_ports import (
    ChannelDeliveryStore,
    PushSender,
    PushSubscriptionStore,
    SmsSender,
)
from trademesh.services.notifications.push_store import (
    PUSH_COLLECTIONS,
    MongoChannelDeliveryStore,
    MongoPushSubscriptionStore,
    ensure_push_indexes,
)
from trademesh.services.notifications.push_wiring import PushChannels, build_push_channels, dispatch_channels
from trademesh.services.notifications.service import (
    AddressPolicy,
    AlertEvaluator,
    AlertService,
    GuardrailWatch,
    InboxService,
    MailDispatcher,
    Notifier,
    PreferencesService,
    WebhookDispatcher,
    WebhookService,
    utc_now,
)
from trademesh.services.notifications.service.sharding import Shard, ShardedTickSource
from trademesh.services.notifications.settings import NotificationsSettings
from trademesh.services.notifications.sharding import build_shard, join
from trademesh.services.notifications.store import (
    COLLECTIONS,
    MongoAlertStore,
    MongoDeliveryStore,
    MongoNotificationStore,
    MongoPreferencesStore,
    ensure_indexes,
)
from trademesh.services.notifications.webhook_http import HttpWebhookSender, SystemResolver
from trademesh.services.notifications.webhook_store import (
    WEBHOOK_COLLECTIONS,
    MongoWebhookDeliveryStore,
    MongoWebhookStore,
    ensure_webhook_indexes,
)

logger = logging.getLogger(__name__)

SERVICE_NAME = notifications_service_pb2.DESCRIPTOR.services_by_name["NotificationsService"].full_name


@dataclass
class Notifications:
    """The wired notification use cases, the servicer, and the connections bootstrap opened (to close)."""

    alerts: AlertService
    inbox: InboxService
    preferences: PreferencesService
    notifier: Notifier
    dispatcher: MailDispatcher
    evaluator: AlertEvaluator
    servicer: NotificationsServicer
    notification_store: NotificationStore
    deliveries: DeliveryStore
    webhooks: WebhookService
    webhook_deliveries: WebhookDeliveryStore
    #: None when TRADEMESH_WEBHOOK_SECRETS_KEY is empty (webhooks are off).
    webhook_dispatcher: WebhookDispatcher | None = None
    webhook_sender: WebhookSender | None = None
    backplane: RedisBackplane | None = None
    mongo: AsyncMongoClient[dict[str, Any]] | None = None
    redis: Redis | None = None
    preferences_store: PreferencesStore | None = None
    #: Web Push and SMS (push_wiring.py).
    channels: PushChannels | None = None
    #: P&L guardrails (decision 0300); None without a service token (CreateAlert refuses them then).
    guardrails: GuardrailWatch | None = None
    pnl_feed: GrpcPnlFeed | None = None
    #: Sharded evaluation (decision 0340); None when off or when tests pass their own tick source.
    shard: Shard | None = None
    sharded_ticks: ShardedTickSource | None = None


def build_mail_sender(settings: NotificationsSettings) -> MailSender:
    """Return the SMTP sender the settings describe (a refusing one when no host is set)."""
    sender = SmtpSender.from_settings(settings)
    return SmtpMailSender(sender) if sender is not None else NoMailSender()


def build_webhook_sealer(settings: NotificationsSettings) -> Sealer | None:
    """Return the sealer of webhook secrets (None when no key is set), or raise SettingsError (never the key)."""
    value = settings.webhook_secrets_key.get_secret_value()
    if not value.strip():
        return None
    try:
        return Sealer.from_setting(value)
    except KeyConfigError as error:
        raise SettingsError(f"TRADEMESH_WEBHOOK_SECRETS_KEY: {error}") from None


def bootstrap(
    settings: NotificationsSettings,
    *,
    store: AlertStore | None = None,
    notifications: NotificationStore | None = None,
    preferences: PreferencesStore | None = None,
    deliveries: DeliveryStore | None = None,
    mail: MailSender | None = None,
    signal: InboxSignal | None = None,
    changes: AlertChanges | None = None,
    ticks: TickSource | None = None,
    webhooks: WebhookStore | None = None,
    webhook_deliveries: WebhookDeliveryStore | None = None,
    webhook_sender: WebhookSender | None = None,
    resolver: AddressResolver | None = None,
    budget: SendBudget | None = None,
    clock: Clock = utc_now,
    push_subscriptions: PushSubscriptionStore | None = None,
    channel_deliveries: ChannelDeliveryStore | None = None,
    push_sender: PushSender | None = None,
    sms_sender: SmsSender | None = None,
    pnl_feed: PnlFeed | None = None,
) -> Notifications:
    """Wire the use cases and the servicer; build the real adapter of every port not given (tests pass fakes)."""
    connections = LazyConnections(settings)
    backplane: RedisBackplane | None = None
    redis_for_budgets: Redis | None = None
    if None in (store, notifications, preferences, deliveries, webhooks, webhook_deliveries, push_subscriptions,
                channel_deliveries):  # fmt: skip
        database = connections.database()
        store = store or MongoAlertStore(database)
        notifications = notifications or MongoNotificationStore(database)
        preferences = preferences or MongoPreferencesStore(database)
        deliveries = deliveries or MongoDeliveryStore(database)
        webhooks = webhooks or MongoWebhookStore(database)
        webhook_deliveries = webhook_deliveries or MongoWebhookDeliveryStore(database)
        push_subscriptions = push_subscriptions or MongoPushSubscriptionStore(database)
        channel_deliveries = channel_deliveries or MongoChannelDeliveryStore(database)
    shard: Shard | None = None
    sharded_ticks: ShardedTickSource | None = None
    peaks: RedisDayPeaks | None = None
    if None in (signal, changes, ticks, budget):
        redis = connections.redis_client()
        peaks = RedisDayPeaks(redis)
        backplane = RedisBackplane(redis)
        signal = signal or backplane
        if ticks is None and settings.notifications_sharding:
            shard, sharded_ticks = build_shard(settings, redis, backplane)
            backplane.on_members_change = shard.members_changed
        ticks = ticks or sharded_ticks or backplane
        changes = changes or RedisAlertChanges(redis)
        if budget is None:
            budget = RedisSendBudget(redis, settings.redis_url, per_minute=settings.webhook_budget_per_minute)
            redis_for_budgets = redis
    assert store is not None
    assert notifications is not None
    assert preferences is not None
    assert deliveries is not None
    assert signal is not None
    assert ticks is not None
    assert changes is not None
    assert webhooks is not None
    assert webhook_deliveries is not None
    assert budget is not None
    assert push_subscriptions is not None
    assert channel_deliveries is not None
    tokens = Codec(settings.token_secret.get_secret_value().encode())
    sealer = build_webhook_sealer(settings)
    channels = build_push_channels(
        settings,
        subscriptions=push_subscriptions,
        deliveries=channel_deliveries,
        budget=budget,
        redis=redis_for_budgets,
        clock=clock,
        resolver=resolver,
        push_sender=push_sender,
        sms_sender=sms_sender,
    )
    notifier = Notifier(
        notifications=notifications,
        preferences=preferences,
        deliveries=deliveries,
        signal=signal,
        clock=clock,
        webhooks=webhooks if sealer is not None else None,
        webhook_deliveries=webhook_deliveries,
        channels=channels.queue,
    )
    grpc_feed = build_pnl_feed(settings) if pnl_feed is None else None
    feed = pnl_feed or grpc_feed
    guardrails = (
        GuardrailWatch(feed, owns=shard.owns_user if shard is not None else None, peaks=peaks)
        if feed is not None
        else None
    )
    if guardrails is not None and shard is not None:
        shard.on_change(guardrails.rebalance)
    alerts = AlertService(
        store=store,
        changes=changes,
        tokens=tokens,
        clock=clock,
        max_alerts_per_user=settings.max_alerts_per_user,
        guardrails_enabled=guardrails is not None,
    )
    inbox = InboxService(
        store=notifications,
        signal=signal,
        tokens=tokens,
        clock=clock,
        heartbeat_seconds=settings.watch_heartbeat_seconds,
    )
    preference_service = PreferencesService(store=preferences, available=channels.available)
    evaluator = AlertEvaluator(
        store=store, notifier=notifier, changes=changes, ticks=ticks, clock=clock, guardrails=guardrails
    )
    dispatcher = MailDispatcher(
        deliveries=deliveries, sender=mail if mail is not None else build_mail_sender(settings), clock=clock
    )
    # The address allowlist is for tests and `make up` only: outside dev mode every webhook must be public.
    allowed = parse_networks(settings.webhook_allowed_networks) if settings.dev_mode else []
    webhook_service = WebhookService(
        store=webhooks,
        deliveries=webhook_deliveries,
        sealer=sealer,
        policy=AddressPolicy(resolver or SystemResolver(), allowed),
        tokens=tokens,
        clock=clock,
        max_per_user=settings.max_webhooks_per_user,
        allow_http=settings.dev_mode,
    )
    webhook_dispatcher: WebhookDispatcher | None = None
    if sealer is not None:
        webhook_sender = webhook_sender or HttpWebhookSender(
            allowed=allowed, timeout_seconds=settings.webhook_timeout_seconds
        )
        webhook_dispatcher = WebhookDispatcher(
            webhooks=webhooks,
            deliveries=webhook_deliveries,
            sender=webhook_sender,
            sealer=sealer,
            budget=budget,
            clock=clock,
            post_timeout=timedelta(seconds=settings.webhook_timeout_seconds),
        )
    servicer = NotificationsServicer(alerts, inbox, preference_service, webhook_service, channels.service)
    return Notifications(
        alerts,
        inbox,
        preference_service,
        notifier,
        dispatcher,
        evaluator,
        servicer,
        notifications,
        deliveries,
        webhook_service,
        webhook_deliveries,
        webhook_dispatcher,
        webhook_sender,
        backplane,
        connections.mongo,
        connections.redis,
        preferences,
        channels,
        guardrails,
        grpc_feed,
        shard,
        sharded_ticks,
    )


async def _every(seconds: float, what: str, work: Any) -> None:
    while True:
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("%s failed; retrying", what, exc_info=True)
        await asyncio.sleep(seconds)


async def _dispatch_mail(app: Notifications, interval: float) -> None:
    # New email wakes the dispatcher at once; held and retried email is looked at every `interval`.
    while True:
        try:
            await app.dispatcher.dispatch_due()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("dispatching mail failed; retrying", exc_info=True)
        app.notifier.mail_due.clear()
        try:
            async with asyncio.timeout(interval):
                await app.notifier.mail_due.wait()
        except TimeoutError:
            pass


async def _every_once(work: Any, what: str) -> None:
    try:
        if count := await work():
            logger.info("%s: %d done", what, count)
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.warning("%s failed; it runs again at the next start", what, exc_info=True)


async def _dispatch_webhooks(app: Notifications, dispatcher: WebhookDispatcher, interval: float) -> None:
    # New deliveries wake the dispatcher at once; retries, held and over-budget ones every `interval`.
    while True:
        try:
            await dispatcher.dispatch_due()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("dispatching webhooks failed; retrying", exc_info=True)
        app.notifier.webhook_due.clear()
        try:
            async with asyncio.timeout(interval):
                await app.notifier.webhook_due.wait()
        except TimeoutError:
            pass


async def _sweep(app: Notifications) -> None:
    moment = utc_now() - RETENTION
    deleted = await app.notification_store.delete_created_before(moment)
    deleted += await app.deliveries.delete_created_before(moment)
    deleted += await app.webhook_deliveries.delete_created_before(moment)
    if app.channels is not None:
        deleted += await app.channels.deliveries.delete_created_before(moment)
    if deleted:
        logger.info("deleted %d notifications and deliveries older than %s", deleted, RETENTION)


@dataclass(frozen=True, slots=True)
class NotificationsRuntime:
    """A running notifications server and the parts tests look into."""

    host: ServiceHost
    app: Notifications
    consumer: TradeEventConsumer


async def build_notifications_runtime(
    settings: NotificationsSettings, application: Notifications | None = None
) -> NotificationsRuntime:
    """Start the gRPC server and the background work of a wired service (`bootstrap(settings)` by default)."""
    app = application if application is not None else bootstrap(settings)
    mongo, redis, backplane = app.mongo, app.redis, app.backplane
    if mongo is None or redis is None or backplane is None:
        raise ValueError("the runtime needs the real database and Redis adapters")
    database = mongo[settings.mongo_database]
    await ensure_collections(database, COLLECTIONS + WEBHOOK_COLLECTIONS + PUSH_COLLECTIONS)
    await ensure_indexes(database)
    await ensure_webhook_indexes(database)
    await ensure_push_indexes(database)
    evaluator = app.evaluator
    backplane.on_tick = evaluator.on_tick
    backplane.on_alert_change = evaluator.announced
    backplane.on_connect = evaluator.load
    if app.shard is not None:
        await join(app.shard)  # before the first load: the evaluator's first `watch` subscribes only the share
    revocations = RevocationList(redis)
    consumer = TradeEventConsumer(
        redis,
        app.notifier,
        consumer=settings.consumer_name or f"{socket.gethostname()}-{os.getpid()}",
        clock=utc_now,
        quiet_seconds=settings.trade_run_quiet_seconds,
        block_seconds=min(settings.event_block_seconds, settings.dependency_timeout_seconds / 2),
        claim_idle_seconds=settings.event_claim_idle_seconds,
    )
    registration = ServiceRegistration(
        name=SERVICE_NAME,
        add_to_server=lambda server: notifications_service_pb2_grpc.add_NotificationsServiceServicer_to_server(
            app.servicer, server
        ),
        public_methods=public_methods(SERVICE_NAME),
    )
    verifier = build_remote_verifier(settings, revocations)
    host = await start_server(settings, [registration], verifier, dependencies=required_dependencies(mongo, redis))
    host.spawn(revocations.run(), "revocations", revocations.close)
    host.spawn(backplane.run(), "notifications-backplane", backplane.close)
    if app.shard is not None:
        beat = settings.notifications_member_timeout_seconds / 3
        host.spawn(app.shard.run(beat), "notifications-membership", app.shard.close)
    host.on_stop(evaluator.close)
    # The backplane loads the alerts once subscribed (and after every reconnect), so a change announced
    # before or while disconnected is read from the store; wait for the first load.
    if not await _connected(backplane, settings.dependency_timeout_seconds):
        logger.warning("Redis pub/sub is not up yet; alerts load when it connects")
    host.spawn(_every(settings.alert_timer_interval_seconds, "alert timers", evaluator.tend), "alert-timers")
    host.spawn(consumer.run(), "trade-event-consumer", consumer.close)
    if settings.smtp_host:
        host.spawn(_dispatch_mail(app, settings.mail_dispatch_interval_seconds), "mail-dispatcher")
    if app.webhook_dispatcher is not None:
        host.spawn(_every_once(app.webhooks.reseal_secrets, "re-sealing webhook secrets"), "webhook-reseal")
        host.spawn(
            _dispatch_webhooks(app, app.webhook_dispatcher, settings.webhook_dispatch_interval_seconds),
            "webhook-dispatcher",
        )
    sender = app.webhook_sender
    if isinstance(sender, HttpWebhookSender):
        host.on_stop(sender.close)
    if app.channels is not None:
        host.spawn(dispatch_channels(app.channels, settings.channel_dispatch_interval_seconds), "push-sms-dispatcher")
        host.on_stop(app.channels.close)
    host.spawn(_every(settings.sweep_interval_seconds, "sweeping old notifications", lambda: _sweep(app)), "sweeper")
    if app.guardrails is not None:
        host.on_stop(app.guardrails.close)
    if app.pnl_feed is not None:
        host.on_stop(app.pnl_feed.close)
    host.on_stop(mongo.close)
    host.on_stop(redis.aclose)
    if app.shard is not None:
        host.on_stop(app.shard.leave)  # the last registered runs first: while Redis is still open
    return NotificationsRuntime(host, app, consumer)


async def _connected(backplane: RedisBackplane, seconds: float) -> bool:
    try:
        async with asyncio.timeout(seconds):
            await backplane.connected.wait()
    except TimeoutError:
        return False
    return True


async def build_notifications_server(settings: NotificationsSettings) -> ServiceHost:
    """Wire the notifications service and start its gRPC server."""
    return (await build_notifications_runtime(settings)).host


async def serve(settings: NotificationsSettings) -> None:
    """Run the notifications service until SIGTERM/SIGINT."""
    await serve_host(settings, build_notifications_server)


def main() -> None:
    """Entry point of `trademesh-notifications` (and `python -m trademesh.services.notifications`)."""
    run_service(NotificationsSettings, serve)
