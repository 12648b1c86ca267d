"""Webhook use cases on in-memory fakes: create (sealed secret, SSRF refusals, limits), signing, retries with
backoff, dead letter, the lease, quiet hours, the send budget and coalescing into a digest."""

from __future__ import annotations

import ipaddress
import json
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

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
from trademesh.kernel.errors import FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted
from trademesh.services.core.page_tokens import Codec
from trademesh.services.core.sealing import KeyConfigError, Sealer, new_key_text, parse_keys
from trademesh.services.notifications.model import (
    Channel,
    Notification,
    NotificationKind,
    Preferences,
    QuietHours,
    WebhookDeliveryState,
    WebhookDraft,
)
from trademesh.services.notifications.model.webhooks import (
    MAX_ATTEMPTS,
    address_refusal,
    retry_delay,
    verify,
    webhook_context,
)
from trademesh.services.notifications.ports import PostResult
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


def build(*, sealer: Sealer | None = None, per_minute: int = 1000, allow_http: bool = False) -> Hooks:
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
        policy=AddressPolicy(FakeResolver(PUBLIC)),
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


# --- sealing -------------------------------------------------------------------------------------------------


def test_sealed_secrets_open_only_with_their_context_and_a_listed_key() -> None:
    old, new = new_key_text("old"), new_key_text("new")
    sealer = Sealer.from_setting(old)
    sealed = sealer.seal(b"whsec_x", b"webhook:a:1")
    assert b"whsec_x" not in sealed.ciphertext
    assert sealer.open(sealed, b"webhook:a:1") == b"whsec_x"
    with pytest.raises(ValueError, match="cannot be decrypted"):
        sealer.open(sealed, b"webhook:b:1")
    rotating = Sealer.from_setting(f"{new},{old}")
    resealed = rotating.reseal(sealed, b"webhook:a:1")
    assert resealed is not None
    assert resealed.key_id == "new"
    assert Sealer.from_setting(new).open(resealed, b"webhook:a:1") == b"whsec_x"
    with pytest.raises(ValueError, match="no key with id 'old'"):
        Sealer.from_setting(new).open(sealed, b"webhook:a:1")
    with pytest.raises(KeyConfigError) as caught:
        parse_keys("k:not-base64-of-32-bytes")
    assert "not-base64" not in str(caught.value)


async def test_the_secret_is_returned_once_and_stored_sealed_and_a_retry_returns_it_again() -> None:
    hooks = build()
    request = str(uuid.uuid4())
    webhook, secret = await hooks.service.create(ALICE, request, WebhookDraft(HOOK))
    assert secret.startswith("whsec_")
    assert webhook.secret_hint == secret[-4:]
    stored = hooks.store.webhooks[webhook.id]
    assert secret.encode() not in stored.secret.ciphertext
    assert hooks.sealer.open(stored.secret, webhook_context(ALICE, webhook.id)) == secret.encode()
    again, same = await hooks.service.create(ALICE, request, WebhookDraft(HOOK))
    assert (again.id, same) == (webhook.id, secret)


async def test_every_webhook_use_case_answers_not_configured_without_a_key() -> None:
    hooks = build()
    service = WebhookService(
        store=hooks.store,
        deliveries=hooks.deliveries,
        sealer=None,
        policy=AddressPolicy(FakeResolver(PUBLIC)),
        tokens=Codec(b"x"),
        clock=hooks.clock,
    )
    for call in (
        service.create(ALICE, str(uuid.uuid4()), WebhookDraft(HOOK)),
        service.list_webhooks(ALICE),
        service.delete(ALICE, "wh_1"),
        service.list_deliveries(ALICE, "", None, 0, ""),
    ):
        with pytest.raises(FailedPrecondition) as caught:
            await call
        assert caught.value.reason == "WEBHOOKS_NOT_CONFIGURED"


# --- validation and SSRF ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "is required"),
        ("http://hooks.example.com/x", "must use https"),
        ("ftp://hooks.example.com/x", "must use https"),
        ("https://user:pw@hooks.example.com/x", "must not carry credentials"),
        ("https:///nohost", "must name a host"),
        ("https://hooks.example.com/" + "a" * 2048, "at most 2048"),
        ("https://hooks.example.com:99999/x", "valid port"),
        ("https://hooks.example.com/a b", "spaces"),
    ],
)
async def test_malformed_urls_are_invalid(url: str, problem: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await build().service.create(ALICE, str(uuid.uuid4()), WebhookDraft(url))
    [violation] = caught.value.violations
    assert violation.field == "webhook.url"
    assert problem in violation.description


async def test_http_is_accepted_only_in_dev_mode() -> None:
    hooks = build(allow_http=True)
    await hooks.create(url="http://hooks.example.com/x")
    assert len(hooks.store.webhooks) == 1


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/x",
        "https://localhost.invalid/x",
        "https://10.1.2.3/x",
        "https://192.168.1.10/x",
        "https://172.16.0.5/x",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.100.100.200/",
        "https://[::1]/x",
        "https://[fd00:ec2::254]/x",
        "https://[::ffff:127.0.0.1]/x",
        "https://0.0.0.0/x",
        "https://224.0.0.1/x",
        "https://rebind.example.com/x",
    ],
)
async def test_private_loopback_link_local_and_metadata_addresses_are_refused(url: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await build().service.create(ALICE, str(uuid.uuid4()), WebhookDraft(url))
    assert caught.value.reason == "WEBHOOK_ADDRESS_REFUSED"


def test_the_dev_allowlist_lets_a_local_receiver_through() -> None:
    loopback = ipaddress.ip_address("127.0.0.1")
    assert address_refusal(loopback) == "127.0.0.1 is a loopback address"
    assert address_refusal(loopback, [ipaddress.ip_network("127.0.0.1/32")]) == ""
    assert address_refusal(ipaddress.ip_address("93.184.216.34")) == ""


async def test_a_user_may_have_a_limited_number_of_webhooks_and_sees_only_their_own() -> None:
    hooks = build()
    await hooks.create()
    await hooks.create()
    with pytest.raises(ResourceExhausted) as caught:
        await hooks.create()
    assert caught.value.reason == "WEBHOOK_LIMIT_REACHED"
    assert await hooks.service.list_webhooks(BOB) == []
    [mine, *_] = await hooks.service.list_webhooks(ALICE)
    with pytest.raises(NotFound):
        await hooks.service.delete(BOB, mine.id)
    with pytest.raises(NotFound):
        await hooks.service.list_deliveries(BOB, mine.id, None, 0, "")
    await hooks.service.delete(ALICE, mine.id)
    assert len(await hooks.service.list_webhooks(ALICE)) == 1


# --- delivery -----------------------------------------------------------------------------------------------


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


def test_push_and_sms_are_refused_as_not_configured() -> None:
    for channel in (Channel.PUSH, Channel.SMS):
        with pytest.raises(FailedPrecondition) as caught:
            Preferences(channels={NotificationKind.SYSTEM: frozenset({channel})}).validate()
        assert caught.value.reason == "CHANNEL_NOT_CONFIGURED"


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
