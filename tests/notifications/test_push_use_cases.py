"""Web Push and SMS use cases on in-memory fakes: registration rules, queueing per (notification, channel), the
lease, retries and dead letters, 404/410 deleting the subscription, phone numbers, the 160-character body, budgets."""

from __future__ import annotations

import base64
import ipaddress
import json
import secrets
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.notifications.push_fakes import ALICE, BOB, VAPID_PUBLIC, PushWorld, build_push_world
from trademesh.kernel.errors import FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted
from trademesh.services.notifications.model import Channel, Notification, NotificationKind, Preferences, QuietHours
from trademesh.services.notifications.model.push import (
    ChannelDeliveryState,
    PushSubscriptionDraft,
    SendOutcome,
    normalize_phone,
    push_topic,
    sms_body,
)
from trademesh.services.notifications.model.webhooks import MAX_ATTEMPTS

ENDPOINT = "https://push.example.com/send/abc"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def browser_keys() -> tuple[str, str]:
    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return b64(point), b64(secrets.token_bytes(16))


def draft(endpoint: str = ENDPOINT) -> PushSubscriptionDraft:
    p256dh, auth = browser_keys()
    return PushSubscriptionDraft(endpoint, p256dh, auth, "Firefox on Linux")


async def channels_on(world: PushWorld, user: str, *channels: Channel, phone: str = "") -> None:
    wanted = frozenset({Channel.IN_APP, *channels})
    changes = Preferences(channels={kind: wanted for kind in NotificationKind}, phone_number=phone)
    await world.preferences.update(user, changes, ["kind_channels", "phone_number"])


async def test_a_subscription_is_registered_once_per_endpoint_and_its_keys_replaced() -> None:
    world = build_push_world()
    first = await world.service.register(ALICE, draft())
    again = await world.service.register(ALICE, draft())
    assert again.id == first.id
    assert again.p256dh != first.p256dh  # the browser re-subscribed: the new keys are kept
    assert [s.id for s in await world.service.list_subscriptions(ALICE)] == [first.id]
    assert world.service.vapid_public_key == VAPID_PUBLIC


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (PushSubscriptionDraft(ENDPOINT, "not base64!", b64(b"0" * 16)), "subscription.p256dh"),
        (PushSubscriptionDraft(ENDPOINT, b64(b"\x04" + b"1" * 64), b64(b"0" * 16)), "subscription.p256dh"),
        (PushSubscriptionDraft(ENDPOINT, browser_keys()[0], b64(b"0" * 15)), "subscription.auth"),
        (PushSubscriptionDraft("http://push.example.com/x", *browser_keys()), "subscription.endpoint"),
        (PushSubscriptionDraft("", *browser_keys()), "subscription.endpoint"),
        (PushSubscriptionDraft("https://a..b/push", *browser_keys()), "subscription.endpoint"),
        (PushSubscriptionDraft("https://push.example.com:99999/x", *browser_keys()), "subscription.endpoint"),
        (PushSubscriptionDraft("https://u:p@push.example.com/x", *browser_keys()), "subscription.endpoint"),
    ],
)
async def test_bad_subscriptions_are_invalid_argument_naming_the_field(bad: PushSubscriptionDraft, field: str) -> None:
    world = build_push_world()
    with pytest.raises(InvalidArgument) as raised:
        await world.service.register(ALICE, bad)
    assert field in {violation.field for violation in raised.value.violations}


def test_http_is_allowed_only_to_an_address_inside_the_development_networks() -> None:
    local = [ipaddress.ip_network("127.0.0.1/32")]
    keys = browser_keys()
    assert PushSubscriptionDraft("http://127.0.0.1:8080/push/a", *keys).validated(http_networks=local).endpoint
    for endpoint in ("http://93.184.216.34/push/a", "http://localhost/push/a", "http://127.0.0.2/push/a"):
        with pytest.raises(InvalidArgument):
            PushSubscriptionDraft(endpoint, *keys).validated(http_networks=local)
    with pytest.raises(InvalidArgument):
        PushSubscriptionDraft("http://127.0.0.1:8080/push/a", *keys).validated()


async def test_endpoints_reaching_private_addresses_are_refused() -> None:
    world = build_push_world()
    for endpoint in ("https://rebind.example.com/x", "https://169.254.169.254/latest", "https://nowhere.invalid/x"):
        with pytest.raises(InvalidArgument) as raised:
            await world.service.register(ALICE, draft(endpoint))
        assert raised.value.reason == "PUSH_ENDPOINT_REFUSED"


