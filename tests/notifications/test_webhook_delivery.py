"""Webhook use cases on in-memory fakes: signing, retries with backoff, dead letter, the lease, quiet hours, the send
budget and coalescing into a digest.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest

from tests.notifications.fakes import (
    FakeClock,
)
from tests.notifications.webhook_fakes import (
    FakeResolver,
    ScriptedSender,
)
from tests.notifications.webhook_harness import ALICE, BOB, PUBLIC, build
from trademesh.kernel.errors import InvalidArgument
from trademesh.services.core.page_tokens import Codec
from trademesh.services.core.sealing import Sealer, new_key_text
from trademesh.services.notifications.model import (
    Channel,
    NotificationKind,
    Preferences,
    QuietHours,
    WebhookDeliveryState,
)
from trademesh.services.notifications.model.webhooks import (
    MAX_ATTEMPTS,
    retry_delay,
    verify,
)
from trademesh.services.notifications.ports import PostResult
from trademesh.services.notifications.service import AddressPolicy, WebhookDispatcher, WebhookService


async def test_a_post_is_signed_over_timestamp_and_body_with_an_idempotency_key() -> None:
    hooks = build()
    secret = await hooks.create()
    notification = await hooks.notify()
    assert await hooks.dispatcher.dispatch_due() == 1
    [post] = hooks.sender.posts
    headers = post.headers
    assert headers["Idempotency-Key"] == next(iter(hooks.deliveries.deliveries))
    assert headers["Trademesh-Timestamp"] == str(int(hooks.clock().timestamp()))
    assert headers["Trademesh-Signature"].startswith("v1=")
    now = hooks.clock().timestamp()
    assert verify(secret.encode(), headers["Trademesh-Timestamp"], headers["Trademesh-Signature"], post.body, now)
    assert not verify(b"other", headers["Trademesh-Timestamp"], headers["Trademesh-Signature"], post.body, now)
    assert not verify(secret.encode(), headers["Trademesh-Timestamp"], headers["Trademesh-Signature"], b"{}", now)
    assert not verify(
        secret.encode(), headers["Trademesh-Timestamp"], headers["Trademesh-Signature"], post.body, now + 301
    )
    body = json.loads(post.body)
    assert body["type"] == "notification"
    assert body["notification"]["id"] == notification.id
    assert hooks.deliveries.states() == [WebhookDeliveryState.SENT]


async def test_a_redelivered_notification_is_queued_once_per_webhook() -> None:
    hooks = build()
    await hooks.create()
    notification = await hooks.notify()
    await hooks.notifier.notify(notification)
    assert len(hooks.deliveries.deliveries) == 1


async def test_only_webhooks_that_list_the_kind_and_the_kinds_channel_receive_it() -> None:
    hooks = build()
    await hooks.create(kinds=frozenset({NotificationKind.PRICE_ALERT}))
    await hooks.notify(kind=NotificationKind.TRADE_ALERT)
    assert hooks.deliveries.deliveries == {}
    await hooks.preferences.put(
        ALICE, Preferences(channels={NotificationKind.PRICE_ALERT: frozenset({Channel.IN_APP})})
    )
    await hooks.notify(kind=NotificationKind.PRICE_ALERT)
    assert hooks.deliveries.deliveries == {}
    await hooks.preferences.put(ALICE, Preferences())
    await hooks.notify(kind=NotificationKind.PRICE_ALERT)
    assert len(hooks.deliveries.deliveries) == 1


async def test_failures_retry_with_growing_jittered_backoff_then_succeed() -> None:
    hooks = build()
    await hooks.create()
    await hooks.notify()
    hooks.sender.statuses = [500, 503, 500]
    waits = []
    for _ in range(3):
        assert await hooks.dispatcher.dispatch_due() == 0
        [delivery] = hooks.deliveries.deliveries.values()
        waits.append(delivery.next_attempt_at - hooks.clock())
        assert await hooks.dispatcher.dispatch_due() == 0  # not due yet: nothing posted
        hooks.clock.advance(waits[-1])
    assert await hooks.dispatcher.dispatch_due() == 1
    [delivery] = hooks.deliveries.deliveries.values()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == (WebhookDeliveryState.SENT, 4, 200)
    assert len(hooks.sender.posts) == 4
    assert len({post.headers["Idempotency-Key"] for post in hooks.sender.posts}) == 1
    assert timedelta(seconds=5) <= waits[0] <= timedelta(seconds=10)
    assert timedelta(seconds=10) <= waits[1] <= timedelta(seconds=20)
    assert timedelta(seconds=20) <= waits[2] <= timedelta(seconds=40)


def test_the_backoff_is_capped_and_jittered() -> None:
    rng = random.Random(1)
    delays = {retry_delay(30, rng) for _ in range(20)}
    assert all(timedelta(minutes=30) <= delay <= timedelta(hours=1) for delay in delays)
    assert len(delays) > 1


async def test_the_eighth_failure_dead_letters_the_delivery_visible_to_its_owner() -> None:
    hooks = build()
    await hooks.create()
    await hooks.notify()
    hooks.sender.statuses = [500] * MAX_ATTEMPTS
    for _ in range(MAX_ATTEMPTS):
        await hooks.dispatcher.dispatch_due()
        hooks.clock.advance(timedelta(hours=2))
    await hooks.dispatcher.dispatch_due()
    assert len(hooks.sender.posts) == MAX_ATTEMPTS
    dead, token = await hooks.service.list_deliveries(ALICE, "", WebhookDeliveryState.DEAD_LETTER, 0, "")
    assert token == ""
    [delivery] = dead
    assert (delivery.attempts, delivery.last_status_code) == (MAX_ATTEMPTS, 500)
    assert "500" in delivery.last_error
    assert (await hooks.service.list_deliveries(BOB, "", None, 0, ""))[0] == []


async def test_deliveries_page_newest_first_with_tokens_bound_to_user_and_filter() -> None:
    hooks = build()
    await hooks.create()
    for _ in range(5):
        await hooks.notify()
        hooks.clock.advance(timedelta(seconds=1))
    first, token = await hooks.service.list_deliveries(ALICE, "", None, 2, "")
    second, token2 = await hooks.service.list_deliveries(ALICE, "", None, 2, token)
    third, token3 = await hooks.service.list_deliveries(ALICE, "", None, 2, token2)
    ids = [d.id for d in first + second + third]
    assert len(set(ids)) == 5
    assert token3 == ""
    assert [d.created_at for d in first + second + third] == sorted(
        (d.created_at for d in first + second + third), reverse=True
    )
    with pytest.raises(InvalidArgument):
        await hooks.service.list_deliveries(BOB, "", None, 2, token)
    with pytest.raises(InvalidArgument):
        await hooks.service.list_deliveries(ALICE, "", WebhookDeliveryState.SENT, 2, token)


async def test_a_crash_between_claiming_and_posting_loses_nothing_and_the_lease_stops_a_second_replica() -> None:
    hooks = build()
    await hooks.create()
    await hooks.notify()
    # A replica claims and dies before posting: its lease holds the delivery from others.
    claimed = await hooks.deliveries.claim_due(hooks.clock(), hooks.clock() + timedelta(minutes=2), "dead", 10)
    assert len(claimed) == 1
    other = hooks.replica()
    assert await other.dispatch_due() == 0
    assert hooks.sender.posts == []
    # The lease ends: the other replica posts it; the dead replica's late outcome is ignored.
    hooks.clock.advance(timedelta(minutes=2))
    assert await other.dispatch_due() == 1
    assert not await hooks.deliveries.finish(
        claimed[0].id, "dead", WebhookDeliveryState.DEAD_LETTER, 0, "late", hooks.clock()
    )
    assert hooks.deliveries.states() == [WebhookDeliveryState.SENT]
    assert len(hooks.sender.posts) == 1


async def test_quiet_hours_hold_trade_notices_and_drop_price_alerts() -> None:
    hooks = build()
    await hooks.create()
    await hooks.preferences.put(ALICE, Preferences(quiet_hours=QuietHours(True, 22 * 60, 7 * 60)))
    hooks.clock.now = datetime(2024, 7, 1, 17, 30, tzinfo=UTC)  # 23:00 IST
    await hooks.notify(kind=NotificationKind.TRADE_ALERT)
    await hooks.notify(kind=NotificationKind.PRICE_ALERT)
    assert await hooks.dispatcher.dispatch_due() == 0
    states = {d.notification.kind: d for d in hooks.deliveries.deliveries.values()}
    assert states[NotificationKind.PRICE_ALERT].state is WebhookDeliveryState.DROPPED
    held = states[NotificationKind.TRADE_ALERT]
    assert held.state is WebhookDeliveryState.PENDING
    assert held.next_attempt_at == datetime(2024, 7, 2, 1, 30, tzinfo=UTC)  # 07:00 IST
    hooks.clock.now = held.next_attempt_at
    assert await hooks.dispatcher.dispatch_due() == 1
    assert len(hooks.sender.posts) == 1


async def test_a_burst_over_budget_is_coalesced_into_one_digest_post() -> None:
    hooks = build(per_minute=1)
    await hooks.create()
    first = await hooks.notify()
    assert await hooks.dispatcher.dispatch_due() == 1  # the first goes at once
    burst = [await hooks.notify() for _ in range(500)]
    assert await hooks.dispatcher.dispatch_due() == 0  # over budget: held, not posted
    assert len(hooks.sender.posts) == 1
    hooks.clock.advance(timedelta(minutes=1))
    posted = 0
    for _ in range(5):
        posted += await hooks.dispatcher.dispatch_due()
        hooks.clock.advance(timedelta(minutes=1))
    assert posted == 5  # 500 notifications, 5 digests of 100, one per budget window
    digests = [json.loads(post.body) for post in hooks.sender.posts[1:]]
    assert {digest["type"] for digest in digests} == {"digest"}
    received = [item["id"] for digest in digests for item in digest["notifications"]]
    assert sorted(received) == sorted(n.id for n in burst)
    assert first.id not in received
    assert all(d.state is WebhookDeliveryState.SENT for d in hooks.deliveries.deliveries.values())


async def test_a_deleted_webhooks_pending_deliveries_are_dropped_not_posted() -> None:
    hooks = build()
    await hooks.create()
    await hooks.notify()
    [webhook] = await hooks.service.list_webhooks(ALICE)
    await hooks.service.delete(ALICE, webhook.id)
    assert await hooks.dispatcher.dispatch_due() == 0
    assert hooks.sender.posts == []
    assert hooks.deliveries.states() == [WebhookDeliveryState.DROPPED]


async def test_a_group_whose_lease_would_end_mid_post_is_handed_back_not_posted_late() -> None:
    hooks = build()
    users = [f"user-{n}" for n in range(3)]
    for user in users:
        await hooks.create(user)
        await hooks.notify(user)
    slow = SlowSender(hooks.clock, timedelta(seconds=50))
    dispatcher = WebhookDispatcher(
        webhooks=hooks.store,
        deliveries=hooks.deliveries,
        sender=slow,
        sealer=hooks.sealer,
        budget=hooks.budget,
        clock=hooks.clock,
        concurrency=1,
    )
    # Each post takes 50 s of the 120 s lease: the third starts at 100 s, and 100 s + the 10 s timeout < 120 s.
    assert await dispatcher.dispatch_due() == 3
    await hooks.notify(users[0])
    await hooks.notify(users[1])
    await hooks.notify(users[2])
    slow.duration = timedelta(seconds=60)
    # 60 s + 60 s = 120 s: the third group's lease would end during its post; it is handed back.
    assert await dispatcher.dispatch_due() == 2
    pending = [d for d in hooks.deliveries.deliveries.values() if d.state is WebhookDeliveryState.PENDING]
    assert len(pending) == 1
    assert pending[0].attempts == 0
    assert await dispatcher.dispatch_due() == 1  # taken again under a fresh lease
    assert len(slow.posts) == 6


class SlowSender(ScriptedSender):
    """A sender whose every post takes `duration` of the fake clock."""

    def __init__(self, clock: FakeClock, duration: timedelta) -> None:
        super().__init__()
        self.clock = clock
        self.duration = duration

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> PostResult:
        self.clock.advance(self.duration)
        return await super().post(url, body, headers)


async def test_after_a_key_rotation_secrets_are_resealed_under_the_new_key_and_still_sign() -> None:
    old, new = new_key_text("old"), new_key_text("new")
    hooks = build(sealer=Sealer.from_setting(old))
    secret = await hooks.create()
    rotating = Sealer.from_setting(f"{new},{old}")
    service = WebhookService(
        store=hooks.store,
        deliveries=hooks.deliveries,
        sealer=rotating,
        policy=AddressPolicy(FakeResolver(PUBLIC)),
        tokens=Codec(b"x"),
        clock=hooks.clock,
    )
    assert await service.reseal_secrets() == 1
    assert await service.reseal_secrets() == 0
    [webhook] = hooks.store.webhooks.values()
    assert webhook.secret.key_id == "new"
    dispatcher = WebhookDispatcher(
        webhooks=hooks.store,
        deliveries=hooks.deliveries,
        sender=hooks.sender,
        sealer=Sealer.from_setting(new),  # the old key dropped
        budget=hooks.budget,
        clock=hooks.clock,
    )
    await hooks.notify()
    assert await dispatcher.dispatch_due() == 1
    [post] = hooks.sender.posts
    now = hooks.clock().timestamp()
    assert verify(
        secret.encode(), post.headers["Trademesh-Timestamp"], post.headers["Trademesh-Signature"], post.body, now
    )
