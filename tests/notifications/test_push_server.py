"""Web Push and SMS on real servers: the notifications service (Redis, the database, auth) pushing to the local push
service (`trademesh.devstack.pushserver`: RFC 8030, VAPID checked, payloads decrypted as a browser would) and texting
through the real `twilio` client to the local Twilio fake (`trademesh.devstack.smsserver`).

Retries and expired leases are made due by moving the stored `next_attempt_at` to now (time passing; the schedule is
tested on a fake clock in test_push_use_cases.py).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aiohttp
import grpc
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf.field_mask_pb2 import FieldMask
from grpc import aio
from redis.asyncio import Redis

from tests.eventually import eventually
from tests.notifications.test_service import Ingest, crossing_alert, now
from tests.rpc import expect_failure
from trademesh.devstack.pushserver import PushService as LocalPushService
from trademesh.devstack.smsserver import DEV_ACCOUNT_SID, DEV_AUTH_TOKEN, TwilioFake
from trademesh.notifications.v1 import (
    notification_pb2,
    notifications_service_pb2,
    notifications_service_pb2_grpc,
    push_pb2,
)
from trademesh.services.notifications.model import Notification, NotificationKind
from trademesh.services.notifications.server import NotificationsRuntime, build_notifications_runtime
from trademesh.services.notifications.settings import NotificationsSettings

if TYPE_CHECKING:
    from tests.conftest import MeshUser
    from trademesh.notifications.v1.notifications_service_pb2_grpc import NotificationsServiceAsyncStub

pb = notifications_service_pb2
FROM_NUMBER = "+15005550006"


def new_vapid_key() -> str:
    scalar = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value.to_bytes(32, "big")
    return base64.urlsafe_b64encode(scalar).rstrip(b"=").decode()


@dataclass
class Providers:
    """The local push service and Twilio fake, and their base URLs."""

    push: LocalPushService
    push_url: str
    sms: TwilioFake
    sms_url: str


@dataclass
class Running:
    runtime: NotificationsRuntime
    stub: NotificationsServiceAsyncStub
    settings: NotificationsSettings


async def _serve(app: web.Application, cleanups: list[Callable[[], Awaitable[object]]]) -> str:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    cleanups.append(runner.cleanup)
    return f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.fixture
async def providers() -> AsyncIterator[Providers]:
    cleanups: list[Callable[[], Awaitable[object]]] = []
    push, sms = LocalPushService(), TwilioFake()
    result = Providers(push, await _serve(push.application(), cleanups), sms, await _serve(sms.application(), cleanups))
    yield result
    for cleanup in reversed(cleanups):
        await cleanup()


@pytest.fixture
async def start(
    core_settings: Callable[..., dict[str, Any]], providers: Providers
) -> AsyncIterator[Callable[..., Awaitable[Running]]]:
    cleanups: list[Callable[[], Awaitable[object]]] = []
    vapid = new_vapid_key()

    async def run(**overrides: Any) -> Running:
        values = {
            "vapid_private_key": vapid,
            "dev_mode": True,
            "push_allowed_networks": "127.0.0.1/32",
            "twilio_account_sid": DEV_ACCOUNT_SID,
            "twilio_auth_token": DEV_AUTH_TOKEN,
            "twilio_from_number": FROM_NUMBER,
            "twilio_api_base_url": providers.sms_url,
            "channel_dispatch_interval_seconds": 0.2,
            **overrides,
        }
        settings = NotificationsSettings(**core_settings(**values))
        runtime = await build_notifications_runtime(settings)
        cleanups.append(lambda: runtime.host.stop(0))
        channel = aio.insecure_channel(f"127.0.0.1:{runtime.host.port}")
        cleanups.append(channel.close)
        return Running(runtime, notifications_service_pb2_grpc.NotificationsServiceStub(channel), settings)

    yield run
    for cleanup in reversed(cleanups):
        await cleanup()


async def browser_subscribes(
    service: Running, providers: Providers, user: MeshUser
) -> tuple[str, push_pb2.PushSubscription]:
    """Do what the browser client does: read the VAPID key, subscribe at the push service, register it."""
    config = await service.stub.GetPushConfig(push_pb2.GetPushConfigRequest(), metadata=user.metadata)
    assert config.push_enabled
    assert config.sms_enabled
    async with aiohttp.ClientSession() as session:
        answer = await session.post(
            f"{providers.push_url}/subscriptions", json={"applicationServerKey": config.vapid_public_key}
        )
        subscription = await answer.json()
    registered = await service.stub.RegisterPushSubscription(
        push_pb2.RegisterPushSubscriptionRequest(
            subscription=push_pb2.PushSubscription(
                endpoint=subscription["endpoint"],
                p256dh=subscription["keys"]["p256dh"],
                auth=subscription["keys"]["auth"],
                user_agent="test browser",
            )
        ),
        metadata=user.metadata,
    )
    return subscription["id"], registered.subscription


async def set_channels(
    service: Running, user: MeshUser, *channels: notification_pb2.Channel.ValueType, phone: str = ""
) -> None:
    wanted = [notification_pb2.CHANNEL_IN_APP, *channels]
    preferences = notification_pb2.Preferences(
        kind_channels=[
            notification_pb2.KindChannels(kind=kind, channels=wanted)
            for kind in (notification_pb2.NOTIFICATION_KIND_PRICE_ALERT, notification_pb2.NOTIFICATION_KIND_SYSTEM)
        ],
        phone_number=phone,
    )
    await service.stub.UpdatePreferences(
        pb.UpdatePreferencesRequest(
            preferences=preferences, update_mask=FieldMask(paths=["kind_channels", "phone_number"])
        ),
        metadata=user.metadata,
    )


def received(providers: Providers, subscription_id: str) -> Callable[[], Awaitable[list[dict[str, Any]]]]:
    """Return a check reading the decrypted messages the push service holds for a subscription."""

    async def check() -> list[dict[str, Any]]:
        return providers.push.subscriptions[subscription_id].messages

    return check


async def texts(providers: Providers) -> list[dict[str, Any]]:
    return providers.sms.messages


def _notice(user_id: str) -> Notification:
    return Notification(
        f"system.{uuid.uuid4().hex}", user_id, NotificationKind.SYSTEM, "Hello", "from the test", datetime.now(UTC)
    )


async def _deliveries(service: Running) -> list[dict[str, Any]]:
    app = service.runtime.app
    assert app.mongo is not None
    database = app.mongo[service.settings.mongo_database]
    return [document async for document in database.notification_channel_deliveries.find({})]


async def _leases_end(service: Running) -> None:
    """Time passes: every pending delivery (leased or waiting for a retry) is due now."""
    app = service.runtime.app
    assert app.mongo is not None
    await app.mongo[service.settings.mongo_database].notification_channel_deliveries.update_many(
        {"state": "pending"}, {"$set": {"next_attempt_at": datetime.now(UTC)}}
    )


async def test_a_price_alert_is_pushed_and_decrypts_to_the_notification(
    start: Callable[..., Awaitable[Running]],
    providers: Providers,
    new_user: Callable[[], Awaitable[MeshUser]],
    redis: Redis,
) -> None:
    service = await start()
    alice = await new_user()
    subscription_id, registered = await browser_subscribes(service, providers, alice)
    await set_channels(service, alice, notification_pb2.CHANNEL_PUSH)
    created = await service.stub.CreateAlert(
        pb.CreateAlertRequest(request_id=str(uuid.uuid4()), alert=crossing_alert(1600)), metadata=alice.metadata
    )
    await eventually(
        now(lambda: created.alert.id in service.runtime.app.evaluator.index), what="the evaluator indexes the alert"
    )
    ingest = Ingest(redis)
    await ingest.publish("NSE:INFY", 1590)
    backplane = service.runtime.app.backplane
    assert backplane is not None
    await eventually(now(lambda: backplane.ticks_received >= 1), what="the first tick tells the side")
    await ingest.publish("NSE:INFY", 1601)
    [message] = await eventually(received(providers, subscription_id), what="the push service receives the alert")
    listed = await service.stub.ListNotifications(pb.ListNotificationsRequest(), metadata=alice.metadata)
    [notification] = listed.notifications
    payload = message["payload"]
    assert (payload["id"], payload["alert_id"], payload["title"]) == (
        notification.id,
        created.alert.id,
        "INFY crossed 1600.00",
    )
    assert payload["tag"] == notification.id
    assert message["ttl"] > 0
    assert len(message["topic"]) <= 32
    [delivery] = await eventually(
        lambda: _deliveries(service), until=lambda found: found and found[0]["state"] == "sent", what="marked SENT"
    )
    assert delivery["_id"] == f"{notification.id}:push:{registered.id}"


async def test_a_push_is_received_once_across_a_restart_mid_delivery(
    start: Callable[..., Awaitable[Running]], providers: Providers, new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    first = await start()
    alice = await new_user()
    subscription_id, _registered = await browser_subscribes(first, providers, alice)
    await set_channels(first, alice, notification_pb2.CHANNEL_PUSH)
    held = providers.push.subscriptions[subscription_id]
    held.hold = True  # the push service takes the push and does not answer: the replica dies waiting
    notice = _notice(alice.user_id)
    await first.runtime.app.notifier.notify(notice)
    await eventually(now(lambda: held.pushes == 1), what="the push service takes the first push")
    await first.runtime.host.stop(0)
    held.released.set()
    # A new replica on the same database: the delivery is claimed, never recorded; its lease still holds it.
    second = await start()
    [pending] = await _deliveries(second)
    assert (pending["state"], pending["attempts"], pending["lease_token"] != "") == ("pending", 0, True)
    # The lease ends: the new replica sends it again, with the same Topic.
    await _leases_end(second)
    await second.runtime.app.notifier.notify(notice)  # the same notification again: no second delivery
    assert second.runtime.app.channels is not None
    second.runtime.app.channels.queue.due.set()
    [sent] = await eventually(
        lambda: _deliveries(second), until=lambda found: found[0]["state"] == "sent", what="the new replica sends it"
    )
    assert sent["attempts"] == 1
    assert held.pushes == 2
    [message] = await received(providers, subscription_id)()
    assert message["payload"]["id"] == notice.id


async def test_a_subscription_the_push_service_expired_is_deleted(
    start: Callable[..., Awaitable[Running]], providers: Providers, new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    service = await start()
    alice = await new_user()
    subscription_id, registered = await browser_subscribes(service, providers, alice)
    await set_channels(service, alice, notification_pb2.CHANNEL_PUSH)
    providers.push.subscriptions[subscription_id].gone = True
    await service.runtime.app.notifier.notify(_notice(alice.user_id))
    await eventually(
        lambda: service.stub.ListPushSubscriptions(push_pb2.ListPushSubscriptionsRequest(), metadata=alice.metadata),
        until=lambda listed: not listed.subscriptions,
        what="the 410 deletes the subscription",
    )
    [dropped] = await _deliveries(service)
    assert (dropped["state"], dropped["last_status_code"]) == ("dropped", 410)
    assert registered.id in dropped["_id"]


async def test_an_sms_reaches_the_twilio_fake_with_the_number_and_body(
    start: Callable[..., Awaitable[Running]], providers: Providers, new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    service = await start()
    alice = await new_user()
    await set_channels(service, alice, notification_pb2.CHANNEL_SMS, phone="98765 43210")
    preferences = await service.stub.GetPreferences(pb.GetPreferencesRequest(), metadata=alice.metadata)
    assert preferences.preferences.phone_number == "+919876543210"
    providers.sms.statuses = [503]  # Twilio is briefly unavailable: retried
    notice = _notice(alice.user_id)
    await service.runtime.app.notifier.notify(notice)
    await eventually(
        lambda: _deliveries(service), until=lambda found: found[0]["attempts"] == 1, what="the first attempt fails"
    )
    await _leases_end(service)
    assert service.runtime.app.channels is not None
    service.runtime.app.channels.queue.due.set()
    [message] = await eventually(lambda: texts(providers), what="Twilio receives the SMS")
    assert (message["to"], message["from"], message["body"]) == ("+919876543210", FROM_NUMBER, "Hello: from the test")
    [delivery] = await eventually(
        lambda: _deliveries(service), until=lambda found: found[0]["state"] == "sent", what="marked SENT"
    )
    assert delivery["_id"] == f"{notice.id}:sms"


async def test_bad_subscriptions_and_phone_numbers_are_invalid_argument(
    start: Callable[..., Awaitable[Running]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    service = await start(dev_mode=False)  # outside dev mode: https only, public addresses only
    alice = await new_user()
    good_key = "B" + "A" * 86
    cases = {
        "subscription.endpoint": push_pb2.PushSubscription(
            endpoint="http://push.example.com/x", p256dh=good_key, auth="A" * 22
        ),
        "subscription.p256dh": push_pb2.PushSubscription(
            endpoint="https://push.example.com/x", p256dh="!!", auth="A" * 22
        ),
        "subscription.auth": push_pb2.PushSubscription(
            endpoint="https://push.example.com/x", p256dh=good_key, auth="AAAA"
        ),
    }
    for field, subscription in cases.items():
        failure = await expect_failure(
            service.stub.RegisterPushSubscription(
                push_pb2.RegisterPushSubscriptionRequest(subscription=subscription), metadata=alice.metadata
            )
        )
        assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
        assert field in failure.violations
    loopback = await expect_failure(
        service.stub.RegisterPushSubscription(
            push_pb2.RegisterPushSubscriptionRequest(
                subscription=push_pb2.PushSubscription(
                    endpoint="https://127.0.0.1/push/x", p256dh=_point(), auth="A" * 22
                )
            ),
            metadata=alice.metadata,
        )
    )
    assert (loopback.code, loopback.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "PUSH_ENDPOINT_REFUSED")
    for phone in ("12345", "not a number"):
        failure = await expect_failure(
            service.stub.UpdatePreferences(
                pb.UpdatePreferencesRequest(
                    preferences=notification_pb2.Preferences(phone_number=phone),
                    update_mask=FieldMask(paths=["phone_number"]),
                ),
                metadata=alice.metadata,
            )
        )
        assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "preferences.phone_number" in failure.violations


def _point() -> str:
    from cryptography.hazmat.primitives import serialization

    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    point = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(point).rstrip(b"=").decode()


async def test_push_subscriptions_are_isolated_between_users(
    start: Callable[..., Awaitable[Running]], providers: Providers, new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    service = await start()
    alice, bob = await new_user(), await new_user()
    alice_browser, registered = await browser_subscribes(service, providers, alice)
    await set_channels(service, alice, notification_pb2.CHANNEL_PUSH)
    await set_channels(service, bob, notification_pb2.CHANNEL_PUSH)
    listed = await service.stub.ListPushSubscriptions(push_pb2.ListPushSubscriptionsRequest(), metadata=bob.metadata)
    assert list(listed.subscriptions) == []
    failure = await expect_failure(
        service.stub.DeletePushSubscription(
            push_pb2.DeletePushSubscriptionRequest(subscription_id=registered.id), metadata=bob.metadata
        )
    )
    assert (failure.code, failure.reason) == (grpc.StatusCode.NOT_FOUND, "PUSH_SUBSCRIPTION_NOT_FOUND")
    # Bob's notification never reaches Alice's browser; Alice's does.
    await service.runtime.app.notifier.notify(_notice(bob.user_id))
    mine = _notice(alice.user_id)
    await service.runtime.app.notifier.notify(mine)
    [message] = await eventually(received(providers, alice_browser), what="Alice's push arrives")
    assert message["payload"]["id"] == mine.id
    mine_listed = await service.stub.ListPushSubscriptions(
        push_pb2.ListPushSubscriptionsRequest(), metadata=alice.metadata
    )
    assert [s.id for s in mine_listed.subscriptions] == [registered.id]
    await service.stub.DeletePushSubscription(
        push_pb2.DeletePushSubscriptionRequest(subscription_id=registered.id), metadata=alice.metadata
    )


async def test_a_server_without_keys_refuses_push_and_sms(
    start: Callable[..., Awaitable[Running]], new_user: Callable[[], Awaitable[MeshUser]]
) -> None:
    service = await start(vapid_private_key="", twilio_account_sid="")
    alice = await new_user()
    config = await service.stub.GetPushConfig(push_pb2.GetPushConfigRequest(), metadata=alice.metadata)
    assert (config.push_enabled, config.vapid_public_key, config.sms_enabled) == (False, "", False)
    failure = await expect_failure(
        service.stub.ListPushSubscriptions(push_pb2.ListPushSubscriptionsRequest(), metadata=alice.metadata)
    )
    assert (failure.code, failure.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "PUSH_NOT_CONFIGURED")
    for channel in (notification_pb2.CHANNEL_PUSH, notification_pb2.CHANNEL_SMS):
        refused = await expect_failure(set_channels(service, alice, channel))
        assert (refused.code, refused.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "CHANNEL_NOT_CONFIGURED")