async def test_the_limit_counts_endpoints_and_another_users_subscription_is_not_found() -> None:
    world = build_push_world(max_per_user=2)
    mine = await world.service.register(ALICE, draft(ENDPOINT + "1"))
    await world.service.register(ALICE, draft(ENDPOINT + "2"))
    await world.service.register(ALICE, draft(ENDPOINT + "2"))  # the same endpoint again: not a third
    with pytest.raises(ResourceExhausted):
        await world.service.register(ALICE, draft(ENDPOINT + "3"))
    with pytest.raises(NotFound):
        await world.service.delete(BOB, mine.id)
    assert await world.service.list_subscriptions(BOB) == []
    await world.service.delete(ALICE, mine.id)
    assert len(await world.service.list_subscriptions(ALICE)) == 1


async def test_without_a_vapid_key_push_is_not_configured_and_preferences_refuse_it() -> None:
    world = build_push_world(push=False, sms=False)
    with pytest.raises(FailedPrecondition) as raised:
        await world.service.register(ALICE, draft())
    assert raised.value.reason == "PUSH_NOT_CONFIGURED"
    for channel in (Channel.PUSH, Channel.SMS):
        with pytest.raises(FailedPrecondition) as refused:
            await channels_on(world, ALICE, channel)
        assert refused.value.reason == "CHANNEL_NOT_CONFIGURED"


async def test_a_notification_is_pushed_once_per_subscription_even_when_notified_twice() -> None:
    world = build_push_world()
    await channels_on(world, ALICE, Channel.PUSH)
    phone = await world.service.register(ALICE, draft(ENDPOINT + "phone"))
    laptop = await world.service.register(ALICE, draft(ENDPOINT + "laptop"))
    notification = await world.notify()
    await world.notifier.notify(notification)  # a redelivered trade event
    assert world.queue.due.is_set()
    assert await world.dispatcher.dispatch_due() == 2
    assert await world.dispatcher.dispatch_due() == 0
    assert sorted(push.subscription.id for push in world.pusher.pushes) == sorted([phone.id, laptop.id])
    payload = json.loads(world.pusher.pushes[0].payload)
    assert (payload["id"], payload["tag"], payload["title"]) == (notification.id, notification.id, notification.title)
    assert all(
        push.topic == push_topic(f"{notification.id}:push:{push.subscription.id}") for push in world.pusher.pushes
    )


async def test_kinds_without_the_push_channel_are_not_pushed() -> None:
    world = build_push_world()
    await world.service.register(ALICE, draft())
    await world.notify()  # default channels: no push
    assert await world.dispatcher.dispatch_due() == 0
    assert world.pusher.pushes == []


async def test_a_gone_subscription_is_deleted_and_its_other_pending_pushes_dropped() -> None:
    world = build_push_world()
    await channels_on(world, ALICE, Channel.PUSH)
    subscription = await world.service.register(ALICE, draft())
    world.pusher.statuses = [410]
    first = await world.notify()
    await world.dispatcher.dispatch_due()
    assert await world.service.list_subscriptions(ALICE) == []
    delivery = world.deliveries.deliveries[f"{first.id}:push:{subscription.id}"]
    assert (delivery.state, delivery.last_status_code) == (ChannelDeliveryState.DROPPED, 410)
    assert len(world.pusher.pushes) == 1


async def test_failures_retry_with_backoff_then_dead_letter_and_the_lease_stops_a_second_replica() -> None:
    world = build_push_world()
    await channels_on(world, ALICE, Channel.PUSH)
    await world.service.register(ALICE, draft())
    world.pusher.statuses = [500] * MAX_ATTEMPTS
    notification = await world.notify()
    (delivery_id,) = world.deliveries.deliveries
    # A replica claims and dies before sending: the lease holds it from the other replica.
    claimed = await world.deliveries.claim_due(world.clock(), world.clock() + timedelta(minutes=2), "dead", 10)
    assert [d.id for d in claimed] == [delivery_id]
    assert await world.replica().dispatch_due() == 0
    world.clock.advance(timedelta(minutes=2))
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert await world.dispatcher.dispatch_due() == 0
        delivery = world.deliveries.deliveries[delivery_id]
        assert delivery.attempts == attempt
        world.clock.advance(timedelta(hours=1))
    assert delivery.state is ChannelDeliveryState.DEAD_LETTER
    assert delivery.notification.id == notification.id
    assert len({push.topic for push in world.pusher.pushes}) == 1  # every resend replaces, not adds
    assert not await world.deliveries.finish(delivery_id, "dead", ChannelDeliveryState.SENT, 201, "", world.clock())


async def test_an_sms_goes_to_the_normalised_number_with_at_most_160_characters() -> None:
    world = build_push_world()
    await channels_on(world, ALICE, Channel.SMS, phone="98765 43210")
    assert (await world.preferences.get(ALICE)).phone_number == "+919876543210"
    long = Notification("n-long", ALICE, NotificationKind.SYSTEM, "Daily digest", "x " * 400, world.clock())
    await world.notifier.notify(long)
    await world.notifier.notify(long)
    assert await world.dispatcher.dispatch_due() == 1
    ((to, body),) = world.texter.sent
    assert to == "+919876543210"
    assert len(body) == 160
    assert body.startswith("Daily digest: x x")
    assert body.endswith("...")


async def test_a_permanent_sms_refusal_dead_letters_at_once() -> None:
    world = build_push_world()
    await channels_on(world, ALICE, Channel.SMS, phone="+14155550123")
    world.texter.outcomes = [SendOutcome(400, "invalid To", permanent=True)]
    await world.notify()
    await world.dispatcher.dispatch_due()
    (delivery,) = world.deliveries.deliveries.values()
    assert (delivery.state, delivery.attempts) == (ChannelDeliveryState.DEAD_LETTER, 1)


async def test_without_a_phone_number_no_sms_is_queued() -> None:
    world = build_push_world()
    await channels_on(world, ALICE, Channel.SMS)
    await world.notify()
    assert world.deliveries.deliveries == {}


@pytest.mark.parametrize("number", ["12345", "+91 12", "call me", "+999 1234567890", "9" * 40])
def test_bad_phone_numbers_are_invalid_argument(number: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        normalize_phone(number)
    assert raised.value.violations[0].field == "preferences.phone_number"


def test_numbers_are_returned_in_e164_with_india_as_the_default_region() -> None:
    assert normalize_phone("+1 415 555 0123") == "+14155550123"
    assert normalize_phone("098765 43210") == "+919876543210"
    assert normalize_phone("") == ""


def test_a_short_notification_is_one_sms_as_it_is() -> None:
    moment = build_push_world().clock()
    notice = Notification("n", ALICE, NotificationKind.PRICE_ALERT, "INFY crossed 1600.00", "NSE at 1601.", moment)
    assert sms_body(notice) == "INFY crossed 1600.00: NSE at 1601."


async def test_over_budget_an_sms_waits_for_the_window_without_counting_an_attempt() -> None:
    world = build_push_world(per_minute=1)
    await channels_on(world, ALICE, Channel.SMS, phone="+14155550123")
    await world.notify()
    await world.notify()
    assert await world.dispatcher.dispatch_due() == 1
    waiting = [d for d in world.deliveries.deliveries.values() if d.state is ChannelDeliveryState.PENDING]
    assert len(waiting) == 1
    assert waiting[0].attempts == 0
    world.clock.advance(timedelta(minutes=1))
    assert await world.dispatcher.dispatch_due() == 1
    assert len(world.texter.sent) == 2


async def test_quiet_hours_hold_push_and_drop_price_alerts() -> None:
    world = build_push_world()
    await channels_on(world, ALICE, Channel.PUSH)
    await world.preferences.update(
        ALICE, Preferences(quiet_hours=QuietHours(True, 10 * 60, 11 * 60)), ["quiet_hours"]
    )  # 10:00-11:00 IST; the fake clock is 10:30 IST
    await world.service.register(ALICE, draft())
    await world.notify(kind=NotificationKind.PRICE_ALERT)
    await world.notify(kind=NotificationKind.TRADE_ALERT)
    assert await world.dispatcher.dispatch_due() == 0
    states = sorted(d.state.value for d in world.deliveries.deliveries.values())
    assert states == ["dropped", "pending"]
    world.clock.advance(timedelta(minutes=31))
    assert await world.dispatcher.dispatch_due() == 1
